"""The tamper-evident audit log: one global hash chain over every `audit_event` row.

Each row has a position `seq` (1, 2, 3, ... with no gaps), the hash of the row before it
(`prev_hash`; GENESIS_HASH for the first) and its own

    hash = SHA-256( prev_hash (64 lowercase hex characters, as ASCII)
                    || canonical(row) )  as lowercase hex

where canonical(row) is the UTF-8 of one JSON object, keys sorted, no whitespace
(`separators=(",", ":")`), non-ASCII escaped (`ensure_ascii=True`), holding exactly

    subject_type, deal_id, key, version, event, actor (as stored),
    at     ISO 8601 in UTC with microseconds, e.g. "2027-01-05T09:30:00.000000+00:00",
    detail the row's JSON object, its own keys sorted too.

`id`, `seq`, `prev_hash` and `hash` are not part of it: the position is bound by the chain.
Migration 0003 holds a frozen copy of this definition (a migration may not import our code);
tests/store/test_audit.py checks both agree.

The newest position and hash are kept in the one-row table `audit_head`, updated in the same
transaction as the rows it covers, so deleting the newest rows is detected too.

Writers never insert rows themselves: `enqueue` collects them on the session and the chain
is extended just before the session's outermost commit (a `before_commit` hook), so the lock
that serializes appends is held only for those few statements and the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, event, func, insert, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col

from store.tables import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64
HEAD_ID = 1
_PENDING = "dealdesk_audit_pending"
# Existing keys are looked up this many at a time (bound parameters stay far below limits).
_CHUNK = 300


@dataclass(frozen=True)
class AuditContent:
    """What the hash of a row covers (see the module docstring)."""

    subject_type: str
    deal_id: str
    key: str
    version: int
    event: str
    actor: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: AuditEvent) -> AuditContent:
        return cls(
            subject_type=row.subject_type,
            deal_id=row.deal_id,
            key=row.key,
            version=row.version,
            event=row.event,
            actor=row.actor,
            at=row.at,
            detail=row.detail,
        )


def canonical(content: AuditContent) -> bytes:
    if content.at.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    document = {
        "subject_type": content.subject_type,
        "deal_id": content.deal_id,
        "key": content.key,
        "version": content.version,
        "event": content.event,
        "actor": content.actor,
        "at": content.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "detail": content.detail,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("utf-8")


def chain_hash(prev_hash: str, content: AuditContent) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(content)).hexdigest()


def normalized_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail as the database will give it back, so the hash computed now is the hash a
    verifier computes later: keys become strings, tuples lists. Floats are refused: PostgreSQL's
    JSONB keeps numbers as numerics (1e20 comes back as an int), and amounts are strings here."""

    def no_floats(value: str) -> Any:
        raise ValueError(f"audit detail holds a float ({value}); write amounts as strings")

    loaded: dict[str, Any] = json.loads(json.dumps(detail, allow_nan=False), parse_float=no_floats)
    return loaded


# --- appending --------------------------------------------------------------------------------


def enqueue(session: Session, content: AuditContent) -> None:
    """Add a row to the chain when this session's transaction commits; a row whose
    (subject_type, deal_id, key) is already stored, or already queued, is a retry: dropped."""
    pending: dict[tuple[str, str, str], AuditContent] = session.info.setdefault(_PENDING, {})
    ident = (content.subject_type, content.deal_id, content.key)
    if ident not in pending:
        pending[ident] = AuditContent(
            subject_type=content.subject_type,
            deal_id=content.deal_id,
            key=content.key,
            version=content.version,
            event=content.event,
            actor=content.actor,
            at=content.at.astimezone(UTC),
            detail=normalized_detail(content.detail),
        )


