"""The approval flow on the real dev server: revisions, smart re-approval, withdrawal,
reminders and escalation, delegation, modes, and races between decisions and revisions."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import select
from temporalio.client import Client, WorkflowUpdateFailedError

from policies import default_policy_text
from store.db import SessionFactory
from store.outbox import OutboxMessage
from store.tables import ApprovalTask, AuditEvent
from tests.helpers import add_user, deal_body, eventually, login
from tests.workflows.flow import (
    deal,
    decide,
    history,
    open_tasks,
    submit,
    wait_for_status,
    wait_for_task,
)
from workflows.deal import DealWorkflow, workflow_id
from workflows.messages import Decision, DecisionInput


def big_deal(*, quantity: str = "800", discount_pct: str = "25") -> dict[str, Any]:
    """Two stages: a discount over 20% (sales VP, stage 1) and TCV over 1,000,000 (CFO, stage 2).

    800 seats x 120 x 24 months = 2,304,000 list; 25% off = 1,728,000 TCV.
    """
    return deal_body(quantity=quantity, discount_pct=discount_pct, term_months=24)


def events(log: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in log]


async def test_revision_supersedes_open_tasks_and_refuses_stale_decisions(
    api: httpx.AsyncClient,
) -> None:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    old_task = await wait_for_task(api, dave, deal_id)

    revised = await api.put(
        f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct="22"), headers=alice
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["version"] == 2

    new_task = await wait_for_task(api, dave, deal_id, version=2)
    assert new_task["id"] != old_task["id"]
    # The task of version 1 is closed as superseded, and a decision on it is refused.
    stale = await decide(api, dave, old_task["id"])
    assert stale.status_code == 409
    details = (await deal(api, alice, deal_id))["tasks"]
    assert {t["id"]: t["status"] for t in details} == {
        old_task["id"]: "superseded",
        new_task["id"]: "open",
    }
    # 22% off 120 = 93.60 per seat-month, 10 seats.
    assert (await deal(api, alice, deal_id))["priced"]["totals"]["mrr"] == "936.00"

    # The approver sees what changed since the version before (none was approved yet).
    detail = await api.get(f"/api/v1/approvals/{new_task['id']}", headers=dave)
    assert detail.status_code == 200, detail.text
    assert detail.json()["compared_with_version"] == 1
    assert detail.json()["changes"] == [
        {"path": "lines[0].discount_pct", "before": "25", "after": "22"}
    ]
    assert detail.json()["totals_before"]["mrr"] == "900.00"
    assert detail.json()["totals_after"]["mrr"] == "936.00"
    # Someone else's task does not exist for the caller.
    frank = await login(api, "frank")
    assert (await api.get(f"/api/v1/approvals/{new_task['id']}", headers=frank)).status_code == 404

    assert (await decide(api, dave, new_task["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")
    approved = await api.get("/api/v1/approvals", params={"status": "approved"}, headers=dave)
    assert [t["id"] for t in approved.json() if t["deal_id"] == deal_id] == [new_task["id"]]
    superseded = await api.get("/api/v1/approvals", params={"status": "superseded"}, headers=dave)
    assert [t["id"] for t in superseded.json() if t["deal_id"] == deal_id] == [old_task["id"]]
    log = events(await history(api, alice, deal_id))
    assert log.count("revised") == 1
    assert log.count("task_superseded") == 1


async def test_an_approved_stage_is_kept_when_a_revision_is_no_worse(
    api: httpx.AsyncClient,
) -> None:
    alice, dave, frank = [await login(api, u) for u in ("alice", "dave", "frank")]
    deal_id = await submit(api, alice, big_deal())
    vp_task = await wait_for_task(api, dave, deal_id)
    assert vp_task["stage"] == 1
    assert (await decide(api, dave, vp_task["id"])).status_code == 200
    cfo_task = await wait_for_task(api, frank, deal_id)
    assert cfo_task["stage"] == 2

    # Better on the discount the VP approved (22% < 25%), still over 1,000,000 TCV:
    # 700 x 120 x 24 x 0.78 = 1,572,480.
    better = await api.put(
        f"/api/v1/deals/{deal_id}", json=big_deal(quantity="700", discount_pct="22"), headers=alice
    )
    assert better.status_code == 200, better.text
    cfo_again = await wait_for_task(api, frank, deal_id, version=2)
    assert await open_tasks(api, dave, deal_id) == []  # the VP is not asked again
    log = await history(api, alice, deal_id)
    carried = [e for e in log if e["event"] == "approval_carried_over"]
    assert [(e["version"], e["detail"]["role"]) for e in carried] == [(2, "sales_vp")]

    # Worse on the discount (28% > 25%): the VP's approval no longer covers it.
    worse = await api.put(
        f"/api/v1/deals/{deal_id}", json=big_deal(quantity="700", discount_pct="28"), headers=alice
    )
    assert worse.status_code == 200, worse.text
    vp_again = await wait_for_task(api, dave, deal_id, version=3)
    assert vp_again["stage"] == 1
    assert await open_tasks(api, frank, deal_id, version=3) == []  # stage 2 waits for stage 1
    assert (await decide(api, frank, cfo_again["id"])).status_code == 409


async def test_a_granted_limit_covers_a_later_deeper_discount(api: httpx.AsyncClient) -> None:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="22"))
    task = await wait_for_task(api, dave, deal_id)
    too_far = await decide(api, dave, task["id"], limits={"max_line_discount_pct": "90"})
    assert too_far.status_code == 422
    granted = await decide(api, dave, task["id"], limits={"max_line_discount_pct": "28"})
    assert granted.status_code == 200, granted.text
    await wait_for_status(api, alice, deal_id, "approved")

    # An approved deal revised within the granted limit is approved again at once...
    within = await api.put(
        f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct="26"), headers=alice
    )
    assert within.status_code == 200, within.text
    await eventually(
        lambda: deal(api, alice, deal_id),
        lambda d: d["version"] == 2 and d["status"] == "approved",
    )
    assert await open_tasks(api, dave, deal_id, version=2) == []
    # ...and beyond it goes back to the approver.
    beyond = await api.put(
        f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct="30"), headers=alice
    )
    assert beyond.status_code == 200, beyond.text
    await wait_for_task(api, dave, deal_id, version=3)


async def test_withdraw_closes_every_open_task(api: httpx.AsyncClient) -> None:
    alice, bob, dave = [await login(api, u) for u in ("alice", "bob", "dave")]
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)

    assert (await api.post(f"/api/v1/deals/{deal_id}/withdraw", headers=bob)).status_code == 404
    withdrawn = await api.post(
        f"/api/v1/deals/{deal_id}/withdraw", json={"reason": "customer went quiet"}, headers=alice
    )
    assert withdrawn.status_code == 200, withdrawn.text
    detail = await wait_for_status(api, alice, deal_id, "withdrawn")
    assert detail["status_reason"] == "customer went quiet"
    assert [t["status"] for t in detail["tasks"]] == ["withdrawn"]
    assert (await decide(api, dave, task["id"])).status_code == 409
    # Withdrawing again is idempotent: the same answer, and still one event.
    again = await api.post(f"/api/v1/deals/{deal_id}/withdraw", headers=alice)
    assert again.status_code == 200
    assert again.json() == withdrawn.json()
    assert events(await history(api, alice, deal_id)).count("withdrawn") == 1


async def test_request_changes_then_revise_reopens_approval(api: httpx.AsyncClient) -> None:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    sent_back = await decide(api, dave, task["id"], "request_changes", "Max 21% for this logo")
    assert sent_back.status_code == 200, sent_back.text
    detail = await wait_for_status(api, alice, deal_id, "changes_requested")
    assert detail["status_reason"] == "Max 21% for this logo"

    assert (
        await api.put(f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct="21"), headers=alice)
    ).status_code == 200
    again = await wait_for_task(api, dave, deal_id, version=2)
    assert (await decide(api, dave, again["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")


async def test_reminder_then_escalation_to_the_deal_desk(
    fast_sla_api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    api = fast_sla_api
    alice, dave, admin = [await login(api, u) for u in ("alice", "dave", "admin")]
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    assert task["due_at"] > task["remind_at"] > task["created_at"]

    # Remind after 1 s, escalate after 2 s. Dave has no manager: the deal desk takes it.
    escalated = await eventually(
        lambda: open_tasks(api, admin, deal_id), lambda ts: len(ts) == 1, within=20
    )
    assert escalated[0]["escalated_from"] == "dave"
    assert escalated[0]["role"] == "sales_vp"
    assert await open_tasks(api, dave, deal_id) == []
    log = events(await history(api, alice, deal_id))
    assert log.index("reminded") < log.index("task_escalated")

    async def outbox() -> list[OutboxMessage]:
        with seeded() as session:
            query = select(OutboxMessage).where(OutboxMessage.deal_id == deal_id)
            return list(session.exec(query).all())

    # The original approver is told once the new holder has the task.
    mail = await eventually(
        outbox, lambda ms: any(m.recipient == "dave" and m.key.endswith(":escalated") for m in ms)
    )
    opened = Counter(m.recipient for m in mail if m.key.endswith(":opened"))
    assert opened == {"dave": 1, "admin": 1}
    assert any(m.recipient == "dave" and ":reminded:" in m.key for m in mail)

    assert (await decide(api, admin, escalated[0]["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")


async def test_delegation_window_sends_new_tasks_to_the_delegate(
    api: httpx.AsyncClient,
) -> None:
    alice, dave, frank = [await login(api, u) for u in ("alice", "dave", "frank")]
    now = datetime.now(UTC)
    window = {
        "delegate": "frank",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    assert (await api.post("/api/v1/delegations", json=window, headers=alice)).status_code == 403
    created = await api.post("/api/v1/delegations", json=window, headers=dave)
    assert created.status_code == 201, created.text

    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, frank, deal_id)
    assert task["delegated_from"] == "dave"
    assert task["role"] == "sales_vp"
    assert await open_tasks(api, dave, deal_id) == []
    assert "delegated" in events(await history(api, alice, deal_id))

    deleted = await api.delete(f"/api/v1/delegations/{created.json()['id']}", headers=dave)
    assert deleted.status_code == 204
    second = await submit(api, alice, deal_body(discount_pct="24"))
    assert (await wait_for_task(api, dave, second))["delegated_from"] is None


async def test_any_mode_needs_one_approval_and_supersedes_the_rest(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    add_user(seeded, "vera", roles=["approver"], approval_roles=["sales_vp"])
    admin = await login(api, "admin")
    policy = default_policy_text().replace("version: 1", "version: 2", 1)
    policy = policy.replace(
        "    role: sales_vp\n    reason:", "    role: sales_vp\n    mode: any\n    reason:", 1
    )
    assert "mode: any" in policy
    stored = await api.put("/api/v1/policies", json={"document": policy}, headers=admin)
    assert stored.status_code == 200, stored.text

    alice, dave, vera = [await login(api, u) for u in ("alice", "dave", "vera")]
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    dave_task = await wait_for_task(api, dave, deal_id)
    vera_task = await wait_for_task(api, vera, deal_id)
    assert (await decide(api, vera, vera_task["id"])).status_code == 200
    detail = await wait_for_status(api, alice, deal_id, "approved")
    statuses = {t["assignee"]: t["status"] for t in detail["tasks"]}
    assert statuses == {"vera": "approved", "dave": "superseded"}
    assert (await decide(api, dave, dave_task["id"])).status_code == 409


async def test_concurrent_decisions_and_a_revision_have_one_outcome(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    """Two approvers of one stage and the rep's revision race; the record must agree."""
    alice, dave, carol = [await login(api, u) for u in ("alice", "dave", "carol")]
    # 25% line discount (sales VP) and 90-day payment terms (finance and legal) in stage 1.
    body = deal_body(discount_pct="25", payment_terms_days=90)
    deal_id = await submit(api, alice, body)
    dave_task = await wait_for_task(api, dave, deal_id)
    carol_task = await wait_for_task(api, carol, deal_id)

    responses = await asyncio.gather(
        decide(api, dave, dave_task["id"]),
        decide(api, carol, carol_task["id"]),
        api.put(f"/api/v1/deals/{deal_id}", json={**body, "payment_terms_days": 45}, headers=alice),
        decide(api, dave, dave_task["id"]),  # the same decision twice
    )
    codes = [r.status_code for r in responses]
    assert all(code in (200, 409) for code in codes), [r.text for r in responses]
    # The duplicate of dave's decision gets the same answer as the original.
    assert codes[0] == codes[3]
    if codes[0] == 200:
        assert responses[0].json() == responses[3].json()

    revised = codes[2] == 200
    final = await deal(api, alice, deal_id)
    assert final["version"] == (2 if revised else 1)
    with seeded() as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.deal_id == deal_id)).all()
        tasks = session.exec(select(ApprovalTask).where(ApprovalTask.deal_id == deal_id)).all()
    decided = [e for e in audit if e.event == "decided"]
    # Exactly the accepted decisions are recorded, once each.
    assert len(decided) == sum(1 for code in (codes[0], codes[1]) if code == 200)
    assert len({e.key for e in audit}) == len(audit)
    for task in tasks:
        if task.version == 1:
            assert task.status in {"approved", "superseded", "open"}
        if task.status == "approved":
            assert any(e.detail.get("task_id") == task.id for e in decided)


