"""Shared fixtures: a real Temporal dev server, an isolated database per test, the API over HTTP.

Set DEALDESK_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run
every database test on PostgreSQL, each in a schema of its own; SQLite files otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx

# Imported up front: the hypothesis plugin otherwise imports this lazily in its end-of-run hook,
# where CPython 3.11.7's compiler has failed with "AST constructor recursion depth mismatch"
# after workflow tests (seen on runs of tests/api alone).
import hypothesis.internal.observability  # noqa: F401
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from dealdesk.devserver import temporal_binary
from dealdesk.seed import seed_demo
from dealdesk.settings import Settings
from dealdesk.worker import build_worker
from store import migrate
from store.db import SessionFactory, make_engine, session_factory

TEST_DATABASE_URL = os.environ.get("DEALDESK_TEST_DATABASE_URL", "")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real dev server for the whole run; tests isolate by task queue and workflow id."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """A database of this test's own with no tables in it."""
    if TEST_DATABASE_URL:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        admin = create_engine(TEST_DATABASE_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(TEST_DATABASE_URL, search_path=schema)
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        yield engine
        engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    # The migrations, not create_all, build every test database, as `dealdesk migrate` builds
    # production's: about 20 ms more per test than create_all on SQLite and on PostgreSQL.
    migrate.upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    return session_factory(engine)


@pytest.fixture
def seeded(sessions: SessionFactory) -> SessionFactory:
    seed_demo(sessions)
    return sessions


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        temporal_task_queue=f"test-{uuid.uuid4()}",
    )


@pytest.fixture
async def worker(
    temporal_client: Client, seeded: SessionFactory, settings: Settings
) -> AsyncIterator[Worker]:
    worker = build_worker(temporal_client, settings=settings, sessions=seeded, threads=4)
    async with worker:
        yield worker


@pytest.fixture
async def api(
    settings: Settings, engine: Engine, temporal_client: Client, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        yield client
