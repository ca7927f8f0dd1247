"""Dependencies shared by the routers: settings, sessions, Temporal (the current user is
api.authorization's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session
from temporalio.client import Client

from dealdesk.settings import Settings
from store.db import SessionFactory

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

# Page sizes over the maximum are refused (422), not clamped: a client asking for more than it
# gets would otherwise take a short page for the last one. An offset past any real list is
# refused too, before it reaches the database (SQLite's integers stop at 2**63).
MAX_PAGE = 200
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"1 to {MAX_PAGE}")]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000)]
# Integer primary keys are PostgreSQL's `integer`: a larger id in a path was a 500 there
# (found by schemathesis).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
