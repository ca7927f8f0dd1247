"""Pricing throughput, in-process, on one core.

    .venv/bin/python bench/pricing.py [--n 3000] [--json]

Prices a 20-line, 36-month deal that uses every charge model (one-time, recurring by month,
quarter and year with a ramp, usage per unit, graduated, volume and package with free units and
minimum commitments, line percent and amount discounts, a header discount) and prints deals per
second and the mean, median and 95th percentile microseconds per deal. In the same run it
measures two baselines: validating the deal's JSON body alone (what any request pays before
pricing starts), and the same figures computed month by month in a naive loop (checked equal
to price_deal's), which is what the closed forms save.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

# This script is named like the package it measures, and Python puts the script's folder first
# on sys.path; drop it so `import pricing` finds the package rather than this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
# The repository root instead: the app's packages and bench.timing.
sys.path.insert(0, str(_HERE.parent))

from bench.timing import pin_to_one_core, timed  # noqa: E402
from pricing import (  # noqa: E402
    DealInput,
    OneTimeCharge,
    PricedDeal,
    Product,
    RecurringCharge,
    UsageCharge,
    demo_catalog,
    price_deal,
    round_money,
)
from pricing.money import HUNDRED, PRICING_CONTEXT  # noqa: E402
from pricing.strategies import STRATEGIES, UsageStrategy, charge_model  # noqa: E402

TERM_MONTHS = 36


def _custom(name: str, charge: dict[str, Any], **line: Any) -> dict[str, Any]:
    return {"name": name, "quantity": line.pop("quantity", "1"), "charges": [charge], **line}


def twenty_line_deal_json() -> str:
    """The request body: 9 catalog lines (every demo product) and 11 custom lines."""
    skus = [product.sku for product in demo_catalog()]
    lines: list[dict[str, Any]] = [
        {"sku": sku, "quantity": str(5 + 3 * i), "discount_pct": str(2 * i)}
        for i, sku in enumerate(skus)
    ]
    lines[1] = {"sku": skus[1], "quantity": "2", "discount_amount": "3000"}
    ramp = [{"from_month": 13, "unit_price": "55"}, {"from_month": 25, "unit_price": "60"}]
    tiers = [
        {"up_to": "10000", "unit_price": "0.02", "flat_fee": "25"},
        {"up_to": "250000", "unit_price": "0.015"},
        {"up_to": None, "unit_price": "0.01", "flat_fee": "100"},
    ]
    usage = {"type": "usage", "unit_cost": "0.002"}
    lines += [
        _custom("Migration", {"type": "one_time", "unit_price": "35000", "unit_cost": "21000"}),
        _custom("Training days", {"type": "one_time", "unit_price": "2400"}, quantity="6"),
        _custom(
            "Ramped licence",
            {"type": "recurring", "unit_price": "50", "unit_cost": "9", "ramp": ramp},
            quantity="250",
            discount_pct="12.5",
        ),
        _custom(
            "Quarterly audit",
            {"type": "recurring", "period": "quarter", "unit_price": "4500", "unit_cost": "1500"},
        ),
        _custom(
            "Annual hosting",
            {"type": "recurring", "period": "year", "unit_price": "60000", "unit_cost": "38000"},
            discount_amount="15000",
        ),
        _custom(
            "Webhooks",
            usage | {"model": "per_unit", "unit_price": "0.0004", "estimated_quantity": "900000"},
        ),
        _custom(
            "Transcoding minutes",
            usage
            | {
                "model": "graduated",
                "tiers": tiers,
                "estimated_quantity": "320000",
                "free_units": "1000",
                "minimum_commitment": "1500",
            },
        ),
        _custom(
            "Verified emails",
            usage | {"model": "volume", "tiers": tiers, "estimated_quantity": "120000"},
            discount_pct="20",
        ),
        _custom(
            "Geocoding",
            usage
            | {
                "model": "package",
                "package_size": "50000",
                "package_price": "120",
                "estimated_quantity": "730000",
                "minimum_commitment": "2000",
            },
        ),
        _custom(
            "Sandbox seats",
            {"type": "recurring", "unit_price": "0"},
            quantity="20",
        ),
        _custom(
            "Premium routing",
            usage
            | {
                "model": "per_unit",
                "unit_price": "0.05",
                "estimated_quantity": "40",
                "free_units": "100",
            },
        ),
    ]
    assert len(lines) == 20
    return json.dumps(
        {
            "currency": "USD",
            "term_months": TERM_MONTHS,
            "start_date": "2027-01-01",
            "billing_frequency": "annual",
            "payment_terms_days": 45,
            "customer": {
                "name": "Bench Corp",
                "segment": "enterprise",
                "region": "EMEA",
                "new_customer": False,
                "credit_rating": "A",
            },
            "header_discount_pct": "4",
            "nonstandard_terms": ["Net 45 payment terms"],
            "competitor": {"name": "OtherCo", "price": "2500000"},
            "lines": lines,
        }
    )


def naive_monthly_totals(deal: DealInput, catalog: Mapping[str, Product]) -> dict[str, Decimal]:
    """The deal's exact totals the slow way: every charge of every line, month by month."""
    one_time = mrr = recurring = committed = estimated = list_total = cost = Decimal(0)
    header_keep = 1 - deal.header_discount_pct / HUNDRED
    with localcontext(PRICING_CONTEXT):
        for line in deal.lines:
            charges = line.charges if line.sku is None else catalog[line.sku].charges
            assert charges is not None
            # list value first, month by month, for a discount amount's percent
            line_list = Decimal(0)
            monthly_rows: list[tuple[Any, list[Decimal]]] = []
            for charge in charges:
                per_month = _naive_list_months(charge, line.quantity, deal.term_months)
                monthly_rows.append((charge, per_month))
                if isinstance(charge, UsageCharge):
                    line_list += sum(max(m, charge.minimum_commitment) for m in per_month)
                else:
                    line_list += sum(per_month)
            if line.discount_pct is not None:
                line_keep = 1 - line.discount_pct / HUNDRED
            elif line.discount_amount:
                line_keep = 1 - line.discount_amount / line_list
            else:
                line_keep = Decimal(1)
            keep = line_keep * header_keep
            list_total += line_list
            for charge, per_month in monthly_rows:
                for month, amount in enumerate(per_month, start=1):
                    if isinstance(charge, OneTimeCharge):
                        one_time += amount * keep
                        cost += charge.unit_cost * line.quantity if month == 1 else 0
                    elif isinstance(charge, RecurringCharge):
                        recurring += amount * keep
                        mrr += amount * keep if month == 1 else 0
                        cost += charge.unit_cost * line.quantity / charge.period.months
                    else:
                        assert isinstance(charge, UsageCharge)
                        estimated += max(amount * keep, charge.minimum_commitment)
                        committed += charge.minimum_commitment
                        cost += charge.unit_cost * charge.estimated_quantity
    return {
        "one_time": one_time,
        "mrr": mrr,
        "recurring_tcv": recurring,
        "usage_committed_tcv": committed,
        "usage_estimated_tcv": estimated,
        "list_tcv_estimated": list_total,
        "cost_tcv_estimated": cost,
    }


