"""Schemathesis against the API's own OpenAPI schema, once per role, with every check.

In process: schemathesis's requests go through an adapter onto the same httpx ASGI client as
the other API tests, on the test's event loop, where the Temporal worker also runs; so
submitting a deal starts a real workflow. Hypothesis runs derandomized (a fixed seed), so CI
sees the same cases every run.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import requests.adapters
import schemathesis
import urllib3
from hypothesis import HealthCheck, Phase
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.hooks import HookDispatcher, HookScope

from pricing.catalog import demo_catalog
from store.db import SessionFactory
from tests.helpers import login

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
BASE_URL = "http://dealdesk.test"
CATALOG_SKUS = tuple(product.sku for product in demo_catalog())
ROLES = {"rep": "alice", "approver": "dave", "finance": "erin", "admin": "admin"}
# Per operation and generation mode; 39 operations x 2 modes x 4 roles stay within a minute.
MAX_EXAMPLES = 4
# Every check, with the expected statuses of two widened: valid data may still be refused with a
# 422 where the rule is not one JSON Schema can say (an unknown SKU or currency, `to` before
# `from`, a window that ends before it starts, a policy whose rules do not type-check), and
# invalid data may be refused with a 413 (over the body limit). Both lists also drop the 5xx
# that schemathesis's defaults accept there; not_a_server_error fails a 5xx anyway.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            },
            # A body over the size limit is refused before it is read: a rejection too.
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            },
        }
    }
)


class _InProcess(requests.adapters.HTTPAdapter):
    """Hands each request schemathesis makes (from its thread) to the async client on the
    test's loop, and builds the requests.Response it expects from the answer."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.client = client
        self.loop = loop

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        assert request.method is not None
        assert request.url is not None
        body = request.body.encode() if isinstance(request.body, str) else request.body
        assert body is None or isinstance(body, bytes)
        headers = {
            name: value.decode("latin-1") if isinstance(value, bytes) else value
            for name, value in request.headers.items()
        }
        call = self.client.request(request.method, request.url, headers=headers, content=body)
        answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=60)
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=urllib3.HTTPHeaderDict(answer.headers.multi_items()),
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
        )
        return self.build_response(request, raw)


def _speak_the_catalog(context: schemathesis.HookContext, body: Any) -> Any:
    """Valid deal bodies name a product and a currency the API knows, which random text never
    does: without this every deal would stop at its 422 and the routes behind it (pricing,
    the workflow) would never be fuzzed. Applied to valid (positive) cases only."""
    if isinstance(body, dict) and isinstance(body.get("lines"), list) and "currency" in body:
        body["currency"] = "USD"
        body["lines"] = [
            {
                "sku": CATALOG_SKUS[i % len(CATALOG_SKUS)],
                **{k: v for k, v in line.items() if k in ("quantity", "discount_pct")},
            }
            for i, line in enumerate(body["lines"])
            if isinstance(line, dict)
        ] or [{"sku": CATALOG_SKUS[0], "quantity": "1"}]
    return body


POSITIVE_HOOKS = HookDispatcher(scope=HookScope.TEST)
POSITIVE_HOOKS.register_hook_with_name(_speak_the_catalog, "map_body")


def _negatable(operation: Operation) -> bool:
    """Whether any input can be made invalid: a lone free-text id in the path cannot, and
    hypothesis would spend a second per role finding that out."""
    if any(True for _ in operation.body):
        return True
    return any(
        parameter.location != ParameterLocation.PATH
        or set(parameter.definition.get("schema", {})) - {"type", "title"}
        for parameter in operation.iter_parameters()
    )


def _fuzz(schema: schemathesis.BaseSchema, session: requests.Session, token: str) -> list[str]:
    """Every operation, positive and negative data; returns one line per failing operation."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        modes = [schemathesis.GenerationMode.POSITIVE]
        if _negatable(operation):
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            hooks = POSITIVE_HOOKS if mode.is_positive else None

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                # No shrinking: a failure is reported as found, which keeps a red run short.
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode, hooks=hooks))
            def run(case: schemathesis.Case[Operation]) -> None:
                case.call_and_validate(
                    base_url=BASE_URL,
                    session=session,
                    headers={"Authorization": f"Bearer {token}"},
                )

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # Nothing of this operation can be made invalid (say, a lone free-text id).
                pass
            # A FailureGroup (schemathesis's checks) is a BaseExceptionGroup, not an Exception.
            except (Exception, BaseExceptionGroup) as err:
                failures.append(f"{operation.label} ({mode.value}): {err}")
    return failures


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_schemathesis_finds_nothing(
    api: httpx.AsyncClient, seeded: SessionFactory, role: str
) -> None:
    schema = schemathesis.openapi.from_dict((await api.get("/openapi.json")).json(), config=CONFIG)
    headers = await login(api, ROLES[role])
    token = headers["Authorization"].removeprefix("Bearer ")
    session = requests.Session()
    adapter = _InProcess(api, asyncio.get_running_loop())
    session.mount("http://", adapter)
    # Hypothesis drives from a thread of its own, so this loop stays free to serve each call.
    failures = await asyncio.to_thread(_fuzz, schema, session, token)
    assert failures == [], "\n\n".join(failures)


@pytest.mark.parametrize(
    ("path", "user"), [("/api/v1/deals", "alice"), ("/api/v1/approvals", "dave")]
)
async def test_an_offset_past_64_bits_is_a_422_not_a_500(
    api: httpx.AsyncClient, seeded: SessionFactory, path: str, user: str
) -> None:
    """Found by the run above: SQLite's driver cannot bind it, and answered a 500."""
    headers = await login(api, user)
    response = await api.get(path, params={"offset": str(2**64)}, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "offset"]]
    assert (await api.get(path, params={"offset": "1000000"}, headers=headers)).status_code == 200


async def test_a_row_id_past_32_bits_is_a_404_not_a_500(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    """Found by the run above on PostgreSQL, where ids are 32-bit `integer`s. The
    authorization gate looks the delegation up before the path is validated: no row can have
    such an id, so it is not found."""
    dave = await login(api, "dave")
    for too_big in (2**31, 2**64):
        response = await api.delete(f"/api/v1/delegations/{too_big}", headers=dave)
        assert response.status_code == 404, response.text
    assert (await api.delete(f"/api/v1/delegations/{2**31 - 1}", headers=dave)).status_code == 404
