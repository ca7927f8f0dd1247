"""API answers are never cached: they carry prices, margins and customers."""

from __future__ import annotations

import httpx

from tests.helpers import deal_body, login
from tests.workflows.flow import submit, wait_for_status


async def test_api_answers_say_no_store_and_pages_keep_their_own(api: httpx.AsyncClient) -> None:
    alice, erin = await login(api, "alice"), await login(api, "erin")
    deal_id = await submit(api, alice, deal_body())
    await wait_for_status(api, alice, deal_id, "approved")
    for path, headers in (
        ("/api/v1/deals", alice),
        (f"/api/v1/deals/{deal_id}", alice),
        ("/api/v1/reports/margins", erin),
        ("/api/v1/reports/margins?format=csv", erin),
        ("/api/v1/catalog/products", alice),
        ("/api/v1/deals/nope", alice),  # errors too
        ("/api/v1/deals", {}),
    ):
        response = await api.get(path, headers=headers)
        assert response.headers.get("cache-control") == "no-store", (path, response.headers)
    # A route that sets its own policy keeps it.
    proposal = await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=alice)
    assert proposal.headers["cache-control"] == "private, no-store"
    # Outside the API the middleware stays out of the way.
    assert "cache-control" not in (await api.get("/healthz")).headers
