"""The admin page of users and delegation windows, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.helpers import login
from tests.pages.test_pages import sign_in


async def test_users_page_lists_users_roles_managers_and_windows(api: httpx.AsyncClient) -> None:
    dave = await login(api, "dave")
    now = datetime.now(UTC)
    for starts, ends in (
        (now - timedelta(hours=1), now + timedelta(days=1)),
        (now + timedelta(days=7), now + timedelta(days=9)),
    ):
        response = await api.post(
            "/api/v1/delegations",
            json={
                "delegate": "frank",
                "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(),
            },
            headers=dave,
        )
        assert response.status_code == 201, response.text
    await sign_in(api, "admin")
    page = await api.get("/admin/users")
    assert page.status_code == 200
    html = page.text
    assert '<tr data-username="alice">' in html
    assert "<td>rep</td><td>–</td><td>dave</td>" in html
    assert "sales_vp" in html
    # The open window can be ended, the upcoming one cancelled.
    assert 'data-state="open">End now (dave → frank)' in html
    assert 'data-state="upcoming">Cancel (dave → frank)' in html
    assert '<a href="/admin/users" aria-current="page">Users</a>' in html
