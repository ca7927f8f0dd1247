"""`Idempotency-Key` on the creating POSTs, over HTTP: replay, reuse, in flight, crash, scope."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.main import create_app
from dealdesk.settings import Settings
from store import idempotency
from store.db import SessionFactory, transaction
from store.tables import AuditEvent, Deal, Delegation, IdempotencyKey
from tests.helpers import deal_body, eventually, login

DEALS = "/api/v1/deals"
DELEGATIONS = "/api/v1/delegations"


def _window() -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=1)
    return {
        "delegate": "frank",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=7)).isoformat(),
    }


def _keys(sessions: SessionFactory) -> list[IdempotencyKey]:
    with sessions() as session:
        return list(session.exec(select(IdempotencyKey)).all())


def _count(sessions: SessionFactory, table: type[Any]) -> int:
    with sessions() as session:
        return len(session.exec(select(table)).all())


async def test_same_key_and_body_replays_the_stored_answer(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    dave = await login(api, "dave")
    headers = dave | {"Idempotency-Key": "vacation-2027"}
    body = _window()
    first = await api.post(DELEGATIONS, json=body, headers=headers)
    again = await api.post(DELEGATIONS, json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["cache-control"] == "no-store"
    assert _count(seeded, Delegation) == 1
    # Without a key, the same body is a new request.
    plain = await api.post(DELEGATIONS, json=body, headers=dave)
    assert plain.status_code == 201
    assert _count(seeded, Delegation) == 2


async def test_a_key_reused_for_another_request_is_refused(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    dave = await login(api, "dave")
    headers = dave | {"Idempotency-Key": "one-request-only"}
    body = _window()
    assert (await api.post(DELEGATIONS, json=body, headers=headers)).status_code == 201

    other_body = await api.post(DELEGATIONS, json=body | {"delegate": "carol"}, headers=headers)
    # The same body to another URL (the query is part of it): the authorization gate would
    # answer 404 for another route's missing object before the key is looked at.
    other_path = await api.post(f"{DELEGATIONS}?source=retry", json=body, headers=headers)
    for refused in (other_body, other_path):
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["detail"]
        assert error["loc"] == ["header", "idempotency-key"]
        assert "already used for another request" in error["msg"]
    assert _count(seeded, Delegation) == 1


async def test_keys_are_scoped_to_the_user(api: httpx.AsyncClient, seeded: SessionFactory) -> None:
    alice, bob = await login(api, "alice"), await login(api, "bob")
    key = {"Idempotency-Key": "po-1"}
    by_alice = await api.post(DEALS, json=deal_body(), headers=alice | key)
    by_bob = await api.post(DEALS, json=deal_body(), headers=bob | key)
    assert by_alice.status_code == by_bob.status_code == 201
    # Bob's request ran: not Alice's answer replayed to him.
    assert "idempotent-replayed" not in by_bob.headers
    assert by_bob.json()["id"] != by_alice.json()["id"]
    with seeded() as session:
        owners = sorted(d.owner for d in session.exec(select(Deal)).all())
    assert owners == ["alice", "bob"]


@pytest.mark.parametrize(
    ("key", "accepted"),
    [("k", True), ("k" * 255, True), ("k" * 256, False), ("", False), ("tab\there", False)],
)
async def test_key_length_and_characters(
    api: httpx.AsyncClient, seeded: SessionFactory, key: str, accepted: bool
) -> None:
    dave = await login(api, "dave")
    response = await api.post(DELEGATIONS, json=_window(), headers=dave | {"Idempotency-Key": key})
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [["header", "idempotency-key"]]
        assert _keys(seeded) == []
        assert _count(seeded, Delegation) == 0


def _claim_in_flight(
    sessions: SessionFactory, *, key: str, path: str, content: bytes, locked_at: datetime
) -> None:
    """The row a request leaves while it runs (or when it crashed mid-request)."""
    with transaction(sessions) as session:
        session.add(
            IdempotencyKey(
                username="dave",
                key=key,
                method="POST",
                path=path,
                body_sha256=hashlib.sha256(content).hexdigest(),
                state=idempotency.IN_FLIGHT,
                locked_at=locked_at,
                created_at=locked_at,
            )
        )


async def test_in_flight_duplicate_gets_409_and_a_crashed_claim_expires(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    dave = await login(api, "dave")
    content = json.dumps(_window()).encode()
    headers = dave | {"Idempotency-Key": "slow-one", "Content-Type": "application/json"}
    now = datetime.now(UTC)
    _claim_in_flight(seeded, key="slow-one", path=DELEGATIONS, content=content, locked_at=now)

    busy = await api.post(DELEGATIONS, content=content, headers=headers)
    assert busy.status_code == 409, busy.text
    assert busy.headers["retry-after"] == "1"
    assert _count(seeded, Delegation) == 0

    # The request that claimed it died a lease ago: the retry runs it, once.
    with transaction(seeded) as session:
        row = session.exec(select(IdempotencyKey)).one()
        row.locked_at = now - idempotency.LEASE - timedelta(seconds=1)
    retried = await api.post(DELEGATIONS, content=content, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    replayed = await api.post(DELEGATIONS, content=content, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert _count(seeded, Delegation) == 1
    [row] = _keys(seeded)
    assert (row.state, row.attempt) == (idempotency.DONE, 2)


async def test_two_identical_requests_at_once_take_effect_once(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    """Delegations have no other duplicate check: only the key stands between a client's
    retry and a second window."""
    dave = await login(api, "dave")
    headers = dave | {"Idempotency-Key": "double-click"}
    body = _window()
    for _ in range(3):
        responses = await asyncio.gather(
            api.post(DELEGATIONS, json=body, headers=headers),
            api.post(DELEGATIONS, json=body, headers=headers),
        )
        codes = sorted(r.status_code for r in responses)
        assert codes in ([201, 201], [201, 409]), [r.text for r in responses]
        ran = [
            r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
        ]
        assert len(ran) <= 1
    assert _count(seeded, Delegation) == 1


class _TemporalDown:
    """A Temporal client that fails the way an outage does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def execute_update_with_start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""), 503),
        (RuntimeError("a bug"), 500),
    ],
)
async def test_server_errors_are_not_stored(
    api: httpx.AsyncClient,
    seeded: SessionFactory,
    settings: Settings,
    engine: Engine,
    error: Exception,
    status: int,
) -> None:
    broken = create_app(settings, engine=engine, temporal=_TemporalDown(error))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=broken, raise_app_exceptions=False)
    alice = await login(api, "alice")
    headers = alice | {"Idempotency-Key": "retry-me"}
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as down:
        failed = await down.post(DEALS, json=deal_body(), headers=headers)
    assert failed.status_code == status
    assert _keys(seeded) == []

    # The client's retry runs the request, rather than getting the failure again.
    retried = await api.post(DEALS, json=deal_body(), headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers


async def _sent_twice(
    api: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """The request runs once; its retry gets the same answer, marked as a replay."""
    first = await api.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    again = await api.post(url, json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert (again.status_code, again.json()) == (200, first.json())


async def test_every_creating_post_of_a_deal_replays(
    api: httpx.AsyncClient, seeded: SessionFactory, temporal_client: Client
) -> None:
    """Decision, send and withdraw with keys: replays answer from the store, once done, and a
    refusal (4xx) is not stored, so the same key works once the deal allows it."""
    alice, dave = await login(api, "alice"), await login(api, "dave")
    created = await api.post(
        DEALS, json=deal_body(discount_pct="25"), headers=alice | {"Idempotency-Key": "d1"}
    )
    assert created.status_code == 201, created.text
    deal_id = created.json()["id"]
    send = f"{DEALS}/{deal_id}/send"
    send_headers = alice | {"Idempotency-Key": "send-1"}
    to = {"to": "buyer@example.com"}

    too_early = await api.post(send, json=to, headers=send_headers)
    assert too_early.status_code == 409, too_early.text

    tasks = await eventually(
        lambda: api.get("/api/v1/approvals", headers=dave),
        lambda r: r.status_code == 200 and len(r.json()) == 1,
    )
    decide = f"/api/v1/approvals/{tasks.json()[0]['id']}/decision"
    decision_headers = dave | {"Idempotency-Key": "approve-1"}
    await _sent_twice(api, decide, {"decision": "approve"}, decision_headers)

    await eventually(
        lambda: api.get(f"{DEALS}/{deal_id}", headers=alice),
        lambda r: r.json()["status"] == "approved",
    )
    await _sent_twice(api, send, to, send_headers)

    withdraw = f"{DEALS}/{deal_id}/withdraw"
    await _sent_twice(api, withdraw, {"reason": "lost"}, alice | {"Idempotency-Key": "w-1"})

    with seeded() as session:
        events = [e.event for e in session.exec(select(AuditEvent)).all()]
    assert events.count("proposal_sent") == 1
    assert events.count("withdrawn") == 1


async def test_keys_older_than_a_day_are_purged_and_younger_ones_kept(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    dave = await login(api, "dave")
    now = datetime.now(UTC)
    for key, age in (("old", timedelta(hours=25)), ("young", timedelta(hours=23))):
        _claim_in_flight(seeded, key=key, path=DELEGATIONS, content=b"{}", locked_at=now - age)
    response = await api.post(
        DELEGATIONS, json=_window(), headers=dave | {"Idempotency-Key": "new"}
    )
    assert response.status_code == 201, response.text
    assert sorted(row.key for row in _keys(seeded)) == ["new", "young"]


async def test_every_creating_post_takes_a_key(api: httpx.AsyncClient) -> None:
    # A route that creates (201) without the key would let a retried request create twice.
    schema = (await api.get("/openapi.json")).json()
    creating = [
        (path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method == "post" and "201" in operation["responses"]
    ]
    assert len(creating) >= 3
    missing = [
        path
        for path, operation in creating
        if not any(
            p["in"] == "header" and p["name"].lower() == "idempotency-key"
            for p in operation.get("parameters", [])
        )
    ]
    assert missing == []


async def test_a_retried_user_creation_gets_the_first_answer(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    admin = await login(api, "admin") | {"Idempotency-Key": "new-user-1"}
    body = {
        "username": "ivan",
        "full_name": "Ivan Petrov",
        "password": "ivan-strong-password",
        "roles": ["rep"],
        "email": "ivan@example.com",
    }
    first = await api.post("/api/v1/users", json=body, headers=admin)
    again = await api.post("/api/v1/users", json=body, headers=admin)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
