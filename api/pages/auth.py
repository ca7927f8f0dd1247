"""Sign in, sign out, and the start page that sends each user where their work is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.authorization import CurrentUser
from api.deps import SessionFactoryDep, SettingsDep
from api.pages.common import PageError, render
from api.pages.session import (
    check_csrf,
    clear_session,
    new_csrf_token,
    set_csrf_cookie,
    set_session,
)
from api.routers.auth import authenticate
from api.security import create_token
from dealdesk.settings import Settings
from store.db import SessionFactory
from store.tables import User

router = APIRouter(include_in_schema=False)


def _local(path: str) -> str:
    # Only a path on this site: "//evil.example" or "https://..." would be an open redirect.
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def home_for(user: User) -> str:
    roles = set(user.roles)
    if "rep" in roles:
        return "/deals"
    if "approver" in roles:
        return "/inbox"
    if "finance" in roles:
        return "/finance"
    if "admin" in roles:
        return "/admin/policy"
    return "/deals"


@router.get("/", response_class=RedirectResponse)
async def home(user: CurrentUser) -> RedirectResponse:
    return RedirectResponse(home_for(user), status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, settings: SettingsDep, next: str = "/") -> HTMLResponse:
    return render(
        request,
        settings,
        "pages/login.html.j2",
        user=None,
        title="Sign in",
        page="login",
        next=_local(next),
        error="",
        username="",
    )


def _authenticate(
    sessions: SessionFactory, settings: Settings, username: str, password: str, address: str
) -> User | str:
    """The user, or what to tell the person signing in (the API's check and throttling)."""
    with sessions() as session:
        try:
            return authenticate(
                session, settings, username=username, password=password, address=address
            )
        except HTTPException as refused:
            if refused.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
                return "Too many failed sign-ins. Try again later."
            return "Wrong username or password."


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    # Login CSRF: another site must not sign this browser in as someone else.
    try:
        await check_csrf(request)
    except HTTPException as exc:
        raise PageError(exc.status_code, "Refused", str(exc.detail)) from None
    address = request.client.host if request.client else "unknown"
    user = await run_in_threadpool(_authenticate, sessions, settings, username, password, address)
    if isinstance(user, str):
        return render(
            request,
            settings,
            "pages/login.html.j2",
            user=None,
            title="Sign in",
            page="login",
            status_code=status.HTTP_401_UNAUTHORIZED,
            next=_local(next),
            error=user,
            username=username,
        )
    token = create_token(
        username=user.username,
        secret=settings.secret_key.get_secret_value(),
        ttl=settings.token_ttl,
    )
    target = _local(next)
    response = RedirectResponse(
        home_for(user) if target == "/" else target, status_code=status.HTTP_303_SEE_OTHER
    )
    set_session(
        response,
        token,
        base_url=settings.base_url,
        max_age=int(settings.token_ttl.total_seconds()),
    )
    # A fresh CSRF token with every session, so one planted before sign-in is worthless.
    set_csrf_cookie(response, new_csrf_token(), base_url=settings.base_url)
    return response


@router.post("/logout", response_class=RedirectResponse)
async def logout(user: CurrentUser, settings: SettingsDep) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session(response, base_url=settings.base_url)
    return response
