"""The web app's sign-in: a session cookie over the same users and tokens as the API, plus CSRF.

The session cookie holds the same signed token the API hands out as a bearer token (HS256 under
the settings secret, with the same lifetime), HttpOnly so page scripts never see it. Because a
browser attaches cookies to requests other sites make, every unsafe request authenticated by
the cookie must also carry a CSRF token (double submit): the `dealdesk_csrf` cookie, which
scripts of our own origin can read, repeated in an `X-CSRF-Token` header or a `csrf_token`
form field. Another site can make the browser send both cookies but can read neither, so it
cannot repeat the value. Bearer-authenticated calls carry no ambient credential and need none.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request, Response, status

SESSION_COOKIE = "dealdesk_session"
CSRF_COOKIE = "dealdesk_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSRF_REFUSED = HTTPException(
    status_code=status.HTTP_403_FORBIDDEN,
    detail="missing or wrong CSRF token; reload the page and try again",
)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    # Constant time, so the comparison tells an attacker nothing about how close a guess was.
    return hmac.compare_digest(expected.encode(), given.encode())


def check_csrf_header(request: Request) -> None:
    """For cookie-authenticated API calls: the header must repeat the CSRF cookie."""
    if request.method in SAFE_METHODS:
        return
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
        raise CSRF_REFUSED


async def check_csrf(request: Request) -> None:
    """For page posts: the header, or else the hidden form field, must repeat the CSRF cookie."""
    if request.method in SAFE_METHODS:
        return
    expected = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        # Starlette caches the parsed form, so the route's Form() parameters still see it.
        field = (await request.form()).get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not csrf_matches(expected, given):
        raise CSRF_REFUSED


def _secure(base_url: str) -> bool:
    return base_url.startswith("https://")


def ensure_csrf_cookie(request: Request, response: Response, *, base_url: str) -> str:
    """The CSRF token of this browser, set as a cookie when it has none yet."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and len(token) >= 32:
        return token
    token = new_csrf_token()
    set_csrf_cookie(response, token, base_url=base_url)
    return token


def set_csrf_cookie(response: Response, token: str, *, base_url: str) -> None:
    # Not HttpOnly: the page's script reads it to send the header.
    response.set_cookie(
        CSRF_COOKIE, token, httponly=False, samesite="lax", secure=_secure(base_url), path="/"
    )


def set_session(response: Response, token: str, *, base_url: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(base_url),
        path="/",
    )


def clear_session(response: Response, *, base_url: str) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(base_url)
    )
    # A new CSRF token for the next sign-in, so a token seen before sign-out is worthless.
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="lax", secure=_secure(base_url))
