"""Fault tests: real worker processes killed and restarted, a Temporal server restarted on its
state file, a database that refuses connections. Every deal must still reach its expected
state, and no audit, task or e-mail row may be doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from dealdesk.settings import Settings
from store import idempotency
from store.db import SessionFactory
from store.outbox import OutboxMessage
from store.tables import ApprovalTask, AuditEvent
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import deal_body, login

ROOT = Path(__file__).resolve().parents[2]


def database_url(engine: Engine) -> str:
    """The test database as a URL another process can open (the PostgreSQL schema included)."""
    url = engine.url.render_as_string(hide_password=False)
    if TEST_DATABASE_URL:
        return f"{url}?options=-csearch_path%3D{_search_path(engine).strip(chr(34))}"
    return url


def _search_path(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW search_path").scalar())


class WorkerProcess:
    """`dealdesk worker` in a process of its own, as production runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dealdesk.cli", "worker"],
                env=self._env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, in-flight activities simply vanish."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def worker_env(settings: Settings, *, database_url: str, temporal_address: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALDESK_")}
    env.update(
        {
            "DEALDESK_DATABASE_URL": database_url,
            "DEALDESK_TEMPORAL_ADDRESS": temporal_address,
            "DEALDESK_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "DEALDESK_TEMPORAL_DEV_SERVER": "false",
            "DEALDESK_SEED_DEMO_DATA": "false",
            "DEALDESK_DATA_DIR": str(settings.data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def worker_process(
    settings: Settings, engine: Engine, seeded: SessionFactory, temporal_env: WorkflowEnvironment
) -> Iterator[WorkerProcess]:
    target = temporal_env.client.service_client.config.target_host
    process = WorkerProcess(
        worker_env(settings, database_url=database_url(engine), temporal_address=target),
        settings.data_dir / "worker.log",
    )
    yield process
    process.stop()


@pytest.fixture
async def api_only(
    settings: Settings, engine: Engine, temporal_client: Client, seeded: SessionFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process, with no worker: workers are the processes under test."""
    app = create_app(settings, engine=engine, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        yield client


async def submit_all(
    api: httpx.AsyncClient,
    bodies: list[dict[str, Any]],
    *,
    concurrency: int = 10,
    accepted: list[str] | None = None,
) -> list[str]:
    """Submit every body (retrying a 503 with the same Idempotency-Key); returns deal ids.
    `accepted` receives each id as it is accepted, so a fault can be timed mid-run."""
    alice = await login(api, "alice")
    limit = asyncio.Semaphore(concurrency)
    # Keys unique to this run: a key names the deal id, and every test shares one dev server.
    run = uuid.uuid4().hex[:12]

    async def one(index: int, body: dict[str, Any]) -> str:
        headers = alice | {"Idempotency-Key": f"fault-{run}-{index}"}
        async with limit:
            # Past the key's lease: a request cut off by an outage before it could release
            # its key leaves it claimed until the lease ends, and meanwhile answers 409.
            deadline = time.monotonic() + idempotency.LEASE.total_seconds() + 90
            while time.monotonic() < deadline:
                response = await api.post("/api/v1/deals", json=body, headers=headers)
                if response.status_code == 201:
                    deal_id: str = response.json()["id"]
                    if accepted is not None:
                        accepted.append(deal_id)
                    return deal_id
                # Only "try again" is acceptable while something is down; never a 500. A 409
                # is our own earlier attempt still holding the key (also "try again").
                assert response.status_code in (409, 503), response.text
                await asyncio.sleep(0.25)
        raise AssertionError(f"deal {index} was never accepted")

    return list(await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies))))


def mixed_deals(count: int) -> list[dict[str, Any]]:
    """Every other deal is a standard offer (approved at once); the rest need the sales VP."""
    return [
        deal_body(customer=f"Fault Co {i}", discount_pct="25" if i % 2 else None)
        for i in range(count)
    ]


async def approve_until_done(
    api: httpx.AsyncClient, deal_ids: list[str], *, within: float
) -> dict[str, str]:
    """Approve every task dave is given until every deal is approved; returns the statuses."""
    dave, alice = await login(api, "dave"), await login(api, "alice")
    # Only 503 ("try again") is acceptable meanwhile: a sign-in is an API call like others.
    deadline = asyncio.get_running_loop().time() + within
    statuses: dict[str, str] = {}
    while asyncio.get_running_loop().time() < deadline:
        queue = await api.get("/api/v1/approvals", headers=dave)
        if queue.status_code == 200:
            for task in queue.json():
                if task["deal_id"] in deal_ids and task["status"] == "open":
                    decided = await api.post(
                        f"/api/v1/approvals/{task['id']}/decision",
                        json={"decision": "approve", "version": task["version"]},
                        headers=dave,
                    )
                    # 409: decided already (a retry after a crash); 503: something is down.
                    assert decided.status_code in (200, 409, 503), decided.text
        else:
            assert queue.status_code == 503, queue.text
        listed = await api.get("/api/v1/deals?limit=200", headers=alice)
        if listed.status_code == 200:
            statuses = {d["id"]: d["status"] for d in listed.json() if d["id"] in deal_ids}
            if len(statuses) == len(deal_ids) and set(statuses.values()) == {"approved"}:
                return statuses
        await asyncio.sleep(0.3)
    raise AssertionError(f"not every deal was approved in time: {Counter(statuses.values())}")


def assert_nothing_doubled(sessions: SessionFactory, deal_ids: list[str]) -> None:
    """One row per step: a retried or replayed activity never wrote twice."""
    with sessions() as session:
        per_event = session.exec(
            select(AuditEvent.deal_id, AuditEvent.event, func.count())
            .where(AuditEvent.subject_type == "deal")
            .group_by(AuditEvent.deal_id, AuditEvent.event)
        ).all()
        tasks = session.exec(
            select(ApprovalTask.deal_id, func.count()).group_by(ApprovalTask.deal_id)
        ).all()
        mail = session.exec(
            select(OutboxMessage.key, OutboxMessage.recipient, func.count()).group_by(
                OutboxMessage.key, OutboxMessage.recipient
            )
        ).all()
    counts = {(deal, event): n for deal, event, n in per_event}
    for deal_id in deal_ids:
        for step in ("submitted", "priced", "routed", "proposal_rendered", "approved"):
            assert counts.get((deal_id, step)) == 1, (deal_id, step, counts.get((deal_id, step)))
    # Half the deals needed one approval: exactly one task each, the others none.
    assert sorted(n for _, n in tasks) == [1] * len(tasks)
    assert all(n == 1 for _, _, n in mail)
