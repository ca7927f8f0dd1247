"""Finance: charts drawn on the server from the reports of GET /api/v1/reports/*, and the
reports as tables (fetched by the page's script).

Each chart calls the report route's own function with the page's filter and reads its JSON,
so a chart shows exactly the figures its CSV and XLSX downloads hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.authorization import CurrentUser
from api.deps import SessionFactoryDep, SettingsDep
from api.pages.charts import Chart, bar_chart, percent_label, scatter_chart, short
from api.pages.common import ROLE_LABELS, render
from api.routers import reports
from store.db import SessionFactory
from store.reporting import Dim, ReportFilter
from store.tables import User
from templates import environment

router = APIRouter()

# (path under /api/v1/reports, title, the grouping asked for; "" is the report's own default)
REPORTS = (
    ("margins", "Margins by month", "month"),
    ("discounts", "Discount leakage by rep and product", "rep,product"),
    ("discounts/approvals", "Approvals needed", ""),
    ("discounts/bands", "Discount bands", ""),
    ("bookings", "Bookings by month", "month"),
    ("pipeline", "Pipeline by status", ""),
    ("cycle-times", "Deal cycle times", ""),
    ("cycle-times/tasks", "Approval task times by role", "role"),
)


def _money(value: str | None, currency: str) -> str:
    return str(environment().filters["money"](value, currency))


def _percent(value: Decimal | str | None) -> str:
    return str(environment().filters["percent"](value))


def _rows(response: Response) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(bytes(response.body))["rows"]
    return rows


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _deals(count: int | str) -> str:
    return f"{count} deal" if int(count) == 1 else f"{count} deals"


def _downloads(name: str, path: str, params: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        (
            f"{name} {label}",
            f"/api/v1/reports/{path}?{urlencode({**params, 'format': fmt})}",
        )
        for fmt, label in (("csv", "CSV"), ("xlsx", "XLSX"))
    ]


def _margin_distribution(
    sessions: SessionFactory, user: User, where: ReportFilter, period: dict[str, str]
) -> Chart:
    rows = _rows(reports.margin_bands_report(user, sessions, where))
    counts = {r["band"]: int(r["deals"]) for r in rows}
    edges = [Decimal(e) for e in reports.DEFAULT_MARGIN_BANDS.split(",")]
    bounds: list[Decimal | None] = [None, *edges, None]
    names = [reports.band_name(bounds[i], bounds[i + 1]) for i in range(len(edges) + 1)]
    total = sum(counts.values())
    chart = Chart(
        key="margin-distribution",
        title="Margin distribution",
        description=(
            f"Deals per band of gross margin, {total} deals: "
            + "; ".join(f"{n}: {counts.get(n, 0)}" for n in names if counts.get(n))
        ),
        x_label="Gross margin",
        y_label="Deals",
        columns=["Gross margin", "Deals"],
        rows=[[n, str(counts.get(n, 0))] for n in names],
        downloads=_downloads("Margin bands", "margins/bands", period),
    )
    bars = [(n, Decimal(counts.get(n, 0)), _deals(counts.get(n, 0))) for n in names]
    return bar_chart(
        chart, bars if total else [], tick_text=lambda t: f"{t.normalize():f}", whole=True
    )


def _discount_vs_margin(
    sessions: SessionFactory, user: User, where: ReportFilter, period: dict[str, str]
) -> Chart:
    rep = [Dim.REP.value]
    margins = _rows(reports.margins_report(user, sessions, where, group_by=rep))
    discounts = _rows(reports.discounts_report(user, sessions, where, group_by=rep))
    discount_of = {(r["currency"], r["rep"]): _dec(r["discount_pct"]) for r in discounts}
    several = len({r["currency"] for r in margins}) > 1
    points = []
    for r in margins:
        margin, discount = _dec(r["gross_margin_pct"]), discount_of.get((r["currency"], r["rep"]))
        if margin is None or discount is None:
            continue
        label = f"{r['rep']} ({r['currency']})" if several else r["rep"]
        points.append(
            (
                label,
                discount,
                margin,
                f"discount {_percent(discount)}, margin {_percent(margin)}, {_deals(r['deals'])}",
            )
        )
    chart = Chart(
        key="discount-vs-margin",
        title="Discount versus margin by rep",
        description="Each rep's discount off list (across) against their revenue-weighted "
        "gross margin (up): " + "; ".join(f"{label}: {text}" for label, _, _, text in points),
        x_label="Discount off list",
        y_label="Gross margin",
        columns=["Rep", "Discount", "Gross margin"],
        rows=[[label, _percent(x), _percent(y)] for label, x, y, _ in points],
        downloads=_downloads("Margins by rep", "margins", {**period, "group_by": "rep"})
        + _downloads("Discounts by rep", "discounts", {**period, "group_by": "rep"}),
    )
    return scatter_chart(chart, points, tick_text=percent_label)


def _bookings(
    sessions: SessionFactory, user: User, where: ReportFilter, period: dict[str, str]
) -> list[Chart]:
    rows = _rows(reports.bookings_report(user, sessions, where, group_by=[Dim.MONTH.value]))
    charts = []
    for currency in sorted({r["currency"] for r in rows}) or ["USD"]:
        mine = [r for r in rows if r["currency"] == currency]
        chart = Chart(
            key=f"bookings-{currency.lower()}",
            title=f"Bookings by month against quota, {currency}",
            description=f"ACV booked per month (bars) and the reps' quota (line), {currency}: "
            + "; ".join(
                f"{r['month']}: {_money(r['acv'], currency)}"
                + (f" of {_money(r['quota'], currency)}" if r["quota"] is not None else "")
                for r in mine
            ),
            x_label="Month booked",
            y_label=f"ACV ({currency})",
            columns=["Month", "Orders", "ACV", "Quota", "Attainment"],
            rows=[
                [
                    r["month"],
                    str(r["orders"]),
                    _money(r["acv"], currency),
                    _money(r["quota"], currency),
                    _percent(r["attainment_pct"]),
                ]
                for r in mine
            ],
            downloads=_downloads(
                "Bookings", "bookings", {**period, "group_by": "month", "currency": currency}
            ),
            line_label="Quota",
        )
        charts.append(
            bar_chart(
                chart,
                [(r["month"], Decimal(r["acv"]), _money(r["acv"], currency)) for r in mine],
                tick_text=short,
                line=[(_dec(r["quota"]), f"quota {_money(r['quota'], currency)}") for r in mine],
            )
        )
    return charts


def _cycle_times(
    sessions: SessionFactory, user: User, where: ReportFilter, period: dict[str, str]
) -> Chart:
    group_by = [Dim.STAGE.value, Dim.ROLE.value]
    rows = [
        r
        for r in _rows(reports.task_cycle_times_report(user, sessions, where, group_by=group_by))
        if r["median_hours"] is not None
    ]

    def label(r: dict[str, Any]) -> str:
        return f"Stage {r['stage']} · {ROLE_LABELS.get(r['role'], r['role'])}"

    chart = Chart(
        key="cycle-times",
        title="Approval cycle time per stage",
        description="Median hours from a task opening to its decision, per stage and role: "
        + "; ".join(
            f"{label(r)}: {r['median_hours']} h (90th percentile {r['p90_hours']} h)" for r in rows
        ),
        x_label="Stage and role",
        y_label="Median hours",
        columns=["Stage", "Decided", "Median h", "90th percentile h", "Mean h"],
        rows=[
            [label(r), str(r["decided"]), r["median_hours"], r["p90_hours"], r["mean_hours"]]
            for r in rows
        ],
        downloads=_downloads(
            "Task times", "cycle-times/tasks", {**period, "group_by": "stage,role"}
        ),
    )
    bars = [(label(r), Decimal(r["median_hours"]), f"median {r['median_hours']} h") for r in rows]
    return bar_chart(chart, bars, tick_text=short)


def _charts(
    sessions: SessionFactory, user: User, date_from: date | None, date_to: date | None
) -> list[Chart]:
    where = ReportFilter(date_from=date_from, date_to=date_to)
    period = {k: v.isoformat() for k, v in (("from", date_from), ("to", date_to)) if v is not None}
    return [
        _margin_distribution(sessions, user, where, period),
        _discount_vs_margin(sessions, user, where, period),
        *_bookings(sessions, user, where, period),
        _cycle_times(sessions, user, where, period),
    ]


@router.get("/finance", response_class=HTMLResponse)
async def finance_dashboard(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    error = ""
    if date_from is not None and date_to is not None and date_from > date_to:
        error = "“To” must not be before “From”; showing every date."
        date_from = date_to = None
    charts = await run_in_threadpool(_charts, sessions, user, date_from, date_to)
    return render(
        request,
        settings,
        "pages/finance.html.j2",
        user=user,
        title="Finance",
        page="finance",
        reports=[{"path": p, "title": t, "group_by": g} for p, t, g in REPORTS],
        charts=charts,
        date_from=date_from.isoformat() if date_from else "",
        date_to=date_to.isoformat() if date_to else "",
        filter_error=error,
    )
