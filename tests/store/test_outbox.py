"""The outbox store functions on their own: idempotent writes and the sent/failed bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import false
from sqlmodel import select

from store import outbox
from store.db import SessionFactory, transaction
from store.outbox import OutboxMessage

AT = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def _enqueue(sessions: SessionFactory, key: str, recipient: str, deal_id: str = "d-1") -> bool:
    with transaction(sessions) as session:
        return outbox.enqueue(
            session,
            key=key,
            deal_id=deal_id,
            event="task_opened",
            recipient=recipient,
            email=f"{recipient}@example.com",
            subject=f"subject {key}",
            body_text="text",
            body_html=None,
            at=AT,
        )


def _ids(rows: Any) -> list[tuple[str, str]]:
    return [(r.key, r.recipient) for r in rows]


def test_enqueue_writes_once_per_key_and_recipient(sessions: SessionFactory) -> None:
    assert _enqueue(sessions, "k1", "carol") is True
    assert _enqueue(sessions, "k1", "carol") is False
    assert _enqueue(sessions, "k1", "dave") is True
    assert _enqueue(sessions, "k2", "carol") is True

    with sessions() as session:
        assert _ids(outbox.messages_for(session)) == [
            ("k1", "carol"),
            ("k1", "dave"),
            ("k2", "carol"),
        ]
        assert _ids(outbox.messages_for(session, recipient="carol")) == [
            ("k1", "carol"),
            ("k2", "carol"),
        ]


def test_a_lost_race_leaves_the_transaction_usable(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enqueue(sessions, "k1", "carol")
    # Blind the existence check, as if a concurrent attempt committed right after it ran: the
    # insert then hits the unique constraint, and only the savepoint may roll back.
    monkeypatch.setattr(outbox, "select", lambda *cols: select(*cols).where(false()))

    with transaction(sessions) as session:
        lost = outbox.enqueue(
            session,
            key="k1",
            deal_id="d-1",
            event="task_opened",
            recipient="carol",
            email="carol@example.com",
            subject="again",
            body_text="again",
            body_html=None,
            at=AT,
        )
        session.add(
            OutboxMessage(
                key="k3",
                deal_id="d-1",
                event="task_opened",
                recipient="erin",
                email="erin@example.com",
                subject="s",
                body_text="t",
                created_at=AT,
            )
        )
    monkeypatch.undo()

    assert lost is False
    with sessions() as session:
        rows = outbox.messages_for(session, deal_id="d-1")
    assert _ids(rows) == [("k1", "carol"), ("k3", "erin")]
    assert rows[0].subject == "subject k1"


def test_pending_is_unsent_oldest_first_by_key_and_bounded(sessions: SessionFactory) -> None:
    for key, recipient in [("k1", "carol"), ("k1", "dave"), ("k2", "carol"), ("k1", "erin")]:
        _enqueue(sessions, key, recipient)
    with transaction(sessions) as session:
        [first, *_] = outbox.pending(session, limit=10)
        assert first.id is not None
        outbox.mark_sent(session, message_id=first.id, at=AT)

    with sessions() as session:
        assert _ids(outbox.pending(session, limit=10)) == [
            ("k1", "dave"),
            ("k2", "carol"),
            ("k1", "erin"),
        ]
        assert _ids(outbox.pending(session, limit=10, key="k1")) == [("k1", "dave"), ("k1", "erin")]
        assert _ids(outbox.pending(session, limit=1)) == [("k1", "dave")]


def test_mark_sent_counts_once_and_a_late_failure_does_not_touch_a_sent_message(
    sessions: SessionFactory,
) -> None:
    _enqueue(sessions, "k1", "carol")
    with sessions() as session:
        [row] = outbox.messages_for(session)
    assert row.id is not None

    with transaction(sessions) as session:
        outbox.mark_failed(session, message_id=row.id, error="421 try later " + "x" * 5000)
    with transaction(sessions) as session:
        assert outbox.mark_sent(session, message_id=row.id, at=AT) is True
        assert outbox.mark_sent(session, message_id=row.id, at=AT + timedelta(hours=1)) is False
        outbox.mark_failed(session, message_id=row.id, error="too late")

    with sessions() as session:
        [row] = outbox.messages_for(session)
    assert (row.sent_at, row.attempts) == (AT, 2)
    assert row.last_error is not None
    assert row.last_error.startswith("421 try later")
    assert len(row.last_error) == 2000
