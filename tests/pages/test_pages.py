"""The web app over HTTP: sign-in, the session cookie and its CSRF rule, roles, the pages."""

from __future__ import annotations

import httpx
import pytest

from api.pages.finance import REPORTS
from tests.helpers import deal_body, login
from tests.workflows.flow import submit, wait_for_task


async def sign_in(api: httpx.AsyncClient, username: str) -> str:
    """Sign in through the form; returns the CSRF token the pages use."""
    page = await api.get("/login")
    assert page.status_code == 200
    csrf = api.cookies["dealdesk_csrf"]
    response = await api.post(
        "/login",
        data={"username": username, "password": f"{username}-demo", "csrf_token": csrf},
    )
    assert response.status_code == 303, response.text
    assert "dealdesk_session" in api.cookies
    # The CSRF token is rotated at sign-in.
    assert api.cookies["dealdesk_csrf"] != csrf
    return api.cookies["dealdesk_csrf"]


async def test_pages_redirect_to_login_when_signed_out(api: httpx.AsyncClient) -> None:
    response = await api.get("/deals")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/deals"


async def test_sign_in_lands_on_the_role_home_and_sign_out_clears_the_cookie(
    api: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(api, "alice")
    home = await api.get("/")
    assert home.headers["location"] == "/deals"
    page = await api.get("/deals")
    assert page.status_code == 200
    assert "My deals" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    out = await api.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert "dealdesk_session" not in api.cookies
    assert (await api.get("/deals")).status_code == 303


async def test_wrong_password_is_said_in_words(api: httpx.AsyncClient) -> None:
    await api.get("/login")
    response = await api.post(
        "/login",
        data={"username": "alice", "password": "nope", "csrf_token": api.cookies["dealdesk_csrf"]},
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert "dealdesk_session" not in api.cookies


async def test_login_without_csrf_token_is_refused(api: httpx.AsyncClient) -> None:
    await api.get("/login")
    response = await api.post("/login", data={"username": "alice", "password": "alice-demo"})
    assert response.status_code == 403
    assert "dealdesk_session" not in api.cookies


async def test_login_next_is_only_a_local_path(api: httpx.AsyncClient) -> None:
    await api.get("/login")
    response = await api.post(
        "/login",
        data={
            "username": "alice",
            "password": "alice-demo",
            "next": "//evil.example/x",
            "csrf_token": api.cookies["dealdesk_csrf"],
        },
    )
    assert response.headers["location"] == "/deals"


async def test_cookie_authenticated_api_calls_need_the_csrf_header(
    api: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(api, "alice")
    # Reads need no token.
    assert (await api.get("/api/v1/auth/me")).json()["username"] == "alice"
    body = deal_body(discount_pct="25")
    refused = await api.post("/api/v1/quotes/price", json=body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    wrong = await api.post("/api/v1/quotes/price", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    ok = await api.post("/api/v1/quotes/price", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["approvals"]["stages"][0]["role"] == "sales_vp"


async def test_bearer_calls_need_no_csrf_token(api: httpx.AsyncClient) -> None:
    token = await api.post(
        "/api/v1/auth/token", data={"username": "alice", "password": "alice-demo"}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    response = await api.post("/api/v1/quotes/price", json=deal_body(), headers=headers)
    assert response.status_code == 200


async def test_page_post_without_csrf_is_refused(api: httpx.AsyncClient) -> None:
    await sign_in(api, "alice")
    response = await api.post("/logout")
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert "dealdesk_session" in api.cookies


@pytest.mark.parametrize(
    "path", ["/admin/policy", "/admin/templates", "/admin/catalog", "/admin/users", "/inbox"]
)
async def test_a_rep_gets_a_403_page_for_other_roles_pages(
    api: httpx.AsyncClient, path: str
) -> None:
    await sign_in(api, "alice")
    response = await api.get(path)
    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_another_reps_deal_is_not_found(api: httpx.AsyncClient) -> None:
    await sign_in(api, "bob")
    token = await api.post(
        "/api/v1/auth/token", data={"username": "alice", "password": "alice-demo"}
    )
    alice = {"Authorization": f"Bearer {token.json()['access_token']}"}
    deal_id = await submit(api, alice, deal_body(customer="Alice Only"))
    response = await api.get(f"/deals/{deal_id}")
    assert response.status_code == 404
    assert "Alice Only" not in response.text
    assert (await api.get(f"/deals/{deal_id}/document/proposal")).status_code == 404
    assert "Alice Only" not in (await api.get("/deals")).text


async def test_deal_page_inbox_and_admin_pages_render(api: httpx.AsyncClient) -> None:
    token = await api.post(
        "/api/v1/auth/token", data={"username": "alice", "password": "alice-demo"}
    )
    alice = {"Authorization": f"Bearer {token.json()['access_token']}"}
    token = await api.post("/api/v1/auth/token", data={"username": "dave", "password": "dave-demo"})
    dave = {"Authorization": f"Bearer {token.json()['access_token']}"}
    deal_id = await submit(api, alice, deal_body(customer="Globex", discount_pct="25"))
    await wait_for_task(api, dave, deal_id)

    await sign_in(api, "alice")
    page = await api.get(f"/deals/{deal_id}")
    assert page.status_code == 200
    assert "needs sales VP approval because Largest line discount 25% is over 20%" in page.text
    listing = (await api.get("/deals")).text
    assert "Globex" in listing
    # Waiting on whom: the open task's assignee and role, on the deal's row only.
    globex_row = next(r for r in listing.split("<tr") if "Globex" in r)
    assert "dave (sales VP)" in globex_row
    assert listing.count("dave (sales VP)") == 1
    form = await api.get(f"/deals/{deal_id}/edit")
    assert form.status_code == 200
    assert "Globex" in form.text

    api.cookies.clear()
    await sign_in(api, "dave")
    inbox = await api.get("/inbox")
    assert inbox.status_code == 200
    assert "Globex" in inbox.text
    assert "Largest line discount 25% is over 20%" in inbox.text

    api.cookies.clear()
    csrf = await sign_in(api, "admin")
    for path in ("/admin/policy", "/admin/templates?name=contract", "/admin/catalog"):
        assert (await api.get(path)).status_code == 200, path
    policy = (await api.get("/api/v1/policies/active")).json()["document"]
    draft = policy.replace("max_line_discount_pct > 20", "max_line_discount_pct > 30", 1)
    run = await api.post(
        "/admin/policy/dry-run",
        json={"document": draft, "deal_id": deal_id},
        headers={"X-CSRF-Token": csrf},
    )
    assert run.status_code == 200, run.text
    assert run.json()["draft"]["standard_offer"] is True
    assert run.json()["active"]["stages"][0]["role"] == "sales VP"
    broken = policy.replace("max_line_discount_pct > 20", "max_line_discount > 20", 1)
    run = await api.post(
        "/admin/policy/dry-run",
        json={"document": broken, "deal_id": deal_id},
        headers={"X-CSRF-Token": csrf},
    )
    assert run.json()["valid"] is False
    assert run.json()["errors"][0]["rule_id"] == "line-discount-over-20"


async def test_finance_dashboard_reads_every_report_it_shows(api: httpx.AsyncClient) -> None:
    await sign_in(api, "alice")
    assert (await api.get("/finance")).status_code == 403
    api.cookies.clear()
    await sign_in(api, "erin")
    assert (await api.get("/")).headers["location"] == "/finance"
    page = await api.get("/finance")
    assert page.status_code == 200
    for path, _, group_by in REPORTS:
        params = {"group_by": group_by} if group_by else {}
        response = await api.get(f"/api/v1/reports/{path}", params=params)
        assert response.status_code == 200, (path, response.text)
        assert f'data-report="{path}"' in page.text


async def test_every_report_the_finance_page_asks_for_is_valid(api: httpx.AsyncClient) -> None:
    erin = await login(api, "erin")
    for path, _title, group_by in REPORTS:
        params = {"group_by": group_by} if group_by else {}
        response = await api.get(f"/api/v1/reports/{path}", params=params, headers=erin)
        assert response.status_code == 200, (path, group_by, response.text)
