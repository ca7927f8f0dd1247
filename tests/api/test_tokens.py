"""Bearer tokens and passwords: what the API refuses (401) and how passwords are stored."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from argon2 import Type as Argon2Type
from argon2 import extract_parameters

from dealdesk.settings import Settings
from store import users
from store.db import SessionFactory, transaction
from tests.helpers import login

NOW = datetime.now(UTC)


def _token(settings: Settings, claims: dict[str, Any], **encode: Any) -> str:
    encode.setdefault("key", settings.secret_key.get_secret_value())
    encode.setdefault("algorithm", "HS256")
    return jwt.encode(claims, **encode)


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": "alice", "iat": NOW, "exp": NOW + timedelta(hours=1)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def _answers(api: httpx.AsyncClient, token: str) -> tuple[int, int]:
    """The API's status for the token as a bearer, and the web app's as a session cookie
    (303 is the sign-in redirect)."""
    api.cookies.clear()
    bearer = await api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    page = await api.get("/deals", headers={"Cookie": f"dealdesk_session={token}"})
    api.cookies.clear()
    return bearer.status_code, page.status_code


async def test_a_well_formed_token_is_accepted(api: httpx.AsyncClient, settings: Settings) -> None:
    # The control for the refusals below: the same claims, signed right.
    assert await _answers(api, _token(settings, _claims())) == (200, 200)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda s: _token(s, _claims(), key="", algorithm="none"), id="alg-none"),
        pytest.param(lambda s: _token(s, _claims(), key="k" * 48), id="wrong-key"),
        pytest.param(
            lambda s: _token(s, _claims(), algorithm="HS512"),
            id="algorithm-not-listed",
            # The development secret is short for HS512; the token is refused either way.
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(lambda s: _token(s, _claims(exp=NOW - timedelta(seconds=5))), id="expired"),
        pytest.param(lambda s: _token(s, _claims(exp=None)), id="no-expiry"),
        pytest.param(lambda s: _token(s, _claims(sub=None)), id="no-subject"),
        pytest.param(lambda s: _token(s, _claims(sub="nobody")), id="unknown-user"),
        pytest.param(lambda s: _token(s, _claims())[:-4] + "AAAA", id="tampered"),
        pytest.param(lambda s: "not.a.jwt", id="garbage"),
    ],
)
async def test_a_bad_token_is_refused(
    api: httpx.AsyncClient, settings: Settings, make: Any
) -> None:
    assert await _answers(api, make(settings)) == (401, 303)


async def test_a_disabled_users_token_stops_working(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    headers = await login(api, "alice")
    assert (await api.get("/api/v1/auth/me", headers=headers)).status_code == 200
    with transaction(seeded) as session:
        user = users.get_user(session, username="alice")
        assert user is not None
        user.active = False
        session.add(user)
    assert (await api.get("/api/v1/auth/me", headers=headers)).status_code == 401
    assert await _answers(api, headers["Authorization"].removeprefix("Bearer ")) == (401, 303)
    # Nor can she sign in again.
    again = await api.post(
        "/api/v1/auth/token", data={"username": "alice", "password": "alice-demo"}
    )
    assert again.status_code == 401


def test_passwords_are_stored_with_argon2id_at_owasps_minimum(seeded: SessionFactory) -> None:
    with seeded() as session:
        stored = [u.password_hash for u in users.list_users(session)]
    assert stored
    for password_hash in stored:
        assert password_hash is not None
        params = extract_parameters(password_hash)
        assert params.type is Argon2Type.ID
        assert params.memory_cost >= 19 * 1024  # KiB
        assert params.time_cost >= 2
        assert params.parallelism >= 1


async def test_unknown_user_and_wrong_password_take_the_same_time(
    api: httpx.AsyncClient,
) -> None:
    async def seconds(username: str) -> float:
        started = time.perf_counter()
        response = await api.post(
            "/api/v1/auth/token", data={"username": username, "password": "wrong"}
        )
        assert response.status_code == 401
        return time.perf_counter() - started

    unknown, wrong = [], []
    for _ in range(7):
        unknown.append(await seconds("ghost"))
        wrong.append(await seconds("alice"))
    # Both verify an Argon2 hash (a dummy one for an unknown user): tens of milliseconds each.
    # Without the dummy, an unknown user answers in about a millisecond.
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (unknown, wrong)
