"""/metrics, /healthz and /readyz over HTTP, on the real dev server and a real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.health import ReadinessProbe
from api.main import create_app
from dealdesk.settings import Settings
from store.db import make_engine
from tests.helpers import deal_body, login
from tests.workflows.flow import decide, submit, wait_for_status, wait_for_task

UNREACHABLE_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/x"


async def _scrape(api: httpx.AsyncClient) -> list[Sample]:
    response = await api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


@pytest.fixture
def broken_engine() -> Iterator[Engine]:
    engine = make_engine(UNREACHABLE_DATABASE)
    yield engine
    engine.dispose()


@pytest.fixture
async def broken_api(
    settings: Settings, broken_engine: Engine, temporal_client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=broken_engine, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        yield client


async def test_requests_are_counted_by_route_template(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    missing = [str(uuid.uuid4()) for _ in range(3)]
    for deal_id in missing:
        assert (await api.get(f"/api/v1/deals/{deal_id}", headers=alice)).status_code == 404
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get(f"/no/such/page/{missing[0]}")).status_code == 404
    # A plain Starlette route, which leaves only its endpoint in the request's scope.
    assert (await api.get("/openapi.json")).status_code == 200

    samples = await _scrape(api)

    by_template = {"method": "GET", "route": "/api/v1/deals/{deal_id}", "status": "404"}
    assert _value(samples, "dealdesk_http_requests_total", **by_template) == 3
    assert _value(samples, "dealdesk_http_request_duration_seconds_count", **by_template) == 3
    assert _value(samples, "dealdesk_http_requests_total", route="/healthz", status="200") == 1
    assert _value(samples, "dealdesk_http_requests_total", route="/api/v1/auth/token") == 1
    assert _value(samples, "dealdesk_http_requests_total", route="<unmatched>") == 1
    assert _value(samples, "dealdesk_http_requests_total", route="/openapi.json") == 1
    # Neither a raw path nor an id ever becomes a label value.
    routes = {s.labels["route"] for s in samples if "route" in s.labels}
    assert not any(deal_id in route for route in routes for deal_id in missing)


async def test_an_approval_shows_in_the_business_metrics(api: httpx.AsyncClient) -> None:
    before = await _scrape(api)
    assert _value(before, "dealdesk_store_scrape_error") == 0
    assert _value(before, "dealdesk_deals", status="approved") == 0
    assert _value(before, "dealdesk_approval_decisions_total", decision="approve") == 0

    alice = await login(api, "alice")
    dave = await login(api, "dave")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    assert (await decide(api, dave, task["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")

    after = await _scrape(api)
    assert _value(after, "dealdesk_store_scrape_error") == 0
    assert _value(after, "dealdesk_deals", status="approved") == 1
    assert _value(after, "dealdesk_deals", status="in_approval") == 0
    assert _value(after, "dealdesk_approval_tasks", status="approved") == 1
    assert _value(after, "dealdesk_approval_decisions_total", decision="approve") == 1
    assert _value(after, "dealdesk_approval_decisions_total", decision="reject") == 0
    assert _value(after, "dealdesk_approval_escalations_total") == 0
    latency = "dealdesk_approval_latency_seconds"
    assert _value(after, f"{latency}_count", decision="approve") == 1
    # Dave decided within the minute: the first bucket has it, and so does every later one.
    assert _value(after, f"{latency}_bucket", decision="approve", le="60.0") == 1
    assert _value(after, f"{latency}_bucket", decision="approve", le="+Inf") == 1
    assert 0 <= _value(after, f"{latency}_sum", decision="approve") < 60


async def test_metrics_survive_a_database_outage(broken_api: httpx.AsyncClient) -> None:
    samples = await _scrape(broken_api)

    assert _value(samples, "dealdesk_store_scrape_error") == 1
    # No made-up zeros while the database cannot be read.
    assert not [s for s in samples if s.name.startswith(("dealdesk_deals", "dealdesk_approval"))]


async def test_metrics_can_be_turned_off(
    settings: Settings, engine: Engine, temporal_client: Client
) -> None:
    app = create_app(
        settings.model_copy(update={"metrics_enabled": False}),
        engine=engine,
        temporal=temporal_client,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


async def test_ready_when_the_database_and_temporal_answer(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "temporal": "ok"},
        "failed": [],
    }


async def test_not_ready_without_the_database(broken_api: httpx.AsyncClient) -> None:
    response = await broken_api.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == "error: OperationalError"
    assert body["checks"]["temporal"] == "ok"
    # The error's class only: its message names the host and the user.
    assert "127.0.0.1" not in response.text
    assert "nobody" not in response.text
    # Liveness does not depend on the database.
    assert (await broken_api.get("/healthz")).status_code == 200


async def test_not_ready_without_temporal(settings: Settings, engine: Engine) -> None:
    # lazy: nothing is dialled until the health check, which then finds the port closed.
    closed = await Client.connect("127.0.0.1:1", lazy=True)
    app = create_app(settings, engine=engine, temporal=closed)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["temporal"]
    assert response.json()["checks"] == {"database": "ok", "temporal": "error: RuntimeError"}


class _HealthService:
    def __init__(self, *, serving: bool = True, delay: float = 0.0) -> None:
        self.serving = serving
        self.delay = delay

    async def check_health(self, *, timeout: timedelta | None = None) -> bool:  # noqa: ASYNC109
        await asyncio.sleep(self.delay)
        return self.serving


class _FakeTemporal:
    def __init__(self, service: _HealthService) -> None:
        self.service_client = service


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (_HealthService(), "ok"),
        (_HealthService(serving=False), "error: not serving"),
        (_HealthService(delay=5), "timeout"),
    ],
    ids=["serving", "not-serving", "hangs"],
)
async def test_readiness_of_temporal(
    engine: Engine, service: _HealthService, expected: str
) -> None:
    probe = ReadinessProbe(engine, timeout=timedelta(seconds=0.2))

    readiness = await probe.check(_FakeTemporal(service))

    assert readiness.checks == {"database": "ok", "temporal": expected}
    assert readiness.ready is (expected == "ok")


async def test_readiness_without_a_client(engine: Engine) -> None:
    readiness = await ReadinessProbe(engine).check(None)

    assert readiness.failed == ["temporal"]
    assert readiness.checks["temporal"] == "error: not connected"
