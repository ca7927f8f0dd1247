from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, col, select

from api.authorization import CurrentUser
from api.deps import RowId, SessionDep
from api.idempotency import IdempotencyKey
from api.responses import errors
from store import deals, users
from store.tables import Delegation

router = APIRouter(
    prefix="/delegations", tags=["delegations"], responses=errors(400, 401, 403, 404, 409, 413)
)

MAX_WINDOW = timedelta(days=366)


class DelegationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Admins may delegate for anyone; an approver only for themselves (the default).
    delegator: str | None = Field(default=None, max_length=64)
    delegate: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _window(self) -> DelegationCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_WINDOW:
            raise ValueError("a delegation window is at most a year")
        return self


class DelegationPublic(BaseModel):
    id: int
    delegator: str
    delegate: str
    starts_at: datetime
    ends_at: datetime


def _public(row: Delegation) -> DelegationPublic:
    assert row.id is not None
    return DelegationPublic(
        id=row.id,
        delegator=row.delegator,
        delegate=row.delegate,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


@router.get("")
def list_delegations(user: CurrentUser, session: SessionDep) -> list[DelegationPublic]:
    """Windows the caller gives or receives; every window for admins."""
    query = select(Delegation).order_by(col(Delegation.starts_at))
    if "admin" not in user.roles:
        query = query.where(
            (col(Delegation.delegator) == user.username)
            | (col(Delegation.delegate) == user.username)
        )
    return [_public(row) for row in session.exec(query).all()]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_delegation(
    body: DelegationCreate, user: CurrentUser, session: SessionDep, _key: IdempotencyKey
) -> DelegationPublic:
    """While the window is open, new tasks for the delegator go to the delegate instead."""
    delegator = body.delegator or user.username
    if delegator != user.username and "admin" not in user.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="you may delegate only your own tasks"
        )
    if body.delegate == delegator:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "delegate"],
                    "msg": "cannot delegate to oneself",
                    "type": "value_error",
                }
            ],
        )
    for field, name in (("delegator", delegator), ("delegate", body.delegate)):
        found = users.get_user(session, username=name)
        if found is None or not found.active:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {
                        "loc": ["body", field],
                        "msg": f"no active user {name!r}",
                        "type": "value_error",
                    }
                ],
            )
    row = Delegation(
        delegator=delegator,
        delegate=body.delegate,
        starts_at=body.starts_at.astimezone(UTC),
        ends_at=body.ends_at.astimezone(UTC),
    )
    session.add(row)
    session.flush()
    now = datetime.now(UTC)
    deals.append_audit(
        session,
        subject_type="delegation",
        deal_id=delegator,
        key=f"created:{row.id}",
        version=0,
        event="delegation_created",
        actor=user.username,
        at=now,
        detail={
            "delegate": body.delegate,
            "starts_at": body.starts_at.isoformat(),
            "ends_at": body.ends_at.isoformat(),
        },
    )
    session.commit()
    return _public(row)


def _window(session: Session, delegation_id: int) -> Delegation:
    """The window; the authorization gate lets only its delegator (or an admin) this far."""
    row = session.get(Delegation, delegation_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="delegation not found")
    return row


@router.post("/{delegation_id}/end")
def end_delegation(
    delegation_id: RowId, user: CurrentUser, session: SessionDep
) -> DelegationPublic:
    """Close an open window now, keeping it on record; tasks already handed over stay with the
    delegate. A window not yet open is cancelled with DELETE instead."""
    row = _window(session, delegation_id)
    now = datetime.now(UTC)
    if not row.starts_at <= now < row.ends_at:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="only an open window can be ended; cancel one not yet open with DELETE",
        )
    row.ends_at = now
    session.add(row)
    deals.append_audit(
        session,
        subject_type="delegation",
        deal_id=row.delegator,
        key=f"ended:{row.id}",
        version=0,
        event="delegation_ended",
        actor=user.username,
        at=now,
        detail={"delegate": row.delegate, "ends_at": now.isoformat()},
    )
    session.commit()
    session.refresh(row)
    return _public(row)


@router.delete("/{delegation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_delegation(delegation_id: RowId, user: CurrentUser, session: SessionDep) -> Response:
    row = _window(session, delegation_id)
    deals.append_audit(
        session,
        subject_type="delegation",
        deal_id=row.delegator,
        key=f"deleted:{row.id}",
        version=0,
        event="delegation_deleted",
        actor=user.username,
        at=datetime.now(UTC),
        detail={"delegate": row.delegate},
    )
    session.delete(row)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
