"""SIGKILL the worker process at random moments while 100 deals are in flight."""

from __future__ import annotations

import asyncio
import os
import random

import httpx
import pytest

from store.db import SessionFactory
from tests.faults.conftest import (
    WorkerProcess,
    approve_until_done,
    assert_nothing_doubled,
    mixed_deals,
    submit_all,
)


@pytest.mark.timeout(400)
async def test_killing_the_worker_loses_and_doubles_nothing(
    api_only: httpx.AsyncClient, worker_process: WorkerProcess, seeded: SessionFactory
) -> None:
    # A seed per run, printed on failure, so a failing schedule of kills can be replayed.
    seed = int(os.environ.get("DEALDESK_FAULT_SEED", random.randrange(1_000_000)))
    chaos = random.Random(seed)
    worker_process.start()

    async def kill_now_and_then() -> None:
        for _ in range(3):
            await asyncio.sleep(chaos.uniform(0.5, 3.0))
            worker_process.kill()
            await asyncio.sleep(chaos.uniform(0.1, 1.0))
            worker_process.start()

    killer = asyncio.create_task(kill_now_and_then())
    deal_ids = await submit_all(api_only, mixed_deals(100))
    statuses = await approve_until_done(api_only, deal_ids, within=240)
    await killer

    assert worker_process.starts == 4, f"seed {seed}"
    assert len(statuses) == 100
    assert len(set(deal_ids)) == 100
    assert_nothing_doubled(seeded, deal_ids)