async def test_validator_refusals_write_nothing_to_history(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    handle = temporal_client.get_workflow_handle_for(DealWorkflow.run, workflow_id(deal_id))

    async def settled_length() -> tuple[int, int]:
        first = len((await handle.fetch_history()).events)
        await asyncio.sleep(0.3)
        return first, len((await handle.fetch_history()).events)

    # The workflow is idle (waiting for decisions) once its history stops growing.
    before = (await eventually(settled_length, lambda pair: pair[0] == pair[1]))[1]

    refusals = [
        DecisionInput(task_id=task["id"], approver="alice", decision=Decision.APPROVE, version=1),
        DecisionInput(task_id=task["id"], approver="frank", decision=Decision.APPROVE, version=1),
        DecisionInput(task_id=task["id"], approver="dave", decision=Decision.APPROVE, version=7),
        DecisionInput(task_id=task["id"], approver="dave", decision=Decision.REJECT, version=1),
    ]
    kinds = []
    for refusal in refusals:
        try:
            await handle.execute_update(DealWorkflow.decide, refusal)
        except WorkflowUpdateFailedError as err:
            kinds.append(getattr(err.cause, "type", None))
        else:
            kinds.append("accepted")
    assert kinds == ["forbidden", "forbidden", "stale_version", "invalid"]
    assert len((await handle.fetch_history()).events) == before
