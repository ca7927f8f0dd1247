"""Which cost figures a caller reads: finance and admins all, reps and approvers what the
active policy's `exposure` gives their roles (by default a rep the margin percent only).

Answers that carry figures are built whole, then rebuilt from a copy without the keys the
caller may not read; those routes serialise with `response_model_exclude_unset`, so a left-out
figure is absent from the JSON (not a null, not a zero that reads as a real cost).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends
from pydantic import BaseModel
from sqlmodel import Session

from api.access import sees_all_deals
from api.authorization import CurrentUser
from api.deps import SessionDep
from policies import COST_FIELDS, DEFAULT_EXPOSURE, Policy
from store import routing
from store.tables import User

M = TypeVar("M", bound=BaseModel)


def hidden_fields(user: User, policy: Policy | None) -> frozenset[str]:
    """The cost figures `user` may not read under `policy` (None: the default exposure)."""
    if sees_all_deals(user):
        # The roles that read every deal (finance, admin) read every figure of it too.
        return frozenset()
    exposure = policy.exposure if policy else DEFAULT_EXPOSURE
    seen: set[str] = set()
    for role in user.roles:
        seen |= exposure.get(role, frozenset())
    return COST_FIELDS - seen


def redact(data: Any, hidden: frozenset[str]) -> Any:
    """`data` (dicts and lists) without the keys in `hidden`, at any depth."""
    if not hidden:
        return data
    if isinstance(data, dict):
        return {k: redact(v, hidden) for k, v in data.items() if k not in hidden}
    if isinstance(data, list):
        return [redact(v, hidden) for v in data]
    return data


def exposed(model: type[M], value: BaseModel, hidden: frozenset[str]) -> M:
    """`value` as `model`, every field set except the hidden figures."""
    return model.model_validate(redact(value.model_dump(), hidden))


def hidden_for(session: Session, user: User) -> frozenset[str]:
    """The cost figures `user` may not read under the active policy."""
    active = routing.active_policy(session)
    return hidden_fields(user, active[1] if active else None)


def _hidden_for_caller(user: CurrentUser, session: SessionDep) -> frozenset[str]:
    return hidden_for(session, user)


HiddenFields = Annotated[frozenset[str], Depends(_hidden_for_caller)]
