"""Quotes, the price book and policies over HTTP: figures, authorization, validation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from policies import default_policy_text
from tests.helpers import deal_body, login

CONTRACT_EXAMPLE: dict[str, Any] = {
    "currency": "USD",
    "term_months": 36,
    "start_date": "2027-01-01",
    "billing_frequency": "annual",
    "payment_terms_days": 30,
    "customer": {
        "name": "Acme Corp",
        "segment": "enterprise",
        "region": "NA",
        "new_customer": True,
        "credit_rating": "A",
    },
    "header_discount_pct": "5",
    "nonstandard_terms": ["Net 90 payment terms"],
    "competitor": {"name": "OtherCo", "price": "150000"},
    "lines": [
        {"sku": "PLAT-SEAT", "quantity": "120", "discount_pct": "10"},
        {
            "name": "Custom integration",
            "quantity": "1",
            "charges": [{"type": "one_time", "unit_price": "48000", "unit_cost": "30000"}],
        },
        {
            "name": "API calls",
            "quantity": "1",
            "charges": [
                {
                    "type": "usage",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "1000", "unit_price": "0"},
                        {"up_to": None, "unit_price": "0.002"},
                    ],
                    "estimated_quantity": "25000",
                    "unit_cost": "0.0005",
                    "minimum_commitment": "100",
                }
            ],
        },
    ],
}


async def test_quote_prices_the_contract_example_and_previews_approvals(
    api: httpx.AsyncClient,
) -> None:
    alice = await login(api, "alice")
    response = await api.post("/api/v1/quotes/price", json=CONTRACT_EXAMPLE, headers=alice)
    assert response.status_code == 200, response.text
    quote = response.json()
    totals = quote["totals"]
    # Seats: 120 x 120.00 x 0.90 x 0.95 = 12,312.00 a month.
    assert quote["lines"][0]["mrr"] == "12312.00"
    assert totals["mrr"] == "12312.00"
    assert totals["arr"] == "147744.00"
    # One-time 48,000 less the 5% header discount.
    assert totals["one_time"] == "45600.00"
    # Usage: 24,000 billable units x 0.002 = 48 less 5% = 45.60, under the 100 minimum: 100 x 36.
    assert totals["usage_committed_tcv"] == "3600.00"
    # ACV = (443,232 recurring + 3,600 usage) x 12 / 36 + 45,600 one-time = 194,544.
    assert totals["acv"] == "194544.00"
    assert isinstance(totals["gross_margin_pct"], str)

    approvals = quote["approvals"]
    assert approvals["standard_offer"] is False
    routed = {(s["stage"], s["role"]) for s in approvals["stages"]}
    assert {(1, "deal_desk"), (1, "legal"), (1, "finance")} <= routed
    legal = next(s for s in approvals["stages"] if s["role"] == "legal")
    # Nobody holds the legal role in the demo directory: it falls back to the deal desk.
    assert [a["username"] for a in legal["approvers"]] == ["admin"]
    assert approvals["risk"]["score"] >= 0

    # Nothing was stored.
    assert (await api.get("/api/v1/deals", headers=alice)).json() == []


async def test_quote_errors_are_422_with_the_field_path(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    both_discounts = deal_body()
    both_discounts["lines"][0].update(discount_pct="5", discount_amount="10")
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (both_discounts, ["body", "lines", 0]),
        (deal_body(quantity=12), ["body", "lines", 0, "quantity"]),  # a JSON number, not a string
        (deal_body(header_discount_pct="101"), ["body", "header_discount_pct"]),
        ({**deal_body(), "lines": [{"name": "Custom", "quantity": "1"}]}, ["body", "lines", 0]),
        ({**deal_body(), "status": "approved"}, ["body", "status"]),
    ]
    for body, loc in cases:
        response = await api.post("/api/v1/quotes/price", json=body, headers=alice)
        assert response.status_code == 422, (body, response.text)
        locs = [e["loc"] for e in response.json()["detail"]]
        assert any(found[: len(loc)] == loc for found in locs), (loc, locs)


async def test_quote_nobody_but_the_caller_may_approve_is_a_409(api: httpx.AsyncClient) -> None:
    """Below the floor the deal desk approves, and the admin is its only member: their own
    preview has nobody to route to. A state of the directory, not an outage (found by the
    schemathesis run, which got a 503)."""
    admin = await login(api, "admin")
    response = await api.post(
        "/api/v1/quotes/price", json=deal_body(discount_pct="90"), headers=admin
    )
    assert response.status_code == 409, response.text
    assert "no active approver for role 'deal_desk'" in response.json()["detail"]


async def test_oversized_request_is_refused_with_413(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    body = deal_body()
    body["nonstandard_terms"] = ["x" * 1000] * 1100
    response = await api.post("/api/v1/quotes/price", json=body, headers=alice)
    assert response.status_code == 413


async def test_chunked_body_over_the_limit_is_refused_without_content_length(
    api: httpx.AsyncClient,
) -> None:
    """A client that sends no Content-Length (chunked) is counted as the bytes arrive."""
    alice = await login(api, "alice")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(120):
            yield b" " * 10_000  # 1.2 MB of JSON whitespace: valid until the limit cuts it off

    response = await api.post(
        "/api/v1/quotes/price",
        content=chunks(),
        headers={**alice, "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413


async def test_catalog_change_applies_to_new_deals_only(api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin")
    alice = await login(api, "alice")
    before = await api.post("/api/v1/quotes/price", json=deal_body(), headers=alice)
    assert before.json()["totals"]["mrr"] == "1200.00"

    new_price = {
        "name": "Platform seat",
        "description": "Per-user platform licence",
        "charges": [
            {"type": "recurring", "period": "month", "unit_price": "150", "unit_cost": "18"}
        ],
        "max_discount_pct": "30",
        "active": True,
    }
    saved = await api.put("/api/v1/catalog/products/PLAT-SEAT", json=new_price, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["charges"][0]["unit_price"] == "150"

    after = await api.post("/api/v1/quotes/price", json=deal_body(), headers=alice)
    # 10 seats x 150.00.
    assert after.json()["totals"]["mrr"] == "1500.00"
    listed = await api.get("/api/v1/catalog/products", headers=alice)
    seat = next(p for p in listed.json() if p["sku"] == "PLAT-SEAT")
    assert seat["charges"][0]["unit_price"] == "150"


async def test_only_admins_change_the_catalog_and_bad_products_are_422(
    api: httpx.AsyncClient,
) -> None:
    alice = await login(api, "alice")
    admin = await login(api, "admin")
    product = {
        "name": "Widget",
        "charges": [{"type": "one_time", "unit_price": "10"}],
    }
    assert (
        await api.put("/api/v1/catalog/products/WIDGET", json=product, headers=alice)
    ).status_code == 403
    bad_tiers = {
        "name": "Bad usage",
        "charges": [
            {
                "type": "usage",
                "model": "graduated",
                "tiers": [
                    {"up_to": "100", "unit_price": "1"},
                    {"up_to": "50", "unit_price": "0.5"},
                    {"up_to": None, "unit_price": "0.1"},
                ],
                "estimated_quantity": "10",
            }
        ],
    }
    response = await api.put("/api/v1/catalog/products/BAD", json=bad_tiers, headers=admin)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "charges", 0]
    bad_sku = await api.put("/api/v1/catalog/products/bad sku!", json=product, headers=admin)
    assert bad_sku.status_code == 422

    # An inactive product cannot be quoted.
    retired = {**product, "active": False}
    assert (
        await api.put("/api/v1/catalog/products/WIDGET", json=retired, headers=admin)
    ).status_code == 200
    quote = deal_body()
    quote["lines"] = [{"sku": "WIDGET", "quantity": "1"}]
    refused = await api.post("/api/v1/quotes/price", json=quote, headers=alice)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "lines", 0, "sku"]


async def test_policy_endpoints_validate_store_and_refuse_non_admins(
    api: httpx.AsyncClient,
) -> None:
    admin = await login(api, "admin")
    alice = await login(api, "alice")
    active = await api.get("/api/v1/policies/active", headers=alice)
    assert active.status_code == 200
    assert active.json()["version"] == 1

    broken = default_policy_text().replace(
        "when: gross_margin_pct < 35", "when: gross_margn_pct < 35", 1
    )
    checked = await api.post("/api/v1/policies/validate", json={"document": broken}, headers=admin)
    assert checked.status_code == 422
    issue = checked.json()["detail"][0]
    assert issue["rule_id"] is not None
    assert "gross_margn_pct" in issue["msg"]

    assert (
        await api.put("/api/v1/policies", json={"document": broken}, headers=admin)
    ).status_code == 422
    v2 = default_policy_text().replace("version: 1", "version: 2", 1)
    assert (
        await api.put("/api/v1/policies", json={"document": v2}, headers=alice)
    ).status_code == 403
    stored = await api.put("/api/v1/policies", json={"document": v2}, headers=admin)
    assert stored.status_code == 200, stored.text
    assert stored.json()["version"] == 2
    # The same version again loses: versions only go up.
    again = await api.put("/api/v1/policies", json={"document": v2}, headers=admin)
    assert again.status_code == 409
    assert (await api.get("/api/v1/policies/active", headers=alice)).json()["version"] == 2
