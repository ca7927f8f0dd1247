"""User administration (admins only): list, create, change roles and manager, disable.

Users are never deleted: deals, tasks and the audit trail name them. A disabled user cannot
sign in, and the approver directory passes over them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from sqlmodel import Session

from api.authorization import CurrentUser
from api.deps import SessionDep
from api.idempotency import IdempotencyKey
from api.responses import errors
from api.security import hash_new_password
from store import deals, users
from store.tables import User

router = APIRouter(prefix="/users", tags=["users"], responses=errors(400, 401, 403, 404, 409, 413))

AppRole = Literal["rep", "approver", "finance", "admin"]
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
Username = Annotated[str, StringConstraints(max_length=64, pattern=USERNAME_PATTERN)]
# Approval roles are whatever the policy routes to (sales_vp, cfo, ...): names, not a fixed set.
ApprovalRole = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
UsernamePath = Annotated[str, Path(max_length=64, pattern=USERNAME_PATTERN)]


class UserPublic(BaseModel):
    username: str
    full_name: str
    email: str
    roles: list[str]
    approval_roles: list[str]
    manager: str | None
    active: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    full_name: FullName
    email: EmailStr = Field(max_length=254)
    roles: list[AppRole] = Field(min_length=1, max_length=4)
    approval_roles: list[ApprovalRole] = Field(default_factory=list, max_length=20)
    manager: Username | None = None
    password: str = Field(min_length=12, max_length=256)


class UserUpdate(BaseModel):
    """Only the fields sent change; `"manager": null` removes the manager."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    roles: list[AppRole] | None = Field(default=None, min_length=1, max_length=4)
    approval_roles: list[ApprovalRole] | None = Field(default=None, max_length=20)
    manager: Username | None = None
    active: bool | None = None


def _public(user: User) -> UserPublic:
    return UserPublic(
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        roles=list(user.roles),
        approval_roles=list(user.approval_roles),
        manager=user.manager,
        active=user.active,
    )


def _refuse(field: str, msg: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": msg, "input": value}]
    )


def _check(
    session: Session,
    *,
    username: str,
    roles: list[str],
    approval_roles: list[str],
    manager: str | None,
) -> None:
    """The rules a user must keep after any change, each refused at the field that breaks it."""
    if approval_roles and "approver" not in roles:
        raise _refuse(
            "approval_roles", "approval roles need the application role 'approver'", approval_roles
        )
    if manager is None:
        return
    if manager == username:
        raise _refuse("manager", "a user cannot be their own manager", manager)
    found = users.get_user(session, username=manager)
    if found is None or not found.active:
        raise _refuse("manager", f"no active user {manager!r}", manager)
    if users.would_report_to_itself(session, username=username, manager=manager):
        raise _refuse("manager", f"{manager!r} already reports to {username!r}", manager)


@router.get("")
def list_users(user: CurrentUser, session: SessionDep) -> list[UserPublic]:
    return [_public(u) for u in users.list_users(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate, user: CurrentUser, session: SessionDep, _key: IdempotencyKey
) -> UserPublic:
    """A new user; 409 when the username is taken. With an Idempotency-Key a retry gets the
    first answer again rather than that 409."""
    if users.get_user(session, username=body.username) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"the username {body.username!r} is taken"
        )
    roles: list[str] = list(dict.fromkeys(body.roles))
    approval_roles = list(dict.fromkeys(body.approval_roles))
    _check(
        session,
        username=body.username,
        roles=roles,
        approval_roles=approval_roles,
        manager=body.manager,
    )
    # The username is free (checked above), so this creates.
    created = users.upsert_user(
        session,
        username=body.username,
        full_name=body.full_name,
        email=str(body.email),
        roles=roles,
        approval_roles=approval_roles,
        manager=body.manager,
        password_hash=hash_new_password(body.password),
    )
    deals.append_audit(
        session,
        subject_type="user",
        deal_id=body.username,
        key="created",
        version=0,
        event="user_created",
        actor=user.username,
        at=datetime.now(UTC),
        detail=body.model_dump(mode="json", exclude={"password"}),
    )
    session.commit()
    return _public(created)


@router.patch("/{username}")
def update_user(
    username: UsernamePath, body: UserUpdate, user: CurrentUser, session: SessionDep
) -> UserPublic:
    target = users.get_user(session, username=username)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="user not found")
    changes: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    if "manager" not in body.model_fields_set:
        changes.pop("manager", None)
    for field in ("full_name", "email", "roles", "approval_roles", "active"):
        if field in changes and changes[field] is None:
            raise _refuse(field, "may be left out, but not null", None)
    roles = list(dict.fromkeys(changes.get("roles", target.roles)))
    approval_roles = list(dict.fromkeys(changes.get("approval_roles", target.approval_roles)))
    manager = changes.get("manager", target.manager)
    if username == user.username:
        # An admin locking themselves out could leave nobody able to administer DealDesk.
        if changes.get("active") is False:
            raise _refuse("active", "you cannot disable your own account", False)
        if "admin" not in roles:
            raise _refuse("roles", "you cannot take the admin role from yourself", roles)
    # Only a new or changed manager is checked: a manager disabled since stays until changed.
    _check(
        session,
        username=username,
        roles=roles,
        approval_roles=approval_roles,
        manager=manager if manager != target.manager else None,
    )
    target.roles = roles
    target.approval_roles = approval_roles
    target.manager = manager
    if "full_name" in changes:
        target.full_name = changes["full_name"]
    if "email" in changes:
        target.email = changes["email"]
    if "active" in changes:
        target.active = changes["active"]
    session.add(target)
    deals.append_audit(
        session,
        subject_type="user",
        deal_id=username,
        key=f"updated:{uuid.uuid4()}",
        version=0,
        event="user_updated",
        actor=user.username,
        at=datetime.now(UTC),
        detail=changes,
    )
    session.commit()
    session.refresh(target)
    return _public(target)