# The append path runs in every activity's commit, so its statements are Core, built once:
# an ORM-enabled UPDATE evaluates its WHERE against the identity map and every new statement
# object computes its cache key afresh, which together were most of the chain's cost (a fifth
# of the worker's CPU under bench/approvals.py).
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_HEADS = AuditHead.__table__  # type: ignore[attr-defined]
# pysqlite opens the transaction only at the first write, so a read of the head could be stale
# by the time we insert; this no-op write first takes SQLite's single write lock (waiting up
# to the busy timeout), and every read after it is current.
_TOUCH_HEAD = update(_HEADS).where(_HEADS.c.id == HEAD_ID).values(seq=_HEADS.c.seq)
_READ_HEAD = sa_select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == HEAD_ID)
_LOCK_HEAD = _READ_HEAD.with_for_update()
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_STORED_KEYS = sa_select(_EVENTS.c.subject_type, _EVENTS.c.deal_id, _EVENTS.c.key).where(
    tuple_(_EVENTS.c.subject_type, _EVENTS.c.deal_id, _EVENTS.c.key).in_(
        bindparam("idents", expanding=True)
    )
)
_INSERT_EVENTS = insert(_EVENTS)


def _lock_head(connection: Connection) -> tuple[int, str]:
    """The head, locked until the transaction ends: concurrent appends take turns here."""
    if connection.dialect.name == "sqlite":
        connection.execute(_TOUCH_HEAD)
    row = connection.execute(_LOCK_HEAD).one()
    return int(row.seq), str(row.hash)


