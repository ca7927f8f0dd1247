"""The authorization matrix, walked over HTTP: every route, every role, anonymous, two owners.

The expected answer of each call is worked out here from the matrix's rule and from who may
see which object (written out below, independently of api/access.py), so a route guarded
differently from what the table says, or a gate that lets the wrong caller through, fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.authorization import MATRIX, Gate, Owner, Rule, app_routes, check_matrix
from api.main import create_app
from dealdesk.settings import Settings
from store.db import SessionFactory, transaction
from store.tables import Delegation
from tests.helpers import deal_body, login
from tests.workflows.flow import accept, send_proposal, submit, wait_for_status, wait_for_task

# Not a valid body for any route: an allowed unsafe call stops at validation (422), after the
# gate has let it through, so walking the matrix changes nothing.
PROBE = {"__probe__": 1}


@dataclass(frozen=True)
class Caller:
    name: str | None  # None: anonymous
    roles: frozenset[str]


CALLERS = (
    Caller(None, frozenset()),
    Caller("alice", frozenset({"rep"})),  # owns deals A and W
    Caller("bob", frozenset({"rep"})),  # another rep, owns deal B
    Caller("dave", frozenset({"approver"})),  # holds the task on A; gave delegation D
    Caller("frank", frozenset({"approver"})),  # an approver with nothing of A's
    Caller("erin", frozenset({"finance"})),
    Caller("admin", frozenset({"admin", "approver"})),
)


@dataclass
class World:
    deal_a: str  # alice's, in approval, one task for dave
    deal_w: str  # alice's, won: it has a proposal and a contract
    deal_b: str  # bob's
    task: str
    delegation: int
    link: str  # the customer's link path of deal W


def sees(caller: str, deal: str, world: World) -> bool:
    """Who may see a deal, as the README states it: its owner, an approver holding one of its
    tasks, finance, admin."""
    owner = "bob" if deal == world.deal_b else "alice"
    return (
        caller == owner
        or caller in ("erin", "admin")
        or (caller == "dave" and deal == world.deal_a)
    )


def concrete(path: str, world: World) -> tuple[str, str | None]:
    """The URL to call for a path template, and the deal it names (if any)."""
    # Documents exist for the won deal only; everything else acts on the deal in approval.
    deal = (
        world.deal_w
        if ("proposal" in path or "contract" in path or "document" in path)
        else (world.deal_a)
    )
    url = (
        path.replace("{deal_id}", deal)
        .replace("{task_id}", world.task)
        .replace("{delegation_id}", str(world.delegation))
        .replace("{sku}", "PLAT-SEAT")
        .replace("{name}", "proposal")
        .replace("{kind}", "proposal")
        .replace("{path}", "app.js")
        .replace("/p/{token}", world.link)
    )
    return url, (deal if "{deal_id}" in path else None)


def expected(rule: Rule, caller: Caller, deal: str | None, world: World) -> str:
    """'login' (401 or the sign-in redirect), '403', '404' or 'ok' (anything else)."""
    if rule.gate in (Gate.PUBLIC, Gate.LINK, Gate.DOCS):
        return "ok"  # DOCS: development mode here; production is tested on its own
    if caller.name is None:
        return "login"
    if rule.roles and not rule.roles & caller.roles:
        return "403"
    name = caller.name
    if rule.owner in (Owner.DEAL_VISIBLE, Owner.DEAL_OWNER):
        assert deal is not None
        if not sees(name, deal, world):
            return "404"
        if rule.owner is Owner.DEAL_OWNER and name != "alice":
            return "403"
    if rule.owner is Owner.TASK_ASSIGNEE:
        if name == "alice":
            return "403"  # the submitter, whatever roles she holds
        if name != "dave":
            return "404"
    if rule.owner is Owner.DELEGATOR and name not in ("dave", "admin"):
        return "404"
    return "ok"


def outcome(response: httpx.Response, gate: Gate) -> str:
    if response.status_code == 401:
        return "login"
    # The sign-in redirect (signing out also lands on /login, without a `next`).
    location = response.headers.get("location", "")
    if gate is Gate.PAGE and response.status_code == 303 and location.startswith("/login?next="):
        return "login"
    if response.status_code in (403, 404):
        return str(response.status_code)
    return "ok"


async def build_world(api: httpx.AsyncClient, sessions: SessionFactory) -> World:
    alice = await login(api, "alice")
    bob = await login(api, "bob")
    dave = await login(api, "dave")
    deal_a = await submit(api, alice, deal_body(discount_pct="25", customer="Initech"))
    deal_w = await submit(api, alice, deal_body(customer="Acme Corp"))
    deal_b = await submit(api, bob, deal_body(customer="Globex"))
    task = await wait_for_task(api, dave, deal_a)
    await wait_for_status(api, alice, deal_w, "approved")
    sent = await send_proposal(api, alice, deal_w)
    assert (await accept(api, sent["path"])).status_code == 200
    await wait_for_status(api, alice, deal_w, "closed_won")
    return World(deal_a, deal_w, deal_b, task["id"], _delegation(sessions), sent["path"])


def _delegation(sessions: SessionFactory) -> int:
    """Dave's delegation to frank, (re)made before each call that may delete it."""
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        row = Delegation(
            delegator="dave",
            delegate="frank",
            starts_at=now + timedelta(days=30),
            ends_at=now + timedelta(days=31),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


async def call(
    api: httpx.AsyncClient,
    method: str,
    url: str,
    rule: Rule,
    credentials: dict[str, str] | None,
) -> httpx.Response:
    api.cookies.clear()
    headers: dict[str, str] = {}
    if credentials is not None and rule.gate is Gate.PAGE:
        # Pages take the session cookie (the same token), and unsafe posts the CSRF token.
        headers["Cookie"] = f"dealdesk_session={credentials['token']}; dealdesk_csrf={'c' * 43}"
        headers["X-CSRF-Token"] = "c" * 43
    elif credentials is not None:
        headers["Authorization"] = f"Bearer {credentials['token']}"
    if method == "POST" and url == "/login":
        headers["Cookie"] = f"dealdesk_csrf={'c' * 43}"
        headers["X-CSRF-Token"] = "c" * 43
    body: dict[str, Any] = {}
    if method in ("POST", "PUT"):
        body = {"json": PROBE}
    return await api.request(method, url, headers=headers, **body)


async def test_every_route_answers_every_caller_as_the_matrix_says(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    world = await build_world(api, seeded)
    tokens: dict[str, dict[str, str]] = {}
    for caller in CALLERS:
        if caller.name is not None:
            bearer = await login(api, caller.name)
            tokens[caller.name] = {"token": bearer["Authorization"].removeprefix("Bearer ")}

    wrong: list[str] = []
    calls = 0
    for (method, path), rule in MATRIX.items():
        for caller in CALLERS:
            if rule.owner is Owner.DELEGATOR:
                world.delegation = _delegation(seeded)
            url, deal = concrete(path, world)
            credentials = tokens[caller.name] if caller.name else None
            response = await call(api, method, url, rule, credentials)
            calls += 1
            want = expected(rule, caller, deal, world)
            got = outcome(response, rule.gate)
            if got != want:
                wrong.append(
                    f"{method} {path} as {caller.name or 'anonymous'}: expected {want}, "
                    f"got {response.status_code} {response.text[:120]!r}"
                )
    assert wrong == [], "\n".join(wrong)
    assert calls == len(MATRIX) * len(CALLERS)


def test_every_route_of_the_app_is_in_the_matrix(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, engine=engine, temporal=None)
    routes = {(method, path) for method, path, _ in app_routes(app)}
    assert routes - set(MATRIX) == set()
    # And nothing in the matrix is stale: every entry names a route the app has.
    assert set(MATRIX) - routes == set()


async def test_a_route_missing_from_the_matrix_fails_the_check_and_is_refused(
    settings: Settings, engine: Engine, seeded: SessionFactory
) -> None:
    app = create_app(settings, engine=engine, temporal=None)

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "served"}

    with pytest.raises(RuntimeError, match="forgotten"):
        check_matrix(app)
    # Served anyway (added after the check), the gate fails closed.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        admin = await login(client, "admin")
        response = await client.get("/api/v1/forgotten", headers=admin)
    assert response.status_code == 403
    assert "served" not in response.text


async def test_lists_and_pages_of_lists_hold_only_the_callers_rows(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    alice = await login(api, "alice")
    bob = await login(api, "bob")
    dave = await login(api, "dave")
    frank = await login(api, "frank")
    alices = {await submit(api, alice, deal_body(customer=f"Alice {i}")) for i in range(3)}
    bobs = {await submit(api, bob, deal_body(discount_pct="25", customer="Bob's"))}
    await wait_for_task(api, dave, next(iter(bobs)))

    for headers, own, other in ((alice, alices, bobs), (bob, bobs, alices)):
        listed = (await api.get("/api/v1/deals", headers=headers)).json()
        assert {d["id"] for d in listed} == own
        paged: list[str] = []
        for offset in range(0, 5):
            page = await api.get(f"/api/v1/deals?limit=1&offset={offset}", headers=headers)
            assert page.status_code == 200
            paged += [d["id"] for d in page.json()]
        assert sorted(paged) == sorted(own)
        assert not set(paged) & other
    # The web app's list, too.
    api.cookies.clear()
    page = await api.get(
        "/deals", headers={"Cookie": f"dealdesk_session={bob['Authorization'][7:]}"}
    )
    assert page.status_code == 200
    assert not any(deal_id in page.text for deal_id in alices)
    api.cookies.clear()
    # Queues: each approver's own tasks; a task frank does not hold is not in his.
    assert {t["deal_id"] for t in (await api.get("/api/v1/approvals", headers=dave)).json()} == (
        bobs
    )
    assert (await api.get("/api/v1/approvals", headers=frank)).json() == []
    # Exports (finance reports, CSV included) are not a rep's to read at all.
    for report in ("margins", "pipeline", "bookings"):
        refused = await api.get(f"/api/v1/reports/{report}?format=csv", headers=alice)
        assert refused.status_code == 403
