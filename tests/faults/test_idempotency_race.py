"""The same submission sent twice at once, as a client retrying a slow request does."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import select

from store.db import SessionFactory
from store.tables import Deal, DealVersion
from tests.helpers import deal_body, login


async def test_parallel_submissions_with_one_key_create_one_deal(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    alice = await login(api, "alice")
    headers = alice | {"Idempotency-Key": "po-2026-0042"}
    responses = await asyncio.gather(
        *(api.post("/api/v1/deals", json=deal_body(), headers=headers) for _ in range(5))
    )
    # One runs; each other finds it still in flight (409, retry later) or replays its answer.
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}, [r.text for r in responses]
    assert 201 in codes
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1

    # The same key with another body, also in parallel: refused, and nothing is written.
    others = await asyncio.gather(
        *(
            api.post("/api/v1/deals", json=deal_body(quantity=str(11 + i)), headers=headers)
            for i in range(3)
        )
    )
    assert [r.status_code for r in others] == [422] * 3
    with seeded() as session:
        assert len(session.exec(select(Deal)).all()) == 1
        assert len(session.exec(select(DealVersion)).all()) == 1
