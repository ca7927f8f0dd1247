"""Finance reporting: the flat tables reports read, the writers that keep them, the queries.

Why tables of their own: deal_version keeps each version's figures as JSON, which no database
sums quickly over years of history. These rows hold each deal's *current* version, its figures
as integers in the currency's minor units (sums in SQL are exact on SQLite and PostgreSQL
alike), one row per deal (`report_deal`), one per line (`report_line`) and one per approval the
policy asked for (`report_approval`). The workflow's activities write them at each version and
outcome; every writer is idempotent, so a retried activity writes the same rows again.

Every aggregation runs in the database (SQLAlchemy Core: sum, count, window functions); Python
only turns the few grouped rows into decimal strings. Amounts of two currencies are never
added: every money query groups by currency first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    case,
    cast,
    delete,
    distinct,
    exists,
    func,
    literal_column,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import Result, Row
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, Session, SQLModel

from pricing import DealInput, PricedDeal, minor_units, round_money
from pricing.figures import PricedLine
from pricing.inputs import LineInput
from pricing.money import HUNDRED, PRICING_CONTEXT
from store.columns import UTCDateTime
from store.tables import ApprovalTask, Deal, DealOrder

if TYPE_CHECKING:
    from store.db import SessionFactory  # store.db imports this module (via tables)

# Statuses as DealWorkflow writes them (workflows.messages.DealStatus; the store does not
# import the workflow layer, and tests/store/test_reporting.py checks the two agree).
DECISION_STATUSES = frozenset({"approved", "rejected", "changes_requested", "policy_violation"})
CLOSED_STATUSES = frozenset({"closed_won", "closed_lost", "expired", "withdrawn"})
# A custom line has no SKU; all of them report as one product, since their names are free text.
CUSTOM_PRODUCT = "(custom)"
# The role a deal that needed no approval (a standard offer) reports under.
NO_APPROVAL = "none"


def _money_column() -> Any:
    return Field(default=0, sa_column=Column(BigInteger, nullable=False))


def _seconds_column() -> Any:
    return Field(default=None, sa_column=Column(BigInteger))


class ReportDeal(SQLModel, table=True):
    """One deal as finance sees it: the current version's figures and the deal's outcome."""

    __tablename__ = "report_deal"
    __table_args__ = (
        Index("ix_report_deal_submitted", "submitted_at"),
        Index("ix_report_deal_decided", "decided_at"),
        Index("ix_report_deal_closed", "closed_at"),
        Index("ix_report_deal_status", "status"),
        Index("ix_report_deal_owner", "owner"),
    )

    deal_id: str = Field(primary_key=True, foreign_key="deal.id", max_length=36)
    version: int
    owner: str = Field(max_length=64)
    customer_name: str = Field(max_length=200)
    segment: str = Field(max_length=100)
    region: str = Field(max_length=100)
    new_customer: bool
    currency: str = Field(max_length=3)
    status: str = Field(max_length=32)
    # The current version's approval outcome (one of DECISION_STATUSES), None until decided.
    decision: str | None = Field(default=None, max_length=32)
    # The deal's first submission; the decision on its current version; its final outcome.
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # Whole seconds from submitted_at, kept at write time so percentiles need no date
    # arithmetic in SQL (which SQLite and PostgreSQL spell differently).
    decision_seconds: int | None = _seconds_column()
    close_seconds: int | None = _seconds_column()
    # None until the policy has been evaluated on the current version.
    needs_approval: bool | None = None
    # Percentages as integer basis points (12.34% = 1234), so bands compare exactly.
    discount_bp: int = 0
    max_line_discount_bp: int = 0
    lines: int = 0
    below_floor_lines: int = 0
    # Minor units; each is the sum of the deal's report_line rows, and equals the priced
    # deal's own figure (see _footed).
    list_minor: int = _money_column()
    net_minor: int = _money_column()  # tcv_estimated: the revenue margin is measured on
    tcv_minor: int = _money_column()
    acv_minor: int = _money_column()
    mrr_minor: int = _money_column()
    cost_minor: int = _money_column()
    line_discount_minor: int = _money_column()
    header_discount_minor: int = _money_column()
    commitment_minor: int = _money_column()
    beyond_floor_minor: int = _money_column()


class ReportLine(SQLModel, table=True):
    """One line of a deal's current version; replaced whole when a new version is priced.

    It repeats the deal's dimensions and dates (the writers keep them in step), so a report by
    product reads this table alone: joining a million lines to their deals costs PostgreSQL
    about as much again as the aggregation itself (measured with bench/reports.py).
    """

    __tablename__ = "report_line"
    __table_args__ = (
        Index("ix_report_line_product", "product"),
        Index("ix_report_line_submitted", "submitted_at"),
        Index("ix_report_line_decided", "decided_at"),
        Index("ix_report_line_closed", "closed_at"),
    )

    deal_id: str = Field(primary_key=True, foreign_key="report_deal.deal_id", max_length=36)
    line_no: int = Field(primary_key=True)
    product: str = Field(max_length=64)
    name: str = Field(max_length=200)
    # 1 on the deal's first line of this product, else 0: sum() counts deals per product
    # without a COUNT(DISTINCT), which sorts (four times slower on PostgreSQL).
    first_of_product: int = 0
    effective_discount_bp: int = 0
    below_floor: bool = False
    # Copies of the deal's columns of the same names.
    owner: str = Field(max_length=64)
    segment: str = Field(max_length=100)
    region: str = Field(max_length=100)
    new_customer: bool
    currency: str = Field(max_length=3)
    status: str = Field(max_length=32)
    decision: str | None = Field(default=None, max_length=32)
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    list_minor: int = _money_column()
    net_minor: int = _money_column()
    tcv_minor: int = _money_column()
    acv_minor: int = _money_column()
    mrr_minor: int = _money_column()
    cost_minor: int = _money_column()
    line_discount_minor: int = _money_column()
    header_discount_minor: int = _money_column()
    commitment_minor: int = _money_column()
    beyond_floor_minor: int = _money_column()


class ReportApproval(SQLModel, table=True):
    """An approval (stage, role) the policy required of a deal's current version."""

    __tablename__ = "report_approval"

    deal_id: str = Field(primary_key=True, foreign_key="report_deal.deal_id", max_length=36)
    stage: int = Field(primary_key=True)
    role: str = Field(primary_key=True, max_length=64)


