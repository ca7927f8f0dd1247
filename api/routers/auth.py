from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from api.authorization import CurrentUser
from api.deps import SessionDep, SettingsDep
from api.responses import errors
from api.schemas import Me, Token
from api.security import create_token, verify_password
from dealdesk.settings import Settings
from store import logins, users
from store.tables import User

router = APIRouter(prefix="/auth", tags=["auth"], responses=errors(400, 401, 413))


_TOO_MANY = HTTPException(
    status_code=status.HTTP_429_TOO_MANY_REQUESTS,
    detail="too many failed sign-ins; try again later",
    headers={"Retry-After": str(int(logins.WINDOW.total_seconds()))},
)


def authenticate(
    session: Session, settings: Settings, *, username: str, password: str, address: str
) -> User:
    """The user these credentials name; 401 when wrong, 429 while throttled. The one check
    behind the API's token and the web app's sign-in."""
    now = datetime.now(UTC)
    by_account, by_address = logins.failures_since(
        session, username=username, address=address, since=now - logins.WINDOW
    )
    # Checked before the password, so a locked account answers 429 to the right one too:
    # otherwise the lock would tell a guesser when they were right.
    if (
        by_account >= settings.login_failures_per_account
        or by_address >= settings.login_failures_per_address
    ):
        raise _TOO_MANY
    user = users.get_user(session, username=username)
    # Always verify (against a dummy hash for unknown users) so timing tells nothing.
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.active:
        logins.record_failure(session, username=username, address=address, at=now)
        logins.forget_before(session, before=now - logins.WINDOW)
        session.commit()
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


@router.post("/token", responses={429: {"description": "too many failed sign-ins"}})
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    user = authenticate(
        session,
        settings,
        username=form.username,
        password=form.password,
        address=request.client.host if request.client else "unknown",
    )
    token = create_token(
        username=user.username,
        secret=settings.secret_key.get_secret_value(),
        ttl=settings.token_ttl,
    )
    return Token(access_token=token)


@router.get("/me")
def me(user: CurrentUser) -> Me:
    return Me(
        username=user.username,
        full_name=user.full_name,
        roles=list(user.roles),
        approval_roles=list(user.approval_roles),
    )
