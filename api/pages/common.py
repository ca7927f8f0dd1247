"""What every page shares: the signed-in user from the session cookie, role checks, rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import SessionFactoryDep, SettingsDep
from api.pages.session import SESSION_COOKIE, check_csrf, ensure_csrf_cookie
from api.security import decode_token
from dealdesk.settings import Settings
from store import users
from store.tables import User
from templates import environment

# Pages run only our own script file; API calls go to our own origin; nothing frames a page.
# Inline styles are allowed (the layout's CSS); the template preview is an inert srcdoc frame.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

ROLE_LABELS = {
    "sales_vp": "sales VP",
    "cfo": "CFO",
    "finance": "finance",
    "legal": "legal",
    "deal_desk": "deal desk",
}


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class PageError(Exception):
    """A refusal shown as a page (403: signed in without the role; 404: not yours, or none)."""

    def __init__(self, status_code: int, heading: str, message: str) -> None:
        self.status_code = status_code
        self.heading = heading
        self.message = message


def nav_for(user: User | None) -> list[dict[str, str]]:
    if user is None:
        return []
    roles = set(user.roles)
    items: list[tuple[set[str], str, str]] = [
        ({"rep"}, "/deals", "My deals"),
        ({"rep"}, "/deals/new", "New deal"),
        ({"finance", "admin"}, "/deals", "All deals"),
        ({"approver"}, "/inbox", "Inbox"),
        ({"finance", "admin"}, "/finance", "Finance"),
        ({"admin"}, "/admin/policy", "Policy"),
        ({"admin"}, "/admin/templates", "Templates"),
        ({"admin"}, "/admin/catalog", "Catalog"),
        ({"admin"}, "/admin/users", "Users"),
    ]
    seen: set[str] = set()
    out = []
    for needs, href, label in items:
        if needs & roles and href not in seen:
            seen.add(href)
            out.append({"href": href, "label": label})
    return out


def render(
    request: Request,
    settings: Settings,
    template: str,
    *,
    user: User | None,
    title: str,
    page: str = "",
    status_code: int = status.HTTP_200_OK,
    **context: Any,
) -> HTMLResponse:
    response = HTMLResponse("", status_code=status_code, headers=PAGE_HEADERS)
    csrf = ensure_csrf_cookie(request, response, base_url=settings.base_url)
    html = (
        environment()
        .get_template(template)
        .render(
            title=title,
            page=page,
            csrf_token=csrf,
            nav=nav_for(user),
            current_path=request.url.path,
            user=(
                {"username": user.username, "full_name": user.full_name, "roles": user.roles}
                if user
                else None
            ),
            **context,
        )
    )
    response.body = response.render(html)
    response.headers["content-length"] = str(len(response.body))
    return response


def error_page(request: Request, settings: Settings, exc: PageError) -> HTMLResponse:
    return render(
        request,
        settings,
        "pages/message.html.j2",
        user=getattr(request.state, "page_user", None),
        title=exc.heading,
        status_code=exc.status_code,
        heading=exc.heading,
        message=exc.message,
    )


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(
        f"/login?next={quote(exc.next_path, safe='/')}", status_code=status.HTTP_303_SEE_OTHER
    )


def _session_user(request: Request, settings: Settings, factory: Any) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        username = decode_token(token, secret=settings.secret_key.get_secret_value())
    except jwt.InvalidTokenError:
        return None
    with factory() as session:
        user = users.get_user(session, username=username)
    if user is None or not user.active:
        return None
    return user


async def optional_user(
    request: Request, settings: SettingsDep, factory: SessionFactoryDep
) -> User | None:
    user = await run_in_threadpool(_session_user, request, settings, factory)
    request.state.page_user = user
    return user


async def page_user(request: Request, settings: SettingsDep, factory: SessionFactoryDep) -> User:
    """The signed-in user, or a redirect to the sign-in page; unsafe requests need CSRF."""
    user = await optional_user(request, settings, factory)
    if user is None:
        path = request.url.path if request.method == "GET" else "/"
        raise LoginRequired(path)
    try:
        await check_csrf(request)
    except HTTPException as exc:
        raise PageError(exc.status_code, "Refused", str(exc.detail)) from None
    return user


PageUser = Annotated[User, Depends(page_user)]


def require_page_role(*roles: str) -> Callable[[User], Awaitable[User]]:
    async def check(user: PageUser) -> User:
        if not set(roles) & set(user.roles):
            raise PageError(
                status.HTTP_403_FORBIDDEN,
                "Not allowed",
                f"This page is for {' or '.join(roles)} users; you are signed in as "
                f"{user.username}.",
            )
        return user

    return check


RepPage = Annotated[User, Depends(require_page_role("rep"))]
ApproverPage = Annotated[User, Depends(require_page_role("approver"))]
AdminPage = Annotated[User, Depends(require_page_role("admin"))]
