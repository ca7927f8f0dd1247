"""An audit log written through the store's own write path, and tampering with it (which on
PostgreSQL means getting past the append-only trigger first), for the audit tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, func, select

from store import deals
from store.db import SessionFactory, transaction
from store.tables import AuditEvent

T0 = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)


def append(session: Session, n: int, *, deal: str = "d-1", **detail: Any) -> None:
    deals.append_audit(
        session,
        deal_id=deal,
        key=f"step:{n}",
        version=1 + n % 3,
        event="decided" if n % 2 else "priced",
        actor=f"user{n % 7}",
        at=T0 + timedelta(seconds=n),
        detail={"n": n, "comment": f"r\u00e9sum\u00e9 {n}", "tags": ["a", "b"], **detail},
    )


def build_log(sessions: SessionFactory, rows: int) -> None:
    """Through the store's own write path, in one transaction: as fast as it gets."""
    with transaction(sessions) as session:
        for n in range(1, rows + 1):
            append(session, n, deal=f"d-{n % 50}")


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEvent)).one()


@contextmanager
def tampering(sessions: SessionFactory, *, keep: bool = False) -> Iterator[Session]:
    """A transaction that may change audit rows, rolled back unless `keep`. On PostgreSQL it
    disables the append-only trigger (the test role owns the table); transactional DDL puts it
    back with the rollback or, when kept, the trigger is enabled again before the commit."""
    with sessions() as session:
        session.begin()
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:
            session.execute(sa.text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        yield session
        if keep:
            if postgres:
                session.execute(sa.text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
            session.commit()
        else:
            session.rollback()
