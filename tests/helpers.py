"""Small builders and polling helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from api.security import hash_password
from store import users
from store.db import SessionFactory, transaction

T = TypeVar("T")


async def login(
    api: httpx.AsyncClient, username: str, password: str | None = None
) -> dict[str, str]:
    response = await api.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password or f"{username}-demo"},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    within: float = 15.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `check` holds; fail with the last value seen."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(interval)


def add_user(
    sessions: SessionFactory,
    username: str,
    *,
    roles: list[str],
    approval_roles: list[str] = [],  # noqa: B006 (never mutated)
    manager: str | None = None,
) -> None:
    """A user beyond the demo set, with password `<username>-demo`."""
    with transaction(sessions) as session:
        users.upsert_user(
            session,
            username=username,
            full_name=username.title(),
            email=f"{username}@example.com",
            roles=roles,
            approval_roles=approval_roles,
            manager=manager,
            password_hash=hash_password(f"{username}-demo"),
        )


def deal_body(
    *,
    quantity: str | int = "10",  # an int is invalid input, for the tests that send one
    discount_pct: str | None = None,
    customer: str = "Acme Corp",
    new_customer: bool = False,
    credit_rating: str = "A",
    **overrides: Any,
) -> dict[str, Any]:
    """A one-line deal on the demo catalog's PLAT-SEAT (120/month list, 18 cost)."""
    line: dict[str, Any] = {"sku": "PLAT-SEAT", "quantity": quantity}
    if discount_pct is not None:
        line["discount_pct"] = discount_pct
    body: dict[str, Any] = {
        "currency": "USD",
        "term_months": 12,
        "start_date": "2027-01-01",
        "billing_frequency": "annual",
        "payment_terms_days": 30,
        "customer": {
            "name": customer,
            "segment": "enterprise",
            "region": "NA",
            "new_customer": new_customer,
            "credit_rating": credit_rating,
        },
        "lines": [line],
    }
    body.update(overrides)
    return body
