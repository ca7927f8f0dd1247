"""Policy evaluation throughput, in-process.

    .venv/bin/python bench/policies.py [--seconds 1.0]

Prints evaluations per second and mean microseconds for the default policy and for a generated
200-rule policy, on the facts of a priced 20-line deal, next to two baselines measured in the
same run: building the facts alone, and the default policy's thresholds written as plain
Python comparisons (the floor any rule engine is measured against).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

# This script is named like the package it measures, and Python puts the script's folder first
# on sys.path; drop it so `import policies` finds the package rather than this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from policies import (  # noqa: E402
    DealFacts,
    Directory,
    DirectoryUser,
    default_policy,
    evaluate,
    evaluate_facts,
    facts_for,
    load_policy,
)
from pricing import DealInput, PricedDeal, demo_catalog, price_deal  # noqa: E402

AT = datetime(2027, 3, 1, tzinfo=UTC)
ROLES = ["finance", "sales_vp", "cfo", "legal", "deal_desk"]


def twenty_line_deal() -> tuple[DealInput, PricedDeal]:
    skus = [p.sku for p in demo_catalog() if not p.charges or p.charges[0].type != "usage"]
    lines: list[dict[str, Any]] = []
    for i in range(20):
        if i % 5 == 4:
            lines.append(
                {
                    "name": f"Custom service {i}",
                    "quantity": "1",
                    "charges": [{"type": "one_time", "unit_price": "12000", "unit_cost": "7000"}],
                }
            )
        else:
            lines.append(
                {"sku": skus[i % len(skus)], "quantity": str(10 + i), "discount_pct": str(i * 2)}
            )
    deal = DealInput.model_validate(
        {
            "currency": "USD",
            "term_months": 36,
            "start_date": "2027-01-01",
            "billing_frequency": "annual",
            "payment_terms_days": 75,
            "customer": {
                "name": "Bench Corp",
                "segment": "enterprise",
                "region": "NA",
                "new_customer": True,
                "credit_rating": "BB",
            },
            "nonstandard_terms": ["Net 75 payment terms"],
            "competitor": {"name": "OtherCo"},
            "lines": lines,
        }
    )
    return deal, price_deal(deal, {p.sku: p for p in demo_catalog()})


def demo_directory() -> Directory:
    return Directory(
        users=[
            DirectoryUser(username="alice", manager="dave"),
            DirectoryUser(username="carol", approval_roles=["finance"], manager="frank"),
            DirectoryUser(username="erin", approval_roles=["finance"], manager="frank"),
            DirectoryUser(username="dave", approval_roles=["sales_vp"], manager="frank"),
            DirectoryUser(username="frank", approval_roles=["cfo"]),
            DirectoryUser(username="admin", approval_roles=["deal_desk"]),
        ]
    )


def generated_policy_text(rules: int, seed: int = 4) -> str:
    """`rules` rules over the numeric and flag facts, thresholds spread so that roughly a
    third fire on the bench deal, across five roles and four stages."""
    rng = random.Random(seed)
    numeric = {
        "gross_margin_pct": (0, 90, "<"),
        "discount_pct": (0, 60, ">"),
        "max_line_discount_pct": (0, 60, ">"),
        "tcv": (0, 5_000_000, ">"),
        "acv": (0, 2_000_000, ">"),
        "term_months": (1, 120, ">"),
        "payment_terms_days": (0, 180, ">"),
        "usage_share_pct": (0, 100, ">"),
        "custom_lines": (0, 10, ">"),
    }
    out = []
    for i in range(rules):
        name, (low, high, op) = rng.choice(list(numeric.items()))
        threshold = rng.randint(low, high)
        when = f"{name} {op} {threshold}"
        if i % 3 == 0:
            when += rng.choice(
                [" and new_customer", " or has_nonstandard_terms", " and segment == 'enterprise'"]
            )
        mode: Any = rng.choice(["all", "any", {"quorum": 2}])
        out.append(
            {
                "id": f"rule-{i:03d}",
                "description": f"generated rule {i}",
                "when": when,
                "stage": rng.randint(1, 4),
                "role": rng.choice(ROLES),
                "mode": mode,
                "reason": f"{name} is {{{name}}}",
            }
        )
    document = {
        "version": 1,
        "roles": {r: r for r in ROLES},
        "risk": yaml.safe_load(default_policy().document)["risk"],
        "rules": out,
    }
    return yaml.safe_dump(document, sort_keys=False)


def plain_python_default(f: DealFacts) -> list[str]:
    """The default policy's thresholds as hand-written comparisons (no risk, no plan)."""
    fired = []
    if f.gross_margin_pct < 35:
        fired.append("margin-below-35")
    if f.gross_margin_pct < 20:
        fired.append("margin-below-20")
    if f.max_line_discount_pct > 20:
        fired.append("line-discount-over-20")
    if f.max_line_discount_pct > 40:
        fired.append("line-discount-over-40")
    if f.tcv > 1_000_000:
        fired.append("tcv-over-1m")
    if f.payment_terms_days > 60:
        fired += ["payment-terms-legal", "payment-terms-finance"]
    if f.has_nonstandard_terms:
        fired += ["nonstandard-terms-legal", "nonstandard-terms-finance"]
    if f.custom_lines > 0:
        fired.append("custom-lines")
    if f.lines_below_floor > 0:
        fired.append("below-floor")
    if f.risk_score >= 60:
        fired.append("high-risk")
    if f.discount_pct > 30 and not f.competitor_named:
        fired.append("discount-without-competitor")
    return fired


