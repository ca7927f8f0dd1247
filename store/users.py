"""Users and delegation windows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from store.tables import Delegation, User


def get_user(session: Session, *, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def list_users(session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(col(User.username))).all()


def upsert_user(
    session: Session,
    *,
    username: str,
    full_name: str,
    email: str,
    roles: list[str],
    approval_roles: list[str],
    manager: str | None,
    password_hash: str,
) -> User:
    user = get_user(session, username=username) or User(
        username=username, full_name=full_name, email=email, password_hash=password_hash
    )
    user.full_name = full_name
    user.email = email
    user.roles = roles
    user.approval_roles = approval_roles
    user.manager = manager
    user.password_hash = password_hash
    user.active = True
    session.add(user)
    session.flush()
    return user


def would_report_to_itself(session: Session, *, username: str, manager: str) -> bool:
    """Whether making `manager` the manager of `username` closes a loop in the reporting line
    (escalation climbs it, so a loop would escalate in circles)."""
    managers = {u.username: u.manager for u in list_users(session)}
    seen: set[str] = set()
    current: str | None = manager
    while current is not None and current not in seen:
        if current == username:
            return True
        seen.add(current)
        current = managers.get(current)
    return False


def delegations_at(session: Session, *, at: datetime) -> Sequence[Delegation]:
    return session.exec(
        select(Delegation).where(Delegation.starts_at <= at, Delegation.ends_at > at)
    ).all()


def list_delegations(session: Session) -> Sequence[Delegation]:
    return session.exec(select(Delegation)).all()
