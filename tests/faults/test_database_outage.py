"""The database goes away for a few seconds mid-run.

On PostgreSQL the app reaches the server through a TCP proxy that this test closes: new
connections are refused and open ones cut, as in a failover. On SQLite, which has no server,
another process holds the write lock instead. Either way activities retry, nothing is lost or
doubled, and the API answers 503 meanwhile, never 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import make_url
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.main import create_app
from dealdesk.seed import seed_demo
from dealdesk.settings import Settings
from dealdesk.worker import build_worker
from store.db import create_schema, make_engine, session_factory
from tests.conftest import TEST_DATABASE_URL
from tests.faults.conftest import (
    approve_until_done,
    assert_nothing_doubled,
    database_url,
    mixed_deals,
    submit_all,
)
from tests.helpers import login


class TcpProxy:
    """Forwards a local port to PostgreSQL, on a loop of its own, until told to refuse."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._thread.start()

    def _run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    def open(self) -> None:
        self._run(self._open())

    def refuse(self) -> None:
        self._run(self._refuse())

    def close(self) -> None:
        self.refuse()
        self._run(self._cancel_pipes())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _cancel_pipes(self) -> None:
        pipes = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Both sockets are aborted however the pipe ends (the upstream refused, a refusal that
        # came while connecting, cancellation at close): a transport left to the garbage
        # collector warns "unclosed transport", which pytest reports as this test's failure.
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
            if self._server is None:
                return
            self._writers |= {writer, up_writer}

            async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.transport.abort()

            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        except OSError:
            pass
        finally:
            for end in (writer, up_writer):
                if end is not None:
                    end.transport.abort()
                    self._writers.discard(end)


@contextlib.contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    # An exclusive transaction from another connection: every writer must wait for it.
    holder = sqlite3.connect(path, timeout=30, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def outage_engine(engine: Engine) -> Iterator[tuple[Engine, TcpProxy | None]]:
    """An engine that reaches the test database through a proxy (PostgreSQL) or directly."""
    if not TEST_DATABASE_URL:
        yield engine, None
        return
    url = make_url(database_url(engine))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.open()
    proxied = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    try:
        yield proxied, proxy
    finally:
        proxied.dispose()
        proxy.close()


@pytest.fixture
async def outage_api(
    outage_engine: tuple[Engine, TcpProxy | None], settings: Settings, temporal_client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    engine, _ = outage_engine
    create_schema(engine)
    sessions = session_factory(engine)
    seed_demo(sessions)
    worker = build_worker(temporal_client, settings=settings, sessions=sessions, threads=4)
    app = create_app(settings, engine=engine, temporal=temporal_client)
    async with (
        worker,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://dealdesk.test"
        ) as client,
    ):
        yield client


@pytest.mark.timeout(300)
async def test_a_database_outage_delays_deals_but_loses_nothing(
    outage_api: httpx.AsyncClient, outage_engine: tuple[Engine, TcpProxy | None]
) -> None:
    engine, proxy = outage_engine
    alice = await login(outage_api, "alice")
    accepted: list[str] = []
    statuses_during: list[int] = []

    async def outage() -> None:
        while len(accepted) < 5:  # noqa: ASYNC110 (a list another task appends to)
            await asyncio.sleep(0.05)
        if proxy is not None:
            proxy.refuse()
        with contextlib.ExitStack() as stack:
            if proxy is None:
                stack.enter_context(sqlite_write_lock(engine.url.database or ""))
            # While it is down, a read answers 503 (or, on SQLite, still reads: WAL).
            for _ in range(6):
                probe = await outage_api.get("/api/v1/catalog/products", headers=alice)
                statuses_during.append(probe.status_code)
                await asyncio.sleep(0.5)
        if proxy is not None:
            proxy.open()

    down = asyncio.create_task(outage())
    deal_ids = await submit_all(outage_api, mixed_deals(30), accepted=accepted)
    await down
    statuses = await approve_until_done(outage_api, deal_ids, within=150)

    assert len(statuses) == 30
    if proxy is not None:
        assert 503 in statuses_during
    assert set(statuses_during) <= {200, 503}
    assert_nothing_doubled(session_factory(engine), deal_ids)
