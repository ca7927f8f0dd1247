"""Who may call what: the authorization matrix, and the one dependency that enforces it.

`MATRIX` maps every route of the app, as (method, path template), to a `Rule`:

- `gate`: how the caller proves who they are. `API`: a bearer token or the session cookie,
  401 without. `PAGE`: the session cookie, a redirect to the sign-in page without. `PUBLIC`:
  nobody needs to. `LINK`: the customer's signed link in the path is the credential (the
  route checks it). `DOCS`: public in development, `API` in production.
- `roles`: the caller must hold one of them (403 otherwise); empty means any signed-in user.
- `owner`: which objects of the route the caller may touch (see `Owner`); an object the
  caller may not see answers 404, so its existence does not leak.

`authorize` runs before every route (an app-wide dependency): it looks the matched route up
in the table, so a route cannot be guarded differently from what the table says, and a route
missing from the table is refused (and `check_matrix` stops the app from being built).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from api.access import visible_deal
from api.deps import MAX_ROW_ID, oauth2_scheme
from api.metrics import RouteTemplates
from api.pages.common import LoginRequired, PageError
from api.pages.session import SESSION_COOKIE, check_csrf, check_csrf_header
from api.security import decode_token
from dealdesk.settings import Settings
from store import deals, users
from store.db import SessionFactory
from store.tables import Delegation, User


class Gate(StrEnum):
    PUBLIC = "public"
    LINK = "link"
    API = "api"
    PAGE = "page"
    DOCS = "docs"


class Owner(StrEnum):
    # No object of anyone's in the path.
    NONE = "none"
    # A list: the route returns only the caller's rows (finance and admins: every deal).
    OWN_ROWS = "own rows"
    # {deal_id}: a deal the caller may see (access.visible_deal: its owner, an approver holding
    # one of its tasks, finance, admin).
    DEAL_VISIBLE = "deal visible"
    # {deal_id}: the deal's owner only; 403 to others who may see it.
    DEAL_OWNER = "deal owner"
    # {task_id}: a task assigned to the caller; 403 to the deal's submitter, whatever else.
    TASK_ASSIGNEE = "task assignee"
    # {delegation_id}: a delegation the caller gave (admins: any).
    DELEGATOR = "delegator"


REP, APPROVER, FINANCE, ADMIN = "rep", "approver", "finance", "admin"
ROLES = (REP, APPROVER, FINANCE, ADMIN)


@dataclass(frozen=True, slots=True)
class Rule:
    gate: Gate
    roles: frozenset[str] = frozenset()
    owner: Owner = Owner.NONE


def _api(*roles: str, owner: Owner = Owner.NONE) -> Rule:
    return Rule(Gate.API, frozenset(roles), owner)


def _page(*roles: str, owner: Owner = Owner.NONE) -> Rule:
    return Rule(Gate.PAGE, frozenset(roles), owner)


_PUBLIC = Rule(Gate.PUBLIC)
_LINK = Rule(Gate.LINK)
_DOCS = Rule(Gate.DOCS)
_FINANCE_READ = _api(FINANCE, ADMIN)

V1 = "/api/v1"

# fmt: off
MATRIX: Mapping[tuple[str, str], Rule] = {
    # The JSON API.
    ("POST", f"{V1}/auth/token"): _PUBLIC,
    ("GET", f"{V1}/auth/me"): _api(),
    ("POST", f"{V1}/quotes/price"): _api(),
    ("POST", f"{V1}/deals"): _api(REP),
    ("GET", f"{V1}/deals"): _api(owner=Owner.OWN_ROWS),
    ("GET", f"{V1}/deals/{{deal_id}}"): _api(owner=Owner.DEAL_VISIBLE),
    ("PUT", f"{V1}/deals/{{deal_id}}"): _api(REP, owner=Owner.DEAL_OWNER),
    ("POST", f"{V1}/deals/{{deal_id}}/withdraw"): _api(REP, owner=Owner.DEAL_OWNER),
    ("GET", f"{V1}/deals/{{deal_id}}/history"): _api(owner=Owner.DEAL_VISIBLE),
    ("POST", f"{V1}/deals/{{deal_id}}/send"): _api(REP, owner=Owner.DEAL_OWNER),
    ("GET", f"{V1}/deals/{{deal_id}}/proposal/link"): _api(REP, owner=Owner.DEAL_OWNER),
    ("GET", f"{V1}/deals/{{deal_id}}/proposal"): _api(owner=Owner.DEAL_VISIBLE),
    ("GET", f"{V1}/deals/{{deal_id}}/contract"): _api(owner=Owner.DEAL_VISIBLE),
    ("GET", f"{V1}/approvals"): _api(APPROVER, owner=Owner.OWN_ROWS),
    ("GET", f"{V1}/approvals/{{task_id}}"): _api(APPROVER, owner=Owner.TASK_ASSIGNEE),
    ("POST", f"{V1}/approvals/{{task_id}}/decision"): _api(APPROVER, owner=Owner.TASK_ASSIGNEE),
    ("GET", f"{V1}/delegations"): _api(owner=Owner.OWN_ROWS),
    ("POST", f"{V1}/delegations"): _api(APPROVER, ADMIN),
    ("DELETE", f"{V1}/delegations/{{delegation_id}}"): _api(APPROVER, ADMIN, owner=Owner.DELEGATOR),
    ("POST", f"{V1}/delegations/{{delegation_id}}/end"): _api(
        APPROVER, ADMIN, owner=Owner.DELEGATOR
    ),
    ("GET", f"{V1}/users"): _api(ADMIN),
    ("POST", f"{V1}/users"): _api(ADMIN),
    ("PATCH", f"{V1}/users/{{username}}"): _api(ADMIN),
    ("GET", f"{V1}/catalog/products"): _api(),
    ("PUT", f"{V1}/catalog/products/{{sku}}"): _api(ADMIN),
    ("GET", f"{V1}/policies/active"): _api(),
    ("POST", f"{V1}/policies/validate"): _api(ADMIN),
    ("PUT", f"{V1}/policies"): _api(ADMIN),
    ("GET", f"{V1}/templates"): _api(ADMIN),
    ("GET", f"{V1}/templates/{{name}}"): _api(ADMIN),
    ("PUT", f"{V1}/templates/{{name}}"): _api(ADMIN),
    ("DELETE", f"{V1}/templates/{{name}}"): _api(ADMIN),
    ("POST", f"{V1}/templates/{{name}}/preview"): _api(ADMIN),
    ("GET", f"{V1}/reports/margins"): _FINANCE_READ,
    ("GET", f"{V1}/reports/margins/bands"): _FINANCE_READ,
    ("GET", f"{V1}/reports/discounts"): _FINANCE_READ,
    ("GET", f"{V1}/reports/discounts/approvals"): _FINANCE_READ,
    ("GET", f"{V1}/reports/discounts/bands"): _FINANCE_READ,
    ("GET", f"{V1}/reports/bookings"): _FINANCE_READ,
    ("GET", f"{V1}/reports/cycle-times"): _FINANCE_READ,
    ("GET", f"{V1}/reports/cycle-times/tasks"): _FINANCE_READ,
    ("GET", f"{V1}/reports/pipeline"): _FINANCE_READ,
    ("GET", f"{V1}/reports/quotas"): _FINANCE_READ,
    ("PUT", f"{V1}/reports/quotas"): _api(ADMIN),
    # The customer's proposal page: the signed link is the credential.
    ("GET", "/p/{token}"): _LINK,
    ("GET", "/p/{token}/document"): _LINK,
    ("GET", "/p/{token}/document.pdf"): _LINK,
    ("POST", "/p/{token}/accept"): _LINK,
    ("POST", "/p/{token}/decline"): _LINK,
    # The web pages (session cookie; unsafe methods also need the CSRF token).
    ("GET", "/"): _page(),
    ("GET", "/login"): _PUBLIC,
    ("POST", "/login"): _PUBLIC,
    ("POST", "/logout"): _page(),
    ("GET", "/deals"): _page(owner=Owner.OWN_ROWS),
    ("GET", "/deals/new"): _page(REP),
    ("GET", "/deals/{deal_id}/edit"): _page(REP, owner=Owner.DEAL_OWNER),
    ("GET", "/deals/{deal_id}"): _page(owner=Owner.DEAL_VISIBLE),
    ("GET", "/deals/{deal_id}/document/{kind}"): _page(owner=Owner.DEAL_VISIBLE),
    ("GET", "/inbox"): _page(APPROVER, owner=Owner.OWN_ROWS),
    ("GET", "/finance"): _page(FINANCE, ADMIN),
    ("GET", "/admin/policy"): _page(ADMIN),
    ("POST", "/admin/policy/dry-run"): _page(ADMIN),
    ("GET", "/admin/templates"): _page(ADMIN),
    ("GET", "/admin/catalog"): _page(ADMIN),
    ("GET", "/admin/users"): _page(ADMIN),
    # Operations and documentation.
    ("GET", "/healthz"): _PUBLIC,
    ("GET", "/readyz"): _PUBLIC,
    ("GET", "/metrics"): _PUBLIC,
    ("GET", "/static/{path}"): _PUBLIC,
    ("GET", "/openapi.json"): _DOCS,
    ("GET", "/docs"): _DOCS,
    ("GET", "/docs/oauth2-redirect"): _DOCS,
    ("GET", "/redoc"): _DOCS,
}
# fmt: on


def app_routes(app: FastAPI) -> list[tuple[str, str, bool]]:
    """Every (method, path template, goes through the gate) the app answers, HEAD aside (it
    follows GET). Only APIRoutes run the app's dependencies, so only they go through it."""
    found: list[tuple[str, str, bool]] = []
    for context in iter_route_contexts(app.routes):
        path = context.path_format or context.path or ""
        gated = isinstance(context.original_route, APIRoute)
        if isinstance(context.original_route, Mount):
            found.append(("GET", path, gated))
            continue
        methods = getattr(context, "methods", None) or set()
        found.extend((method, path, gated) for method in sorted(methods) if method != "HEAD")
    return found


