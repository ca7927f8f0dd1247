"""A real HTTP server (uvicorn on a free port, in the test's event loop) and Debian's chromium.

Playwright drives /usr/bin/chromium; its own browser download is never used. The server runs
as a task in the same event loop as the tests, so the app shares the session's Temporal client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import create_app
from dealdesk.settings import Settings

CHROMIUM = "/usr/bin/chromium"
_HAS_CHROMIUM = os.path.exists(CHROMIUM)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would replace the test runner's Ctrl-C handling with its own.
        yield


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _HAS_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (Debian chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
async def base_url(
    settings: Settings, engine: Engine, temporal_client: Client, worker: Worker
) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app_settings = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": port})
    app = create_app(app_settings, engine=engine, temporal=temporal_client)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()
