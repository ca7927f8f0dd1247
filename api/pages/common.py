"""What every page shares: rendering, and the refusals the authorization gate raises for pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from api.pages.session import ensure_csrf_cookie
from dealdesk.settings import Settings
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
