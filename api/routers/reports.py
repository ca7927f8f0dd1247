"""Finance reports: margins, discounts, bookings, cycle times and pipeline, plus quota targets.

Each report is one table: JSON by default, or CSV or an Excel workbook (`format=` or the
Accept header) with the same columns. The database does every sum, count and percentile
(store/reporting.py); a route only turns the grouped rows' integers into decimal strings.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from openpyxl import Workbook  # type: ignore[import-untyped]  # (no stubs in the lock)
from openpyxl.styles import Font  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import to_json

from api.authorization import CurrentUser
from api.deps import SessionDep, SessionFactoryDep
from api.responses import errors
from pricing import Amount, CurrencyCode, minor_units
from pricing.money import HUNDRED
from store import deals, reporting, users
from store.reporting import (
    BOOKING_DIMS,
    DEAL_DIMS,
    LINE_DIMS,
    TASK_DIMS,
    DateField,
    Dim,
    MarginView,
    ReportFilter,
    ReportRow,
)
from workflows.messages import DealStatus

router = APIRouter(prefix="/reports", tags=["reports"], responses=errors(400, 401, 403, 413))


CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


_MEDIA_TYPES = {
    "application/json": ReportFormat.JSON,
    "application/*": ReportFormat.JSON,
    "*/*": ReportFormat.JSON,
    "text/csv": ReportFormat.CSV,
    "text/*": ReportFormat.CSV,
    XLSX_TYPE: ReportFormat.XLSX,
}

# How a spreadsheet shows each kind of column (x-kind in the column's JSON schema).
_KIND = "x-kind"
_PERCENT_FORMAT = "0.00"


def _money(description: str) -> Any:
    return Field(
        description=f"{description}. A decimal string in the row's currency.",
        json_schema_extra={_KIND: "money"},
    )


def _percent(description: str) -> Any:
    return Field(
        description=f"{description}. A decimal string to 2 places.",
        json_schema_extra={_KIND: "decimal"},
    )


def _count(description: str) -> Any:
    return Field(description=description)


# -- the columns ----------------------------------------------------------------------------

_CURRENCY = (
    "ISO 4217 code of every amount in the row: amounts of two currencies are never added, so "
    "every report groups by currency first"
)
_GROUP = "Present when the report is grouped by it (group_by), null otherwise"


class Periods(BaseModel):
    month: str | None = Field(
        default=None,
        description=f"YYYY-MM of the row's date (see date_field), in UTC. {_GROUP}",
    )
    quarter: str | None = Field(
        default=None, description=f"YYYY-Qn of the row's date, in UTC. {_GROUP}"
    )


class DealGroup(Periods):
    rep: str | None = Field(default=None, description=f"The deal's owner. {_GROUP}")
    segment: str | None = Field(
        default=None, description=f"The customer's segment on the deal. {_GROUP}"
    )
    region: str | None = Field(default=None, description=f"The customer's region. {_GROUP}")
    status: str | None = Field(default=None, description=f"The deal's status now. {_GROUP}")
    customer_type: str | None = Field(
        default=None, description=f"'new' or 'existing' customer. {_GROUP}"
    )


class LineGroup(DealGroup):
    product: str | None = Field(
        default=None,
        description=f"The line's SKU; '{reporting.CUSTOM_PRODUCT}' for every custom line. {_GROUP}",
    )


class MarginRow(LineGroup):
    currency: str = Field(description=_CURRENCY)
    deals: int = _count("Deals in the group (with a product: deals with a line of it)")
    lines: int = _count("Deal lines in the group")
    list_amount: Decimal = _money("List value before any discount (list_tcv_estimated)")
    tcv_estimated: Decimal = _money(
        "Revenue: net over the whole term with usage at the estimated quantity; the base of "
        "gross margin"
    )
    tcv: Decimal = _money("Committed TCV: one-time, recurring and usage minimums over the term")
    acv: Decimal = _money("Annual contract value: committed recurring for 12 months + one-time")
    cost: Decimal = _money("Cost over the term at the estimated usage (cost_tcv_estimated)")
    gross_margin: Decimal = _money("tcv_estimated - cost")
    gross_margin_pct: Decimal | None = _percent(
        "gross_margin / tcv_estimated x 100: the revenue-weighted margin of the group's deals "
        "(null when revenue is 0)"
    )


class WaterfallRow(LineGroup):
    currency: str = Field(description=_CURRENCY)
    deals: int = _count("Deals in the group (with a product: deals with a line of it)")
    lines: int = _count("Deal lines in the group")
    list_amount: Decimal = _money("List value before any discount (list_tcv_estimated)")
    line_discount: Decimal = _money(
        "Taken off list by the lines' own discounts (percent or amount)"
    )
    header_discount: Decimal = _money(
        "Taken off what the line discounts left by the deal's header discount"
    )
    commitment_effect: Decimal = _money(
        "Added back by usage minimum commitments, billed where they beat the discounted usage"
    )
    net_amount: Decimal = _money(
        "Net: list - line_discount - header_discount + commitment_effect (tcv_estimated)"
    )
    discount_amount: Decimal = _money("Discount leakage: list_amount - net_amount")
    discount_pct: Decimal | None = _percent(
        "discount_amount / list_amount x 100 (null when the list is 0)"
    )
    below_floor_lines: int = _count(
        "Lines discounted deeper than their product's floor (max_discount_pct)"
    )
    beyond_floor: Decimal = _money(
        "Leakage past the floors: on those lines, list x (their discount - the floor)"
    )


class ApprovalNeedRow(DealGroup):
    stage: int = Field(description="The approval stage; 0 for a deal that needed none")
    role: str = Field(
        description=f"The approval role the policy required; '{reporting.NO_APPROVAL}' for "
        "standard offers (no approval needed)"
    )
    deals: int = _count(
        "Deals whose current version needed this approval (each deal counts once per role)"
    )


class BandRow(DealGroup):
    band: str = Field(description="The band of the deal's discount off list, e.g. '10-20%'")
    band_from_pct: Decimal = _percent("The band's lowest discount (inclusive)")
    band_to_pct: Decimal | None = _percent("The band's upper bound (exclusive); null for the last")
    deals: int = _count("Deals (current versions, priced) in the band")
    needed_approval: int = _count("Of them, deals whose policy required at least one approval")
    approved: int = _count("Deals whose current version was approved")
    rejected: int = _count("Deals whose current version was rejected")
    changes_requested: int = _count("Deals sent back for changes")
    policy_violation: int = _count("Deals the policy refused outright")
    approval_rate_pct: Decimal | None = _percent(
        "approved / (approved + rejected) x 100 (null when neither)"
    )


class MarginBandRow(DealGroup):
    band: str = Field(description="The band of the deal's gross margin percent, e.g. '40-50%'")
    band_from_pct: Decimal | None = _percent(
        "The band's lowest margin (inclusive); null for the first band, open below"
    )
    band_to_pct: Decimal | None = _percent("The band's upper bound (exclusive); null for the last")
    deals: int = _count("Deals (current versions with revenue) in the band")


class BookingRow(Periods):
    rep: str | None = Field(default=None, description=f"The deal's owner. {_GROUP}")
    segment: str | None = Field(default=None, description=f"The customer's segment. {_GROUP}")
    region: str | None = Field(default=None, description=f"The customer's region. {_GROUP}")
    customer_type: str | None = Field(
        default=None, description=f"'new' or 'existing' customer. {_GROUP}"
    )
    currency: str = Field(description=_CURRENCY)
    orders: int = _count("Closed-won deals booked (orders), dated by their booking")
    acv: Decimal = _money("ACV booked")
    tcv: Decimal = _money("Committed TCV booked")
    new_customer_acv: Decimal = _money("ACV booked with new customers")
    existing_customer_acv: Decimal = _money("ACV booked with existing customers")
    quota: Decimal | None = _money(
        "The quota targets (ACV) of the row's reps and period, as admins set them; only when "
        "the report is grouped by month or by quarter (and optionally rep) with no segment, "
        "region, product or customer_type filter, and a month's row takes month targets, a "
        "quarter's quarter targets; null otherwise or when no target is set"
    )
    attainment_pct: Decimal | None = _percent("acv / quota x 100 (null without a quota above 0)")


class DealCycleRow(DealGroup):
    deals: int = _count("Deals whose current version has been decided")
    mean_hours: Decimal = _percent("Mean time from first submission to the decision, hours")
    median_hours: Decimal = _percent("Median of that time, hours (linear interpolation)")
    p90_hours: Decimal = _percent("90th percentile of that time, hours (linear interpolation)")
    attempts_mean: Decimal = _percent("Versions submitted per deal, mean (1 + revisions)")
    attempts_max: int = _count("Most versions submitted for one deal")
    escalations: int = _count("Approval tasks that escalated past their SLA, over all versions")
    escalated_deals: int = _count("Deals with at least one escalated task")


class TaskCycleRow(BaseModel):
    stage: int | None = Field(default=None, description=f"The approval stage. {_GROUP}")
    role: str | None = Field(default=None, description=f"The approval role. {_GROUP}")
    approver: str | None = Field(
        default=None, description=f"Who held the task (after any delegation). {_GROUP}"
    )
    month: str | None = Field(
        default=None, description=f"YYYY-MM the task closed, in UTC. {_GROUP}"
    )
    quarter: str | None = Field(
        default=None, description=f"YYYY-Qn the task closed, in UTC. {_GROUP}"
    )
    rep: str | None = Field(default=None, description=f"The deal's owner. {_GROUP}")
    segment: str | None = Field(default=None, description=f"The customer's segment. {_GROUP}")
    region: str | None = Field(default=None, description=f"The customer's region. {_GROUP}")
    customer_type: str | None = Field(
        default=None, description=f"'new' or 'existing' customer. {_GROUP}"
    )
    tasks: int = _count("Approval tasks closed in the range (decided, escalated, superseded...)")
    decided: int = _count("Of them, decided by their approver (approved, rejected, changes)")
    mean_hours: Decimal | None = _percent("Mean time from task opened to decision, hours")
    median_hours: Decimal | None = _percent("Median of that time, hours")
    p90_hours: Decimal | None = _percent("90th percentile of that time, hours")
    approved: int = _count("Tasks approved")
    rejected: int = _count("Tasks rejected")
    changes_requested: int = _count("Tasks answered with a request for changes")
    escalated: int = _count("Tasks that passed their SLA and moved to someone above")


class PipelineRow(DealGroup):
    currency: str = Field(description=_CURRENCY)
    deals: int = _count("Deals in the group")
    open_deals: int = _count("Deals not yet won, lost, expired or withdrawn")
    open_acv: Decimal = _money("ACV of the open deals (their current versions)")
    open_tcv: Decimal = _money("Committed TCV of the open deals")
    won: int = _count("Deals closed won")
    lost: int = _count("Deals closed lost (the customer declined)")
    expired: int = _count("Deals whose proposal or revision window lapsed")
    withdrawn: int = _count("Deals the rep withdrew")
    win_rate_pct: Decimal | None = _percent("won / (won + lost) x 100 (null when neither)")
    won_acv: Decimal = _money("ACV of the won deals")
    avg_days_to_close: Decimal | None = _percent(
        "Mean days from first submission to closed won (null when none won)"
    )


RowT = TypeVar("RowT", bound=BaseModel)


class Report(BaseModel, Generic[RowT]):
    """A report: what was asked, and its rows."""

    model_config = ConfigDict(populate_by_name=True)

    report: str = Field(description="The report's name")
    view: str | None = Field(default=None, description="The view asked for, if it has views")
    group_by: list[str] = Field(description="The dimensions the rows are grouped by, in order")
    date_field: str | None = Field(
        default=None, description="Which date `from`, `to`, month and quarter refer to"
    )
    date_from: date | None = Field(
        default=None, alias="from", description="First day included (UTC), if any"
    )
    date_to: date | None = Field(
        default=None, alias="to", description="Last day included (UTC), if any"
    )
    rows: list[RowT]


class QuotaTargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The rep's username"
    )
    period: Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$")] = Field(
        description="A month (2026-07) or a quarter (2026-Q3)", examples=["2026-Q3"]
    )
    currency: CurrencyCode
    amount: Amount = Field(description="The ACV target, a decimal string in the currency")


class QuotaTargetsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[QuotaTargetIn] = Field(min_length=1, max_length=1000)


class QuotaTargetPublic(BaseModel):
    rep: str
    period: str
    period_kind: str = Field(description="month or quarter")
    period_start: date
    period_end: date
    currency: str
    amount: Decimal = _money("The ACV target")
    updated_by: str
    updated_at: datetime


# -- parameters -----------------------------------------------------------------------------


def _dims_pattern(allowed: Sequence[Dim]) -> str:
    names = "|".join(d.value for d in allowed)
    return rf"^({names})(,({names}))*$"


def _group_by_doc(allowed: Sequence[Dim]) -> str:
    return (
        "Dimensions to group by, in order: repeat the parameter or separate them with commas. "
        f"One or more of: {', '.join(d.value for d in allowed)}"
    )


# One pattern per report, checked on each value, so a dimension the report lacks is a 422.
LineGroupBy = Annotated[
    list[Annotated[str, StringConstraints(pattern=_dims_pattern(LINE_DIMS))]] | None,
    Query(description=_group_by_doc(LINE_DIMS)),
]
DealGroupBy = Annotated[
    list[Annotated[str, StringConstraints(pattern=_dims_pattern(DEAL_DIMS))]] | None,
    Query(description=_group_by_doc(DEAL_DIMS)),
]
BookingGroupBy = Annotated[
    list[Annotated[str, StringConstraints(pattern=_dims_pattern(BOOKING_DIMS))]] | None,
    Query(description=_group_by_doc(BOOKING_DIMS)),
]
TaskGroupBy = Annotated[
    list[Annotated[str, StringConstraints(pattern=_dims_pattern(TASK_DIMS))]] | None,
    Query(description=_group_by_doc(TASK_DIMS)),
]


def _dims(values: list[str] | None) -> list[Dim]:
    # Each value has matched the route's pattern, so every name is a Dim of that report.
    names = [name for value in values or [] for name in value.split(",")]
    return list(dict.fromkeys(Dim(name) for name in names))


Names = Annotated[list[Annotated[str, StringConstraints(max_length=100)]] | None, Query()]


async def report_filter(
    date_from: Annotated[
        date | None,
        Query(alias="from", description="First day to include (ISO date, UTC), inclusive"),
    ] = None,
    date_to: Annotated[
        date | None,
        Query(alias="to", description="Last day to include (ISO date, UTC), inclusive"),
    ] = None,
    currency: Annotated[
        list[CurrencyCode] | None, Query(description="Only these currencies")
    ] = None,
    deal_status: Annotated[
        list[DealStatus] | None, Query(alias="status", description="Only deals in these statuses")
    ] = None,
    rep: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]] | None,
        Query(description="Only deals owned by these reps"),
    ] = None,
    segment: Annotated[
        list[Annotated[str, StringConstraints(max_length=100)]] | None,
        Query(description="Only these customer segments"),
    ] = None,
    region: Annotated[
        list[Annotated[str, StringConstraints(max_length=100)]] | None,
        Query(description="Only these regions"),
    ] = None,
    product: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]] | None,
        Query(
            description=(
                "Only these products (SKUs, or '(custom)'): line figures of those products, "
                "or for a report per deal, the deals selling one of them"
            )
        ),
    ] = None,
    customer_type: Annotated[
        reporting.CustomerType | None, Query(description="Only new or only existing customers")
    ] = None,
) -> ReportFilter:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise RequestValidationError(
            [
                {
                    "type": "date_range",
                    "loc": ("query", "to"),
                    "msg": "`to` must not be before `from`",
                    "input": date_to.isoformat(),
                }
            ]
        )
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        currencies=tuple(currency or ()),
        statuses=tuple(s.value for s in deal_status or ()),
        reps=tuple(rep or ()),
        segments=tuple(segment or ()),
        regions=tuple(region or ()),
        products=tuple(product or ()),
        customer_type=customer_type.value if customer_type else None,
    )


FilterDep = Annotated[ReportFilter, Depends(report_filter)]
DateFieldQuery = Annotated[
    DateField | None,
    Query(
        description=(
            "Which date of a deal `from`, `to`, month and quarter use: submitted (first "
            "submission), decided (its current version's approval decision) or closed (won, "
            "lost, expired, withdrawn); deals without that date are left out"
        )
    ),
]
FormatQuery = Annotated[
    ReportFormat | None,
    Query(
        alias="format",
        description=f"json (default), csv or xlsx; overrides the Accept header ({CSV_TYPE}, "
        f"{XLSX_TYPE})",
    ),
]
AcceptHeader = Annotated[str | None, Header()]

_FORMATS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, or with the same columns as CSV or an Excel sheet",
        "content": {
            CSV_TYPE: {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    406: {"description": "The Accept header names no format this report has"},
}


def negotiate(requested: ReportFormat | None, accept: str | None) -> ReportFormat:
    """`format=` wins; else the Accept header's most preferred type we have; else JSON."""
    if requested is not None:
        return requested
    if not accept or not accept.strip():
        return ReportFormat.JSON
    offers: list[tuple[float, int, ReportFormat]] = []
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        found = _MEDIA_TYPES.get(media.lower())
        if found is not None and quality > 0:
            offers.append((-quality, position, found))
    if not offers:
        raise HTTPException(
            status_code=status.HTTP_406_NOT_ACCEPTABLE,
            detail=f"reports come as application/json, {CSV_TYPE} or {XLSX_TYPE}",
        )
    return min(offers)[2]


