from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas import Me, Token
from api.security import create_token, verify_password
from store import users

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token")
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    user = users.get_user(session, username=form.username)
    # Always verify (against a dummy hash for unknown users) so timing tells nothing.
    ok = verify_password(form.password, user.password_hash if user else None)
    if user is None or not ok or not user.active:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
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
