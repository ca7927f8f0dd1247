"""From approval to the customer's answer on the real dev server: sending, the signed link,
acceptance into a contract and an order, declining, expiry, and revisions after sending."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pypdf
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import create_app
from dealdesk.links import ProposalLinks
from dealdesk.settings import Settings
from store.db import SessionFactory
from store.outbox import OutboxMessage
from store.tables import DealOrder, Document
from tests.helpers import deal_body, eventually, login
from tests.workflows.flow import (
    accept,
    deal,
    decide,
    decline,
    history,
    send_proposal,
    submit,
    wait_for_status,
    wait_for_task,
)
from workflows.deal import DealWorkflow, workflow_id
from workflows.messages import DealStatus


def events(log: list[dict[str, object]]) -> list[object]:
    return [e["event"] for e in log]


@pytest.fixture
async def short_validity_api(
    settings: Settings, engine: Engine, temporal_client: Client, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    # Long enough to send and accept a proposal (a PDF each) on a loaded machine; 3 s was not.
    short = settings.model_copy(update={"proposal_validity": timedelta(seconds=6)})
    app = create_app(short, engine=engine, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        yield client


async def test_a_sent_proposal_accepted_becomes_a_contract_and_an_order(
    api: httpx.AsyncClient, seeded: SessionFactory, temporal_client: Client
) -> None:
    alice = await login(api, "alice")
    deal_id = await submit(api, alice, deal_body(customer="Acme <script>alert(1)</script>"))
    await wait_for_status(api, alice, deal_id, "approved")

    sent = await send_proposal(api, alice, deal_id)
    assert sent["status"] == "sent"
    assert sent["version"] == 1
    page = await api.get(sent["path"])
    assert page.status_code == 200, page.text
    assert "Acme &lt;script&gt;" in page.text
    assert "<script>alert" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    pdf = await api.get(f"{sent['path']}/document.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    # 10 seats x 120 x 12 months, no discount.
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "$14,400.00" in text

    accepted = await accept(api, sent["path"])
    assert accepted.status_code == 200, accepted.text
    assert "Thank you" in accepted.text
    final = await wait_for_status(api, alice, deal_id, "closed_won")
    assert final["version"] == 1
    # The deal's workflow is done: nothing is left waiting on a timer.
    handle = temporal_client.get_workflow_handle_for(DealWorkflow.run, workflow_id(deal_id))
    outcome = await asyncio.wait_for(handle.result(), timeout=10)
    assert (outcome.status, outcome.version) == (DealStatus.CLOSED_WON, 1)

    # The same answer again is the same answer; any answer after it is refused.
    assert (await accept(api, sent["path"])).status_code in (200, 410)
    assert (await decline(api, sent["path"], "changed our minds")).status_code == 410
    assert (await api.get(sent["path"])).status_code == 410

    contract = await api.get(f"/api/v1/deals/{deal_id}/contract", headers=alice)
    assert contract.status_code == 200, contract.text
    assert "Wile E. Coyote" in contract.text
    assert "Head of Procurement" in contract.text
    contract_pdf = await api.get(
        f"/api/v1/deals/{deal_id}/contract", headers=alice | {"Accept": "application/pdf"}
    )
    assert contract_pdf.headers["content-type"] == "application/pdf"

    with seeded() as session:
        orders = session.exec(select(DealOrder).where(DealOrder.deal_id == deal_id)).all()
        docs = session.exec(select(Document).where(Document.deal_id == deal_id)).all()
        mail = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.deal_id == deal_id, OutboxMessage.event == "proposal_sent"
            )
        ).all()
    assert len(orders) == 1
    order = orders[0]
    assert (order.tcv_minor, order.acv_minor, order.mrr_minor) == (1_440_000, 1_440_000, 120_000)
    assert order.accepted_by_email == "wile@acme.example"
    assert {(d.kind, d.content_type) for d in docs} == {
        ("proposal", "text/html"),
        ("proposal", "application/pdf"),
        ("contract", "text/html"),
        ("contract", "application/pdf"),
    }
    assert order.contract_sha256 in {d.sha256 for d in docs if d.kind == "contract"}
    # The customer got the link by e-mail; the token itself never entered workflow history.
    assert [m.email for m in mail] == ["buyer@acme.example"]
    assert sent["path"] in mail[0].body_text
    with seeded() as session:
        contract_mail = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.deal_id == deal_id, OutboxMessage.event == "contract_ready"
            )
        ).all()
    # The rep and the person who accepted both hear that the contract exists.
    assert sorted(m.email for m in contract_mail) == ["alice@example.com", "wile@acme.example"]

    log = events(await history(api, alice, deal_id))
    for step in ("proposal_rendered", "proposal_sent", "sent", "accepted", "contract_rendered"):
        assert step in log
    assert log[-1] == "closed_won" or "order_created" in log


async def test_a_declined_proposal_closes_lost_with_the_reason(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    deal_id = await submit(api, alice, deal_body())
    await wait_for_status(api, alice, deal_id, "approved")
    sent = await send_proposal(api, alice, deal_id)

    no_reason = await decline(api, sent["path"], "   ")
    assert no_reason.status_code == 422
    assert "why you decline" in no_reason.text
    missing = await accept(api, sent["path"], title="")
    assert missing.status_code == 422
    assert "title" in missing.text
    bad_address = await accept(api, sent["path"], email="wile at acme")
    assert bad_address.status_code == 422
    assert "e-mail address is not valid" in bad_address.text

    declined = await decline(api, sent["path"], "went with a competitor")
    assert declined.status_code == 200, declined.text
    final = await wait_for_status(api, alice, deal_id, "closed_lost")
    assert final["status_reason"] == "went with a competitor"
    contract = await api.get(f"/api/v1/deals/{deal_id}/contract", headers=alice)
    assert contract.status_code == 404


async def test_an_unanswered_proposal_expires_but_an_accepted_one_stays_won(
    short_validity_api: httpx.AsyncClient,
) -> None:
    api = short_validity_api
    alice = await login(api, "alice")
    unanswered = await submit(api, alice, deal_body(customer="Slow Co"))
    answered = await submit(api, alice, deal_body(customer="Quick Co"))
    await wait_for_status(api, alice, unanswered, "approved")
    await wait_for_status(api, alice, answered, "approved")
    quick = await send_proposal(api, alice, answered)
    assert (await accept(api, quick["path"])).status_code == 200
    # Sent after the quick one, so its expiry is past the quick one's validity too.
    slow = await send_proposal(api, alice, unanswered)

    expired = await wait_for_status(api, alice, unanswered, "expired")
    assert "expired" in expired["status_reason"]
    assert (await accept(api, slow["path"])).status_code == 410
    assert (await api.get(slow["path"])).status_code == 410
    # Well past the quick deal's validity: expiry never overwrites an answer.
    await asyncio.sleep(1)
    assert (await deal(api, alice, answered))["status"] == "closed_won"
    assert "expired" not in events(await history(api, alice, answered))


async def test_links_are_refused_when_tampered_forged_or_replaced(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    alice, dave = await login(api, "alice"), await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    assert (await decide(api, dave, task["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")
    sent = await send_proposal(api, alice, deal_id)
    token = sent["path"].removeprefix("/p/")

    # A flipped signature byte, a link signed with another key, a session token, alg none.
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_key = ProposalLinks("another-secret-of-enough-length-32b", "http://x").token(
        deal_id=deal_id, version=1, expires_at=_far_future()
    )
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    for bad in (f"{header}.{payload}.{flipped}", other_key, alice["Authorization"][7:], unsigned):
        response = await api.get(f"/p/{bad}")
        assert response.status_code == 404, bad
        assert deal_id not in response.text
        assert (await accept(api, f"/p/{bad}")).status_code == 404

    # A revision after sending: the old link is dead, the new version needs sending again.
    revised = await api.put(
        f"/api/v1/deals/{deal_id}", json=deal_body(discount_pct="22"), headers=alice
    )
    assert revised.status_code == 200, revised.text
    # 22% is no worse than the approved 25%: the approval carries over, no new task.
    again = await eventually_approved(api, alice, deal_id, version=2)
    assert again["version"] == 2
    assert (await api.get(sent["path"])).status_code == 410
    assert (await accept(api, sent["path"])).status_code == 410
    assert "proposal_superseded" in events(await history(api, alice, deal_id))

    resent = await send_proposal(api, alice, deal_id)
    assert resent["version"] == 2
    assert resent["path"] != sent["path"]
    assert (await api.get(resent["path"])).status_code == 200
    link = await api.get(f"/api/v1/deals/{deal_id}/proposal/link", headers=alice)
    assert link.status_code == 200
    assert link.json()["version"] == 2


async def test_only_the_owner_sends_and_only_an_approved_deal(api: httpx.AsyncClient) -> None:
    alice, bob, dave = [await login(api, name) for name in ("alice", "bob", "dave")]
    pending = await submit(api, alice, deal_body(discount_pct="25"))
    await wait_for_task(api, dave, pending)
    body = {"to": "buyer@acme.example"}
    # Another rep cannot see the deal; an approver holding its task may see but not send it.
    assert (
        await api.post(f"/api/v1/deals/{pending}/send", json=body, headers=bob)
    ).status_code == 404
    assert (
        await api.post(f"/api/v1/deals/{pending}/send", json=body, headers=dave)
    ).status_code == 403
    in_approval = await api.post(f"/api/v1/deals/{pending}/send", json=body, headers=alice)
    assert in_approval.status_code == 409
    bad = await api.post(
        f"/api/v1/deals/{pending}/send", json={"to": "not an address"}, headers=alice
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "to"]

    ready = await submit(api, alice, deal_body())
    await wait_for_status(api, alice, ready, "approved")
    await send_proposal(api, alice, ready)
    twice = await api.post(f"/api/v1/deals/{ready}/send", json=body, headers=alice)
    # The same send again answers as the first did; the proposal went out once.
    assert twice.status_code == 200
    assert twice.json()["valid_until"]

    pdf = await api.get(
        f"/api/v1/deals/{ready}/proposal", headers=alice | {"Accept": "application/pdf"}
    )
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    png = await api.get(f"/api/v1/deals/{ready}/proposal", headers=alice | {"Accept": "image/png"})
    assert png.status_code == 406


async def eventually_approved(
    api: httpx.AsyncClient, headers: dict[str, str], deal_id: str, *, version: int
) -> dict[str, object]:
    return await eventually(
        lambda: deal(api, headers, deal_id),
        lambda d: d["version"] == version and d["status"] == "approved",
    )


def _far_future() -> datetime:
    return datetime.now(UTC) + timedelta(days=30)
