"""Orders: the bookings won deals create."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from store.tables import DealOrder


def get_order(session: Session, *, deal_id: str) -> DealOrder | None:
    return session.exec(select(DealOrder).where(DealOrder.deal_id == deal_id)).first()


def create_order(session: Session, *, order: DealOrder) -> DealOrder:
    """Create once per deal: a retried activity finds the first row and writes nothing."""
    existing = get_order(session, deal_id=order.deal_id)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            session.add(order)
    except IntegrityError:
        # A concurrent retry won the race; its row is the one we meant to write.
        found = get_order(session, deal_id=order.deal_id)
        assert found is not None
        return found
    return order
