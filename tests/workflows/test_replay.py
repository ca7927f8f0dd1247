"""Determinism: recorded histories of the main paths must replay against the current code.

`histories/` holds histories recorded from earlier code. Those recorded while the
`proposal-lifecycle` patch was new carry its marker, which the deprecated patch still accepts;
the ones from before it (ending at approval) were retired with it, as Temporal's patching
lifecycle prescribes once no such run is open. A change to DealWorkflow that alters the
commands it issues fails here unless it is guarded by `workflow.patched`.
To record the current paths after a deliberate, patched change:
DEALDESK_RECORD_HISTORIES=1 pytest this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.helpers import deal_body, login
from tests.workflows.flow import (
    accept,
    decide,
    decline,
    send_proposal,
    submit,
    wait_for_status,
    wait_for_task,
)
from workflows.deal import DealWorkflow, workflow_id

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("DEALDESK_RECORD_HISTORIES") == "1"


def _replayer() -> Replayer:
    # The same converter as the workers', or pydantic payloads would not decode.
    return Replayer(workflows=[DealWorkflow], data_converter=pydantic_data_converter)


async def _replay_failures(histories: list[WorkflowHistory]) -> dict[str, str]:
    replayer = _replayer()
    failures: dict[str, str] = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = repr(result.replay_failure)
    return failures


async def test_saved_histories_replay_against_current_code() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, f"no recorded histories in {HISTORIES}"
    histories = [
        WorkflowHistory.from_json(json.loads(f.read_text())["workflow_id"], f.read_text())
        for f in files
    ]
    assert await _replay_failures(histories) == {}


Scenario = Callable[[httpx.AsyncClient], Awaitable[str]]


async def _standard_offer_accepted(api: httpx.AsyncClient) -> str:
    alice = await login(api, "alice")
    deal_id = await submit(api, alice, deal_body())
    await wait_for_status(api, alice, deal_id, "approved")
    sent = await send_proposal(api, alice, deal_id)
    assert (await accept(api, sent["path"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "closed_won")
    return deal_id


async def _approved_after_revision(api: httpx.AsyncClient) -> str:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    await wait_for_task(api, dave, deal_id)
    revised = await api.put(
        f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct="22"), headers=alice
    )
    assert revised.status_code == 200
    task = await wait_for_task(api, dave, deal_id, version=2)
    assert (await decide(api, dave, task["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")
    sent = await send_proposal(api, alice, deal_id)
    assert (await decline(api, sent["path"], "budget cut")).status_code == 200
    await wait_for_status(api, alice, deal_id, "closed_lost")
    return deal_id


async def _rejected_then_withdrawn(api: httpx.AsyncClient) -> str:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    assert (await decide(api, dave, task["id"], "reject", "too deep")).status_code == 200
    await wait_for_status(api, alice, deal_id, "rejected")
    withdrawn = await api.post(f"/api/v1/deals/{deal_id}/withdraw", headers=alice)
    assert withdrawn.status_code == 200
    await wait_for_status(api, alice, deal_id, "withdrawn")
    return deal_id


SCENARIOS: dict[str, Scenario] = {
    "standard_offer_accepted": _standard_offer_accepted,
    "approved_after_revision_declined": _approved_after_revision,
    "rejected_then_withdrawn": _rejected_then_withdrawn,
}


async def test_fresh_histories_of_the_main_paths_replay(
    api: httpx.AsyncClient, temporal_client: Client
) -> None:
    histories: dict[str, WorkflowHistory] = {}
    for name, scenario in SCENARIOS.items():
        deal_id = await scenario(api)
        handle = temporal_client.get_workflow_handle_for(DealWorkflow.run, workflow_id(deal_id))
        await handle.result()
        histories[name] = await handle.fetch_history()

    assert await _replay_failures(list(histories.values())) == {}

    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        for name, history in histories.items():
            payload = {"workflow_id": history.workflow_id, **json.loads(history.to_json())}
            (HISTORIES / f"{name}.json").write_text(json.dumps(payload, indent=1))
