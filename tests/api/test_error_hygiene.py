"""Error hygiene: what a failure, another site, or a signed-out visitor in production gets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError
from sqlmodel import Session
from temporalio.client import Client

from api.deps import get_session
from api.main import create_app
from dealdesk.settings import Settings
from store.db import SessionFactory
from tests.helpers import login

LEAKS = ("Traceback", "SELECT", "password_hash", "/work", ".py", "store/", 'File "')


def _client(app: object) -> httpx.AsyncClient:
    # The server's view: an exception becomes the answer, not a test failure.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test")


async def test_a_500_carries_no_traceback_sql_or_path(
    settings: Settings, engine: Engine, seeded: SessionFactory, temporal_client: Client
) -> None:
    app = create_app(settings, engine=engine, temporal=temporal_client)

    def broken_session() -> Iterator[Session]:
        raise ProgrammingError(
            "SELECT username, password_hash FROM users WHERE id = 1",
            {},
            Exception(f'File "{Path(__file__)}", line 1: Traceback (most recent call last)'),
        )
        yield  # pragma: no cover

    async with _client(app) as client:
        alice = await login(client, "alice")
        app.dependency_overrides[get_session] = broken_session
        response = await client.get("/api/v1/deals", headers=alice)
    assert response.status_code == 500
    body = response.json()
    assert body["detail"].startswith("internal error")
    assert len(body["error_id"]) == 32
    for leak in LEAKS:
        assert leak not in response.text, leak
    assert response.headers["cache-control"] == "no-store"


async def test_cors_answers_no_other_origin_and_never_a_wildcard_with_credentials(
    settings: Settings, engine: Engine, seeded: SessionFactory, temporal_client: Client
) -> None:
    evil = {"Origin": "https://evil.example"}
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    # By default no origin is allowed: no CORS header at all.
    async with _client(create_app(settings, engine=engine, temporal=temporal_client)) as client:
        alice = await login(client, "alice")
        plain = await client.get("/api/v1/deals", headers=alice | evil)
        assert plain.status_code == 200
        assert "access-control-allow-origin" not in plain.headers
        options = await client.options("/api/v1/deals", headers=evil | preflight)
        assert "access-control-allow-origin" not in options.headers

    # With one origin configured, only that origin is answered.
    allowed = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    async with _client(create_app(allowed, engine=engine, temporal=temporal_client)) as client:
        alice = await login(client, "alice")
        for headers in (alice | evil, evil | preflight):
            method = "OPTIONS" if "Access-Control-Request-Method" in headers else "GET"
            response = await client.request(method, "/api/v1/deals", headers=headers)
            assert "access-control-allow-origin" not in response.headers, method
            assert response.headers.get("access-control-allow-origin") != "*"
        ours = await client.get("/api/v1/deals", headers=alice | {"Origin": "https://app.example"})
        assert ours.headers["access-control-allow-origin"] == "https://app.example"
        assert ours.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("origin", ["*", "https://*.example.com", "evil.example"])
def test_cors_origins_must_be_exact(origin: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exact origins"):
        Settings(_env_file=None, data_dir=tmp_path, cors_origins=[origin])


DOCS = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


async def test_in_production_the_docs_need_a_signed_in_user(
    settings: Settings, engine: Engine, seeded: SessionFactory, temporal_client: Client
) -> None:
    production = settings.model_copy(
        update={
            "mode": "production",
            "secret_key": SecretStr("p" * 48),
            "seed_demo_data": False,
        }
    )
    async with _client(create_app(production, engine=engine, temporal=temporal_client)) as client:
        for path in DOCS:
            assert (await client.get(path)).status_code == 401, path
        # Any signed-in user reads them, by bearer token or the web app's session cookie.
        alice = await login(client, "alice")
        for path in DOCS:
            assert (await client.get(path, headers=alice)).status_code == 200, path
        client.cookies.clear()
        cookie = {"Cookie": f"dealdesk_session={alice['Authorization'][7:]}"}
        assert (await client.get("/openapi.json", headers=cookie)).status_code == 200
        schema = (await client.get("/openapi.json", headers=alice)).json()
        assert "/api/v1/deals" in schema["paths"]

    # In development they are open, as `make run` promises.
    async with _client(create_app(settings, engine=engine, temporal=temporal_client)) as client:
        for path in DOCS:
            assert (await client.get(path)).status_code == 200, path
