"""The audit log is one hash chain: retries add nothing, concurrent writers take turns, rows
chained by migration 0003 verify, and every kind of tampering is found at its position."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, col, select

from store import audit, migrate
from store.db import SessionFactory, session_factory, transaction
from store.tables import AuditEvent
from tests.store.audit_log import T0, append, build_log, count, tampering

LOG_ROWS = 10_000


def edit_detail(session: Session) -> None:
    session.execute(
        sa.update(AuditEvent).where(col(AuditEvent.seq) == 5000).values(detail={"n": 1})
    )


def delete_middle(session: Session) -> None:
    session.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) == 5000))


def delete_newest(session: Session) -> None:
    session.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) == LOG_ROWS))


CONTENT = ("subject_type", "deal_id", "key", "version", "event", "actor", "at", "detail")


def swap_content(session: Session) -> None:
    """Rows 3000 and 7000 exchange everything the hash covers; seq and hashes stay put."""
    table = SQLModel.metadata.tables["audit_event"]
    read = {
        seq: session.execute(sa.select(*(table.c[c] for c in CONTENT)).where(table.c.seq == seq))
        .one()
        ._asdict()
        for seq in (3000, 7000)
    }
    # Through a placeholder key: (subject_type, deal_id, key) is unique at every statement.
    session.execute(sa.update(table).where(table.c.seq == 3000).values(key="swapping"))
    session.execute(sa.update(table).where(table.c.seq == 7000).values(**read[3000]))
    session.execute(sa.update(table).where(table.c.seq == 3000).values(**read[7000]))


def swap_positions(session: Session) -> None:
    """Rows 3000 and 7000 exchange their seq: each row is intact, the order is not."""
    table = SQLModel.metadata.tables["audit_event"]
    session.execute(sa.update(table).where(table.c.seq == 3000).values(seq=-1))
    session.execute(sa.update(table).where(table.c.seq == 7000).values(seq=3000))
    session.execute(sa.update(table).where(table.c.seq == -1).values(seq=7000))


def test_rows_are_chained_and_a_retried_write_adds_nothing(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        append(session, 1)
        append(session, 2)
        # The same key twice in one transaction, as a retried step inside one unit of work.
        append(session, 2, comment="second try")
    with transaction(sessions) as session:
        # A retried activity: its first attempt committed, the retry writes the same key.
        append(session, 1, comment="retried")
        append(session, 3)

    with sessions() as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        verdict = audit.verify(session)
    assert [(r.seq, r.key) for r in rows] == [(1, "step:1"), (2, "step:2"), (3, "step:3")]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert rows[1].detail["comment"] == "r\u00e9sum\u00e9 2"
    assert verdict.ok, verdict.message()
    assert (verdict.rows, verdict.head_seq, verdict.head_hash) == (3, 3, rows[-1].hash)


def test_a_rolled_back_transaction_leaves_no_row_behind(sessions: SessionFactory) -> None:
    with sessions() as session:
        session.begin()
        append(session, 1)
        session.rollback()
        # The same session, reused as an API request's session is: a later commit must not
        # write what the rolled-back transaction queued.
        session.begin()
        append(session, 2)
        session.commit()
        assert [r.key for r in session.exec(select(AuditEvent)).all()] == ["step:2"]
        assert audit.verify(session).ok


def test_the_canonical_form_is_stable_and_documented() -> None:
    content = audit.AuditContent(
        subject_type="deal",
        deal_id="d-1",
        key="v1:priced",
        version=1,
        event="priced",
        actor="system",
        at=datetime(2027, 1, 4, 10, 30, tzinfo=UTC).astimezone(),
        detail={"tcv": "1200.00", "a": ["\u00e9", None, True]},
    )
    expected = (
        b'{"actor":"system","at":"2027-01-04T10:30:00.000000+00:00","deal_id":"d-1",'
        b'"detail":{"a":["\\u00e9",null,true],"tcv":"1200.00"},"event":"priced",'
        b'"key":"v1:priced","subject_type":"deal","version":1}'
    )
    assert audit.canonical(content) == expected
    # SHA-256(prev_hash as 64 ASCII hex characters || canonical form), so anyone can recompute.
    assert audit.chain_hash("ab" * 32, content) == hashlib.sha256(b"ab" * 32 + expected).hexdigest()


def test_a_float_in_the_detail_is_refused() -> None:
    with pytest.raises(ValueError, match="float"):
        audit.normalized_detail({"margin": 0.25})


def test_a_10000_row_log_verifies_and_every_tampering_is_found(
    sessions: SessionFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    build_log(sessions, LOG_ROWS)
    built = time.perf_counter() - started
    with sessions() as session:
        started = time.perf_counter()
        verdict = audit.verify(session)
        took = time.perf_counter() - started
    assert verdict.ok, verdict.message()
    assert verdict.rows == LOG_ROWS
    with capsys.disabled():
        print(f"\naudit: {LOG_ROWS} rows written in {built:.2f} s, verified in {took:.2f} s")

    cases: list[tuple[Callable[[Session], None], int, str]] = [
        (edit_detail, 5000, "edited"),
        (delete_middle, 5000, "removed"),
        (swap_content, 3000, "reordered"),
        (swap_positions, 3000, "reordered"),
        (delete_newest, LOG_ROWS, "removed"),
    ]
    for tamper, position, reason in cases:
        with tampering(sessions) as session:
            tamper(session)
            found = audit.verify(session)
        assert (found.ok, found.broken_at, found.reason) == (False, position, reason), (
            tamper.__name__,
            found.message(),
        )
    with sessions() as session:
        assert audit.verify(session).ok


def test_rows_written_at_once_take_turns_on_the_chain(sessions: SessionFactory) -> None:
    """Writers in parallel, and pairs writing the same key (a retry racing its first attempt):
    every key is stored once, with no gap or fork in the chain."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(worker: int) -> None:
        try:
            start.wait()
            for n in range(25):
                with transaction(sessions) as session:
                    # Workers 2k and 2k+1 write the same keys.
                    append(session, n, deal=f"w-{worker // 2}")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with sessions() as session:
        assert count(session) == 4 * 25
        verdict = audit.verify(session)
    assert verdict.ok, verdict.message()


