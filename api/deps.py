"""Dependencies shared by the routers: settings, sessions, Temporal, the current user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session
from temporalio.client import Client

from api.pages.session import SESSION_COOKIE, check_csrf_header
from api.security import decode_token
from dealdesk.settings import Settings
from store import users
from store.db import SessionFactory
from store.tables import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session_factory(request: Request) -> SessionFactory:
    factory: SessionFactory = request.app.state.session_factory
    return factory


def get_session(
    factory: Annotated[SessionFactory, Depends(get_session_factory)],
) -> Iterator[Session]:
    with factory() as session:
        yield session


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]

_UNAUTHENTICATED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


def get_current_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    settings: SettingsDep,
    factory: SessionFactoryDep,
) -> User:
    if token is None:
        # The web app's session cookie: the same token, so an unsafe request must also prove
        # it comes from our own pages (CSRF); a bearer header is never sent by a browser alone.
        token = request.cookies.get(SESSION_COOKIE)
        if token is None:
            raise _UNAUTHENTICATED
        check_csrf_header(request)
    try:
        username = decode_token(token, secret=settings.secret_key.get_secret_value())
    except jwt.InvalidTokenError:
        raise _UNAUTHENTICATED from None
    # A session of its own, closed at once: the request's session would hold its connection
    # until the response is sent, and an async route that then opens a session in the thread
    # pool would hold two, which under load deadlocks the pool (found by bench/approvals.py).
    with factory() as session:
        user = users.get_user(session, username=username)
    if user is None or not user.active:
        raise _UNAUTHENTICATED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: str) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets through users holding any of `roles`, and answers 403 otherwise."""

    # async: a check with no I/O should not take a thread-pool hop on every request.
    async def check(user: CurrentUser) -> User:
        if not set(roles) & set(user.roles):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"this needs one of the roles: {', '.join(roles)}",
            )
        return user

    return check


RepUser = Annotated[User, Depends(require_role("rep"))]
ApproverUser = Annotated[User, Depends(require_role("approver"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
