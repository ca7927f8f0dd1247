"""Hostile input: unknown fields (mass assignment), numbers that are not decimal strings,
oversized comments and page sizes. Each is a 422 naming the field, never a 500."""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from api.main import create_app
from dealdesk.settings import Settings
from tests.helpers import deal_body, login
from tests.workflows.flow import submit, wait_for_task

# What a client might try to set on itself: each must be refused by name.
SMUGGLED = {
    "status": "approved",
    "approved_by": "dave",
    "margin": "99",
    "owner_id": "bob",
    "version": 7,
}


def _models(annotation: Any) -> set[type[BaseModel]]:
    """Every pydantic model an annotation reaches (through lists, unions, Annotated...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = {annotation}
        for field in annotation.model_fields.values():
            found |= _models(field.annotation)
        return found
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return set()
    return {m for arg in typing.get_args(annotation) for m in _models(arg)}


def _body_models(app: Any) -> dict[str, set[type[BaseModel]]]:
    found: dict[str, set[type[BaseModel]]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in route.dependant.body_params:
            models = _models(param.field_info.annotation)
            if models:
                key = f"{sorted(context.methods or [])} {context.path_format}"
                found.setdefault(key, set()).update(models)
    return found


def test_every_input_model_forbids_unknown_fields(settings: Settings, engine: Engine) -> None:
    bodies = _body_models(create_app(settings, engine=engine, temporal=None))
    # The JSON bodies the API takes (forms are read field by field and never assigned).
    assert len(bodies) >= 13
    lax = {
        f"{route}: {model.__name__}"
        for route, models in bodies.items()
        for model in models
        if model.model_config.get("extra") != "forbid"
    }
    assert lax == set()


def test_every_decimal_of_an_input_model_is_a_bounded_decimal_string(
    settings: Settings, engine: Engine
) -> None:
    """A bare Decimal field would take a JSON number (already a float), NaN or 1e999999."""
    bodies = _body_models(create_app(settings, engine=engine, temporal=None))
    bare = set()
    for models in bodies.values():
        for model in models:
            for name, field in model.model_fields.items():
                for annotation in (field.annotation, *typing.get_args(field.annotation)):
                    if annotation is Decimal and not field.metadata:
                        bare.add(f"{model.__name__}.{name}")
    assert bare == set()


@pytest.fixture
async def deal_and_task(api: httpx.AsyncClient) -> tuple[str, str]:
    alice = await login(api, "alice")
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, await login(api, "dave"), deal_id)
    return deal_id, task["id"]


def _refused_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {
        str(error["loc"][-1])
        for error in response.json()["detail"]
        if error["type"] == "extra_forbidden"
    }


async def test_smuggled_fields_are_refused_by_name_on_every_creating_or_updating_route(
    api: httpx.AsyncClient, deal_and_task: tuple[str, str]
) -> None:
    deal_id, task_id = deal_and_task
    alice = await login(api, "alice")
    dave = await login(api, "dave")
    admin = await login(api, "admin")
    valid_deal = deal_body()
    valid_policy = {"document": "version: 9\n"}
    routes: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("POST", "/api/v1/quotes/price", alice, valid_deal),
        ("POST", "/api/v1/deals", alice, valid_deal),
        ("PUT", f"/api/v1/deals/{deal_id}", alice, valid_deal),
        ("POST", f"/api/v1/deals/{deal_id}/withdraw", alice, {"reason": "x"}),
        ("POST", f"/api/v1/deals/{deal_id}/send", alice, {"to": "a@b.example"}),
        ("POST", f"/api/v1/approvals/{task_id}/decision", dave, {"decision": "approve"}),
        ("POST", "/api/v1/delegations", admin, {"delegate": "frank"}),
        ("PUT", "/api/v1/catalog/products/NEW-1", admin, {"name": "New"}),
        ("POST", "/api/v1/policies/validate", admin, valid_policy),
        ("PUT", "/api/v1/policies", admin, valid_policy),
        ("PUT", "/api/v1/templates/proposal", admin, {"source": "x"}),
        ("POST", "/api/v1/templates/proposal/preview", admin, {"source": "x"}),
        ("PUT", "/api/v1/reports/quotas", admin, {"targets": []}),
    ]
    for method, path, headers, body in routes:
        response = await api.request(method, path, json=body | SMUGGLED, headers=headers)
        refused = _refused_fields(response)
        # A decision names the version it was made on: the one field here it does take.
        expected = set(SMUGGLED) - ({"version"} if path.endswith("/decision") else set())
        assert refused == expected, (method, path, response.text)
    # Nested models too: a line, a customer.
    nested = deal_body()
    nested["lines"][0]["owner_id"] = "bob"
    nested["customer"]["status"] = "approved"
    response = await api.post("/api/v1/quotes/price", json=nested, headers=alice)
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {("body", "lines", 0, "owner_id"), ("body", "customer", "status")} <= locs


@pytest.mark.parametrize("value", [12, 12.5, "NaN", "Infinity", "-Infinity", "1e999999", "1e3"])
async def test_money_and_quantities_only_as_bounded_decimal_strings(
    api: httpx.AsyncClient, value: Any
) -> None:
    alice = await login(api, "alice")
    for body in (deal_body(quantity=value), deal_body(discount_pct=value)):
        response = await api.post("/api/v1/quotes/price", json=body, headers=alice)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][:3] == ["body", "lines", 0]
    # Python's JSON parser reads these bare tokens as inf and nan: still a 422, whose echo of
    # the input is valid JSON.
    for token in ("1e999999", "-1e999999", "NaN", "Infinity"):
        raw = '{"lines": [{"sku": "PLAT-SEAT", "quantity": TOKEN}]}'.replace("TOKEN", token)
        response = await api.post(
            "/api/v1/quotes/price",
            content=raw,
            headers=alice | {"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][-1]["loc"] == ["body", "lines", 0, "quantity"]


@pytest.mark.parametrize("value", [28, "NaN", "Infinity", "1e999999", "-5", "1" * 50])
async def test_approval_limits_are_bounded_decimal_strings(
    api: httpx.AsyncClient, deal_and_task: tuple[str, str], value: Any
) -> None:
    _, task_id = deal_and_task
    dave = await login(api, "dave")
    response = await api.post(
        f"/api/v1/approvals/{task_id}/decision",
        json={"decision": "approve", "limits": {"max_line_discount_pct": value}},
        headers=dave,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "limits", "max_line_discount_pct"]


async def test_comments_over_4000_bytes_are_refused(
    api: httpx.AsyncClient, deal_and_task: tuple[str, str]
) -> None:
    deal_id, task_id = deal_and_task
    dave = await login(api, "dave")
    alice = await login(api, "alice")
    # 2,001 characters, 4,002 bytes: under a character limit, over the byte limit.
    long = "é" * 2001
    for path, headers, body in (
        (f"/api/v1/approvals/{task_id}/decision", dave, {"decision": "reject", "comment": long}),
        (f"/api/v1/deals/{deal_id}/withdraw", alice, {"reason": long}),
        (f"/api/v1/deals/{deal_id}/send", alice, {"to": "a@b.example", "message": long}),
    ):
        response = await api.post(path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["type"] == "comment_too_long"
    # Exactly 4,000 bytes is a comment.
    ok = await api.post(
        f"/api/v1/approvals/{task_id}/decision",
        json={"decision": "reject", "comment": "é" * 2000},
        headers=dave,
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=200", 200),
        ("limit=201", 422),
        ("limit=0", 422),
        (f"limit={10**30}", 422),
        ("offset=1000000", 200),
        (f"offset={10**30}", 422),
        ("offset=-1", 422),
        ("limit=abc", 422),
    ],
)
async def test_page_sizes_over_the_maximum_are_refused(
    api: httpx.AsyncClient, query: str, status: int
) -> None:
    for path, user in (("/api/v1/deals", "alice"), ("/api/v1/approvals", "dave")):
        response = await api.get(f"{path}?{query}", headers=await login(api, user))
        assert response.status_code == status, (path, response.text)