def _already_stored(
    connection: Connection, idents: list[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for start in range(0, len(idents), _CHUNK):
        rows = connection.execute(_STORED_KEYS, {"idents": idents[start : start + _CHUNK]})
        found.update((r.subject_type, r.deal_id, r.key) for r in rows)
    return found


@event.listens_for(OrmSession, "before_commit")
def _extend_chain(session: OrmSession) -> None:
    if session.in_nested_transaction() or not session.info.get(_PENDING):
        return
    pending: dict[tuple[str, str, str], AuditContent] = session.info.pop(_PENDING)
    # Everything else this transaction writes goes first, outside the lock.
    session.flush()
    connection = session.connection()
    seq, prev = _lock_head(connection)
    # Checked under the lock: a concurrent retry of the same write has committed by now.
    stored = _already_stored(connection, list(pending))
    rows: list[dict[str, Any]] = []
    for ident, content in pending.items():
        if ident in stored:
            continue
        seq += 1
        digest = chain_hash(prev, content)
        rows.append(
            {
                "seq": seq,
                "prev_hash": prev,
                "hash": digest,
                "subject_type": content.subject_type,
                "deal_id": content.deal_id,
                "key": content.key,
                "version": content.version,
                "event": content.event,
                "actor": content.actor,
                "at": content.at,
                "detail": content.detail,
            }
        )
        prev = digest
    if not rows:
        return
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_pending(session: OrmSession, transaction: Any) -> None:
    # A rolled-back transaction's rows were never written; the next one starts empty.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# --- verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    # The first position that fails and why; None when the chain holds.
    broken_at: int | None = None
    reason: str | None = None
    explanation: str = ""

    def message(self) -> str:
        if self.ok:
            return (
                f"audit chain OK: {self.rows} rows, head at seq {self.head_seq} "
                f"hash {self.head_hash}"
            )
        return f"audit chain broken at seq {self.broken_at}: {self.reason}: {self.explanation}"


@dataclass(frozen=True)
class _Link:
    seq: int
    prev_hash: str
    hash: str
    content: AuditContent


_LINK_COLUMNS = (
    col(AuditEvent.seq),
    col(AuditEvent.prev_hash),
    col(AuditEvent.hash),
    col(AuditEvent.subject_type),
    col(AuditEvent.deal_id),
    col(AuditEvent.key),
    col(AuditEvent.version),
    col(AuditEvent.event),
    col(AuditEvent.actor),
    col(AuditEvent.at),
    col(AuditEvent.detail),
)


@contextmanager
def _links(session: Session, *, after: int, upto: int) -> Iterator[Iterator[_Link]]:
    """Rows after..upto in seq order, streamed (a server-side cursor on PostgreSQL)."""
    result = session.execute(
        sa_select(*_LINK_COLUMNS)
        .where(col(AuditEvent.seq) > after, col(AuditEvent.seq) <= upto)
        .order_by(col(AuditEvent.seq))
        .execution_options(yield_per=2000)
    )
    try:
        yield (
            _Link(
                r.seq,
                r.prev_hash,
                r.hash,
                AuditContent(
                    r.subject_type, r.deal_id, r.key, r.version, r.event, r.actor, r.at, r.detail
                ),
            )
            for r in result
        )
    finally:
        result.close()


def _head(session: Session) -> tuple[int, str] | None:
    row = session.execute(_READ_HEAD).first()
    return None if row is None else (int(row.seq), str(row.hash))


def verify(session: Session) -> Verdict:
    """Walk the chain in seq order; the first position that fails is reported with why.

    Safe while writers append: the rows up to the head read first were all committed with it
    (a row and the head move in one transaction), so only those are walked; rows appended
    meanwhile are past it, and a later head covers them."""
    head = _head(session)
    if head is None:
        return Verdict(False, 0, 0, "", 0, "head mismatch", "the audit_head row is missing")
    head_seq, head_hash = head
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0

    def broken(at: int, reason: str, why: str) -> Verdict:
        return Verdict(False, count, head_seq, head_hash, at, reason, why)

    with _links(session, after=0, upto=head_seq) as links:
        for link in links:
            if link.seq != expected_seq:
                missing = (
                    f"rows {expected_seq}..{link.seq - 1} are"
                    if link.seq - 1 > expected_seq
                    else f"row {expected_seq} is"
                )
                return broken(expected_seq, "removed", f"{missing} missing")
            if chain_hash(link.prev_hash, link.content) != link.hash:
                origin = _written_at(session, link.content, after=link.seq, upto=head_seq)
                if origin is not None:
                    return broken(
                        link.seq, "reordered", f"it holds the content written at seq {origin}"
                    )
                return broken(link.seq, "edited", "its content does not match its hash")
            if link.prev_hash != expected_prev:
                if _is_later_hash(session, link.prev_hash, after=link.seq):
                    return broken(link.seq, "reordered", "it was written after a later row")
                return broken(
                    link.seq, "removed", "the row it was chained to is missing (seq renumbered)"
                )
            expected_seq, expected_prev, count = expected_seq + 1, link.hash, count + 1
    last = expected_seq - 1
    if last < head_seq:
        return broken(
            last + 1,
            "removed",
            f"the newest rows {last + 1}..{head_seq} are missing (the head is at {head_seq})",
        )
    if expected_prev != head_hash:
        return broken(last, "head mismatch", f"the head's hash is not row {last}'s")
    # Read in this order, a concurrent append can only make the head larger, never smaller.
    newest = session.execute(sa_select(func.max(col(AuditEvent.seq)))).scalar_one()
    current = _head(session)
    if current is None or (newest is not None and newest > current[0]):
        return broken(
            head_seq + 1, "head mismatch", "there are rows after the head (written around it)"
        )
    return Verdict(True, count, head_seq, head_hash)


def _written_at(session: Session, content: AuditContent, *, after: int, upto: int) -> int | None:
    """The later position whose hash this content was written under, if any (a swap)."""
    with _links(session, after=after, upto=upto) as links:
        for link in links:
            if chain_hash(link.prev_hash, content) == link.hash:
                return link.seq
    return None


def _is_later_hash(session: Session, digest: str, *, after: int) -> bool:
    found = session.execute(
        sa_select(col(AuditEvent.seq)).where(
            col(AuditEvent.seq) > after, col(AuditEvent.hash) == digest
        )
    ).first()
    return found is not None
