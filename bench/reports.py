"""Finance reports over years of history, each against one hand-written SQL statement.

    .venv/bin/python bench/reports.py [--deals 100000] [--lines 1000000] [--repeat 7]
                                      [--database-url URL] [--keep]

Loads --deals deals with --lines lines between them (about 10 a deal), submitted over three
years in three currencies, with their approval tasks, outcomes, orders and quota targets, into
a fresh database: a schema of its own on PostgreSQL when --database-url or DEALDESK_DATABASE_URL
names one (dropped afterwards unless --keep), an SQLite file in a temporary folder otherwise.
Rows go straight into the tables (COPY on PostgreSQL, executemany on SQLite), shaped as the
activities' writers shape them.

For each report it then times the API call as a client sees it (the real app in process: auth,
parameters, the store's query, the JSON) and, in the same run on the same database, the same
aggregation as one hand-written SQL statement (what an analyst would type; percentile_cont on
PostgreSQL, window functions on SQLite), checks both give the same numbers, and prints the
medians, the fastest runs and their ratios, against the targets (judged on the fastest runs):
within 1.5x of the statement, under 1 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# Python puts this script's folder first on sys.path, where bench/pricing.py would shadow the
# pricing package; the repository root instead makes the app's packages importable.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from api.main import create_app  # noqa: E402
from dealdesk.seed import seed_demo  # noqa: E402
from dealdesk.settings import Settings  # noqa: E402
from pricing import minor_units  # noqa: E402
from store.db import create_schema, make_engine, session_factory  # noqa: E402

START = datetime(2023, 1, 1, tzinfo=UTC)
DAYS = 3 * 365
REPS = [f"rep{i:03d}" for i in range(1, 61)]
APPROVERS = ["carol", "dave", "frank", "admin", "grace", "heidi"]
SEGMENTS = ["enterprise", "mid_market", "smb", "public"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
PRODUCTS = [f"SKU-{i:03d}" for i in range(1, 41)]
CURRENCIES = ["USD"] * 15 + ["EUR"] * 4 + ["JPY"]
# status, its share in 100, and its decision
STATUSES = [
    ("closed_won", 30, "approved"),
    ("closed_lost", 18, "approved"),
    ("expired", 5, "approved"),
    ("withdrawn", 5, None),
    ("approved", 8, "approved"),
    ("sent", 10, "approved"),
    ("in_approval", 10, None),
    ("submitted", 2, None),
    ("rejected", 7, "rejected"),
    ("changes_requested", 4, "changes_requested"),
    ("policy_violation", 1, "policy_violation"),
]
CLOSED = {"closed_won", "closed_lost", "expired", "withdrawn"}
APPROVALS = [(1, "finance"), (1, "sales_vp"), (1, "legal"), (1, "deal_desk"), (2, "cfo")]

COLUMNS = {
    "deal": (
        "id owner customer_name segment region currency status status_seq status_reason "
        "current_version request_hash created_at updated_at"
    ),
    "report_deal": (
        "deal_id version owner customer_name segment region new_customer currency status "
        "decision submitted_at decided_at closed_at decision_seconds close_seconds "
        "needs_approval discount_bp max_line_discount_bp lines below_floor_lines list_minor "
        "net_minor tcv_minor acv_minor mrr_minor cost_minor line_discount_minor "
        "header_discount_minor commitment_minor beyond_floor_minor"
    ),
    "report_line": (
        "deal_id line_no product name first_of_product effective_discount_bp below_floor "
        "owner segment region new_customer currency status decision submitted_at decided_at "
        "closed_at list_minor net_minor tcv_minor acv_minor mrr_minor cost_minor "
        "line_discount_minor header_discount_minor commitment_minor beyond_floor_minor"
    ),
    "report_approval": "deal_id stage role",
    "approval_task": (
        "id deal_id version stage role assignee delegated_from escalated_from status reasons "
        "created_at remind_at due_at decided_at decided_by comment"
    ),
    "deal_order": (
        "deal_id version owner customer_name segment region new_customer currency start_date "
        "end_date term_months billing_frequency payment_terms_days one_time_minor mrr_minor "
        "acv_minor tcv_minor cost_minor accepted_by_name accepted_by_title accepted_by_email "
        "contract_sha256 booked_at"
    ),
    "quota_target": (
        "rep period period_kind period_start period_end currency amount_minor updated_by updated_at"
    ),
}
TABLES = list(COLUMNS)


# -- the data -------------------------------------------------------------------------------


def generate(
    deals: int, lines: int, *, seed: int = 7
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Rows for every table, in chunks of 5,000 deals (parents before children)."""
    rng = random.Random(seed)
    per_deal = max(1, round(lines / deals))
    weights = [share for _, share, _ in STATUSES]
    chunk: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    for number in range(deals):
        deal_id = str(uuid.UUID(int=rng.getrandbits(128)))
        owner = rng.choice(REPS)
        segment, region = rng.choice(SEGMENTS), rng.choice(REGIONS)
        currency = rng.choice(CURRENCIES)
        new_customer = rng.random() < 0.35
        submitted = START + timedelta(seconds=rng.randrange(DAYS * 86_400))
        status, _, decision = rng.choices(STATUSES, weights)[0]
        version = 1 if rng.random() < 0.85 else rng.randint(2, 4)
        decided = closed = None
        if decision is not None:
            decided = submitted + timedelta(seconds=rng.randrange(60, 10 * 86_400))
        if status in CLOSED:
            closed = (decided or submitted) + timedelta(seconds=rng.randrange(3600, 60 * 86_400))
        term = rng.choice([12, 24, 36])
        header_pct = rng.choice([0, 0, 0, 5, 10])
        customer = f"Customer {number % 20_000}"
        # Lines: 1 to 2 x per_deal - 1 of them, about per_deal on average.
        count = rng.randint(1, 2 * per_deal - 1)
        seen: set[str] = set()
        totals = [0] * 10
        max_bp = below = 0
        for line_no in range(count):
            product = "(custom)" if rng.random() < 0.1 else rng.choice(PRODUCTS)
            first = int(product not in seen)
            seen.add(product)
            list_minor = rng.randrange(10_000, 2_000_000)
            line_bp = rng.choice([0, 0, 500, 1000, 1500, 2000, 3000, 4000])
            line_discount = list_minor * line_bp // 10_000
            header_discount = (list_minor - line_discount) * header_pct // 100
            commitment = rng.randrange(0, list_minor // 20) if rng.random() < 0.1 else 0
            net = list_minor - line_discount - header_discount + commitment
            beyond = list_minor * rng.randint(1, 500) // 10_000 if rng.random() < 0.05 else 0
            cost = net * rng.randint(20, 70) // 100
            acv = net * 12 // term
            figures = (
                list_minor,
                net,
                net,
                acv,
                acv // 12,
                cost,
                line_discount,
                header_discount,
                commitment,
                beyond,
            )
            totals = [a + b for a, b in zip(totals, figures, strict=True)]
            effective = 10_000 - (10_000 - line_bp) * (100 - header_pct) // 100
            max_bp = max(max_bp, effective)
            below += int(beyond > 0)
            chunk["report_line"].append(
                (
                    deal_id,
                    line_no,
                    product,
                    f"Line {line_no}",
                    first,
                    effective,
                    beyond > 0,
                    owner,
                    segment,
                    region,
                    new_customer,
                    currency,
                    status,
                    decision,
                    submitted,
                    decided,
                    closed,
                    *figures,
                )
            )
        needs = (decision is not None and rng.random() < 0.6) or status == "in_approval"
        approvals = sorted(rng.sample(APPROVALS, rng.randint(1, 3))) if needs else []
        discount_bp = (totals[0] - totals[1]) * 10_000 // totals[0] if totals[0] else 0
        chunk["deal"].append(
            (
                deal_id,
                owner,
                customer,
                segment,
                region,
                currency,
                status,
                5,
                None,
                version,
                "",
                submitted,
                closed or decided or submitted,
            )
        )
        chunk["report_deal"].append(
            (
                deal_id,
                version,
                owner,
                customer,
                segment,
                region,
                new_customer,
                currency,
                status,
                decision,
                submitted,
                decided,
                closed,
                _seconds(decided, submitted),
                _seconds(closed, submitted),
                needs if decision is not None or needs else rng.random() < 0.5,
                discount_bp,
                max_bp,
                count,
                below,
                *totals,
            )
        )
        chunk["report_approval"] += [(deal_id, stage, role) for stage, role in approvals]
        for stage, role in approvals:
            opened = submitted + timedelta(seconds=rng.randrange(0, 3600))
            assignee = rng.choice(APPROVERS)
            if decided is None:
                chunk["approval_task"].append(_task(rng, deal_id, stage, role, assignee, opened))
                continue
            if rng.random() < 0.08:
                moved = opened + timedelta(hours=48)
                chunk["approval_task"].append(
                    _task(rng, deal_id, stage, role, assignee, opened, moved, "escalated", None)
                )
                opened, assignee = moved, "admin"
            task_status = decision if decision in ("approved", "rejected") else "approved"
            end = max(decided, opened + timedelta(seconds=60))
            chunk["approval_task"].append(
                _task(rng, deal_id, stage, role, assignee, opened, end, task_status, assignee)
            )
        if status == "closed_won":
            assert closed is not None
            start = closed.date()
            chunk["deal_order"].append(
                (
                    deal_id,
                    version,
                    owner,
                    customer,
                    segment,
                    region,
                    new_customer,
                    currency,
                    start,
                    start + timedelta(days=30 * term),
                    term,
                    "annual",
                    30,
                    0,
                    totals[4],
                    totals[3],
                    totals[2],
                    totals[5],
                    "Buyer",
                    "Procurement",
                    "buyer@example.com",
                    "0" * 64,
                    closed,
                )
            )
        if (number + 1) % 5000 == 0 or number + 1 == deals:
            yield chunk
            chunk = {t: [] for t in TABLES}
    quotas: list[tuple[Any, ...]] = []
    for rep in REPS:
        for year in (2023, 2024, 2025):
            for quarter in range(1, 5):
                start_day = date(year, 3 * quarter - 2, 1)
                last = (
                    date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
                ) - timedelta(days=1)
                amount = rng.randrange(5_000_000, 50_000_000)
                quotas.append(
                    (
                        rep,
                        f"{year}-Q{quarter}",
                        "quarter",
                        start_day,
                        last,
                        "USD",
                        amount,
                        "admin",
                        START,
                    )
                )
    yield {t: [] for t in TABLES} | {"quota_target": quotas}


def _seconds(later: datetime | None, earlier: datetime) -> int | None:
    return None if later is None else int((later - earlier).total_seconds())


def _task(
    rng: random.Random,
    deal_id: str,
    stage: int,
    role: str,
    assignee: str,
    opened: datetime,
    closed: datetime | None = None,
    status: str = "open",
    decided_by: str | None = None,
) -> tuple[Any, ...]:
    return (
        str(uuid.UUID(int=rng.getrandbits(128))),
        deal_id,
        1,
        stage,
        role,
        assignee,
        None,
        None,
        status,
        "[]",
        opened,
        opened + timedelta(hours=24),
        opened + timedelta(hours=48),
        closed,
        decided_by,
        None,
    )


def load(engine: Engine, deals: int, lines: int) -> dict[str, int]:
    counts = dict.fromkeys(TABLES, 0)
    raw = engine.raw_connection()
    try:
        for chunk in generate(deals, lines):
            for table in TABLES:
                rows = chunk[table]
                if not rows:
                    continue
                counts[table] += len(rows)
                if engine.dialect.name == "postgresql":
                    _copy(raw, table, rows)
                else:
                    _insert_sqlite(raw, table, rows)
            raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return counts


def _copy(raw: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    columns = ", ".join(f'"{c}"' for c in COLUMNS[table].split())
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_sqlite(raw: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    columns = COLUMNS[table].split()
    marks = ", ".join("?" * len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    # As SQLAlchemy stores them in SQLite: UTC text with microseconds, dates as ISO text.
    cursor = raw.cursor()
    cursor.executemany(
        f"INSERT INTO {table} ({names}) VALUES ({marks})",
        [tuple(_sqlite_value(v) for v in row) for row in rows],
    )
    cursor.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- the reports and their hand-written statements -------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: dict[str, str]
    # The JSON columns the statement's columns are compared with, in its order, separated by
    # spaces: name, or name:kind with kind money (amount string -> minor units) or hours
    # (compared to the hundredth); _ skips a column the JSON shows otherwise (a mean).
    columns: str
    sql: Callable[[str], str]


def _month(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"strftime('%Y-%m', {column})"


def _quarter(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-"Q"Q')"""
    month = f"CAST(strftime('%m', {column}) AS INTEGER)"
    return f"(strftime('%Y', {column}) || '-Q' || (({month} + 2) / 3))"


def _epoch(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"FLOOR(EXTRACT(EPOCH FROM {column}))"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


_BANDS = (
    "CASE WHEN discount_bp < 500 THEN 0 WHEN discount_bp < 1000 THEN 1 "
    "WHEN discount_bp < 1500 THEN 2 WHEN discount_bp < 2000 THEN 3 "
    "WHEN discount_bp < 3000 THEN 4 WHEN discount_bp < 5000 THEN 5 ELSE 6 END"
)
_OPEN = "status NOT IN ('closed_won', 'closed_lost', 'expired', 'withdrawn')"


def _percentiles(dialect: str, *, columns: str, source: str, extra: str) -> str:
    """One statement: per group `k`, the `extra` aggregates and the median and p90 (hours) of
    `val` over the rows where `hv` holds; `columns` names k, val, hv and what `extra` reads."""
    if dialect == "postgresql":
        v = "CASE WHEN hv THEN val END"
        return (
            f"SELECT k, {extra}, "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {v}) / 3600 AS median_h, "
            f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {v}) / 3600 AS p90_h "
            f"FROM (SELECT {columns} FROM {source}) base GROUP BY k ORDER BY k"
        )

    # SQLite has no percentile_cont: number the values in each group, interpolate between the
    # closest ranks (lo and lo + 1, a fraction f of the way).
    def pick(lo: str, f: str) -> str:
        at_lo = f"MAX(CASE WHEN rn = {lo} THEN v END)"
        at_hi = f"MAX(CASE WHEN rn = {lo} + 1 AND {f} > 0 THEN v END)"
        return f"({at_lo} + MAX({f}) * (COALESCE({at_hi}, {at_lo}) - {at_lo})) / 3600.0"

    return (
        f"WITH base AS (SELECT {columns} FROM {source}), "
        "ranked AS (SELECT *, CASE WHEN hv THEN val END AS v, "
        "ROW_NUMBER() OVER (PARTITION BY k ORDER BY hv DESC, val) AS rn, "
        "SUM(CASE WHEN hv THEN 1 ELSE 0 END) OVER (PARTITION BY k) AS n FROM base), "
        "picked AS (SELECT *, 1 + (n - 1) / 2 AS m_lo, ((n - 1) % 2) / 2.0 AS m_f, "
        "1 + 9 * (n - 1) / 10 AS p_lo, (9 * (n - 1) % 10) / 10.0 AS p_f FROM ranked) "
        f"SELECT k, {extra}, {pick('m_lo', 'm_f')} AS median_h, {pick('p_lo', 'p_f')} AS p90_h "
        "FROM picked GROUP BY k ORDER BY k"
    )


CASES = [
    Case(
        "margins by month (all deals)",
        "/api/v1/reports/margins",
        {"group_by": "month"},
        "currency month deals lines list_amount:money tcv_estimated:money tcv:money acv:money "
        "cost:money",
        lambda d: (
            f"SELECT currency, {_month(d, 'submitted_at')}, count(*), sum(lines), "
            "sum(list_minor), sum(net_minor), sum(tcv_minor), sum(acv_minor), sum(cost_minor) "
            "FROM report_deal GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    ),
    Case(
        "margins won, by quarter and rep",
        "/api/v1/reports/margins",
        {"view": "won", "group_by": "quarter,rep"},
        "currency quarter rep deals lines list_amount:money tcv_estimated:money tcv:money "
        "acv:money cost:money",
        lambda d: (
            f"SELECT currency, {_quarter(d, 'closed_at')}, owner, count(*), sum(lines), "
            "sum(list_minor), sum(net_minor), sum(tcv_minor), sum(acv_minor), sum(cost_minor) "
            "FROM report_deal WHERE status = 'closed_won' AND closed_at IS NOT NULL "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
    ),
    Case(
        "margins by product (all lines)",
        "/api/v1/reports/margins",
        {"group_by": "product"},
        "currency product deals lines list_amount:money tcv_estimated:money tcv:money "
        "acv:money cost:money",
        lambda d: (
            "SELECT currency, product, sum(first_of_product), count(*), sum(list_minor), "
            "sum(net_minor), sum(tcv_minor), sum(acv_minor), sum(cost_minor) FROM report_line "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    ),
    Case(
        "discount leakage by rep and product",
        "/api/v1/reports/discounts",
        {"group_by": "rep,product"},
        "currency rep product deals lines list_amount:money line_discount:money "
        "header_discount:money commitment_effect:money net_amount:money below_floor_lines "
        "beyond_floor:money",
        lambda d: (
            "SELECT currency, owner, product, sum(first_of_product), count(*), sum(list_minor), "
            "sum(line_discount_minor), sum(header_discount_minor), sum(commitment_minor), "
            "sum(net_minor), sum(CASE WHEN below_floor THEN 1 ELSE 0 END), "
            "sum(beyond_floor_minor) FROM report_line GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
    ),
    Case(
        "approval rate by discount band",
        "/api/v1/reports/discounts/bands",
        {},
        "deals needed_approval approved changes_requested policy_violation rejected",
        lambda d: (
            "SELECT count(*), sum(CASE WHEN needs_approval THEN 1 ELSE 0 END), "
            + ", ".join(
                f"sum(CASE WHEN decision = '{s}' THEN 1 ELSE 0 END)"
                for s in ("approved", "changes_requested", "policy_violation", "rejected")
            )
            + f" FROM report_deal GROUP BY {_BANDS} ORDER BY {_BANDS}"
        ),
    ),
    Case(
        "deals that needed each approval",
        "/api/v1/reports/discounts/approvals",
        {},
        "stage role deals",
        lambda d: (
            "SELECT COALESCE(a.stage, 0), COALESCE(a.role, 'none'), count(*) "
            "FROM report_deal r LEFT JOIN report_approval a ON a.deal_id = r.deal_id "
            "WHERE r.needs_approval IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    ),
    Case(
        "bookings by rep and quarter, with quota",
        "/api/v1/reports/bookings",
        {"group_by": "rep,quarter"},
        "currency rep quarter orders acv:money tcv:money new_customer_acv:money "
        "existing_customer_acv:money quota:money",
        lambda d: (
            "SELECT currency, rep, quarter, sum(orders), sum(acv), sum(tcv), sum(new_acv), "
            "sum(old_acv), sum(quota) FROM ("
            f"SELECT currency, owner AS rep, {_quarter(d, 'booked_at')} AS quarter, 1 AS orders, "
            "acv_minor AS acv, tcv_minor AS tcv, "
            "CASE WHEN new_customer THEN acv_minor ELSE 0 END AS new_acv, "
            "CASE WHEN new_customer THEN 0 ELSE acv_minor END AS old_acv, "
            "NULL AS quota FROM deal_order UNION ALL "
            "SELECT currency, rep, period, 0, 0, 0, 0, 0, amount_minor FROM quota_target "
            "WHERE period_kind = 'quarter') facts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
    ),
    Case(
        "submit to decision by month (median, p90)",
        "/api/v1/reports/cycle-times",
        {"group_by": "month"},
        "month deals _ _ attempts_max escalations escalated_deals median_hours:hours "
        "p90_hours:hours",
        lambda d: _percentiles(
            d,
            columns=(
                f"{_month(d, 'r.decided_at')} AS k, r.decision_seconds AS val, "
                "r.decision_seconds IS NOT NULL AS hv, r.version AS attempts, "
                "COALESCE(e.escalations, 0) AS esc"
            ),
            source=(
                "report_deal r LEFT JOIN (SELECT deal_id, count(*) AS escalations "
                "FROM approval_task WHERE status = 'escalated' GROUP BY deal_id) e "
                "ON e.deal_id = r.deal_id WHERE r.decision_seconds IS NOT NULL"
            ),
            extra=(
                "count(*), sum(val), sum(attempts), max(attempts), sum(esc), "
                "sum(CASE WHEN esc > 0 THEN 1 ELSE 0 END)"
            ),
        ),
    ),
    Case(
        "approval time per approver (median, p90)",
        "/api/v1/reports/cycle-times/tasks",
        {"group_by": "approver"},
        "approver tasks decided _ approved rejected changes_requested escalated "
        "median_hours:hours p90_hours:hours",
        lambda d: _percentiles(
            d,
            columns=(
                f"assignee AS k, {_epoch(d, 'decided_at')} - {_epoch(d, 'created_at')} AS val, "
                "decided_by IS NOT NULL AS hv, status"
            ),
            source="approval_task WHERE status <> 'open' AND decided_at IS NOT NULL",
            extra="count(*), sum(CASE WHEN hv THEN 1 ELSE 0 END), "
            "sum(CASE WHEN hv THEN val END), "
            + ", ".join(
                f"sum(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)"
                for s in ("approved", "rejected", "changes_requested", "escalated")
            ),
        ),
    ),
    Case(
        "pipeline and win rate by rep and segment",
        "/api/v1/reports/pipeline",
        {"group_by": "rep,segment"},
        "currency rep segment deals open_deals open_acv:money open_tcv:money won lost expired "
        "withdrawn won_acv:money _",
        lambda d: (
            f"SELECT currency, owner, segment, count(*), "
            f"sum(CASE WHEN {_OPEN} THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {_OPEN} THEN acv_minor ELSE 0 END), "
            f"sum(CASE WHEN {_OPEN} THEN tcv_minor ELSE 0 END), "
            + ", ".join(
                f"sum(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)"
                for s in ("closed_won", "closed_lost", "expired", "withdrawn")
            )
            + ", sum(CASE WHEN status = 'closed_won' THEN acv_minor ELSE 0 END), "
            "sum(CASE WHEN status = 'closed_won' THEN close_seconds ELSE 0 END) "
            "FROM report_deal GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
    ),
]


def _normalise_json(rows: list[dict[str, Any]], columns: str) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        values: list[Any] = []
        for spec in columns.split():
            name, _, kind = spec.partition(":")
            value = None if name == "_" else row[name]
            if kind == "money" and value is not None:
                value = int(Decimal(value).scaleb(minor_units(row["currency"])))
            elif kind == "hours" and value is not None:
                value = Decimal(value)
            values.append(value)
        out.append(tuple(values))
    return out


def _normalise_sql(rows: Sequence[Any], columns: str) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        values: list[Any] = []
        for spec, value in zip(columns.split(), row, strict=True):
            name, _, kind = spec.partition(":")
            if name == "_":
                value = None
            elif value is not None and kind == "hours":
                value = Decimal(str(value)).quantize(Decimal("0.01"))
            elif value is not None and isinstance(value, Decimal | float) and kind != "hours":
                value = int(value)
            values.append(value)
        out.append(tuple(values))
    return out


def _same(json_rows: list[tuple[Any, ...]], sql_rows: list[tuple[Any, ...]]) -> bool:
    if len(json_rows) != len(sql_rows):
        return False
    for a, b in zip(json_rows, sql_rows, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, Decimal) and isinstance(y, Decimal):
                # Hours to the hundredth; the statement's float percentile may round the other
                # way at a half.
                if abs(x - y) > Decimal("0.011"):
                    return False
            elif x != y:
                return False
    return True


# -- the run --------------------------------------------------------------------------------


async def measure(engine: Engine, cases: Sequence[Case], repeat: int) -> list[dict[str, Any]]:
    settings = Settings(_env_file=None, data_dir=Path(tempfile.gettempdir()))
    app = create_app(settings, engine=engine, temporal=None)
    dialect = engine.dialect.name
    results = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as api:
        token = await api.post(
            "/api/v1/auth/token", data={"username": "erin", "password": "erin-demo"}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        with engine.connect() as connection:
            for case in cases:
                sql = text(case.sql(dialect))

                async def report(case: Case = case) -> httpx.Response:
                    # Until the whole body has arrived; parsing it is the client's business, as
                    # fetchall() is the end of the statement's timing.
                    response = await api.get(case.path, params=case.params, headers=headers)
                    assert response.status_code == 200, response.text
                    return response

                def statement(sql: Any = sql) -> list[Any]:
                    return list(connection.execute(sql).fetchall())

                # Once each to warm caches, then alternately, so both see the same cache state.
                body = (await report()).json()
                rows = statement()
                api_times, sql_times = [], []
                for _ in range(repeat):
                    started = time.perf_counter()
                    await report()
                    api_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    statement()
                    sql_times.append(time.perf_counter() - started)
                same = _same(
                    _normalise_json(body["rows"], case.columns),
                    _normalise_sql(rows, case.columns),
                )
                results.append(
                    {
                        "name": case.name,
                        "rows": len(body["rows"]),
                        "api_ms": statistics.median(api_times) * 1000,
                        "sql_ms": statistics.median(sql_times) * 1000,
                        "api_min": min(api_times) * 1000,
                        "sql_min": min(sql_times) * 1000,
                        "same": same,
                    }
                )
    return results


def _database(url: str, keep: bool) -> Iterator[tuple[Engine, str]]:
    if url.startswith("postgresql"):
        schema = f"bench_reports_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(url, search_path=schema)
        try:
            yield engine, f"PostgreSQL, schema {schema}"
        finally:
            engine.dispose()
            if not keep:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "reports.db"
            engine = make_engine(f"sqlite:///{path}")
            try:
                yield engine, f"SQLite, {path}"
            finally:
                engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DEALDESK_DATABASE_URL", ""),
        help="a PostgreSQL URL (postgresql+psycopg://...); SQLite in a temporary file if none",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args = parser.parse_args(argv)
    for engine, where in _database(args.database_url, args.keep):
        create_schema(engine)
        seed_demo(session_factory(engine))
        started = time.perf_counter()
        counts = load(engine, args.deals, args.lines)
        loaded = time.perf_counter() - started
        print(f"{where}; loaded in {loaded:.1f} s:")
        print("  " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
        results = asyncio.run(measure(engine, CASES, args.repeat))
        postgres = engine.dialect.name == "postgresql"
        print()
        print(
            f"{'report':<42} {'rows':>5} {'API ms':>7} {'SQL ms':>7} {'ratio':>5}"
            f" {'API min':>7} {'SQL min':>7} {'ratio':>5}  checks"
        )
        failed = []
        for r in results:
            ratio = r["api_ms"] / r["sql_ms"]
            best = r["api_min"] / r["sql_min"]
            marks = []
            if not r["same"]:
                marks.append("DIFFERENT NUMBERS")
            # Judged on the fastest runs (timeit's convention: the least disturbed by other
            # processes on a shared machine); the medians are shown beside them.
            if best > 1.5:
                marks.append("over 1.5x")
            if postgres and r["api_min"] > 1000:
                marks.append("over 1 s")
            failed += marks
            print(
                f"{r['name']:<42} {r['rows']:>5} {r['api_ms']:>7.1f} {r['sql_ms']:>7.1f}"
                f" {ratio:>5.2f} {r['api_min']:>7.1f} {r['sql_min']:>7.1f} {best:>5.2f}"
                f"  {', '.join(marks) or 'same numbers, on target'}"
            )
        print()
        print(
            f"API: GET through the app in process (auth, parameters, the query, the JSON body); "
            f"SQL: the hand-written statement, fetched. Median and fastest of {args.repeat} "
            "runs each, taken in turns."
        )
        if failed:
            sys.exit(1)


if __name__ == "__main__":
    main()
