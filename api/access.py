"""Who may see which deal: one rule, used by every route that reads one."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlmodel import Session, select

from store import deals
from store.tables import ApprovalTask, Deal, User

# Roles that read every deal (reports, audits, administration).
_SEE_ALL = frozenset({"finance", "admin"})


def sees_all_deals(user: User) -> bool:
    return bool(_SEE_ALL & set(user.roles))


def visible_deal(session: Session, *, user: User, deal_id: str) -> Deal:
    """The deal if `user` may see it; 404 otherwise, so existence does not leak."""
    deal = deals.get_deal(session, deal_id=deal_id)
    if deal is not None and (
        deal.owner == user.username
        or sees_all_deals(user)
        or _holds_task(session, user=user, deal_id=deal_id)
    ):
        return deal
    raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="deal not found")


def _holds_task(session: Session, *, user: User, deal_id: str) -> bool:
    if "approver" not in user.roles:
        return False
    found = session.exec(
        select(ApprovalTask.id).where(
            ApprovalTask.deal_id == deal_id, ApprovalTask.assignee == user.username
        )
    ).first()
    return found is not None