def test_rows_from_before_the_chain_are_chained_by_the_migration(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0002")
    old = sa.table(
        "audit_event",
        sa.column("subject_type", sa.String()),
        sa.column("deal_id", sa.String()),
        sa.column("key", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("event", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("detail", sa.JSON()),
    )
    with empty_engine.begin() as connection:
        connection.execute(
            old.insert(),
            [
                {
                    "subject_type": "deal",
                    "deal_id": "d-old",
                    "key": f"old:{n}",
                    "version": 1,
                    "event": "submitted",
                    "actor": "alice",
                    "at": T0 + timedelta(microseconds=n),
                    "detail": {"n": n, "note": "\u00fcber", "nested": {"z": 1, "a": [None]}},
                }
                for n in range(3)
            ],
        )

    migrate.upgrade(empty_engine)
    sessions = session_factory(empty_engine)
    with transaction(sessions) as session:
        append(session, 1)
    with sessions() as session:
        verdict = audit.verify(session)
        keys = session.exec(select(AuditEvent.key).order_by(col(AuditEvent.seq))).all()
    assert verdict.ok, verdict.message()
    assert keys == ["old:0", "old:1", "old:2", "step:1"]


def test_postgresql_refuses_update_delete_and_truncate(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        append(session, 1)
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("the append-only trigger is PostgreSQL's (SQLite has no roles)")
    statements = [
        "UPDATE audit_event SET detail = '{}' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
        # Statement-level: refused even when no row matches.
        "DELETE FROM audit_event WHERE seq = -1",
        "TRUNCATE audit_event",
    ]
    for statement in statements:
        with sessions() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(sa.text(statement))
    with sessions() as session:
        assert count(session) == 1
        assert audit.verify(session).ok
