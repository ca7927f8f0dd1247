"""Random sequences of revise, decide and withdraw against the real workflow (hypothesis).

After every step the read model must hold the invariants that make approvals trustworthy:
no decision on a version other than the one its task was opened on, by anyone but its
assignee; one outcome per task; every status change recorded once, in order; and the status
the API shows is one the workflow can be in for what happened.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from store.db import SessionFactory
from store.tables import ApprovalTask, AuditEvent, Deal
from tests.helpers import deal_body, eventually, login
from tests.workflows.flow import deal, submit

Step = tuple[str, Any]

# Discounts around the policy's thresholds: none (standard offer), 25% (sales VP), 35%
# (a violation without a competitor named).
DISCOUNTS = st.sampled_from([None, "22", "25", "28", "35"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("revise"), DISCOUNTS),
        st.tuples(st.just("decide"), st.sampled_from(["approve", "reject", "request_changes"])),
        st.tuples(st.just("decide_stale"), st.just(None)),
        st.tuples(st.just("withdraw"), st.just(None)),
    ),
    min_size=1,
    max_size=6,
)
SETTLED = {"approved", "rejected", "changes_requested", "policy_violation", "withdrawn"}


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    # One worker and database serve every example; each example is a deal of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=DISCOUNTS, steps=STEPS)
async def test_random_sequences_keep_the_invariants(
    api: httpx.AsyncClient, seeded: SessionFactory, first: str | None, steps: list[Step]
) -> None:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct=first))
    seen_version = 1
    for action, arg in steps:
        current = await _settled(api, alice, deal_id)
        if action == "revise":
            response = await api.put(
                f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct=arg), headers=alice
            )
            revisable = current["status"] not in {"withdrawn", "closed_won", "closed_lost"}
            assert response.status_code == (200 if revisable else 409), response.text
        elif action in ("decide", "decide_stale"):
            tasks = await _open_tasks(api, dave, deal_id)
            if not tasks:
                continue
            task = tasks[0]
            version = task["version"] if action == "decide" else seen_version - 1
            response = await api.post(
                f"/api/v1/approvals/{task['id']}/decision",
                json={"decision": arg or "approve", "comment": "looked at it", "version": version},
                headers=dave,
            )
            expected = 200 if version == current["version"] else 409
            assert response.status_code == expected, response.text
        elif action == "withdraw":
            response = await api.post(f"/api/v1/deals/{deal_id}/withdraw", headers=alice)
            assert response.status_code in (200, 409), response.text
        seen_version = max(seen_version, (await deal(api, alice, deal_id))["version"])
        await _settled(api, alice, deal_id)
        await _holds_soon(seeded, deal_id)


async def _settled(api: httpx.AsyncClient, headers: dict[str, str], deal_id: str) -> Any:
    """The deal once its workflow is idle: settled, or waiting on an approver."""
    dave = await login(api, "dave")

    async def probe() -> tuple[Any, list[Any]]:
        return await deal(api, headers, deal_id), await _open_tasks(api, dave, deal_id)

    current, _ = await eventually(
        probe,
        lambda pair: (
            pair[0]["status"] in SETTLED or (pair[0]["status"] == "in_approval" and bool(pair[1]))
        ),
        within=20,
    )
    return current


async def _open_tasks(api: httpx.AsyncClient, headers: dict[str, str], deal_id: str) -> list[Any]:
    response = await api.get("/api/v1/approvals", headers=headers)
    assert response.status_code == 200
    return [t for t in response.json() if t["deal_id"] == deal_id and t["status"] == "open"]


async def _holds_soon(sessions: SessionFactory, deal_id: str, within: float = 10.0) -> None:
    """The invariants hold once writes in flight land (a withdrawal's status write may still
    be running beside the process's); a violation that lasts fails."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            _check_invariants(sessions, deal_id)
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def _check_invariants(sessions: SessionFactory, deal_id: str) -> None:
    with sessions() as session:
        row = session.get(Deal, deal_id)
        assert row is not None
        tasks = session.exec(select(ApprovalTask).where(ApprovalTask.deal_id == deal_id)).all()
        audit = session.exec(
            select(AuditEvent).where(
                AuditEvent.subject_type == "deal", AuditEvent.deal_id == deal_id
            )
        ).all()
    decided = [e for e in audit if e.event == "decided"]
    for event in decided:
        task = next(t for t in tasks if t.id == event.detail["task_id"])
        # Only the assignee decides, on the version the task was opened for.
        assert event.actor == task.assignee
        assert event.version == task.version
    # One outcome per task: decided once, or closed once by the process, never both.
    outcomes = Counter(
        e.detail["task_id"]
        for e in audit
        if e.event == "decided" or (e.event.startswith("task_") and e.event != "task_opened")
    )
    assert all(n == 1 for n in outcomes.values()), outcomes
    for task in tasks:
        if task.status != "open":
            assert outcomes[task.id] == 1, task
    # Every status change is recorded once, keyed by its sequence number, and the deal shows
    # the last one.
    status_events = [e for e in audit if e.key.startswith("status:")]
    seqs = sorted(int(e.key.split(":")[1]) for e in status_events)
    assert seqs == list(range(1, len(seqs) + 1))
    last = max(status_events, key=lambda e: int(e.key.split(":")[1]), default=None)
    if last is not None:
        assert row.status == last.event
        assert row.status_seq == len(seqs)
