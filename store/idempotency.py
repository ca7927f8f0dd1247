"""Idempotency keys: claim a key for one request, then store its answer or let the key go.

The semantics are Stripe's and the IETF draft "The Idempotency-Key HTTP Header Field": a key
names one request (method, path and body) of one user; while it runs, a duplicate is told to
wait (409); once it has answered, a duplicate gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.tables import IdempotencyKey

# Kept at least this long (the IETF draft and Stripe both say 24 hours).
RETENTION = timedelta(hours=24)
# An in-flight claim older than this is taken to be a crashed request and may be taken over.
# Longer than any request of the API takes (the slowest waits on one Temporal update).
LEASE = timedelta(seconds=60)

IN_FLIGHT = "in_flight"
DONE = "done"


@dataclass(frozen=True)
class Fingerprint:
    method: str
    path: str
    body_sha256: str


@dataclass(frozen=True)
class Claimed:
    """This request holds the key; `attempt` fences its answer against a later taker."""

    id: int
    attempt: int


@dataclass(frozen=True)
class Stored:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class InFlight:
    pass


@dataclass(frozen=True)
class Mismatch:
    """The key was used for another request (another body, path or method)."""


Outcome = Claimed | Stored | InFlight | Mismatch


def claim(
    session: Session, *, username: str, key: str, fingerprint: Fingerprint, now: datetime
) -> Outcome:
    """Take the key for this request, or say why not. Commits."""
    # Twice at most: a concurrent insert makes ours fail, and the row we then look for may
    # have been released (deleted) in between.
    for _ in range(2):
        row = session.exec(
            select(IdempotencyKey).where(
                IdempotencyKey.username == username, IdempotencyKey.key == key
            )
        ).one_or_none()
        if row is None:
            created = _insert(session, username=username, key=key, fp=fingerprint, now=now)
            if created is not None:
                return created
            continue
        return _existing(session, row, fingerprint, now)
    return InFlight()


def _insert(
    session: Session, *, username: str, key: str, fp: Fingerprint, now: datetime
) -> Claimed | None:
    # Purged here, on the path that adds rows, so the table holds about a day of keys
    # without a scheduler; the range delete uses the created_at index and is usually empty.
    purge(session, before=now - RETENTION)
    row = IdempotencyKey(
        username=username,
        key=key,
        method=fp.method,
        path=fp.path,
        body_sha256=fp.body_sha256,
        state=IN_FLIGHT,
        locked_at=now,
        created_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    assert row.id is not None
    return Claimed(id=row.id, attempt=row.attempt)


def _existing(session: Session, row: IdempotencyKey, fp: Fingerprint, now: datetime) -> Outcome:
    if (row.method, row.path, row.body_sha256) != (fp.method, fp.path, fp.body_sha256):
        return Mismatch()
    if row.state == DONE:
        assert row.response_status is not None
        assert row.response_body is not None
        return Stored(
            status=row.response_status,
            headers=[(name, value) for name, value in row.response_headers or []],
            body=row.response_body,
        )
    if row.locked_at > now - LEASE:
        return InFlight()
    # The request holding it is presumed dead: take over, unless another retry just did.
    # (Read before the update, which also refreshes `row` in the session.)
    assert row.id is not None
    attempt = row.attempt + 1
    taken = session.execute(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.id) == row.id,
            col(IdempotencyKey.state) == IN_FLIGHT,
            col(IdempotencyKey.attempt) == attempt - 1,
        )
        .values(attempt=attempt, locked_at=now)
    )
    session.commit()
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return InFlight()
    return Claimed(id=row.id, attempt=attempt)


def complete(session: Session, *, claimed: Claimed, answer: Stored) -> bool:
    """Store the answer; False if the claim was taken over meanwhile (its taker answers)."""
    done = session.execute(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.id) == claimed.id,
            col(IdempotencyKey.state) == IN_FLIGHT,
            col(IdempotencyKey.attempt) == claimed.attempt,
        )
        .values(
            state=DONE,
            response_status=answer.status,
            response_headers=[list(pair) for pair in answer.headers],
            response_body=answer.body,
        )
    )
    session.commit()
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def release(session: Session, *, claimed: Claimed) -> None:
    """Forget the key, so the client's retry runs the request again."""
    session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.id) == claimed.id,
            col(IdempotencyKey.state) == IN_FLIGHT,
            col(IdempotencyKey.attempt) == claimed.attempt,
        )
    )
    session.commit()


def purge(session: Session, *, before: datetime) -> None:
    session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < before))