# -- rendering ------------------------------------------------------------------------------


def _amount(minor: int | None, currency: str) -> Decimal | None:
    """Minor units as the decimal amount (1234550 -> 12345.50 in USD): exact, never rounded."""
    if minor is None:
        return None
    return Decimal(minor).scaleb(-minor_units(currency))


def _hundredths(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to 2 places, half-up (ties away from zero, as the pricing
    contract rounds), exactly: integer arithmetic, a few times faster than Decimal division,
    which matters at thousands of rows."""
    negative = (numerator < 0) != (denominator < 0)
    a, b = abs(numerator), abs(denominator)
    rounded = (200 * a + b) // (2 * b)  # floor(100 a / b + 1/2)
    return Decimal(-rounded if negative and rounded else rounded).scaleb(-2)


def _ratio_pct(part: int | None, whole: int | None) -> Decimal | None:
    """part / whole x 100, half-up to 2 places, or None when whole is 0 or unknown."""
    if not whole or part is None:
        return None
    return _hundredths(100 * part, whole)


def _quotient(total: int | None, count: int | None, unit: int) -> Decimal | None:
    """total / count / unit to 2 places (seconds to hours or days), or None without data."""
    if total is None or not count:
        return None
    return _hundredths(total, count * unit)


def _columns(model: type[BaseModel], group_by: Sequence[str]) -> list[str]:
    """The table's columns: currency, the dimensions asked for in their order, then the rest."""
    dimensions = {d.value for d in Dim}
    fields = list(model.model_fields)
    front = ["currency"] if "currency" in fields else []
    rest = [f for f in fields if f not in dimensions and f != "currency"]
    return front + [d for d in group_by if d in fields] + rest


# Text that a spreadsheet would run as a formula when the file is opened (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in columns])
    return buffer.getvalue()


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return _safe_text(value)
    # A Decimal writes as the same string the JSON report has (never a float); ints as ints.
    return value


def _xlsx(
    title: str, model: type[BaseModel], rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> bytes:
    workbook = Workbook(write_only=False)
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    kinds = {
        name: extra.get(_KIND) if isinstance(extra := field.json_schema_extra, dict) else None
        for name, field in model.model_fields.items()
    }
    for number, row in enumerate(rows, start=2):
        currency = row.get("currency")
        places = minor_units(currency) if currency else 2
        # As many places as the currency has minor units: 2 for USD, none for JPY.
        money_format = "#,##0" + ("." + "0" * places if places else "")
        for index, name in enumerate(columns, start=1):
            value = row[name]
            cell = sheet.cell(row=number, column=index)
            # Amounts go in as Decimal: openpyxl writes their exact digits to the file.
            cell.value = value
            if isinstance(value, str):
                # Text stays text, never a formula, whatever it starts with.
                cell.data_type = "s"
            if kinds.get(name) == "money":
                cell.number_format = money_format
            elif kinds.get(name) == "decimal":
                cell.number_format = _PERCENT_FORMAT
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _respond(
    model: type[BaseModel],
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    fmt: ReportFormat,
    *,
    complete: bool = False,
) -> Response:
    """The report in the format asked for. `model` documents a row (the OpenAPI schema, the
    spreadsheet's number formats); the rows are plain dicts of exactly its fields, written as
    JSON in one pass of pydantic-core. Validating thousands of rows into models first (and
    FastAPI validating them again) cost more than the database's query (bench/reports.py);
    tests/api/test_reports.py checks every report's rows against its model instead."""
    # Every field, in the model's order: the dimensions not grouped by are null. `complete`
    # rows were built that way.
    if not complete:
        blank = dict.fromkeys(model.model_fields)
        rows = [{**blank, **row} for row in rows]
    if fmt is ReportFormat.JSON:
        # Decimals become their strings ("1234.50"), never floats; dates ISO 8601.
        return Response(content=to_json({**meta, "rows": rows}), media_type="application/json")
    columns = _columns(model, meta["group_by"])
    filename = f"{meta['report']}{'-' + meta['view'] if meta.get('view') else ''}"
    if fmt is ReportFormat.CSV:
        return Response(
            content=_csv(rows, columns),
            media_type=f"{CSV_TYPE}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return Response(
        content=_xlsx(filename, model, rows, columns),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )


def _meta(
    report: str,
    dims: Sequence[Dim],
    where: ReportFilter,
    *,
    date_field: str | None,
    view: str | None = None,
) -> dict[str, Any]:
    """The report's header: Report's fields but its rows, by their JSON names."""
    return {
        "report": report,
        "view": view,
        "group_by": [d.value for d in dims],
        "date_field": date_field,
        "from": where.date_from,
        "to": where.date_to,
    }


# -- the reports ----------------------------------------------------------------------------


def _margin_rows(dims: Sequence[Dim], records: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """MarginRow dicts, every field in the model's order, from reporting.margins in one pass
    (see _booking_rows)."""
    blank = dict.fromkeys(MarginRow.model_fields)
    names = [d.value for d in dims]
    rows = []
    for record in records:
        currency = record[0]
        deals, lines, listed, revenue, tcv, acv, cost = record[-7:]
        revenue, cost = revenue or 0, cost or 0
        exponent = -minor_units(currency)
        row = blank.copy()
        row.update(zip(names, record[1:-7], strict=True))
        row["currency"] = currency
        row["deals"] = deals or 0
        row["lines"] = lines or 0
        row["list_amount"] = Decimal(listed or 0).scaleb(exponent)
        row["tcv_estimated"] = Decimal(revenue).scaleb(exponent)
        row["tcv"] = Decimal(tcv or 0).scaleb(exponent)
        row["acv"] = Decimal(acv or 0).scaleb(exponent)
        row["cost"] = Decimal(cost).scaleb(exponent)
        row["gross_margin"] = Decimal(revenue - cost).scaleb(exponent)
        row["gross_margin_pct"] = _ratio_pct(revenue - cost, revenue)
        rows.append(row)
    return rows


@router.get(
    "/margins",
    response_model=Report[MarginRow],
    responses=_FORMATS_DOC,
)
def margins_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    view: Annotated[
        MarginView,
        Query(description="all deals, approved (current version approved) or won deals"),
    ] = MarginView.ALL,
    group_by: LineGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """Gross margin, revenue-weighted, with TCV, ACV and cost: each deal's current version.

    Dates default to submission for `view=all`, the decision for `approved`, the close for
    `won`."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    where = _dated(where, date_field or reporting.default_date_field(view))
    # A session of the route's own, not a dependency's: that takes two more thread-pool
    # hops (open, close), which cost more than a small report's query on a busy machine.
    with reporting.report_session(sessions) as session:
        records = reporting.margins(session, view=view, group_by=dims, where=where)
    meta = _meta("margins", dims, where, date_field=where.date_field.value, view=view.value)
    return _respond(MarginRow, meta, _margin_rows(dims, records), output, complete=True)


def _dated(where: ReportFilter, date_field: DateField) -> ReportFilter:
    return replace(where, date_field=date_field)


def _waterfall_row(row: ReportRow) -> dict[str, Any]:
    currency = row.currency or ""
    v = row.values
    list_minor, net = v["list"] or 0, v["net"] or 0
    return {
        **row.group,
        "currency": currency,
        "deals": v["deals"] or 0,
        "lines": v["lines"] or 0,
        "list_amount": _amount(list_minor, currency),
        "line_discount": _amount(v["line_discount"] or 0, currency),
        "header_discount": _amount(v["header_discount"] or 0, currency),
        "commitment_effect": _amount(v["commitment_effect"] or 0, currency),
        "net_amount": _amount(net, currency),
        "discount_amount": _amount(list_minor - net, currency),
        "discount_pct": _ratio_pct(list_minor - net, list_minor),
        "below_floor_lines": v["below_floor_lines"] or 0,
        "beyond_floor": _amount(v["beyond_floor"] or 0, currency),
    }


@router.get("/discounts", response_model=Report[WaterfallRow], responses=_FORMATS_DOC)
def discounts_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    group_by: LineGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """The price waterfall from list to net (line discounts, header discount, usage commitment
    effect) and discount leakage; group by rep and product for leakage by rep and product."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    where = _dated(where, date_field or DateField.SUBMITTED)
    with reporting.report_session(sessions) as session:
        rows = reporting.discount_waterfall(session, group_by=dims, where=where)
    meta = _meta("discounts", dims, where, date_field=where.date_field.value)
    return _respond(WaterfallRow, meta, [_waterfall_row(r) for r in rows], output)


@router.get("/discounts/approvals", response_model=Report[ApprovalNeedRow], responses=_FORMATS_DOC)
def approvals_needed_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    group_by: DealGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """How many deals needed which approvals (per stage and role, as the policy required of
    each deal's current version)."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    where = _dated(where, date_field or DateField.SUBMITTED)
    with reporting.report_session(sessions) as session:
        rows = reporting.approvals_needed(session, group_by=dims, where=where)
    meta = _meta("approvals", dims, where, date_field=where.date_field.value)
    return _respond(
        ApprovalNeedRow,
        meta,
        [{**r.group, "deals": r.values["deals"] or 0} for r in rows],
        output,
    )


_DEFAULT_BANDS = "5,10,15,20,30,50"


@router.get("/discounts/bands", response_model=Report[BandRow], responses=_FORMATS_DOC)
def approval_bands_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    bands: Annotated[
        str,
        Query(
            pattern=r"^\d{1,3}(\.\d{1,2})?(,\d{1,3}(\.\d{1,2})?){0,19}$",
            description=(
                "Band edges, percent off list, increasing, comma-separated: 5,10 makes bands "
                "0-5%, 5-10% and 10%+"
            ),
        ),
    ] = _DEFAULT_BANDS,
    group_by: DealGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """Approval rate by discount band: per band of the deal's discount off list, the deals,
    those that needed approval, and how their current versions were decided."""
    output = negotiate(fmt, accept)
    edges = _band_edges(bands, lowest=Decimal(0))
    dims = _dims(group_by)
    where = _dated(where, date_field or DateField.SUBMITTED)
    with reporting.report_session(sessions) as session:
        rows = reporting.approval_bands(
            session, edges_bp=[int(e * HUNDRED) for e in edges], group_by=dims, where=where
        )
    # Discounts start at 0: the first band is [0, first edge).
    bounds: list[Decimal | None] = [Decimal(0), *edges, None]

    def band_row(row: ReportRow) -> dict[str, Any]:
        group, band = _band_of(row, bounds)
        v = {k: value or 0 for k, value in row.values.items()}
        return {
            **group,
            **band,
            "approval_rate_pct": _ratio_pct(v["approved"], v["approved"] + v["rejected"]),
            **v,
        }

    meta = _meta("approval-bands", dims, where, date_field=where.date_field.value)
    return _respond(BandRow, meta, [band_row(r) for r in rows], output)


def _band_edges(bands: str, *, lowest: Decimal) -> list[Decimal]:
    """The edges of `bands=` (already matched to its pattern): increasing, each above
    `lowest` and at most 100; a 422 at `bands` otherwise."""
    edges = [Decimal(edge) for edge in bands.split(",")]
    if edges != sorted(set(edges)) or edges[-1] > HUNDRED or edges[0] <= lowest:
        raise RequestValidationError(
            [
                {
                    "type": "bands",
                    "loc": ("query", "bands"),
                    "msg": f"band edges must increase, each above {_pct_text(lowest)} and at "
                    "most 100",
                    "input": bands,
                }
            ]
        )
    return edges


def _band_of(
    row: ReportRow, bounds: Sequence[Decimal | None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row's group without its band index, and the band's name and bounds (None: open)."""
    group = dict(row.group)
    index = group.pop("band")
    assert isinstance(index, int)
    low, high = bounds[index], bounds[index + 1]
    return group, {"band": band_name(low, high), "band_from_pct": low, "band_to_pct": high}


def band_name(low: Decimal | None, high: Decimal | None) -> str:
    """'10-20%', 'below 0%' (open below), '90%+' (open above), '-5 to 10%'."""
    if low is None:
        assert high is not None
        return f"below {_pct_text(high)}%"
    if high is None:
        return f"{_pct_text(low)}%+"
    # "-5 to 10%", since "-5-10%" reads as a typo.
    return f"{_pct_text(low)}{' to ' if low < 0 else '-'}{_pct_text(high)}%"


def _pct_text(value: Decimal) -> str:
    return f"{value.normalize():f}"


DEFAULT_MARGIN_BANDS = "0,10,20,30,40,50,60,70,80,90"


@router.get("/margins/bands", response_model=Report[MarginBandRow], responses=_FORMATS_DOC)
def margin_bands_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    view: Annotated[
        MarginView,
        Query(description="all deals, approved (current version approved) or won deals"),
    ] = MarginView.ALL,
    bands: Annotated[
        str,
        Query(
            pattern=r"^-?\d{1,3}(\.\d{1,2})?(,-?\d{1,3}(\.\d{1,2})?){0,19}$",
            description=(
                "Band edges, gross margin percent, increasing, comma-separated: 0,50 makes "
                "bands below 0%, 0-50% and 50%+"
            ),
        ),
    ] = DEFAULT_MARGIN_BANDS,
    group_by: DealGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """The margin distribution: deals (current versions) per band of their gross margin
    percent. Deals without revenue have no margin percent and are not counted."""
    output = negotiate(fmt, accept)
    edges = _band_edges(bands, lowest=-HUNDRED)
    dims = _dims(group_by)
    where = _dated(where, date_field or reporting.default_date_field(view))
    with reporting.report_session(sessions) as session:
        rows = reporting.margin_bands(
            session,
            edges_bp=[int(e * HUNDRED) for e in edges],
            view=view,
            group_by=dims,
            where=where,
        )
    # Margins have no floor: the first band is open below.
    bounds: list[Decimal | None] = [None, *edges, None]

    def band_row(row: ReportRow) -> dict[str, Any]:
        group, band = _band_of(row, bounds)
        return {**group, **band, "deals": row.values["deals"] or 0}

    meta = _meta("margin-bands", dims, where, date_field=where.date_field.value, view=view.value)
    return _respond(MarginBandRow, meta, [band_row(r) for r in rows], output)


def _booking_rows(dims: Sequence[Dim], records: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """BookingRow dicts, every field in the model's order, straight from the database's rows
    (reporting.bookings): one pass, no intermediate rows, since at thousands of rows
    the Python between fetch and JSON cost the report its 1.5x of the statement."""
    blank = dict.fromkeys(BookingRow.model_fields)
    names = [d.value for d in dims]
    rows = []
    for record in records:
        currency = record[0]
        orders, acv, tcv, new, existing, quota = record[-6:]
        exponent = -minor_units(currency)
        row = blank.copy()
        row.update(zip(names, record[1:-6], strict=True))
        row["currency"] = currency
        row["orders"] = orders
        # Sums of nothing are NULL; Decimal(n).scaleb is _amount without its None check.
        row["acv"] = Decimal(acv or 0).scaleb(exponent)
        row["tcv"] = Decimal(tcv or 0).scaleb(exponent)
        row["new_customer_acv"] = Decimal(new or 0).scaleb(exponent)
        row["existing_customer_acv"] = Decimal(existing or 0).scaleb(exponent)
        if quota is not None:
            row["quota"] = Decimal(quota).scaleb(exponent)
            row["attainment_pct"] = _ratio_pct(acv or 0, quota)
        rows.append(row)
    return rows


@router.get("/bookings", response_model=Report[BookingRow], responses=_FORMATS_DOC)
def bookings_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    group_by: BookingGroupBy = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """Closed-won ACV and TCV (the orders acceptance books), new versus existing customers,
    against the reps' quota targets with attainment. Dated by booking; `status` is ignored."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    with reporting.report_session(sessions) as session:
        records = reporting.bookings(session, group_by=dims, where=where)
    meta = _meta("bookings", dims, where, date_field="booked")
    return _respond(BookingRow, meta, _booking_rows(dims, records), output, complete=True)


_HOUR = 3600
_DAY = 86_400


def _deal_cycle_row(row: ReportRow) -> dict[str, Any]:
    v = row.values
    deals_count = v["deals"] or 0
    return {
        **row.group,
        "deals": deals_count,
        "mean_hours": _quotient(v["seconds_sum"], deals_count, _HOUR),
        "median_hours": _quotient(v["median_x2"], 2, _HOUR),
        "p90_hours": _quotient(v["p90_x10"], 10, _HOUR),
        "attempts_mean": _quotient(v["attempts_sum"], deals_count, 1),
        "attempts_max": v["attempts_max"] or 0,
        "escalations": v["escalations"] or 0,
        "escalated_deals": v["escalated_deals"] or 0,
    }


@router.get("/cycle-times", response_model=Report[DealCycleRow], responses=_FORMATS_DOC)
def cycle_times_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    group_by: DealGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """Submit to decision per deal (median, p90, mean), attempts per deal and escalations.
    Dated by the decision unless `date_field` says otherwise."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    where = _dated(where, date_field or DateField.DECIDED)
    with reporting.report_session(sessions) as session:
        rows = reporting.deal_cycle_times(session, group_by=dims, where=where)
    meta = _meta("cycle-times", dims, where, date_field=where.date_field.value)
    return _respond(DealCycleRow, meta, [_deal_cycle_row(r) for r in rows], output)


def _task_cycle_row(row: ReportRow) -> dict[str, Any]:
    v = row.values
    decided = v["decided"] or 0
    return {
        **row.group,
        "tasks": v["tasks"] or 0,
        "decided": decided,
        "mean_hours": _quotient(v["seconds_sum"], decided, _HOUR),
        "median_hours": _quotient(v["median_x2"], 2, _HOUR),
        "p90_hours": _quotient(v["p90_x10"], 10, _HOUR),
        "approved": v["approved"] or 0,
        "rejected": v["rejected"] or 0,
        "changes_requested": v["changes_requested"] or 0,
        "escalated": v["escalated"] or 0,
    }


@router.get("/cycle-times/tasks", response_model=Report[TaskCycleRow], responses=_FORMATS_DOC)
def task_cycle_times_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    group_by: TaskGroupBy = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """Per stage, role and approver: time from a task opening to its decision (median, p90,
    mean), decisions and escalations. Dated by when each task closed; `status` filters deals."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    with reporting.report_session(sessions) as session:
        rows = reporting.task_cycle_times(session, group_by=dims, where=where)
    meta = _meta("task-cycle-times", dims, where, date_field="task_closed")
    return _respond(TaskCycleRow, meta, [_task_cycle_row(r) for r in rows], output)


def _pipeline_row(row: ReportRow) -> dict[str, Any]:
    currency = row.currency or ""
    v = {k: value or 0 for k, value in row.values.items()}
    return {
        **row.group,
        "currency": currency,
        "deals": v["deals"],
        "open_deals": v["open_deals"],
        "open_acv": _amount(v["open_acv"], currency),
        "open_tcv": _amount(v["open_tcv"], currency),
        "won": v["won"],
        "lost": v["lost"],
        "expired": v["expired"],
        "withdrawn": v["withdrawn"],
        "win_rate_pct": _ratio_pct(v["won"], v["won"] + v["lost"]),
        "won_acv": _amount(v["won_acv"], currency),
        "avg_days_to_close": _quotient(v["won_close_seconds"], v["won"], _DAY),
    }


@router.get("/pipeline", response_model=Report[PipelineRow], responses=_FORMATS_DOC)
def pipeline_report(
    user: CurrentUser,
    sessions: SessionFactoryDep,
    where: FilterDep,
    group_by: DealGroupBy = None,
    date_field: DateFieldQuery = None,
    fmt: FormatQuery = None,
    accept: AcceptHeader = None,
) -> Response:
    """Open deals with their ACV (group by status for the pipeline by stage), the win rate
    won / (won + lost), and the mean time to close a won deal."""
    output = negotiate(fmt, accept)
    dims = _dims(group_by)
    where = _dated(where, date_field or DateField.SUBMITTED)
    with reporting.report_session(sessions) as session:
        rows = reporting.pipeline(session, group_by=dims, where=where)
    meta = _meta("pipeline", dims, where, date_field=where.date_field.value)
    return _respond(PipelineRow, meta, [_pipeline_row(r) for r in rows], output)


# -- quota targets --------------------------------------------------------------------------


def _quota_public(row: reporting.QuotaTarget) -> QuotaTargetPublic:
    return QuotaTargetPublic(
        rep=row.rep,
        period=row.period,
        period_kind=row.period_kind,
        period_start=row.period_start,
        period_end=row.period_end,
        currency=row.currency,
        amount=Decimal(row.amount_minor).scaleb(-minor_units(row.currency)),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


@router.get("/quotas")
def list_quotas(
    user: CurrentUser,
    session: SessionDep,
    rep: Names = None,
    period: Names = None,
    currency: Annotated[list[CurrencyCode] | None, Query()] = None,
) -> list[QuotaTargetPublic]:
    """The reps' quota targets, by rep and period."""
    rows = reporting.list_quotas(
        session, reps=rep or (), periods=period or (), currencies=currency or ()
    )
    return [_quota_public(r) for r in rows]


@router.put("/quotas")
def put_quotas(
    body: QuotaTargetsIn, user: CurrentUser, session: SessionDep
) -> list[QuotaTargetPublic]:
    """Set quota targets (ACV per rep, period and currency); a target given again replaces
    the earlier one. All or nothing: one invalid target refuses the request."""
    errors: list[dict[str, Any]] = []
    known: dict[str, bool] = {}
    for i, target in enumerate(body.targets):
        if target.rep not in known:
            known[target.rep] = users.get_user(session, username=target.rep) is not None
        if not known[target.rep]:
            errors.append(_body_error(i, "rep", "no user has this username", target.rep))
        scaled = target.amount.scaleb(minor_units(target.currency))
        if scaled != scaled.to_integral_value():
            errors.append(
                _body_error(
                    i,
                    "amount",
                    f"{target.currency} has {minor_units(target.currency)} decimal places",
                    str(target.amount),
                )
            )
    if errors:
        raise RequestValidationError(errors)
    now = datetime.now(UTC)
    written = []
    for target in body.targets:
        minor = int(target.amount.scaleb(minor_units(target.currency)))
        row = reporting.put_quota(
            session,
            rep=target.rep,
            period=target.period,
            currency=target.currency,
            amount_minor=minor,
            actor=user.username,
            at=now,
        )
        deals.append_audit(
            session,
            subject_type="quota",
            deal_id=target.rep,
            key=f"{target.period}:{target.currency}:{uuid.uuid4()}",
            version=0,
            event="quota_set",
            actor=user.username,
            at=now,
            detail={
                "period": target.period,
                "currency": target.currency,
                "amount": str(target.amount),
            },
        )
        written.append(_quota_public(row))
    session.commit()
    return written


def _body_error(index: int, field: str, msg: str, value: str) -> dict[str, Any]:
    return {
        "type": "value_error",
        "loc": ("body", "targets", index, field),
        "msg": msg,
        "input": value,
    }
