"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.client import Client
from temporalio.service import RPCError

from api import authorization, errors, health, idempotency
from api.headers import NoStore
from api.limits import BodySizeLimit
from api.metrics import install_metrics
from api.pages import app as pages
from api.routers import (
    approvals,
    auth,
    catalog,
    customer,
    deals,
    delegations,
    policies,
    quotes,
    reports,
    templates,
    users,
)
from dealdesk import temporal as temporal_client
from dealdesk.settings import Settings, get_settings
from store.db import make_engine, session_factory

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """Build the app; tests hand in their own engine and Temporal client."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built once here and handed out by dependencies, so tests can swap them.
        if getattr(app.state, "temporal", None) is None:
            app.state.temporal = await temporal_client.connect(settings)
        yield
        if owned_engine is not None:
            owned_engine.dispose()

    owned_engine = None
    if engine is None:
        engine = owned_engine = make_engine(settings.effective_database_url)

    app = FastAPI(
        title="DealDesk",
        version="0.1.0",
        summary="Deal desk approvals: price, route, approve, propose.",
        lifespan=lifespan,
        # Served below as routes of our own, so the authorization gate covers them too.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authorization.authorize)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.temporal = temporal
    app.state.readiness = health.ReadinessProbe(engine)

    # Innermost: it holds back the answer of a request that claimed an Idempotency-Key.
    idempotency.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(NoStore)
    if settings.cors_origins:
        # Only the origins named: with credentials allowed, a wildcard would let any site
        # read a signed-in user's answers (Starlette echoes the caller's origin for "*").
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token"],
        )
    if settings.metrics_enabled:
        # Last added, so outermost: it also counts the 413s of the body limit.
        install_metrics(app, sessions=app.state.session_factory)

    @app.exception_handler(RPCError)
    async def temporal_unavailable(request: Request, exc: RPCError) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "the workflow service is unavailable; try again"},
        )

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "the database is unavailable or busy; try again"},
            headers={"Retry-After": "1"},
        )

    app.add_exception_handler(RequestValidationError, errors.validation_failed)
    # Starlette serves it from its outermost middleware, after which it re-raises for the
    # server's log; the client gets the JSON answer only.
    app.add_exception_handler(Exception, errors.internal_error)

    # Unreachable, locked, or out of pooled connections: a 503 the client may retry, never a 500.
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(PoolTimeoutError, database_unavailable)

    api = APIRouter(prefix=API_PREFIX)
    for module in (
        auth,
        deals,
        approvals,
        delegations,
        quotes,
        catalog,
        policies,
        templates,
        reports,
        users,
    ):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(customer.router)
    # The web app: server-rendered pages on the same users, roles and store functions.
    pages.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(health.router)
    _install_docs(app)
    authorization.install(app)
    return app


def _install_docs(app: FastAPI) -> None:
    """FastAPI's documentation pages, as routes of the app (public in development, for signed-in
    users in production: the schema maps every route an attacker could try)."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")