def check_matrix(app: FastAPI) -> None:
    """Refuse to build an app with a route the matrix does not name, or with a gated route
    that is not an APIRoute (plain Starlette routes, such as FastAPI's own docs, skip the
    app's dependencies and so the gate)."""
    routes = app_routes(app)
    missing = [(method, path) for method, path, _ in routes if (method, path) not in MATRIX]
    if missing:
        raise RuntimeError(f"routes missing from api.authorization.MATRIX: {missing}")
    for method, path, gated in routes:
        if not gated and MATRIX[(method, path)].gate is not Gate.PUBLIC:
            raise RuntimeError(f"{method} {path} is not an APIRoute: the gate would not run")


def _rule(request: Request) -> Rule | None:
    templates: RouteTemplates = request.app.state.route_templates
    method = "GET" if request.method == "HEAD" else request.method
    return MATRIX.get((method, templates.template(request.scope)))


def _api_token(request: Request) -> tuple[str | None, bool]:
    """The token, and whether it came from the session cookie (which then needs CSRF)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value, False
    return request.cookies.get(SESSION_COOKIE), True


def _load_user(settings: Settings, sessions: SessionFactory, token: str) -> User | None:
    try:
        username = decode_token(token, secret=settings.secret_key.get_secret_value())
    except jwt.InvalidTokenError:
        return None
    # A session of its own, closed at once: the request's session would hold its connection
    # until the response is sent, and an async route that then opens a session in the thread
    # pool would hold two, which under load deadlocks the pool (found by bench/approvals.py).
    with sessions() as session:
        user = users.get_user(session, username=username)
    return user if user is not None and user.active else None


_UNAUTHENTICATED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


def check_owner(sessions: SessionFactory, *, rule: Rule, user: User, request: Request) -> None:
    """The object rule of the matrix: 404 for what the caller may not see, 403 for what they
    see but may not change."""
    params = request.path_params
    with sessions() as session:
        if rule.owner in (Owner.DEAL_VISIBLE, Owner.DEAL_OWNER):
            deal = visible_deal(session, user=user, deal_id=params["deal_id"])
            if rule.owner is Owner.DEAL_OWNER and deal.owner != user.username:
                raise _forbidden("only the deal's owner may do this")
        elif rule.owner is Owner.TASK_ASSIGNEE:
            task = deals.get_task(session, task_id=params["task_id"])
            task_deal = deals.get_deal(session, deal_id=task.deal_id) if task else None
            if task is None or task_deal is None:
                raise _not_found("task")
            # Separation of duties before anything else: the submitter never decides, even
            # holding the approver role (they see the deal, so the 403 leaks nothing).
            if task_deal.owner == user.username:
                raise _forbidden("the submitter of a deal may not decide on it")
            if task.assignee != user.username:
                raise _not_found("task")
        elif rule.owner is Owner.DELEGATOR:
            row = session.get(Delegation, _int(params["delegation_id"]))
            if row is None or (row.delegator != user.username and ADMIN not in user.roles):
                raise _not_found("delegation")


def _int(text: str) -> int:
    # An id no integer key can hold names nothing; PostgreSQL would refuse to compare it (500).
    try:
        value = int(text)
    except ValueError:
        raise _not_found("delegation") from None
    if not 1 <= value <= MAX_ROW_ID:
        raise _not_found("delegation")
    return value


async def authorize(request: Request) -> User | None:
    """The app-wide gate: the signed-in user the route's rule lets through, else None for a
    public or link route. Cached per request, so `CurrentUser` below reuses this answer."""
    rule = _rule(request)
    if rule is None:
        # Fail closed; check_matrix keeps this from happening to a route the app was built with.
        raise _forbidden("this route has no authorization rule")
    settings: Settings = request.app.state.settings
    if rule.gate in (Gate.PUBLIC, Gate.LINK):
        return None
    if rule.gate is Gate.DOCS and settings.mode != "production":
        return None
    sessions: SessionFactory = request.app.state.session_factory
    page = rule.gate is Gate.PAGE
    if page:
        token, from_cookie = request.cookies.get(SESSION_COOKIE), True
    else:
        token, from_cookie = _api_token(request)
    user = await run_in_threadpool(_load_user, settings, sessions, token) if token else None
    if page:
        request.state.page_user = user
    if user is None:
        if page:
            raise LoginRequired(request.url.path if request.method == "GET" else "/")
        raise _UNAUTHENTICATED
    if from_cookie:
        # A browser sends the cookie to requests other sites make: unsafe ones must also
        # repeat the CSRF token (pages: a header or the form field; the API: the header).
        try:
            await (check_csrf(request) if page else _csrf_header(request))
        except HTTPException as exc:
            if page:
                raise PageError(exc.status_code, "Refused", str(exc.detail)) from None
            raise
    if rule.roles and not rule.roles & set(user.roles):
        detail = f"this needs one of the roles: {', '.join(sorted(rule.roles))}"
        if page:
            raise PageError(
                status.HTTP_403_FORBIDDEN,
                "Not allowed",
                f"This page is for {' or '.join(sorted(rule.roles))} users; you are signed "
                f"in as {user.username}.",
            )
        raise _forbidden(detail)
    if rule.owner not in (Owner.NONE, Owner.OWN_ROWS):
        try:
            await run_in_threadpool(check_owner, sessions, rule=rule, user=user, request=request)
        except HTTPException as exc:
            if page:
                heading = "Not found" if exc.status_code == 404 else "Not allowed"
                raise PageError(exc.status_code, heading, str(exc.detail).capitalize()) from None
            raise
    return user


async def _csrf_header(request: Request) -> None:
    check_csrf_header(request)


async def current_user(
    # Declared for the OpenAPI document only (routes that need a user show the lock); the
    # token itself is read by `authorize`, which also takes the session cookie.
    _token: Annotated[str | None, Depends(oauth2_scheme)],
    user: Annotated[User | None, Depends(authorize)],
) -> User:
    if user is None:
        # A public route asked for a user: a bug in the route, refused rather than served.
        raise _UNAUTHENTICATED
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def install(app: FastAPI) -> None:
    """Index the routes for the gate and check the matrix names each of them; call it after
    every route has been added."""
    app.state.route_templates = RouteTemplates(app.router)
    check_matrix(app)
