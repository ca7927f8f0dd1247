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

from store.db import SessionFactory
from tests.helpers import login

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
BASE_URL = "http://dealdesk.test"
ROLES = {"rep": "alice", "approver": "dave", "finance": "erin", "admin": "admin"}
# Per operation and generation mode; 39 operations x 2 modes x 4 roles stay within a minute.
MAX_EXAMPLES = 4
# Every check, with one widening: data the schema allows may still be refused with a 422 where
# the rule is not one JSON Schema can say (an unknown SKU or currency, `to` before `from`, a
# window that ends before it starts, a policy whose rules do not type-check). The rest of
# schemathesis's defaults stand.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            }
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

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                # No shrinking: a failure is reported as found, which keeps a red run short.
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
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
