"""What policy evaluation needs from the store: the active policy and the approver directory."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlmodel import Session

from policies import Delegation, Directory, DirectoryUser, Policy, load_policy
from store import policy_versions, users


@lru_cache(maxsize=16)
def _compile(version: int, document: str) -> Policy:
    # Compiling rule expressions costs far more than evaluating them, and a stored policy
    # version never changes, so each process compiles each version once.
    return load_policy(document)


def active_policy(session: Session) -> tuple[int, Policy] | None:
    stored = policy_versions.active_policy(session)
    if stored is None:
        return None
    return stored.version, _compile(stored.version, stored.document)


def directory_at(session: Session, *, at: datetime) -> Directory:
    return Directory(
        users=[
            DirectoryUser(
                username=u.username,
                approval_roles=list(u.approval_roles),
                manager=u.manager,
                active=u.active,
            )
            for u in users.list_users(session)
        ],
        delegations=[
            Delegation(
                delegator=d.delegator, delegate=d.delegate, starts_at=d.starts_at, ends_at=d.ends_at
            )
            for d in users.delegations_at(session, at=at)
        ],
    )
