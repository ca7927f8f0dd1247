"""Steps of the approval flow over HTTP, shared by the workflow tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.helpers import eventually


async def submit(api: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = await api.post("/api/v1/deals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    deal_id: str = response.json()["id"]
    return deal_id


async def deal(api: httpx.AsyncClient, headers: dict[str, str], deal_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/deals/{deal_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(
    api: httpx.AsyncClient, headers: dict[str, str], deal_id: str
) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/deals/{deal_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def open_tasks(
    api: httpx.AsyncClient, headers: dict[str, str], deal_id: str, *, version: int | None = None
) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/approvals", headers=headers)
    assert response.status_code == 200, response.text
    return [
        t
        for t in response.json()
        if t["deal_id"] == deal_id and (version is None or t["version"] == version)
    ]


async def wait_for_task(
    api: httpx.AsyncClient, headers: dict[str, str], deal_id: str, *, version: int = 1
) -> dict[str, Any]:
    tasks = await eventually(
        lambda: open_tasks(api, headers, deal_id, version=version), lambda ts: len(ts) == 1
    )
    return tasks[0]


async def wait_for_status(
    api: httpx.AsyncClient, headers: dict[str, str], deal_id: str, status: str
) -> dict[str, Any]:
    return await eventually(lambda: deal(api, headers, deal_id), lambda d: d["status"] == status)


async def decide(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    task_id: str,
    decision: str = "approve",
    comment: str = "",
    **extra: Any,
) -> httpx.Response:
    return await api.post(
        f"/api/v1/approvals/{task_id}/decision",
        json={"decision": decision, "comment": comment, **extra},
        headers=headers,
    )


async def send_proposal(
    api: httpx.AsyncClient, headers: dict[str, str], deal_id: str, to: str = "buyer@acme.example"
) -> dict[str, Any]:
    """Send the approved proposal; returns the answer, with `path` the customer's link path."""
    response = await api.post(
        f"/api/v1/deals/{deal_id}/send",
        json={"to": to, "message": "As discussed on Tuesday."},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["path"] = urlsplit(body["link"]).path
    return body


async def accept(api: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    form = {"name": "Wile E. Coyote", "title": "Head of Procurement", "email": "wile@acme.example"}
    return await api.post(f"{path}/accept", data=form | fields)


async def decline(api: httpx.AsyncClient, path: str, reason: str) -> httpx.Response:
    return await api.post(f"{path}/decline", data={"reason": reason})