class QuotaTarget(SQLModel, table=True):
    """A rep's bookings target (ACV) for a month ("2026-07") or a quarter ("2026-Q3")."""

    __tablename__ = "quota_target"
    __table_args__ = (UniqueConstraint("rep", "period", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    rep: str = Field(max_length=64)
    period: str = Field(max_length=8, index=True)
    period_kind: str = Field(max_length=8)  # month | quarter
    period_start: date
    period_end: date
    currency: str = Field(max_length=3)
    amount_minor: int = _money_column()
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


RD: Table = ReportDeal.__table__  # type: ignore[attr-defined]
RL: Table = ReportLine.__table__  # type: ignore[attr-defined]
RA: Table = ReportApproval.__table__  # type: ignore[attr-defined]
QT: Table = QuotaTarget.__table__  # type: ignore[attr-defined]
AT: Table = ApprovalTask.__table__  # type: ignore[attr-defined]
DO: Table = DealOrder.__table__  # type: ignore[attr-defined]


# Memory PostgreSQL may give each sort or hash of a report's query. It cannot estimate how
# many groups a month of a timestamp makes (it assumes one a row), so at the default 4 MB it
# sorts 30,000 orders to group them where a hash table of 2,200 groups would do: twice the
# time of a bookings report (bench/reports.py). Set per transaction, for reports only.
REPORT_WORK_MEM = "64MB"


@contextmanager
def report_session(sessions: SessionFactory) -> Iterator[Session]:
    """A session for one report's queries."""
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        yield session


# -- SQL the two databases spell differently ---------------------------------------------------


class month_key(FunctionElement[str]):
    """'YYYY-MM' of a UTC timestamp column."""

    type = String()
    name = "month_key"
    inherit_cache = True


class quarter_key(FunctionElement[str]):
    """'YYYY-Qn' of a UTC timestamp column."""

    type = String()
    name = "quarter_key"
    inherit_cache = True


class month_group(FunctionElement[Any]):
    """GROUP BY term of a month_key(column) that is the select list's `position`-th column."""

    name = "month_group"
    inherit_cache = True


class quarter_group(FunctionElement[Any]):
    """GROUP BY term of a quarter_key(column) that is the select list's `position`-th column."""

    name = "quarter_group"
    inherit_cache = True


class epoch_seconds(FunctionElement[int]):
    """Whole seconds since 1970 of a UTC timestamp column (fractions dropped on both)."""

    type = BigInteger()
    name = "epoch_seconds"
    inherit_cache = True


def _arg(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    (argument,) = list(element.clauses)
    return compiler.process(argument, **kw)


# SQLite keeps UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' text in UTC, which its date functions
# read; PostgreSQL's timestamptz is read in UTC explicitly, whatever the session's time zone.
@compiles(month_key)
def _month_sqlite(element: month_key, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {_arg(element, compiler, **kw)})"


# PostgreSQL groups a month or quarter by the truncated timestamp and formats each group once:
# to_char on every row cost about 45% of a report grouped by quarter (bench/reports.py). The
# key is a function of its group term, which PostgreSQL accepts in the select list.
def _truncated(kind: str, element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    return f"date_trunc('{kind}', {column} AT TIME ZONE 'UTC')"


@compiles(month_key, "postgresql")
def _month_pg(element: month_key, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({_truncated('month', element, compiler, **kw)}, 'YYYY-MM')"


@compiles(quarter_key)
def _quarter_sqlite(element: quarter_key, compiler: SQLCompiler, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(strftime('%Y', {x}) || '-Q' || ((CAST(strftime('%m', {x}) AS INTEGER) + 2) / 3))"


@compiles(quarter_key, "postgresql")
def _quarter_pg(element: quarter_key, compiler: SQLCompiler, **kw: Any) -> str:
    return f"""to_char({_truncated("quarter", element, compiler, **kw)}, 'YYYY-"Q"Q')"""


@compiles(month_group)
@compiles(quarter_group)
def _period_group(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # Elsewhere (SQLite) by position: repeating the key's expression would compute it again.
    return compiler.process(list(element.clauses)[1], **kw)


@compiles(month_group, "postgresql")
def _month_group_pg(element: month_group, compiler: SQLCompiler, **kw: Any) -> str:
    return _truncated("month", element, compiler, **kw)


@compiles(quarter_group, "postgresql")
def _quarter_group_pg(element: quarter_group, compiler: SQLCompiler, **kw: Any) -> str:
    return _truncated("quarter", element, compiler, **kw)


@compiles(epoch_seconds)
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {_arg(element, compiler, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {_arg(element, compiler, **kw)})) AS BIGINT)"


def _const(value: str | int) -> ColumnElement[Any]:
    """A constant written into the SQL text rather than bound. A bound value in an expression
    that is both selected and grouped on becomes two parameters ($1, $2) to PostgreSQL, which
    then no longer sees the two as the same expression and refuses the GROUP BY."""
    if isinstance(value, int):
        return literal_column(str(int(value)), Integer())
    return literal_column("'" + value.replace("'", "''") + "'", String())


# -- the figures of one priced version ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineFigures:
    product: str
    name: str
    effective_discount_bp: int
    below_floor: bool
    list_minor: int
    net_minor: int
    tcv_minor: int
    acv_minor: int
    mrr_minor: int
    cost_minor: int
    line_discount_minor: int
    header_discount_minor: int
    commitment_minor: int
    beyond_floor_minor: int


# Report column -> the priced figure it holds, for the figures that foot to the deal's totals.
_FOOTED = {
    "list_minor": "list_tcv_estimated",
    "net_minor": "tcv_estimated",
    "tcv_minor": "tcv",
    "acv_minor": "acv",
    "mrr_minor": "mrr",
    "cost_minor": "cost_tcv_estimated",
}


def _to_minor(amount: Decimal, currency: str) -> int:
    return int(round_money(amount, currency).scaleb(minor_units(currency)))


def _bp(percent: Decimal) -> int:
    # Pricing reports percentages to 2 places, so this is exact.
    return int((percent * HUNDRED).to_integral_value())


def _footed(parts: list[int], total: int) -> list[int]:
    """Each line is rounded on its own, the deal's total once from the exact sum, so the lines
    can miss the total by a minor unit or two. The difference goes to the largest line, so the
    report's lines add up to the deal figure shown everywhere else."""
    difference = total - sum(parts)
    if difference:
        largest = max(range(len(parts)), key=lambda i: abs(parts[i]))
        parts[largest] += difference
    return parts


def line_figures(deal: DealInput, priced: PricedDeal) -> list[LineFigures]:
    """The report rows of one priced version: every figure in minor units, lines footing to
    the deal's totals, and the price waterfall of each line (list - line discount - header
    discount + usage commitment effect = net) footing to its net."""
    currency = priced.currency
    lines = priced.lines
    footed = {
        column: _footed(
            [_to_minor(getattr(line, figure), currency) for line in lines],
            _to_minor(getattr(priced.totals, figure), currency),
        )
        for column, figure in _FOOTED.items()
    }
    result: list[LineFigures] = []
    for i, line in enumerate(lines):
        values = {column: footed[column][i] for column in _FOOTED}
        steps = _waterfall(
            deal.lines[line.index],
            line,
            deal.header_discount_pct,
            list_minor=values["list_minor"],
            net_minor=values["net_minor"],
            currency=currency,
        )
        result.append(
            LineFigures(
                product=line.sku or CUSTOM_PRODUCT,
                name=line.name,
                effective_discount_bp=_bp(line.effective_discount_pct),
                below_floor=line.below_floor,
                line_discount_minor=steps[0],
                header_discount_minor=steps[1],
                commitment_minor=steps[2],
                beyond_floor_minor=steps[3],
                **values,
            )
        )
    return result


def _waterfall(
    line_input: LineInput,
    line: PricedLine,
    header_pct: Decimal,
    *,
    list_minor: int,
    net_minor: int,
    currency: str,
) -> tuple[int, int, int, int]:
    """(line discount, header discount, commitment effect, discount beyond the floor).

    Per the pricing contract a charge's net is list x (1 - line rate) x (1 - header rate),
    except that a usage charge bills at least its minimum commitment: where the minimum wins,
    net exceeds the discounted list by the commitment effect.
    """
    scale = minor_units(currency)
    with localcontext(PRICING_CONTEXT):
        list_amount = Decimal(list_minor).scaleb(-scale)
        zero = Decimal(0)
        if line_input.discount_amount:
            # A discount amount is the line discount itself, spread over the charges.
            line_discount = line_input.discount_amount
            rate = line_discount / list_amount if list_amount else zero
        elif line_input.discount_pct:
            rate = line_input.discount_pct / HUNDRED
            line_discount = list_amount * rate
        else:
            rate = line_discount = zero
        header_rate = header_pct / HUNDRED
        header_discount = (list_amount - line_discount) * header_rate
        keep = (1 - rate) * (1 - header_rate)
        commitment = sum(
            (
                item.net_amount - item.list_amount * keep
                for item in line.breakdown
                if item.minimum_applies
            ),
            zero,
        )
        beyond_floor = zero
        if line.below_floor and line.max_discount_pct is not None:
            effective = (1 - keep) * HUNDRED
            beyond_floor = list_amount * (effective - line.max_discount_pct) / HUNDRED
    steps = [_to_minor(x, currency) for x in (line_discount, header_discount, commitment)]
    # Rounded one by one the steps may miss the net by a minor unit; the largest step takes
    # the difference, so the waterfall always lands on the net the deal reports.
    residual = list_minor - steps[0] - steps[1] + steps[2] - net_minor
    if residual:
        largest = max(range(3), key=lambda i: abs(steps[i]))
        steps[largest] += -residual if largest == 2 else residual
    return steps[0], steps[1], steps[2], _to_minor(beyond_floor, currency)


# -- writers (called by activities/deal.py, inside the activity's transaction) ----------------


def record_pricing(
    session: Session, *, deal_id: str, version: int, deal: DealInput, priced: PricedDeal
) -> None:
    """The version's figures become the deal's report figures, its lines replace the last
    version's. A late retry of an older version's pricing changes nothing."""
    row = session.get(ReportDeal, deal_id, with_for_update=True)
    if row is not None and row.version > version:
        return
    base = session.get(Deal, deal_id)
    if base is None:
        raise LookupError(f"no deal {deal_id}")
    lines = line_figures(deal, priced)
    if row is None:
        row = ReportDeal(
            deal_id=deal_id,
            version=version,
            owner=base.owner,
            customer_name=deal.customer.name,
            segment=deal.customer.segment,
            region=deal.customer.region,
            new_customer=deal.customer.new_customer,
            currency=priced.currency,
            status=base.status,
            submitted_at=base.created_at,
        )
    elif row.version < version:
        # A revision waits for its own decision: the last one was about other figures.
        row.decision = None
        row.decided_at = None
        row.decision_seconds = None
        row.needs_approval = None
        session.execute(delete(ReportApproval).where(RA.c.deal_id == deal_id))
    row.version = version
    row.customer_name = deal.customer.name
    row.segment = deal.customer.segment
    row.region = deal.customer.region
    row.new_customer = deal.customer.new_customer
    row.status = base.status
    row.discount_bp = _bp(priced.totals.discount_pct)
    row.max_line_discount_bp = max(line.effective_discount_bp for line in lines)
    row.lines = len(lines)
    row.below_floor_lines = sum(1 for line in lines if line.below_floor)
    for column in (*_FOOTED, *_STEPS):
        setattr(row, column, sum(getattr(line, column) for line in lines))
    session.add(row)
    session.flush()
    session.execute(delete(ReportLine).where(RL.c.deal_id == deal_id))
    deal_columns = {name: getattr(row, name) for name in _DEAL_COLUMNS}
    seen: set[str] = set()
    for i, line in enumerate(lines):
        first = line.product not in seen
        seen.add(line.product)
        session.add(
            ReportLine(
                deal_id=deal_id,
                line_no=i,
                first_of_product=int(first),
                **asdict(line),
                **deal_columns,
            )
        )
    session.flush()


# The deal's columns report_line repeats.
_DEAL_COLUMNS = (
    "owner",
    "segment",
    "region",
    "new_customer",
    "currency",
    "status",
    "decision",
    "submitted_at",
    "decided_at",
    "closed_at",
)
_OUTCOME_COLUMNS = ("status", "decision", "decided_at", "closed_at")


_STEPS = (
    "line_discount_minor",
    "header_discount_minor",
    "commitment_minor",
    "beyond_floor_minor",
)


def record_plan(
    session: Session, *, deal_id: str, version: int, approvals: Iterable[tuple[int, str]]
) -> None:
    """The approvals (stage, role) the policy asks of the version; none for a standard offer."""
    row = session.get(ReportDeal, deal_id, with_for_update=True)
    if row is None or row.version != version:
        return  # not priced yet, or a revision has replaced this version
    wanted = sorted(set(approvals))
    row.needs_approval = bool(wanted)
    session.add(row)
    session.execute(delete(ReportApproval).where(RA.c.deal_id == deal_id))
    session.add_all(ReportApproval(deal_id=deal_id, stage=s, role=r) for s, r in wanted)
    session.flush()


def record_status(session: Session, *, deal: Deal, seq: int, at: datetime) -> None:
    """Mirror a status change the deal row has just taken (store.deals.set_status): the status,
    and when it is a decision or an outcome, its time. A change the deal row refused as stale
    (an older sequence number) is refused here too."""
    if deal.status_seq != seq:
        return
    row = session.get(ReportDeal, deal.id, with_for_update=True)
    if row is None:
        return  # not priced yet; record_pricing copies the status when it writes the row
    row.status = deal.status
    if deal.status in DECISION_STATUSES:
        row.decision = deal.status
        row.decided_at = at
        row.decision_seconds = _whole_seconds(at - row.submitted_at)
    if deal.status in CLOSED_STATUSES:
        row.closed_at = at
        row.close_seconds = _whole_seconds(at - row.submitted_at)
    session.add(row)
    session.execute(
        update(ReportLine)
        .where(RL.c.deal_id == deal.id)
        .values({name: getattr(row, name) for name in _OUTCOME_COLUMNS})
    )


def _whole_seconds(delta: timedelta) -> int:
    return delta.days * 86_400 + delta.seconds


# -- quota targets ------------------------------------------------------------------------------


def period_bounds(period: str) -> tuple[str, date, date]:
    """('month' | 'quarter', first day, last day) of '2026-07' or '2026-Q3'."""
    year = int(period[:4])
    if period[5] == "Q":
        first_month, kind = 3 * int(period[6]) - 2, "quarter"
        months = 3
    else:
        first_month, kind = int(period[5:7]), "month"
        months = 1
    start = date(year, first_month, 1)
    next_month = first_month + months
    end = date(year + (next_month - 1) // 12, (next_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return kind, start, end


def put_quota(
    session: Session,
    *,
    rep: str,
    period: str,
    currency: str,
    amount_minor: int,
    actor: str,
    at: datetime,
) -> QuotaTarget:
    kind, start, end = period_bounds(period)
    row = session.scalars(
        select(QuotaTarget).where(QT.c.rep == rep, QT.c.period == period, QT.c.currency == currency)
    ).first()
    if row is None:
        row = QuotaTarget(
            rep=rep,
            period=period,
            period_kind=kind,
            period_start=start,
            period_end=end,
            currency=currency,
            amount_minor=amount_minor,
            updated_by=actor,
            updated_at=at,
        )
    else:
        row.amount_minor = amount_minor
        row.updated_by = actor
        row.updated_at = at
    session.add(row)
    session.flush()
    return row


def list_quotas(
    session: Session,
    *,
    reps: Sequence[str] = (),
    periods: Sequence[str] = (),
    currencies: Sequence[str] = (),
) -> Sequence[QuotaTarget]:
    query = select(QuotaTarget).order_by(QT.c.rep, QT.c.period_start, QT.c.period, QT.c.currency)
    if reps:
        query = query.where(QT.c.rep.in_(reps))
    if periods:
        query = query.where(QT.c.period.in_(periods))
    if currencies:
        query = query.where(QT.c.currency.in_(currencies))
    return session.scalars(query).all()


# -- report parameters ------------------------------------------------------------------------


class Dim(StrEnum):
    """What a report can group by."""

    MONTH = "month"
    QUARTER = "quarter"
    REP = "rep"
    PRODUCT = "product"
    SEGMENT = "segment"
    REGION = "region"
    STATUS = "status"
    CUSTOMER_TYPE = "customer_type"
    # approval tasks only (cycle times per stage and approver)
    STAGE = "stage"
    ROLE = "role"
    APPROVER = "approver"


PERIOD_DIMS = (Dim.MONTH, Dim.QUARTER)
DEAL_DIMS = (
    Dim.MONTH,
    Dim.QUARTER,
    Dim.REP,
    Dim.SEGMENT,
    Dim.REGION,
    Dim.STATUS,
    Dim.CUSTOMER_TYPE,
)
LINE_DIMS = (*DEAL_DIMS, Dim.PRODUCT)
BOOKING_DIMS = (Dim.MONTH, Dim.QUARTER, Dim.REP, Dim.SEGMENT, Dim.REGION, Dim.CUSTOMER_TYPE)
TASK_DIMS = (
    Dim.STAGE,
    Dim.ROLE,
    Dim.APPROVER,
    Dim.MONTH,
    Dim.QUARTER,
    Dim.REP,
    Dim.SEGMENT,
    Dim.REGION,
    Dim.CUSTOMER_TYPE,
)


class CustomerType(StrEnum):
    NEW = "new"
    EXISTING = "existing"


class DateField(StrEnum):
    """Which of a deal's dates `from`/`to` and month/quarter refer to."""

    SUBMITTED = "submitted"
    DECIDED = "decided"
    CLOSED = "closed"


class MarginView(StrEnum):
    ALL = "all"
    APPROVED = "approved"
    WON = "won"


@dataclass(frozen=True)
class ReportFilter:
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    date_field: DateField = DateField.SUBMITTED
    currencies: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    reps: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    customer_type: str | None = None  # new | existing


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


_DATE_COLUMNS = {
    DateField.SUBMITTED: "submitted_at",
    DateField.DECIDED: "decided_at",
    DateField.CLOSED: "closed_at",
}


def _range(column: Any, f: ReportFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.date_from is not None:
        clauses.append(column >= _day_start(f.date_from))
    if f.date_to is not None:
        clauses.append(column < _day_start(f.date_to + timedelta(days=1)))
    return clauses


def _customer_type(table: Table) -> ColumnElement[str]:
    return case((table.c.new_customer, _const("new")), else_=_const("existing"))


def _deal_where(f: ReportFilter, table: Table, *, dated: bool = True) -> list[Any]:
    """The filter on report_deal, or on report_line's copies of the deal's columns."""
    clauses: list[Any] = []
    if dated:
        column = table.c[_DATE_COLUMNS[f.date_field]]
        if f.date_field is not DateField.SUBMITTED:
            # A deal not yet decided (closed) is not in a report dated by its decision (close).
            clauses.append(column.is_not(None))
        clauses += _range(column, f)
    clauses += _dimension_filters(
        f, owner=table.c.owner, segment=table.c.segment, region=table.c.region
    )
    if f.currencies:
        clauses.append(table.c.currency.in_(f.currencies))
    if f.statuses:
        clauses.append(table.c.status.in_(f.statuses))
    if f.customer_type is not None:
        clauses.append(table.c.new_customer == (f.customer_type == "new"))
    if f.products:
        if table is RL:
            clauses.append(RL.c.product.in_(f.products))
        else:
            # A deal-level report keeps the deals that sell one of the products.
            clauses.append(_sells(table.c.deal_id, f.products))
    return clauses


def _dimension_filters(
    f: ReportFilter, *, owner: Any, segment: Any, region: Any
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.reps:
        clauses.append(owner.in_(f.reps))
    if f.segments:
        clauses.append(segment.in_(f.segments))
    if f.regions:
        clauses.append(region.in_(f.regions))
    return clauses


def _sells(deal_id: Any, products: Sequence[str]) -> ColumnElement[bool]:
    return exists().where(RL.c.deal_id == deal_id, RL.c.product.in_(products))


def _deal_dim(dim: Dim, table: Table, date_field: DateField) -> ColumnElement[Any]:
    """A dimension over report_deal, or over report_line (which also has the product)."""
    match dim:
        case Dim.MONTH:
            return month_key(table.c[_DATE_COLUMNS[date_field]])
        case Dim.QUARTER:
            return quarter_key(table.c[_DATE_COLUMNS[date_field]])
        case Dim.REP:
            return table.c.owner
        case Dim.PRODUCT:
            return RL.c.product
        case Dim.SEGMENT:
            return table.c.segment
        case Dim.REGION:
            return table.c.region
        case Dim.STATUS:
            return table.c.status
        case Dim.CUSTOMER_TYPE:
            return _customer_type(table)
    raise ValueError(f"{dim} is not a deal dimension")


def _check(group_by: Sequence[Dim], allowed: Sequence[Dim]) -> list[Dim]:
    wrong = [d for d in group_by if d not in allowed]
    if wrong:
        raise ValueError(f"cannot group by {', '.join(wrong)}")
    return list(dict.fromkeys(group_by))  # without repeats, in the order asked


def _grouped(
    dims: Sequence[Dim], expressions: Sequence[ColumnElement[Any]], *, currency: Any | None
) -> tuple[list[Any], list[Any]]:
    """(select columns, their positions to group and order by): currency first when the
    report has money."""
    columns: list[Any] = [] if currency is None else [currency.label("currency")]
    columns += [e.label(d.value) for d, e in zip(dims, expressions, strict=True)]
    keys = _positions(1, len(columns))
    first = len(columns) - len(expressions)
    for i, expression in enumerate(expressions, start=first):
        if isinstance(expression, month_key | quarter_key):
            term = month_group if isinstance(expression, month_key) else quarter_group
            keys[i] = term(next(iter(expression.clauses)), keys[i])
    return columns, keys


def _sum(value: Any) -> ColumnElement[int]:
    # PostgreSQL sums bigints as numeric, which psycopg reads into a Decimal: slower to fetch
    # than the integer it holds. Sums of minor units stay far below 2^63.
    return cast(func.sum(value), BigInteger)


def _positions(first: int, count: int) -> list[ColumnElement[Any]]:
    # GROUP BY 1, 2: by position, as the select list computes them. Repeating an expression
    # there (a month of a date) costs SQLite its computation again for GROUP BY and ORDER BY.
    return [literal_column(str(i)) for i in range(first, first + count)]


@dataclass(slots=True)
class ReportRow:
    """One grouped row: its keys by name (the dimensions asked for, and any key of the report
    itself such as a band or a role), and its integer measures (minor units, counts, seconds)."""

    currency: str | None
    group: dict[str, str | int | None]
    values: dict[str, int | None] = field(default_factory=dict)


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The values at `indexes` of a row, as a tuple: itemgetter picks them in C, but gives a
    bare value (not a 1-tuple) for one index."""
    if len(indexes) == 1:
        (only,) = indexes
        return lambda record: (record[only],)
    if not indexes:
        return lambda record: ()
    return itemgetter(*indexes)


def _rows(
    result: Result[Any], keys: Sequence[str], measures: Sequence[str], *, money: bool
) -> list[ReportRow]:
    # By position from one fetchall, with C-level zips: a Row's by-name mapping costs more
    # than the database's own work on a report of a few thousand rows (bench/reports.py).
    # Every measure arrives as an int or NULL: sums and percentiles are cast to BIGINT in SQL.
    names = list(result.keys())
    get_keys = _picker([names.index(k) for k in keys])
    get_measures = _picker([names.index(m) for m in measures])
    at_currency = names.index("currency") if money else None
    return [
        ReportRow(
            currency=None if at_currency is None else record[at_currency],
            group=dict(zip(keys, get_keys(record), strict=True)),
            values=dict(zip(measures, get_measures(record), strict=True)),
        )
        for record in result.all()
    ]


def _by_line(dims: Sequence[Dim], where: ReportFilter) -> bool:
    # report_deal holds the sums of its lines and is a tenth of their size, so only a product
    # grouping or filter reads the lines.
    return Dim.PRODUCT in dims or bool(where.products)


def _deal_count(dims: Sequence[Dim], where: ReportFilter, table: Table) -> Any:
    if table is RD:
        return func.count()
    if Dim.PRODUCT in dims or len(where.products) == 1:
        # Each group holds one product: its deals are its lines that come first for the deal.
        return _sum(RL.c.first_of_product)
    return func.count(distinct(RL.c.deal_id))


# -- margins --------------------------------------------------------------------------------

MARGIN_MEASURES = ("deals", "lines", "list", "tcv_estimated", "tcv", "acv", "cost")


def _view_clause(view: MarginView, table: Table) -> list[ColumnElement[bool]]:
    if view is MarginView.APPROVED:
        return [table.c.decision == _const("approved")]
    if view is MarginView.WON:
        return [table.c.status == _const("closed_won")]
    return []


def default_date_field(view: MarginView) -> DateField:
    """Approved deals date by their decision, won deals by their close."""
    return {
        MarginView.ALL: DateField.SUBMITTED,
        MarginView.APPROVED: DateField.DECIDED,
        MarginView.WON: DateField.CLOSED,
    }[view]


def margins(
    session: Session, *, view: MarginView, group_by: Sequence[Dim], where: ReportFilter
) -> list[Row[Any]]:
    """Sums of list, revenue (tcv_estimated), TCV, ACV and cost per currency and group; the
    gross margin is revenue - cost, its percent the revenue-weighted one (sum over sum).

    The database's rows, each (currency, *group_by, *MARGIN_MEASURES), not ReportRows: the
    API formats these straight into its JSON rows, since building ReportRows first cost more
    than a third of a 2,200-row report's time over its statement's (bench/reports.py)."""
    dims = _check(group_by, LINE_DIMS)
    return list(session.execute(_margins_statement(view, dims, where)).all())


def _margins_statement(view: MarginView, dims: list[Dim], where: ReportFilter) -> Any:
    table = RL if _by_line(dims, where) else RD
    columns, keys = _grouped(
        dims,
        [_deal_dim(d, table, where.date_field) for d in dims],
        currency=table.c.currency,
    )
    return (
        select(
            *columns,
            _deal_count(dims, where, table).label("deals"),
            (func.count() if table is RL else _sum(RD.c.lines)).label("lines"),
            _sum(table.c.list_minor).label("list"),
            _sum(table.c.net_minor).label("tcv_estimated"),
            _sum(table.c.tcv_minor).label("tcv"),
            _sum(table.c.acv_minor).label("acv"),
            _sum(table.c.cost_minor).label("cost"),
        )
        .where(*_deal_where(where, table), *_view_clause(view, table))
        .group_by(*keys)
        .order_by(*keys)
    )


# -- discounts ------------------------------------------------------------------------------

WATERFALL_MEASURES = (
    "deals",
    "lines",
    "list",
    "line_discount",
    "header_discount",
    "commitment_effect",
    "net",
    "below_floor_lines",
    "beyond_floor",
)


def discount_waterfall(
    session: Session, *, group_by: Sequence[Dim], where: ReportFilter
) -> list[ReportRow]:
    """List to net in steps, per currency and group, with what was given beyond floors."""
    dims = _check(group_by, LINE_DIMS)
    table = RL if _by_line(dims, where) else RD
    columns, keys = _grouped(
        dims,
        [_deal_dim(d, table, where.date_field) for d in dims],
        currency=table.c.currency,
    )
    below_floor = (
        _sum(case((RL.c.below_floor, 1), else_=0)) if table is RL else _sum(RD.c.below_floor_lines)
    )
    statement = (
        select(
            *columns,
            _deal_count(dims, where, table).label("deals"),
            (func.count() if table is RL else _sum(RD.c.lines)).label("lines"),
            _sum(table.c.list_minor).label("list"),
            _sum(table.c.line_discount_minor).label("line_discount"),
            _sum(table.c.header_discount_minor).label("header_discount"),
            _sum(table.c.commitment_minor).label("commitment_effect"),
            _sum(table.c.net_minor).label("net"),
            below_floor.label("below_floor_lines"),
            _sum(table.c.beyond_floor_minor).label("beyond_floor"),
        )
        .where(*_deal_where(where, table))
        .group_by(*keys)
        .order_by(*keys)
    )
    return _rows(
        session.execute(statement), [d.value for d in dims], WATERFALL_MEASURES, money=True
    )


def approvals_needed(
    session: Session, *, group_by: Sequence[Dim], where: ReportFilter
) -> list[ReportRow]:
    """How many deals (current versions, policy evaluated) needed each (stage, role) approval;
    a standard offer counts once, under role 'none' and stage 0."""
    dims = _check(group_by, DEAL_DIMS)
    stage = func.coalesce(RA.c.stage, _const(0))
    role = func.coalesce(RA.c.role, _const(NO_APPROVAL))
    columns, keys = _grouped(
        dims, [_deal_dim(d, RD, where.date_field) for d in dims], currency=None
    )
    statement = (
        select(*columns, stage.label("stage"), role.label("role"), func.count().label("deals"))
        .select_from(RD.outerjoin(RA, RA.c.deal_id == RD.c.deal_id))
        .where(RD.c.needs_approval.is_not(None), *_deal_where(where, RD))
        .group_by(*keys, *_positions(len(keys) + 1, 2))
        .order_by(*keys, *_positions(len(keys) + 1, 2))
    )
    return _rows(
        session.execute(statement),
        [*(d.value for d in dims), "stage", "role"],
        ["deals"],
        money=False,
    )


BAND_MEASURES = (
    "deals",
    "needed_approval",
    "approved",
    "rejected",
    "changes_requested",
    "policy_violation",
)


def approval_bands(
    session: Session,
    *,
    edges_bp: Sequence[int],
    group_by: Sequence[Dim],
    where: ReportFilter,
) -> list[ReportRow]:
    """Deals by band of their discount off list (band i is [edge i-1, edge i) in basis points,
    band 0 starting at 0 and the last open), with how many needed approval and how their
    current version was decided."""
    dims = _check(group_by, DEAL_DIMS)
    if list(edges_bp) != sorted(set(edges_bp)):
        raise ValueError("band edges must increase")
    band = case(
        *((RD.c.discount_bp < _const(edge), _const(i)) for i, edge in enumerate(edges_bp)),
        else_=_const(len(edges_bp)),
    )
    columns, keys = _grouped(
        dims, [_deal_dim(d, RD, where.date_field) for d in dims], currency=None
    )

    def count_decision(decision: str) -> Any:
        return _sum(case((RD.c.decision == _const(decision), 1), else_=0))

    statement = (
        select(
            *columns,
            band.label("band"),
            func.count().label("deals"),
            _sum(case((RD.c.needs_approval, 1), else_=0)).label("needed_approval"),
            *(count_decision(d).label(d) for d in sorted(DECISION_STATUSES)),
        )
        .where(*_deal_where(where, RD))
        .group_by(*keys, *_positions(len(keys) + 1, 1))
        .order_by(*keys, *_positions(len(keys) + 1, 1))
    )
    return _rows(
        session.execute(statement),
        [*(d.value for d in dims), "band"],
        BAND_MEASURES,
        money=False,
    )


def margin_bands(
    session: Session,
    *,
    edges_bp: Sequence[int],
    view: MarginView,
    group_by: Sequence[Dim],
    where: ReportFilter,
) -> list[ReportRow]:
    """Deals by band of their gross margin percent (band 0 is below the first edge, band i is
    [edge i-1, edge i) in basis points, the last open): the margin distribution. A deal with
    no revenue has no margin percent and is left out."""
    dims = _check(group_by, DEAL_DIMS)
    if list(edges_bp) != sorted(set(edges_bp)):
        raise ValueError("band edges must increase")
    revenue, cost = RD.c.net_minor, RD.c.cost_minor
    # margin / revenue < edge / 10,000, multiplied out so the comparison stays in integers
    # (exact on both databases; no percent is rounded before it is banded).
    band = case(
        *(
            ((revenue - cost) * _const(10_000) < _const(edge) * revenue, _const(i))
            for i, edge in enumerate(edges_bp)
        ),
        else_=_const(len(edges_bp)),
    )
    columns, keys = _grouped(
        dims, [_deal_dim(d, RD, where.date_field) for d in dims], currency=None
    )
    statement = (
        select(*columns, band.label("band"), func.count().label("deals"))
        .where(revenue > 0, *_deal_where(where, RD), *_view_clause(view, RD))
        .group_by(*keys, *_positions(len(keys) + 1, 1))
        .order_by(*keys, *_positions(len(keys) + 1, 1))
    )
    return _rows(
        session.execute(statement), [*(d.value for d in dims), "band"], ["deals"], money=False
    )


# -- bookings -------------------------------------------------------------------------------

BOOKING_MEASURES = ("orders", "acv", "tcv", "new_customer_acv", "existing_customer_acv", "quota")
_ORDER_MEASURES = BOOKING_MEASURES[:-1]


def quota_applies(group_by: Sequence[Dim], where: ReportFilter) -> bool:
    """Quotas are per rep and period, so they join a grouping by exactly one period (the rep
    optional) under a filter a rep's quota can honour."""
    dims = set(group_by)
    return (
        len(dims & set(PERIOD_DIMS)) == 1
        and dims <= {Dim.REP, *PERIOD_DIMS}
        and not (where.segments or where.regions or where.products or where.customer_type)
    )


def bookings(session: Session, *, group_by: Sequence[Dim], where: ReportFilter) -> list[Row[Any]]:
    """Closed-won orders (deal_order, dated by booking): ACV and TCV, new versus existing
    customers, and the quota targets of the same reps and periods when they apply.

    The database's rows, each (currency, *group_by, *BOOKING_MEASURES), as margins() gives."""
    dims = _check(group_by, BOOKING_DIMS)
    return list(session.execute(_bookings_statement(dims, where)).all())


def _bookings_statement(dims: list[Dim], where: ReportFilter) -> Any:
    booked = DO.c.booked_at
    order_dims: dict[Dim, Any] = {
        Dim.MONTH: month_key(booked),
        Dim.QUARTER: quarter_key(booked),
        Dim.REP: DO.c.owner,
        Dim.SEGMENT: DO.c.segment,
        Dim.REGION: DO.c.region,
        Dim.CUSTOMER_TYPE: _customer_type(DO),
    }
    where_orders: list[Any] = _range(booked, where)
    where_orders += _dimension_filters(
        where, owner=DO.c.owner, segment=DO.c.segment, region=DO.c.region
    )
    if where.currencies:
        where_orders.append(DO.c.currency.in_(where.currencies))
    if where.customer_type is not None:
        where_orders.append(DO.c.new_customer == (where.customer_type == "new"))
    if where.products:
        where_orders.append(_sells(DO.c.deal_id, where.products))
    # The orders are summed per group, and the quotas (also per group) joined to those
    # groups: one aggregation over the orders, where summing a union of orders and quotas
    # aggregated twice.
    columns, keys = _grouped(dims, [order_dims[d] for d in dims], currency=DO.c.currency)
    orders = (
        select(
            *columns,
            func.count().label("orders"),
            _sum(DO.c.acv_minor).label("acv"),
            _sum(DO.c.tcv_minor).label("tcv"),
            _sum(case((DO.c.new_customer, DO.c.acv_minor), else_=_const(0))).label(
                "new_customer_acv"
            ),
            _sum(case((DO.c.new_customer, _const(0)), else_=DO.c.acv_minor)).label(
                "existing_customer_acv"
            ),
        )
        .where(*where_orders)
        .group_by(*keys)
    )
    names = [d.value for d in dims]
    if not quota_applies(dims, where):
        return orders.add_columns(cast(null(), BigInteger).label("quota")).order_by(*keys)

    kind = next(d for d in dims if d in PERIOD_DIMS)
    where_quotas: list[Any] = [QT.c.period_kind == _const(kind.value)]
    # A period counts when it overlaps the range asked for.
    if where.date_from is not None:
        where_quotas.append(QT.c.period_end >= where.date_from)
    if where.date_to is not None:
        where_quotas.append(QT.c.period_start <= where.date_to)
    if where.reps:
        where_quotas.append(QT.c.rep.in_(where.reps))
    if where.currencies:
        where_quotas.append(QT.c.currency.in_(where.currencies))
    quota_dims = {Dim.REP: QT.c.rep, kind: QT.c.period}
    quota_keys = [QT.c.currency, *(quota_dims[d] for d in dims)]
    o = orders.cte("o")
    q = (
        select(
            QT.c.currency.label("currency"),
            *(quota_dims[d].label(d.value) for d in dims),
            _sum(QT.c.amount_minor).label("quota"),
        )
        .where(*where_quotas)
        .group_by(*quota_keys)
        .cte("q")
    )
    # A full outer join, spelled as a left join and the quotas no group matched: SQLite has
    # FULL JOIN only since 3.39.
    same_group = and_(*(o.c[n] == q.c[n] for n in ["currency", *names]))
    matched = select(
        *(o.c[n] for n in ["currency", *names]), *(o.c[m] for m in _ORDER_MEASURES), q.c.quota
    ).select_from(o.outerjoin(q, same_group))
    quota_only = select(
        *(q.c[n] for n in ["currency", *names]),
        *(_const(0).label(m) for m in _ORDER_MEASURES),
        q.c.quota,
    ).where(~exists().where(same_group))
    return union_all(matched, quota_only).order_by(*_positions(1, 1 + len(names)))


# -- cycle times --------------------------------------------------------------------------------

# Percentiles as exact fractions a/b of the way through the ordered values; each report gives
# b x the percentile, an integer, since it lies 0 to b-1 b-ths between two whole seconds.
MEDIAN = (1, 2)
P90 = (9, 10)


def percentile_cont_in_sql(session: Session) -> bool:
    """Whether the database has percentile_cont. PostgreSQL's runs in one sorted pass per
    group, about twice as fast as ranking rows with window functions (bench/reports.py);
    SQLite has none, so there the rows are ranked. Both give the same answers."""
    return session.get_bind().dialect.name == "postgresql"


def _percentile_of_ranks(value: Any, rn: Any, n: Any, fraction: tuple[int, int]) -> Any:
    """b x the percentile (linear interpolation between the closest ranks, as percentile_cont)
    from rows numbered 1..n by value within their group: an aggregate over the ranked rows,
    integer arithmetic only.

    The value sits at position 1 + p(n - 1) = lo + r/b with lo = 1 + (a(n - 1)) div b and
    r = (a(n - 1)) mod b; b x the result is v[lo] x b + r x (v[lo + 1] - v[lo]).
    """
    a, b = fraction
    k = (n - 1) * _const(a)
    lo = 1 + k // _const(b)
    r = k % _const(b)
    hi = lo + case((r > 0, 1), else_=0)
    at_lo = _sum(case((rn == lo, value)))
    at_hi = _sum(case((rn == hi, value)))
    return at_lo * _const(b) + func.max(r) * (at_hi - at_lo)


def _percentile_cont(value: Any, fraction: tuple[int, int]) -> Any:
    a, b = fraction
    # percentile_cont works in double precision; the exact answer is a whole number of b-ths,
    # so rounding b x the result to an integer recovers it exactly (durations, never money).
    fraction_sql: ColumnElement[Decimal] = literal_column(str(Decimal(a) / Decimal(b)))
    scaled = func.percentile_cont(fraction_sql).within_group(value) * _const(b)
    return cast(func.round(scaled), BigInteger)


def _with_percentiles(
    session: Session,
    *,
    source: Any,
    where: Sequence[Any],
    keys: Sequence[tuple[str, Any]],
    value: Any,
    has_value: Any,
    row_columns: Sequence[tuple[str, Any]],
    measures: Any,
) -> Any:
    """SELECT keys, measures(columns), median and p90 of `value` per group of `keys`.

    `row_columns` are the per-row expressions `measures` aggregates; `measures` is called with
    a name -> column mapping (the source's expressions, or the ranked subquery's columns) and
    returns the labelled aggregates besides the percentiles. Rows where `has_value` is false
    take part in the measures but not in the percentiles.
    """
    expressions = [e for _, e in keys]
    if percentile_cont_in_sql(session):
        percentile_value = case((has_value, value))
        columns = dict(row_columns) | {"v": percentile_value}
        return (
            select(
                *(e.label(name) for name, e in keys),
                *measures(columns),
                _percentile_cont(percentile_value, MEDIAN).label("median_x2"),
                _percentile_cont(percentile_value, P90).label("p90_x10"),
            )
            .select_from(source)
            .where(*where)
            .group_by(*_positions(1, len(expressions)))
            # Without keys an aggregate answers one row even over no rows; a report has none.
            .having(func.count() > 0)
            .order_by(*_positions(1, len(expressions)))
        )
    partition = expressions or None
    ranked = (
        select(
            *(e.label(name) for name, e in keys),
            *(e.label(name) for name, e in row_columns),
            case((has_value, value)).label("v"),
            # Rows with a value first (numbered 1..n), the others after, on either database.
            func.row_number()
            .over(partition_by=partition, order_by=[case((has_value, 0), else_=1), value])
            .label("rn"),
            func.count(case((has_value, 1))).over(partition_by=partition).label("n"),
        )
        .select_from(source)
        .where(*where)
        .subquery("ranked")
    )
    ranked_keys = [ranked.c[name] for name, _ in keys]
    v, rn, n = ranked.c.v, ranked.c.rn, ranked.c.n
    return (
        select(
            *ranked_keys,
            *measures({name: ranked.c[name] for name, _ in row_columns} | {"v": v}),
            _percentile_of_ranks(v, rn, n, MEDIAN).label("median_x2"),
            _percentile_of_ranks(v, rn, n, P90).label("p90_x10"),
        )
        .group_by(*ranked_keys)
        .having(func.count() > 0)
        .order_by(*ranked_keys)
    )


DEAL_CYCLE_MEASURES = (
    "deals",
    "seconds_sum",
    "median_x2",
    "p90_x10",
    "attempts_sum",
    "attempts_max",
    "escalations",
    "escalated_deals",
)


def deal_cycle_times(
    session: Session, *, group_by: Sequence[Dim], where: ReportFilter
) -> list[ReportRow]:
    """First submission to the current version's decision, per group of decided deals: the
    median and 90th percentile (seconds), versions submitted, and tasks escalated."""
    dims = _check(group_by, DEAL_DIMS)
    escalated = (
        select(AT.c.deal_id, func.count().label("escalations"))
        .where(AT.c.status == _const("escalated"))
        .group_by(AT.c.deal_id)
        .subquery("escalated")
    )
    value = RD.c.decision_seconds

    def measures(c: dict[str, Any]) -> list[Any]:
        return [
            func.count().label("deals"),
            _sum(c["v"]).label("seconds_sum"),
            _sum(c["attempts"]).label("attempts_sum"),
            func.max(c["attempts"]).label("attempts_max"),
            _sum(c["escalations"]).label("escalations"),
            _sum(case((c["escalations"] > 0, 1), else_=0)).label("escalated_deals"),
        ]

    statement = _with_percentiles(
        session,
        source=RD.outerjoin(escalated, escalated.c.deal_id == RD.c.deal_id),
        where=[value.is_not(None), *_deal_where(where, RD)],
        keys=[(d.value, _deal_dim(d, RD, where.date_field)) for d in dims],
        value=value,
        has_value=value.is_not(None),
        row_columns=[
            ("attempts", RD.c.version),
            ("escalations", func.coalesce(escalated.c.escalations, 0)),
        ],
        measures=measures,
    )
    return _rows(
        session.execute(statement), [d.value for d in dims], DEAL_CYCLE_MEASURES, money=False
    )


TASK_CYCLE_MEASURES = (
    "tasks",
    "decided",
    "seconds_sum",
    "median_x2",
    "p90_x10",
    "approved",
    "rejected",
    "changes_requested",
    "escalated",
)


def task_cycle_times(
    session: Session, *, group_by: Sequence[Dim], where: ReportFilter
) -> list[ReportRow]:
    """Approval tasks closed in the range (dated by their close): how long an approver took to
    decide (open to decision, seconds; a task the system closed has no duration), and how many
    tasks escalated past their SLA."""
    dims = _check(group_by, TASK_DIMS)
    closed = AT.c.decided_at
    task_dims: dict[Dim, Any] = {
        Dim.STAGE: AT.c.stage,
        Dim.ROLE: AT.c.role,
        Dim.APPROVER: AT.c.assignee,
        Dim.MONTH: month_key(closed),
        Dim.QUARTER: quarter_key(closed),
    }
    human = AT.c.decided_by.is_not(None)
    where_tasks: list[Any] = [AT.c.status != _const("open"), closed.is_not(None)]
    where_tasks += _range(closed, where)
    deal_where = _deal_where(where, RD, dated=False)
    where_tasks += deal_where
    # The deal's row only when a dimension or a filter needs it: tasks alone are read faster.
    source: Any = AT
    if deal_where or any(d not in task_dims for d in dims):
        source = AT.join(RD, RD.c.deal_id == AT.c.deal_id)

    def measures(c: dict[str, Any]) -> list[Any]:
        def count_status(status: str) -> Any:
            return _sum(case((c["status"] == _const(status), 1), else_=0))

        return [
            func.count().label("tasks"),
            func.count(c["v"]).label("decided"),
            _sum(c["v"]).label("seconds_sum"),
            *(
                count_status(s).label(s)
                for s in ("approved", "rejected", "changes_requested", "escalated")
            ),
        ]

    statement = _with_percentiles(
        session,
        source=source,
        where=where_tasks,
        keys=[
            (d.value, task_dims[d] if d in task_dims else _deal_dim(d, RD, where.date_field))
            for d in dims
        ],
        value=epoch_seconds(AT.c.decided_at) - epoch_seconds(AT.c.created_at),
        has_value=human,
        row_columns=[("status", AT.c.status)],
        measures=measures,
    )
    return _rows(
        session.execute(statement), [d.value for d in dims], TASK_CYCLE_MEASURES, money=False
    )


# -- pipeline -------------------------------------------------------------------------------

PIPELINE_MEASURES = (
    "deals",
    "open_deals",
    "open_acv",
    "open_tcv",
    "won",
    "lost",
    "expired",
    "withdrawn",
    "won_acv",
    "won_close_seconds",
)


def pipeline(session: Session, *, group_by: Sequence[Dim], where: ReportFilter) -> list[ReportRow]:
    """Open deals (not won, lost, expired or withdrawn) with their ACV and TCV, and the outcomes
    of the closed ones, per currency and group."""
    dims = _check(group_by, DEAL_DIMS)
    columns, keys = _grouped(
        dims, [_deal_dim(d, RD, where.date_field) for d in dims], currency=RD.c.currency
    )
    is_open = RD.c.status.not_in([_const(s) for s in sorted(CLOSED_STATUSES)])
    won = RD.c.status == _const("closed_won")

    def count_status(status: str) -> Any:
        return _sum(case((RD.c.status == _const(status), 1), else_=0))

    statement = (
        select(
            *columns,
            func.count().label("deals"),
            _sum(case((is_open, 1), else_=0)).label("open_deals"),
            _sum(case((is_open, RD.c.acv_minor), else_=0)).label("open_acv"),
            _sum(case((is_open, RD.c.tcv_minor), else_=0)).label("open_tcv"),
            count_status("closed_won").label("won"),
            count_status("closed_lost").label("lost"),
            count_status("expired").label("expired"),
            count_status("withdrawn").label("withdrawn"),
            _sum(case((won, RD.c.acv_minor), else_=0)).label("won_acv"),
            _sum(case((won, RD.c.close_seconds), else_=0)).label("won_close_seconds"),
        )
        .where(*_deal_where(where, RD))
        .group_by(*keys)
        .order_by(*keys)
    )
    return _rows(session.execute(statement), [d.value for d in dims], PIPELINE_MEASURES, money=True)
