"""The foundation path over HTTP, on the real Temporal dev server and a real database."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import select
from temporalio.client import Client

from store.db import SessionFactory
from store.tables import Deal
from tests.helpers import add_user, deal_body, eventually, login


async def _deal(api: httpx.AsyncClient, headers: dict[str, str], deal_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/deals/{deal_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _tasks(api: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/approvals", headers=headers)
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()
    return tasks


async def _submit(api: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = await api.post("/api/v1/deals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["version"] == 1
    deal_id: str = created["id"]
    return deal_id


async def test_login_refuses_a_wrong_password(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/v1/auth/token", data={"username": "alice", "password": "not-her-password"}
    )
    assert response.status_code == 401
    unknown = await api.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401


async def test_requests_without_a_token_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v1/deals")).status_code == 401
    forged = {"Authorization": "Bearer not.a.token"}
    assert (await api.get("/api/v1/deals", headers=forged)).status_code == 401


async def test_standard_offer_is_approved_at_once_with_a_proposal(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    deal_id = await _submit(api, alice, deal_body())

    deal = await eventually(lambda: _deal(api, alice, deal_id), lambda d: d["status"] == "approved")
    # 10 seats x 120/month over 12 months, no discount.
    assert deal["priced"]["totals"]["mrr"] == "1200.00"
    assert deal["priced"]["totals"]["acv"] == "14400.00"
    assert deal["approvals"]["standard_offer"] is True
    assert deal["tasks"] == []

    proposal = await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=alice)
    assert proposal.status_code == 200
    assert proposal.headers["content-type"].startswith("text/html")
    assert "Acme Corp" in proposal.text
    assert "$14,400.00" in proposal.text


async def test_discounted_deal_waits_for_the_sales_vp_then_is_approved(
    api: httpx.AsyncClient,
) -> None:
    alice = await login(api, "alice")
    dave = await login(api, "dave")
    deal_id = await _submit(api, alice, deal_body(discount_pct="25"))

    tasks = await eventually(
        lambda: _tasks(api, dave), lambda ts: any(t["deal_id"] == deal_id for t in ts)
    )
    task = next(t for t in tasks if t["deal_id"] == deal_id)
    assert task["role"] == "sales_vp"
    assert task["status"] == "open"
    assert task["deal"]["customer_name"] == "Acme Corp"
    assert any("discount" in r["text"].lower() for r in task["reasons"])
    detail = await _deal(api, alice, deal_id)
    assert detail["status"] == "in_approval"
    # The queue and the rep's list read their figures out of the stored pricing in SQL: the
    # same strings as the deal's own totals. 25% off 10 x 120 over 12 months: 10,800 ACV.
    totals = detail["priced"]["totals"]
    assert totals["acv"] == "10800.00"
    listed = (await api.get("/api/v1/deals?status=in_approval", headers=alice)).json()
    row = next(d for d in listed if d["id"] == deal_id)
    for figures in (row, task["deal"]):
        assert (figures["acv"], figures["tcv"], figures["gross_margin_pct"]) == (
            totals["acv"],
            totals["tcv"],
            totals["gross_margin_pct"],
        )
    # No proposal before approval.
    assert (await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=alice)).status_code == 404

    decided = await api.post(
        f"/api/v1/approvals/{task['id']}/decision",
        json={"decision": "approve", "comment": "fine for a 3-year logo"},
        headers=dave,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["task_status"] == "approved"

    deal = await eventually(lambda: _deal(api, alice, deal_id), lambda d: d["status"] == "approved")
    # 25% off 120 is 90 per seat-month: 900 MRR.
    assert deal["priced"]["totals"]["mrr"] == "900.00"
    proposal = await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=alice)
    assert proposal.status_code == 200
    assert "Dave" in proposal.text or "dave" in proposal.text

    # Deciding twice on a closed task is refused, and the queue no longer shows it.
    again = await api.post(
        f"/api/v1/approvals/{task['id']}/decision",
        json={"decision": "reject", "comment": "changed my mind"},
        headers=dave,
    )
    assert again.status_code == 409
    assert all(t["deal_id"] != deal_id for t in await _tasks(api, dave))


async def test_rejected_deal_shows_rejected_with_the_comment(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    dave = await login(api, "dave")
    deal_id = await _submit(api, alice, deal_body(discount_pct="25", customer="Globex"))
    tasks = await eventually(
        lambda: _tasks(api, dave), lambda ts: any(t["deal_id"] == deal_id for t in ts)
    )
    task = next(t for t in tasks if t["deal_id"] == deal_id)

    no_comment = await api.post(
        f"/api/v1/approvals/{task['id']}/decision", json={"decision": "reject"}, headers=dave
    )
    assert no_comment.status_code == 422

    rejected = await api.post(
        f"/api/v1/approvals/{task['id']}/decision",
        json={"decision": "reject", "comment": "Discount too deep for this segment"},
        headers=dave,
    )
    assert rejected.status_code == 200, rejected.text
    deal = await eventually(lambda: _deal(api, alice, deal_id), lambda d: d["status"] == "rejected")
    assert deal["status_reason"] == "Discount too deep for this segment"
    assert (await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=alice)).status_code == 404


async def test_reps_cannot_work_the_approval_queue(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    dave = await login(api, "dave")
    deal_id = await _submit(api, alice, deal_body(discount_pct="25"))
    tasks = await eventually(
        lambda: _tasks(api, dave), lambda ts: any(t["deal_id"] == deal_id for t in ts)
    )
    task_id = next(t["id"] for t in tasks if t["deal_id"] == deal_id)

    assert (await api.get("/api/v1/approvals", headers=alice)).status_code == 403
    decision = await api.post(
        f"/api/v1/approvals/{task_id}/decision", json={"decision": "approve"}, headers=alice
    )
    assert decision.status_code == 403
    # Another approver who holds no task on the deal cannot see or decide it.
    frank = await login(api, "frank")
    foreign = await api.post(
        f"/api/v1/approvals/{task_id}/decision", json={"decision": "approve"}, headers=frank
    )
    assert foreign.status_code == 404
    assert (await _deal(api, alice, deal_id))["status"] == "in_approval"


async def test_submitter_with_an_approver_role_cannot_decide_own_deal(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    add_user(seeded, "rita", roles=["rep", "approver"], approval_roles=["sales_vp"], manager="dave")
    rita = await login(api, "rita")
    dave = await login(api, "dave")
    deal_id = await _submit(api, rita, deal_body(discount_pct="25"))
    tasks = await eventually(
        lambda: _tasks(api, dave), lambda ts: any(t["deal_id"] == deal_id for t in ts)
    )
    # The policy routed the sales VP task to dave, never to the submitter herself.
    assert all(t["deal_id"] != deal_id for t in await _tasks(api, rita))
    task_id = next(t["id"] for t in tasks if t["deal_id"] == deal_id)
    refused = await api.post(
        f"/api/v1/approvals/{task_id}/decision", json={"decision": "approve"}, headers=rita
    )
    assert refused.status_code == 403
    assert (await _deal(api, rita, deal_id))["status"] == "in_approval"


async def test_a_rep_never_sees_another_reps_deal(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    bob = await login(api, "bob")
    deal_id = await _submit(api, alice, deal_body())

    assert (await api.get(f"/api/v1/deals/{deal_id}", headers=bob)).status_code == 404
    assert (await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=bob)).status_code == 404
    bob_list = (await api.get("/api/v1/deals", headers=bob)).json()
    assert all(d["id"] != deal_id for d in bob_list)
    alice_list = (await api.get("/api/v1/deals", headers=alice)).json()
    assert [d["id"] for d in alice_list] == [deal_id]


async def test_my_deals_filter_by_status(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    standard = await _submit(api, alice, deal_body())
    discounted = await _submit(api, alice, deal_body(discount_pct="25"))
    await eventually(lambda: _deal(api, alice, standard), lambda d: d["status"] == "approved")
    await eventually(lambda: _deal(api, alice, discounted), lambda d: d["status"] == "in_approval")

    async def ids(*statuses: str) -> list[str]:
        response = await api.get(
            "/api/v1/deals", params=[("status", s) for s in statuses], headers=alice
        )
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()]

    assert await ids("approved") == [standard]
    assert await ids("in_approval") == [discounted]
    # Newest first, and several statuses at once.
    assert await ids("approved", "in_approval") == [discounted, standard]
    assert await ids("withdrawn") == []
    refused = await api.get("/api/v1/deals", params={"status": "won"}, headers=alice)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "status", 0]


async def test_malformed_deal_is_refused_and_nothing_is_stored_or_started(
    api: httpx.AsyncClient, seeded: SessionFactory, temporal_client: Client, settings: Any
) -> None:
    alice = await login(api, "alice")
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (deal_body(term_months=0), ["body", "term_months"]),
        (deal_body(quantity="-1"), ["body", "lines", 0, "quantity"]),
        (deal_body(currency="XXZ"), ["body", "currency"]),
        (
            {**deal_body(), "lines": [{"sku": "NO-SUCH-SKU", "quantity": "1"}]},
            ["body", "lines", 0, "sku"],
        ),
    ]
    for body, loc in cases:
        response = await api.post("/api/v1/deals", json=body, headers=alice)
        assert response.status_code == 422, (body, response.text)
        locs = [error["loc"] for error in response.json()["detail"]]
        assert any(found[: len(loc)] == loc for found in locs), (loc, locs)

    with seeded() as session:
        assert session.exec(select(Deal)).all() == []
    count = await temporal_client.count_workflows(f'TaskQueue="{settings.temporal_task_queue}"')
    assert count.count == 0


async def test_same_idempotency_key_creates_one_deal(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    headers = {**alice, "Idempotency-Key": "order-7731"}
    first = await api.post("/api/v1/deals", json=deal_body(), headers=headers)
    second = await api.post("/api/v1/deals", json=deal_body(), headers=headers)
    assert first.status_code == 201
    assert second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other_body = await api.post("/api/v1/deals", json=deal_body(quantity="11"), headers=headers)
    assert other_body.status_code == 422

    # Once the deal's workflow has finished, a replay still gets the first answer, unchanged.
    deal_id = first.json()["id"]
    await eventually(lambda: _deal(api, alice, deal_id), lambda d: d["status"] == "approved")
    replay = await api.post("/api/v1/deals", json=deal_body(), headers=headers)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    late_other = await api.post("/api/v1/deals", json=deal_body(quantity="12"), headers=headers)
    assert late_other.status_code == 422
    listed = (await api.get("/api/v1/deals", headers=alice)).json()
    assert [d["id"] for d in listed] == [first.json()["id"]]
