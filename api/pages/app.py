"""Mounts the web app on the FastAPI app: page routers, their static file, their error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.pages import admin, auth, deals, finance, inbox
from api.pages.common import LoginRequired, PageError, error_page, login_redirect

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    for module in (auth, deals, inbox, finance, admin):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> RedirectResponse:
        return login_redirect(exc)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        return error_page(request, request.app.state.settings, exc)