def measure(fn: Callable[[], object], seconds: float) -> float:
    """Mean seconds per call: the median of five timed batches sized to `seconds` in all."""
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        fn()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    batch = max(1, int(seconds / 5 / per_call))
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t0) / batch)
    return statistics.median(samples)


def row(label: str, mean: float, baseline: float | None = None) -> str:
    ratio = f"{mean / baseline:8.1f}x" if baseline else " " * 9
    return f"{label:<52} {1 / mean:>12,.0f}/s {mean * 1e6:>10.1f} µs {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()

    deal, priced = twenty_line_deal()
    directory = demo_directory()
    default = default_policy()
    big_text = generated_policy_text(200)
    t0 = time.perf_counter()
    big = load_policy(big_text)
    big_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_policy(default.document + "\n# recompiled, not cached\n")
    default_load = time.perf_counter() - t0

    facts = facts_for(deal, priced)
    scored = evaluate_facts(
        facts=facts, policy=default, directory=directory, submitter="alice", at=AT
    )
    big_plan = evaluate_facts(
        facts=facts, policy=big, directory=directory, submitter="alice", at=AT
    )

    def run_default() -> object:
        return evaluate_facts(
            facts=facts, policy=default, directory=directory, submitter="alice", at=AT
        )

    def run_default_full() -> object:
        return evaluate(
            deal=deal, priced=priced, policy=default, directory=directory, submitter="alice", at=AT
        )

    def run_big() -> object:
        return evaluate_facts(
            facts=facts, policy=big, directory=directory, submitter="alice", at=AT
        )

    seconds = args.seconds
    build_facts = measure(lambda: facts_for(deal, priced), seconds)
    plain = measure(lambda: plain_python_default(scored.facts), seconds)
    default_mean = measure(run_default, seconds)
    full_mean = measure(run_default_full, seconds)
    big_mean = measure(run_big, seconds)

    fired_default = sum(len(s.reasons) for s in scored.stages) + len(scored.violations)
    fired_big = sum(len(s.reasons) for s in big_plan.stages)
    print(f"deal: {len(priced.lines)} lines, TCV {priced.totals.tcv}, risk {scored.risk.score}")
    print(
        f"default policy: {len(default.rules)} rules, {fired_default} fire, "
        f"{len(scored.stages)} stages; compiled in {default_load * 1e3:.1f} ms"
    )
    print(
        f"generated policy: {len(big.rules)} rules, {fired_big} fire, "
        f"{len(big_plan.stages)} stages; compiled in {big_load * 1e3:.1f} ms"
    )
    print()
    print(f"{'':<52} {'evaluations':>14} {'mean':>13} {'vs facts':>9}")
    print(row("baseline: facts_for (20 lines) alone", build_facts))
    print(row("baseline: default thresholds as plain Python", plain))
    print(row("default policy, evaluate_facts", default_mean, build_facts))
    print(row("default policy, evaluate (facts_for + evaluate_facts)", full_mean, build_facts))
    print(row("200-rule policy, evaluate_facts", big_mean, build_facts))
    verdict = "meets" if full_mean < 1e-3 else "MISSES"
    print(f"\ndefault policy end to end: {full_mean * 1e3:.3f} ms per deal", end="")
    print(f" ({verdict} the 1 ms target)")


if __name__ == "__main__":
    main()
