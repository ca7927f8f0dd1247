"""Stored policy documents; exactly one is active."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from store.tables import PolicyVersion


def active_policy(session: Session) -> PolicyVersion | None:
    return session.exec(select(PolicyVersion).where(col(PolicyVersion.active))).first()


def store_policy(
    session: Session, *, version: int, document: str, actor: str, at: datetime
) -> PolicyVersion:
    """Store a new version and make it the active one."""
    session.execute(update(PolicyVersion).values(active=False))
    row = PolicyVersion(
        version=version, document=document, active=True, created_by=actor, created_at=at
    )
    session.add(row)
    session.flush()
    return row


def next_policy_version(session: Session) -> int:
    current: int = session.exec(select(func.coalesce(func.max(PolicyVersion.version), 0))).one()
    return current + 1
