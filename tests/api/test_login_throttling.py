"""Sign-in throttling: an account locks after its failures in an hour, an address too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.main import create_app
from dealdesk.settings import Settings
from store import logins
from store.db import SessionFactory, transaction


async def _sign_in(api: httpx.AsyncClient, username: str, password: str) -> int:
    response = await api.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    return response.status_code


def _fail(
    sessions: SessionFactory, username: str, address: str, times: int, ago: timedelta
) -> None:
    with transaction(sessions) as session:
        for _ in range(times):
            logins.record_failure(
                session, username=username, address=address, at=datetime.now(UTC) - ago
            )


async def test_a_hundred_failures_lock_the_account_even_to_the_right_password(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    # 99 failures from elsewhere in the last hour, then the hundredth through the API.
    _fail(seeded, "alice", "203.0.113.7", 99, timedelta(minutes=10))
    assert await _sign_in(api, "alice", "wrong") == 401
    assert await _sign_in(api, "alice", "alice-demo") == 429
    # Another account is not affected.
    assert await _sign_in(api, "bob", "bob-demo") == 200


async def test_failures_older_than_an_hour_do_not_count(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    _fail(seeded, "alice", "203.0.113.7", 150, timedelta(hours=2))
    assert await _sign_in(api, "alice", "alice-demo") == 200


async def test_one_address_spraying_many_accounts_is_limited(
    settings: Settings, engine: Engine, seeded: SessionFactory, temporal_client: Client
) -> None:
    strict = settings.model_copy(update={"login_failures_per_address": 3})
    app = create_app(strict, engine=engine, temporal=temporal_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dealdesk.test"
    ) as api:
        for username in ("alice", "bob", "nobody"):
            assert await _sign_in(api, username, "guess") == 401
        assert await _sign_in(api, "carol", "carol-demo") == 429


async def test_unknown_user_and_wrong_password_answer_alike(api: httpx.AsyncClient) -> None:
    unknown = await api.post("/api/v1/auth/token", data={"username": "ghost", "password": "x"})
    wrong = await api.post("/api/v1/auth/token", data={"username": "alice", "password": "x"})
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())
