"""Which cost figures each role reads: walked over every key of the JSON answers."""

from __future__ import annotations

from typing import Any

import httpx

from policies import COST_FIELDS, default_policy_text
from tests.helpers import deal_body, login
from tests.workflows.flow import submit, wait_for_task

# The figures only finance and admins read by default; reps read the margin percent.
COSTS = frozenset({"unit_cost", "cost", "cost_tcv_estimated", "gross_margin"})


def keys(value: Any) -> set[str]:
    """Every key of every object in a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def with_custom_line() -> dict[str, Any]:
    body = deal_body(discount_pct="25")
    body["lines"].append(
        {
            "name": "Custom integration",
            "quantity": "1",
            "charges": [{"type": "one_time", "unit_price": "48000", "unit_cost": "30000"}],
        }
    )
    return body


async def answers(api: httpx.AsyncClient, headers: dict[str, str], deal_id: str) -> set[str]:
    """The keys of every answer that carries figures, as `headers` reads them."""
    found: set[str] = set()
    for path in (
        "/api/v1/deals",
        f"/api/v1/deals/{deal_id}",
        f"/api/v1/deals/{deal_id}/history",
        "/api/v1/catalog/products",
    ):
        response = await api.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        found |= keys(response.json())
    # A catalog line only: a custom line needs the deal desk, and the admin may be the caller.
    quote = await api.post("/api/v1/quotes/price", json=deal_body(), headers=headers)
    assert quote.status_code == 200, quote.text
    return found | keys(quote.json())


async def test_a_rep_reads_the_margin_percent_and_no_cost(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    deal_id = await submit(api, alice, with_custom_line())
    await wait_for_task(api, await login(api, "dave"), deal_id)

    seen = await answers(api, alice, deal_id)
    assert seen & COSTS == set()
    assert "gross_margin_pct" in seen
    # The figures around the costs are all there.
    assert {"tcv", "acv", "discount_pct", "breakdown", "unit_price"} <= seen


async def test_finance_and_admins_read_every_cost_figure(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    deal_id = await submit(api, alice, with_custom_line())
    for user in ("erin", "admin"):
        seen = await answers(api, await login(api, user), deal_id)
        assert seen >= COST_FIELDS, user


async def test_an_approver_reads_the_margin_but_no_unit_cost_or_cost(
    api: httpx.AsyncClient,
) -> None:
    alice = await login(api, "alice")
    dave = await login(api, "dave")
    deal_id = await submit(api, alice, with_custom_line())
    task = await wait_for_task(api, dave, deal_id)
    detail = await api.get(f"/api/v1/approvals/{task['id']}", headers=dave)
    assert detail.status_code == 200
    seen = (
        await answers(api, dave, deal_id)
        | keys(detail.json())
        | keys((await api.get("/api/v1/approvals", headers=dave)).json())
    )
    assert {"gross_margin", "gross_margin_pct", "tcv", "discount_pct", "risk"} <= seen
    assert seen & {"unit_cost", "cost", "cost_tcv_estimated"} == set()


async def test_the_policy_document_sets_what_reps_read(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    admin = await login(api, "admin")
    deal_id = await submit(api, alice, with_custom_line())
    document = default_policy_text().replace("version: 1", "version: 2", 1) + (
        "\nexposure:\n  rep: [unit_cost]\n"
    )
    stored = await api.put("/api/v1/policies", json={"document": document}, headers=admin)
    assert stored.status_code == 200, stored.text

    seen = await answers(api, alice, deal_id)
    assert "unit_cost" in seen
    assert seen & (COST_FIELDS - {"unit_cost"}) == set()
    # Still absent, not null: a summary without the margin percent has no such key.
    listed = (await api.get("/api/v1/deals", headers=alice)).json()
    assert all("gross_margin_pct" not in d for d in listed)


async def test_an_unknown_field_in_the_exposure_setting_is_refused(
    api: httpx.AsyncClient,
) -> None:
    admin = await login(api, "admin")
    document = default_policy_text() + "\nexposure:\n  rep: [unit_price]\n"
    refused = await api.post(
        "/api/v1/policies/validate", json={"document": document}, headers=admin
    )
    assert refused.status_code == 422
    assert "exposure.rep" in refused.text


async def test_the_schema_says_cost_figures_may_be_absent(api: httpx.AsyncClient) -> None:
    schemas = (await api.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("FiguresView", "PricedLineView", "BreakdownItemView", "DealSummary"):
        assert set(schemas[name].get("required", [])) & COST_FIELDS == set(), name
