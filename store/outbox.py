"""The notification outbox: one row per (event key, recipient), delivered at most once when marked.

Rows are written by the notify activity, which Temporal retries; the unique (key, recipient)
pair makes a retried write a no-op, and `sent_at` makes a retried delivery skip what went out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from store.columns import UTCDateTime

# Enough of an SMTP error to diagnose it; a server may answer with a whole transcript.
_MAX_ERROR_CHARS = 2000


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key", "recipient"),
        Index("ix_outbox_deal", "deal_id"),
        Index("ix_outbox_recipient", "recipient"),
        Index("ix_outbox_unsent", "sent_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The idempotency key of the event, e.g. "task:<id>:opened"; one message per recipient.
    key: str = Field(max_length=200)
    # No foreign key, like audit_event: a notification must never fail on write ordering.
    deal_id: str = Field(max_length=64)
    event: str = Field(max_length=32)
    recipient: str = Field(max_length=64)
    email: str = Field(max_length=254)
    # Text, not a bounded string: a subject carries a customer name of up to 200 characters.
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))


def enqueue(
    session: Session,
    *,
    key: str,
    deal_id: str,
    event: str,
    recipient: str,
    email: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    at: datetime,
) -> bool:
    """Write the message once; returns False when (key, recipient) is already there (a retry)."""
    exists = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.key == key, OutboxMessage.recipient == recipient
        )
    ).first()
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                OutboxMessage(
                    key=key,
                    deal_id=deal_id,
                    event=event,
                    recipient=recipient,
                    email=email,
                    subject=subject,
                    body_text=body_text,
                    body_html=body_html,
                    created_at=at,
                )
            )
    except IntegrityError:
        # A concurrent attempt won the race; its row is the one we meant to write.
        return False
    return True


def pending(session: Session, *, limit: int, key: str | None = None) -> Sequence[OutboxMessage]:
    """Unsent messages, oldest first; `key` narrows to one event's messages."""
    query = select(OutboxMessage).where(col(OutboxMessage.sent_at).is_(None))
    if key is not None:
        query = query.where(OutboxMessage.key == key)
    return session.exec(query.order_by(col(OutboxMessage.id)).limit(limit)).all()


def mark_sent(session: Session, *, message_id: int, at: datetime) -> bool:
    """Returns False when the message was already marked sent (by a concurrent attempt)."""
    # One conditional UPDATE, so two attempts racing on the same row cannot both count it.
    result = session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.sent_at).is_(None))
        .values(sent_at=at, attempts=col(OutboxMessage.attempts) + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def mark_failed(session: Session, *, message_id: int, error: str) -> None:
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.sent_at).is_(None))
        .values(attempts=col(OutboxMessage.attempts) + 1, last_error=error[:_MAX_ERROR_CHARS])
        .execution_options(synchronize_session=False)
    )


def messages_for(
    session: Session, *, deal_id: str | None = None, recipient: str | None = None
) -> Sequence[OutboxMessage]:
    query = select(OutboxMessage)
    if deal_id is not None:
        query = query.where(OutboxMessage.deal_id == deal_id)
    if recipient is not None:
        query = query.where(OutboxMessage.recipient == recipient)
    return session.exec(query.order_by(col(OutboxMessage.id))).all()
