"""User administration and ending delegation windows, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers import login


def new_user(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": "grace",
        "full_name": "Grace Approver",
        "email": "grace@example.com",
        "roles": ["approver"],
        "approval_roles": ["sales_vp"],
        "manager": "frank",
        "password": "grace-long-password",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize("username", ["alice", "dave", "erin"])
async def test_only_admins_manage_users(api: httpx.AsyncClient, username: str) -> None:
    caller = await login(api, username)
    assert (await api.get("/api/v1/users", headers=caller)).status_code == 403
    created = await api.post("/api/v1/users", json=new_user(), headers=caller)
    assert created.status_code == 403
    changed = await api.patch("/api/v1/users/bob", json={"active": False}, headers=caller)
    assert changed.status_code == 403
    admin = await login(api, "admin")
    bob = [
        u for u in (await api.get("/api/v1/users", headers=admin)).json() if u["username"] == "bob"
    ]
    assert bob[0]["active"] is True


async def test_admin_creates_a_user_who_can_sign_in(api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin")
    created = await api.post("/api/v1/users", json=new_user(), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "username": "grace",
        "full_name": "Grace Approver",
        "email": "grace@example.com",
        "roles": ["approver"],
        "approval_roles": ["sales_vp"],
        "manager": "frank",
        "active": True,
    }
    assert "password" not in created.text
    grace = await login(api, "grace", "grace-long-password")
    me = (await api.get("/api/v1/auth/me", headers=grace)).json()
    assert me["approval_roles"] == ["sales_vp"]
    again = await api.post("/api/v1/users", json=new_user(), headers=admin)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (new_user(approval_roles=["cfo"], roles=["rep"]), "approval_roles", "approver"),
        (new_user(manager="nobody"), "manager", "no active user"),
        (new_user(manager="grace"), "manager", "own manager"),
        (new_user(password="short"), "password", "at least 12"),
        (new_user(email="not-an-address"), "email", "email"),
        (new_user(username="Has Space"), "username", "pattern"),
        (new_user(roles=["superuser"]), "roles", "rep"),
    ],
)
async def test_bad_user_input_is_a_422_at_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, words: str
) -> None:
    admin = await login(api, "admin")
    response = await api.post("/api/v1/users", json=body, headers=admin)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"][:2] == ["body", field]
    assert words in problem["msg"]


async def test_a_manager_loop_is_refused(api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin")
    # alice reports to dave: dave reporting to alice would escalate in a circle.
    response = await api.patch("/api/v1/users/dave", json={"manager": "alice"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "manager"]
    fine = await api.patch("/api/v1/users/dave", json={"manager": "frank"}, headers=admin)
    assert fine.status_code == 200, fine.text
    assert fine.json()["manager"] == "frank"
    cleared = await api.patch("/api/v1/users/dave", json={"manager": None}, headers=admin)
    assert cleared.json()["manager"] is None
    assert cleared.json()["approval_roles"] == ["sales_vp"]


async def test_a_disabled_user_is_locked_out_and_an_admin_cannot_disable_themselves(
    api: httpx.AsyncClient,
) -> None:
    admin = await login(api, "admin")
    bob = await login(api, "bob")
    response = await api.patch("/api/v1/users/bob", json={"active": False}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert (await api.get("/api/v1/auth/me", headers=bob)).status_code == 401
    refused = await api.post("/api/v1/auth/token", data={"username": "bob", "password": "bob-demo"})
    assert refused.status_code == 401
    self_lockout = await api.patch("/api/v1/users/admin", json={"active": False}, headers=admin)
    assert self_lockout.status_code == 422
    assert self_lockout.json()["detail"][0]["loc"] == ["body", "active"]
    demoted = await api.patch("/api/v1/users/admin", json={"roles": ["approver"]}, headers=admin)
    assert demoted.status_code == 422
    assert (await api.get("/api/v1/auth/me", headers=admin)).json()["roles"] == [
        "admin",
        "approver",
    ]


async def test_ending_a_delegation_window_keeps_it_on_record(api: httpx.AsyncClient) -> None:
    dave = await login(api, "dave")
    now = datetime.now(UTC)
    window = {
        "delegate": "frank",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(),
    }
    created = await api.post("/api/v1/delegations", json=window, headers=dave)
    assert created.status_code == 201, created.text
    window_id = created.json()["id"]
    frank = await login(api, "frank")
    assert (
        await api.post(f"/api/v1/delegations/{window_id}/end", headers=frank)
    ).status_code == 404
    ended = await api.post(f"/api/v1/delegations/{window_id}/end", headers=dave)
    assert ended.status_code == 200, ended.text
    ends_at = datetime.fromisoformat(ended.json()["ends_at"])
    assert now <= ends_at.replace(tzinfo=ends_at.tzinfo or UTC) <= datetime.now(UTC)
    listed = (await api.get("/api/v1/delegations", headers=dave)).json()
    assert [w["id"] for w in listed] == [window_id]
    again = await api.post(f"/api/v1/delegations/{window_id}/end", headers=dave)
    assert again.status_code == 409
