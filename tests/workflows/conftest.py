"""Fixtures for approval-flow tests: an API whose settings shrink SLA timers to seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import create_app
from dealdesk.settings import Settings


@pytest.fixture
async def fast_sla_api(
    settings: Settings, engine: Engine, temporal_client: Client, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    fast = settings.model_copy(
        update={"remind_after": timedelta(seconds=1), "escalate_after": timedelta(seconds=2)}
    )
    app = create_app(fast, engine=engine, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        yield client