def _naive_list_months(charge: Any, quantity: Decimal, term: int) -> list[Decimal]:
    months: list[Decimal] = []
    for month in range(1, term + 1):
        if isinstance(charge, OneTimeCharge):
            months.append(charge.unit_price * quantity if month == 1 else Decimal(0))
        elif isinstance(charge, RecurringCharge):
            price = charge.unit_price
            for step in charge.ramp:
                if step.from_month <= month:
                    price = step.unit_price
            months.append(price * quantity / charge.period.months)
        else:
            billable = max(charge.estimated_quantity - charge.free_units, Decimal(0))
            strategy = STRATEGIES[charge_model(charge)]
            assert isinstance(strategy, UsageStrategy)
            rated = strategy.rate_month(charge, billable, "USD").amount if billable else Decimal(0)
            months.append(rated)
    return months


def _timed(run: Callable[[], object], n: int) -> dict[str, float]:
    return timed(run, n, warmup=max(20, n // 20), unit="us")


def _check_naive(priced: PricedDeal, naive: dict[str, Decimal]) -> None:
    for name, exact in naive.items():
        reported = getattr(priced.totals, name)
        assert round_money(exact, priced.currency) == reported, (name, exact, reported)


def bench_inprocess(n: int) -> dict[str, Any]:
    """Time pricing of the 20-line deal ``n`` times, with its two baselines."""
    body = twenty_line_deal_json()
    deal = DealInput.model_validate_json(body)
    catalog = {product.sku: product for product in demo_catalog()}
    priced = price_deal(deal, catalog)
    _check_naive(priced, naive_monthly_totals(deal, catalog))
    gc.collect()
    return {
        "deal": {"lines": len(deal.lines), "term_months": deal.term_months},
        "price_deal": _timed(lambda: price_deal(deal, catalog), n),
        "validate_json": _timed(lambda: DealInput.model_validate_json(body), n),
        "validate_and_price": _timed(
            lambda: price_deal(DealInput.model_validate_json(body), catalog), n
        ),
        "naive_monthly": _timed(lambda: naive_monthly_totals(deal, catalog), max(n // 10, 50)),
    }


def bench_http(n: int) -> dict[str, Any]:
    """Time POST /api/v1/quotes/price over real HTTP (uvicorn on loopback, the real app, a
    seeded SQLite database, a real Temporal dev server), with GET /healthz as the floor."""
    import asyncio
    import socket
    import tempfile
    import threading

    import httpx
    import uvicorn
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from api.main import create_app
    from dealdesk.devserver import temporal_binary
    from dealdesk.seed import seed_demo
    from dealdesk.settings import Settings
    from store.db import create_schema, make_engine, session_factory

    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        create_schema(engine)
        seed_demo(session_factory(engine))
        settings = Settings(_env_file=None, data_dir=Path(tmp), api_port=port)
        loop = asyncio.new_event_loop()
        env = loop.run_until_complete(
            WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter
            )
        )
        app = create_app(settings, engine=engine, temporal=env.client)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=10) as client:
                token = client.post(
                    "/api/v1/auth/token", data={"username": "alice", "password": "alice-demo"}
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                body = twenty_line_deal_json()

                def quote() -> None:
                    response = client.post("/api/v1/quotes/price", content=body, headers=headers)
                    assert response.status_code == 200, response.text

                def health() -> None:
                    assert client.get("/healthz").status_code == 200

                return {
                    "quote_http": _timed(quote, n),
                    "healthz_http": _timed(health, n),
                }
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            loop.run_until_complete(env.shutdown())
            loop.close()
            engine.dispose()


def _row(name: str, stats: dict[str, float]) -> str:
    return (
        f"{name:<44} {stats['per_second']:>10,.0f} {stats['mean_us']:>10.1f}"
        f" {stats['median_us']:>10.1f} {stats['p95_us']:>10.1f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=3000, help="deals priced per measurement")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--http-n", type=int, default=500, help="requests per HTTP measurement")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurement")
    args = parser.parse_args(argv)
    # The HTTP run needs both cores (client and server); measure it before pinning.
    http = None if args.no_http else bench_http(args.http_n)
    pinned = pin_to_one_core()
    results = bench_inprocess(args.n)
    if http is not None:
        results["http"] = http
    if args.json:
        print(json.dumps(results, indent=2))
        return
    deal = results["deal"]
    print(
        f"pricing/ in-process, {deal['lines']}-line deal over {deal['term_months']} months,"
        f" every charge model; Python {sys.version.split()[0]}, {pinned}"
    )
    print(f"{'':<44} {'per second':>10} {'mean us':>10} {'median us':>10} {'p95 us':>10}")
    print(_row("price_deal (validated DealInput)", results["price_deal"]))
    print(_row("baseline: DealInput.model_validate_json only", results["validate_json"]))
    print(_row("validate JSON + price_deal", results["validate_and_price"]))
    print(_row("baseline: same totals, month by month", results["naive_monthly"]))
    if http is not None:
        print()
        print("over HTTP (uvicorn on 127.0.0.1, SQLite, sequential requests, keep-alive)")
        print(_row("POST /api/v1/quotes/price (with approvals)", http["quote_http"]))
        print(_row("baseline: GET /healthz", http["healthz_http"]))


if __name__ == "__main__":
    main()
