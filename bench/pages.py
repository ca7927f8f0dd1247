"""Server time of every web page at demo data size.

    .venv/bin/python bench/pages.py [--deals 60] [--repeat 30]

Starts a Temporal dev server (in memory), a fresh SQLite database with the demo data, and the
worker and the app in this process. alice and bob submit --deals deals through the API (one in
three discounted 25%, which routes it to dave; one in four with a custom usage line), dave
approves half of his tasks, alice sends one proposal. Then each page is fetched --repeat times
in process (httpx over ASGI: the app's whole work for the request, no network) by the user it
is for, and the median, 95th percentile and slowest times are printed against the 300 ms bar.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Python puts this script's folder first on sys.path, where bench/pricing.py would shadow the
# pricing package; the repository root instead makes the app's packages importable.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from api.main import create_app  # noqa: E402
from dealdesk.devserver import temporal_binary  # noqa: E402
from dealdesk.seed import seed_demo  # noqa: E402
from dealdesk.settings import Settings  # noqa: E402
from dealdesk.worker import build_worker  # noqa: E402
from store import migrate  # noqa: E402
from store.db import make_engine, session_factory  # noqa: E402

BAR_MS = 300


def deal(number: int) -> dict[str, Any]:
    line: dict[str, Any] = {"sku": "PLAT-SEAT", "quantity": str(10 + number % 40)}
    if number % 3 == 0:
        line["discount_pct"] = "25"
    lines = [line]
    if number % 4 == 0:
        lines.append(
            {
                "name": "API calls",
                "quantity": "1",
                "charges": [
                    {
                        "type": "usage",
                        "model": "graduated",
                        "tiers": [
                            {"up_to": "1000", "unit_price": "0"},
                            {"up_to": None, "unit_price": "0.002"},
                        ],
                        "estimated_quantity": "25000",
                        "unit_cost": "0.0005",
                    }
                ],
            }
        )
    return {
        "currency": "USD",
        "term_months": 12 + 12 * (number % 3),
        "start_date": "2027-01-01",
        "billing_frequency": "annual",
        "payment_terms_days": 30,
        "customer": {
            "name": f"Customer {number:03d}",
            "segment": ["smb", "mid_market", "enterprise"][number % 3],
            "region": "NA",
            "new_customer": number % 2 == 0,
            "credit_rating": "A",
        },
        "lines": lines,
    }


async def signed_in(app: Any, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": username,
            "password": f"{username}-demo",
            "csrf_token": client.cookies["dealdesk_csrf"],
        },
    )
    assert response.status_code == 303, response.text
    return client


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["dealdesk_csrf"]}


async def wait_for(probe: Any, *, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit("the deals did not reach the approvers in time")
        await asyncio.sleep(0.2)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None, data_dir=Path(folder), temporal_task_queue=f"bench-{uuid.uuid4()}"
        )
        engine = make_engine(f"sqlite:///{Path(folder) / 'pages.db'}")
        migrate.upgrade(engine)
        sessions = session_factory(engine)
        seed_demo(sessions)
        worker = build_worker(env.client, settings=settings, sessions=sessions, threads=4)
        app = create_app(settings, engine=engine, temporal=env.client)
        async with worker:
            clients = {
                u: await signed_in(app, u) for u in ("alice", "bob", "dave", "erin", "admin")
            }
            ids: list[str] = []
            for number in range(args.deals):
                rep = clients["alice" if number % 2 == 0 else "bob"]
                response = await rep.post("/api/v1/deals", json=deal(number), headers=csrf(rep))
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            dave = clients["dave"]
            routed = len(range(0, args.deals, 3))

            async def dave_tasks() -> list[dict[str, Any]]:
                response = await dave.get("/api/v1/approvals", params={"status": "open"})
                tasks: list[dict[str, Any]] = response.json()
                return tasks if len(tasks) >= routed else []

            tasks = await wait_for(dave_tasks)
            for task in tasks[: len(tasks) // 2]:
                response = await dave.post(
                    f"/api/v1/approvals/{task['id']}/decision",
                    json={"decision": "approve", "comment": "", "version": task["version"]},
                    headers=csrf(dave),
                )
                assert response.status_code == 200, response.text
            alice = clients["alice"]

            async def an_approved_deal() -> str:
                # Deals without a discount are standard offers, approved at once.
                mine: list[dict[str, Any]] = (await alice.get("/api/v1/deals")).json()
                return next((d["id"] for d in mine if d["status"] == "approved"), "")

            approved = await wait_for(an_approved_deal)
            sent = await alice.post(
                f"/api/v1/deals/{approved}/send",
                json={"to": "buyer@example.com"},
                headers=csrf(alice),
            )
            assert sent.status_code == 200, sent.text
            customer_link = httpx.URL(sent.json()["link"]).path

            pages = [
                ("alice", "/deals"),
                ("alice", "/deals/new"),
                ("alice", f"/deals/{approved}"),
                ("alice", f"/deals/{ids[0]}/edit"),
                ("dave", "/inbox"),
                ("erin", "/finance"),
                ("admin", "/deals"),
                ("admin", "/admin/policy"),
                ("admin", "/admin/templates"),
                ("admin", "/admin/catalog"),
                ("admin", "/admin/users"),
                ("customer", customer_link),
                ("nobody", "/login"),
            ]
            anonymous = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            )
            print(
                f"{args.deals} deals, {len(tasks)} routed to dave ({len(tasks) // 2} approved), "
                f"SQLite; {args.repeat} runs per page after 3 warm-ups"
            )
            print(f"{'page':<52} {'user':<9} {'median':>8} {'p95':>8} {'max':>8}")
            for user, path in pages:
                client = clients.get(user, anonymous)
                for _ in range(3):
                    assert (await client.get(path)).status_code == 200, path
                samples = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    response = await client.get(path)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                samples.sort()
                p95 = samples[int(0.95 * (len(samples) - 1))]
                flag = "" if samples[-1] <= BAR_MS else f"  over {BAR_MS} ms"
                shown = path if len(path) <= 50 else path[:47] + "..."
                print(
                    f"{shown:<52} {user:<9} {statistics.median(samples):>6.1f}ms "
                    f"{p95:>6.1f}ms {samples[-1]:>6.1f}ms{flag}"
                )
            await anonymous.aclose()
            for client in clients.values():
                await client.aclose()
        engine.dispose()
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
