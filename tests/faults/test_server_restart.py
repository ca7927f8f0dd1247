"""Stop the Temporal dev server mid-run and start it again on the same state file."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from dealdesk.devserver import temporal_binary
from dealdesk.settings import Settings
from store.db import SessionFactory
from tests.faults.conftest import (
    WorkerProcess,
    approve_until_done,
    assert_nothing_doubled,
    database_url,
    mixed_deals,
    submit_all,
    worker_env,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevServer:
    """A dev server of this test's own, persisting to a SQLite file so it can restart."""

    def __init__(self, state: Path) -> None:
        self.port = _free_port()
        self._state = state
        self._env: WorkflowEnvironment | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            port=self.port,
            ui=False,
            data_converter=pydantic_data_converter,
            dev_server_database_filename=str(self._state),
            dev_server_log_level="error",
        )

    async def stop(self) -> None:
        if self._env is not None:
            await self._env.shutdown()
            self._env = None


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[DevServer]:
    server = DevServer(tmp_path / "temporal.db")
    await server.start()
    yield server
    await server.stop()


@pytest.mark.timeout(300)
async def test_restarting_temporal_mid_run_loses_and_doubles_nothing(
    own_server: DevServer, settings: Settings, engine: Engine, seeded: SessionFactory
) -> None:
    worker = WorkerProcess(
        worker_env(
            settings, database_url=database_url(engine), temporal_address=own_server.address
        ),
        settings.data_dir / "worker.log",
    )
    client = await Client.connect(own_server.address, data_converter=pydantic_data_converter)
    app = create_app(settings, engine=engine, temporal=client)
    worker.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://dealdesk.test"
        ) as api:
            accepted: list[str] = []

            async def restart_mid_run() -> int:
                while len(accepted) < 5:  # noqa: ASYNC110 (a list another task appends to)
                    await asyncio.sleep(0.05)
                await own_server.stop()
                at_stop = len(accepted)
                await asyncio.sleep(1.0)
                await own_server.start()
                return at_stop

            restart = asyncio.create_task(restart_mid_run())
            deal_ids = await submit_all(api, mixed_deals(40), accepted=accepted)
            # The server went down with submissions still to come, and approvals all to come.
            assert 5 <= await restart < 40
            statuses = await approve_until_done(api, deal_ids, within=150)
    finally:
        worker.stop()

    assert len(statuses) == 40
    assert_nothing_doubled(seeded, deal_ids)
