"""Proposals and contracts: their contexts, rendering (shipped or admin-edited), and PDF.

A context is plain data (dicts, lists, str, int, bool, date, datetime, Decimal) built from the
deal, its priced version and what the caller adds; it is all a template can read. Amounts stay
Decimal and are formatted by the template's `money` filter. Cost and margin, the credit rating
and the competitor are left out on purpose: these documents go to the customer, and an admin's
template can only print what its context holds.

What a template can read (an admin writes against this list; `sample_context(kind)` is one):

    kind, seller, deal_id, version, generated_at (datetime, UTC), prepared_on (date), currency
    deal: customer {name, segment, region, new_customer}, start_date, end_date (the term's last
        day), term_months, billing_frequency (monthly|quarterly|annual|upfront),
        billing_frequency_label, payment_terms_days, header_discount_pct, nonstandard_terms [str]
    totals: one_time, mrr, arr, acv, recurring_tcv, usage_committed_tcv, usage_estimated_tcv,
        tcv (committed), tcv_estimated, list_tcv_estimated, discount_amount, discount_pct
    lines [each]: index, number, sku (None for a custom line), name, custom, quantity,
        line_discount_pct, line_discount_amount (None unless the rep gave an amount),
        effective_discount_pct, net_amount (= tcv_estimated), every totals key, and
        charges [each]: index, type, model, label, summary (in words), detail (the pricing
            engine's working), units, list_amount, net_amount, discount_pct, minimum_applies,
            packages, tiers [number, from_units, up_to (None: open), units, unit_price,
            flat_fee, amount], ramps [label ("Year 2"), from_month, to_month, months,
            unit_price, monthly_amount]; tiers and ramps are at list price
    approvals [each]: name, role, decided_at
    proposal only: valid_until (date or None), validity_days
    contract only: schedule {currency, billing_frequency, billing_frequency_label, periods
        [period, starts_on, ends_on, months, one_time, recurring, usage_committed, total],
        total}, acceptance {name, title, email, accepted_at}, sla_clauses [product, text]

Filters: money(currency), price(currency) (keeps sub-cent unit prices), percent, number,
date(format="long"|"iso"|a babel pattern), datetime.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.request import DataHandler, Request

from jinja2 import Template, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from pydantic import BaseModel, ConfigDict

from pricing import (
    BillingFrequency,
    BreakdownItem,
    ChargeModel,
    DealInput,
    LineInput,
    PricedDeal,
    PricedLine,
    demo_catalog,
    price_deal,
)
from pricing.schedule import BillingSchedule, ScheduleItem, add_months, billing_schedule
from templates import TEMPLATE_DIR, RenderTimedOut, environment, render_deadline

DocumentKind = Literal["proposal", "contract"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)

MAX_TEMPLATE_CHARS = 200_000
# Bounds both what a template may produce and what WeasyPrint is asked to lay out; a 500-line
# deal (the most DealInput allows) renders to 0.75 MB with the shipped proposal.
MAX_HTML_BYTES = 2 * 1024 * 1024
# A 500-line deal's proposal renders in about a tenth of this; a worker thread is never held
# longer by an admin's template than this (plus one chunk or 256 loop iterations).
RENDER_SECONDS = 2.0
# Filters an admin's template may not use: `safe` prints a deal's text (a rep's, a customer
# name) as HTML, and `attr` reads attributes by computed name, around what a reviewer can see.
REFUSED_FILTERS = frozenset({"safe", "attr"})
DEFAULT_VALIDITY_DAYS = 30

# What a template may print of the figures; cost_tcv_estimated, gross_margin and
# gross_margin_pct are internal (see the module docstring).
PUBLIC_FIGURES = (
    "one_time",
    "mrr",
    "arr",
    "acv",
    "recurring_tcv",
    "usage_committed_tcv",
    "usage_estimated_tcv",
    "tcv",
    "tcv_estimated",
    "list_tcv_estimated",
    "discount_amount",
    "discount_pct",
)

BILLING_LABELS = {
    BillingFrequency.MONTHLY: "Monthly in advance",
    BillingFrequency.QUARTERLY: "Quarterly in advance",
    BillingFrequency.ANNUAL: "Annually in advance",
    BillingFrequency.UPFRONT: "The whole term in advance",
}

CHARGE_LABELS = {
    ChargeModel.ONE_TIME: "One-time fee",
    ChargeModel.RECURRING: "Subscription",
    ChargeModel.PER_UNIT: "Usage, per unit",
    ChargeModel.GRADUATED: "Usage, graduated tiers",
    ChargeModel.VOLUME: "Usage, volume tiers",
    ChargeModel.PACKAGE: "Usage, in packages",
}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovalRecord(_Record):
    name: str
    role: str
    decided_at: datetime


class Acceptance(_Record):
    name: str
    title: str
    email: str
    accepted_at: datetime


class SlaClause(_Record):
    product: str
    text: str


class TemplateInvalid(ValueError):
    """A template an admin wrote cannot be used; `line` is in their source when Jinja knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


class DocumentTooLarge(ValueError):
    """A rendered document over MAX_HTML_BYTES."""


# --- contexts -------------------------------------------------------------------------------


def proposal_context(
    *,
    deal_id: str,
    version: int,
    deal: DealInput,
    priced: PricedDeal,
    approvals: Sequence[ApprovalRecord],
    valid_until: date | None,
    generated_at: datetime,
    seller: str,
    validity_days: int = DEFAULT_VALIDITY_DAYS,
) -> dict[str, Any]:
    """`valid_until` None means the clock starts when the proposal is sent: the document then
    says it is valid for `validity_days` from sending."""
    context = _common_context(
        "proposal",
        deal_id=deal_id,
        version=version,
        deal=deal,
        priced=priced,
        approvals=approvals,
        generated_at=generated_at,
        seller=seller,
    )
    context.update(valid_until=valid_until, validity_days=validity_days)
    return context


def contract_context(
    *,
    deal_id: str,
    version: int,
    deal: DealInput,
    priced: PricedDeal,
    schedule: BillingSchedule,
    approvals: Sequence[ApprovalRecord],
    acceptance: Acceptance,
    sla_clauses: Sequence[SlaClause],
    generated_at: datetime,
    seller: str,
) -> dict[str, Any]:
    """Raises ValueError when the schedule is not this priced version's: a contract whose price
    schedule and stated TCV disagree must not reach a signature."""
    if schedule.currency != priced.currency:
        raise ValueError(
            f"the schedule is in {schedule.currency} and the priced deal in {priced.currency}"
        )
    periods_total = sum((item.total for item in schedule.items), Decimal(0))
    if periods_total != schedule.total:
        raise ValueError(
            f"the schedule's periods add up to {periods_total}, its total says {schedule.total}"
        )
    totals = priced.totals
    # The schedule bills the rounded parts (one-time, recurring, committed usage). The engine
    # reports TCV as their sum; a version priced before it did may hold a TCV rounded once
    # from the exact total, a minor unit away, and its contract must still render.
    if schedule.total not in (
        totals.tcv,
        totals.one_time + totals.recurring_tcv + totals.usage_committed_tcv,
    ):
        raise ValueError(
            f"the schedule totals {schedule.total} but the priced deal's committed TCV is "
            f"{totals.tcv}"
        )
    context = _common_context(
        "contract",
        deal_id=deal_id,
        version=version,
        deal=deal,
        priced=priced,
        approvals=approvals,
        generated_at=generated_at,
        seller=seller,
    )
    context.update(
        # "items" would be shadowed by dict.items in a template (`schedule.items`), so the
        # invoices are `periods`.
        schedule={
            "currency": schedule.currency,
            "billing_frequency": schedule.billing_frequency,
            "billing_frequency_label": _billing_label(schedule.billing_frequency),
            "periods": [_period(item) for item in schedule.items],
            "total": schedule.total,
        },
        acceptance={
            "name": acceptance.name,
            "title": acceptance.title,
            "email": acceptance.email,
            "accepted_at": acceptance.accepted_at,
        },
        sla_clauses=[{"product": c.product, "text": c.text} for c in sla_clauses],
    )
    return context


def _common_context(
    kind: DocumentKind,
    *,
    deal_id: str,
    version: int,
    deal: DealInput,
    priced: PricedDeal,
    approvals: Sequence[ApprovalRecord],
    generated_at: datetime,
    seller: str,
) -> dict[str, Any]:
    if (priced.currency, priced.term_months, len(priced.lines)) != (
        deal.currency,
        deal.term_months,
        len(deal.lines),
    ):
        raise ValueError("the priced deal is not a pricing of this deal")
    generated_utc = (
        generated_at.replace(tzinfo=UTC)
        if generated_at.tzinfo is None
        else generated_at.astimezone(UTC)
    )
    customer = deal.customer
    return {
        "kind": kind,
        "seller": seller,
        "deal_id": deal_id,
        "version": version,
        "generated_at": generated_utc,
        "prepared_on": generated_utc.date(),
        "currency": priced.currency,
        "deal": {
            # The credit rating and the competitor are internal to the deal desk.
            "customer": {
                "name": customer.name,
                "segment": customer.segment,
                "region": customer.region,
                "new_customer": customer.new_customer,
            },
            "start_date": deal.start_date,
            "end_date": end_date(deal.start_date, deal.term_months),
            "term_months": deal.term_months,
            "billing_frequency": deal.billing_frequency.value,
            "billing_frequency_label": _billing_label(deal.billing_frequency),
            "payment_terms_days": deal.payment_terms_days,
            "header_discount_pct": deal.header_discount_pct,
            "nonstandard_terms": list(deal.nonstandard_terms),
        },
        "lines": [
            _line(line, given, deal.term_months)
            for line, given in zip(priced.lines, deal.lines, strict=True)
        ],
        "totals": _figures(priced.totals),
        "approvals": [
            {"name": a.name, "role": a.role, "decided_at": a.decided_at} for a in approvals
        ],
    }


def _figures(figures: Any) -> dict[str, Decimal]:
    return {name: getattr(figures, name) for name in PUBLIC_FIGURES}


def _line(line: PricedLine, given: LineInput, term_months: int) -> dict[str, Any]:
    return {
        "index": line.index,
        "number": line.index + 1,
        "sku": line.sku,
        "name": line.name,
        "custom": line.custom,
        "quantity": line.quantity,
        # The line's own discount as a percent (an amount the rep gave is converted), the
        # amount itself when the rep gave one, and the percent with the header discount.
        "line_discount_pct": line.line_discount_pct,
        "line_discount_amount": given.discount_amount,
        "effective_discount_pct": line.effective_discount_pct,
        # What the customer pays over the term for this line, estimated usage included.
        "net_amount": line.tcv_estimated,
        **_figures(line),
        "charges": [_charge(item, term_months) for item in line.breakdown],
    }


def _charge(item: BreakdownItem, term_months: int) -> dict[str, Any]:
    return {
        "index": item.charge,
        "type": item.type,
        "model": item.model.value,
        "label": CHARGE_LABELS[item.model],
        "summary": _charge_summary(item, term_months),
        # The pricing engine's working, at list price, e.g. "3 x 90.00 / quarter = ...".
        "detail": item.text,
        "units": item.units,
        "list_amount": item.list_amount,
        "net_amount": item.net_amount,
        "discount_pct": item.discount_pct,
        "minimum_applies": item.minimum_applies,
        "packages": item.packages,
        "tiers": [
            {
                "number": tier.tier + 1,
                "from_units": tier.from_units,
                "up_to": tier.up_to,
                "units": tier.units,
                "unit_price": tier.unit_price,
                "flat_fee": tier.flat_fee,
                "amount": tier.amount,
            }
            for tier in item.tiers
        ],
        "ramps": [
            {
                "label": _ramp_label(s.from_month, s.to_month, term_months),
                "from_month": s.from_month,
                "to_month": s.to_month,
                "months": s.months,
                "unit_price": s.unit_price,
                "monthly_amount": s.monthly_amount,
            }
            for s in item.segments
        ],
    }


def _charge_summary(item: BreakdownItem, term_months: int) -> str:
    model = item.model
    if model is ChargeModel.ONE_TIME:
        return "Invoiced once, at the start of the term."
    if model is ChargeModel.RECURRING:
        if item.segments:
            return "Recurring; the price steps up during the term as shown."
        return f"Recurring for the whole term of {term_months} months."
    estimate = f"an estimated {_units(item.units)} billable units a month"
    if model is ChargeModel.PER_UNIT:
        text = f"Every unit used in a month at one price; {estimate}."
    elif model is ChargeModel.GRADUATED:
        text = f"Each tier's price applies to the units within that tier; {estimate}."
    elif model is ChargeModel.VOLUME:
        text = (
            "The month's total volume selects one tier, whose price applies to every unit; "
            f"{estimate}."
        )
    else:
        packages = "" if item.packages is None else f", {_units(item.packages)} package(s)"
        text = f"Sold in whole packages; {estimate}{packages}."
    if item.minimum_applies:
        text += " At this estimate the minimum monthly commitment applies."
    return text


def _units(quantity: Decimal) -> str:
    return f"{quantity.normalize():,f}"


def _ramp_label(from_month: int, to_month: int, term_months: int) -> str:
    # Ramps are negotiated by contract year; say "Year 2" when a step is one, months otherwise.
    if (from_month - 1) % 12 == 0 and (to_month % 12 == 0 or to_month == term_months):
        first, last = (from_month - 1) // 12 + 1, (to_month - 1) // 12 + 1
        return f"Year {first}" if first == last else f"Years {first}–{last}"
    return f"Month {from_month}" if from_month == to_month else f"Months {from_month}–{to_month}"


def _billing_label(frequency: str) -> str:
    return BILLING_LABELS.get(BillingFrequency(frequency), frequency)


def _period(item: ScheduleItem) -> dict[str, Any]:
    return {
        "period": item.period,
        "starts_on": item.starts_on,
        "ends_on": item.ends_on,
        "months": item.months,
        "one_time": item.one_time,
        "recurring": item.recurring,
        "usage_committed": item.usage_committed,
        "total": item.total,
    }


def end_date(start: date, term_months: int) -> date:
    """The last day of the term: a 12-month term from 2027-01-01 ends on 2027-12-31."""
    return add_months(start, term_months) - timedelta(days=1)


# --- rendering ------------------------------------------------------------------------------


def builtin_source(kind: DocumentKind) -> str:
    _check_kind(kind)
    return (TEMPLATE_DIR / f"{kind}.html.j2").read_text(encoding="utf-8")


def render_document(
    kind: DocumentKind, context: Mapping[str, Any], *, source: str | None = None
) -> str:
    """HTML for `kind`: the shipped template, or `source` (an admin's, validated on save)."""
    _check_kind(kind)
    if source is None:
        template = environment().get_template(f"{kind}.html.j2")
    else:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateInvalid(_too_long(source))
        template = _compiled(source)
    return _render_bounded(template, context)


@lru_cache(maxsize=32)
def _compiled(source: str) -> Template:
    # Compiling is most of the cost of a small render; an admin's template changes rarely.
    return environment().from_string(source)


def _render_bounded(template: Template, context: Mapping[str, Any]) -> str:
    """Streamed, so a runaway template stops at the byte cap instead of building gigabytes
    first, and timed: the clock is read between chunks and, for loops that print little or
    nothing, by every loop (templates.loop_guard)."""
    deadline = time.monotonic() + RENDER_SECONDS
    token = render_deadline.set(deadline)
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk.encode("utf-8"))
            if size > MAX_HTML_BYTES:
                raise DocumentTooLarge(f"the document is over {MAX_HTML_BYTES:,} bytes")
            if time.monotonic() > deadline:
                raise RenderTimedOut(_timed_out())
            parts.append(chunk)
        return "".join(parts)
    except RenderTimedOut as error:
        # Raised by a loop deep in the template, which knows the deadline but not the limit.
        error.args = (_timed_out(),)
        raise
    finally:
        render_deadline.reset(token)


def validate_template(kind: DocumentKind, source: str) -> None:
    """Raise TemplateInvalid unless `source` parses and renders the sample `kind` documents.

    Rendering catches what parsing cannot: an undefined variable (StrictUndefined), a refused
    attribute (the sandbox), a missing include. Both branches of the optional parts (validity
    date or not, SLA clauses or not, approvals or not) are rendered.
    """
    _check_kind(kind)
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateInvalid(_too_long(source))
    try:
        template = _compiled(source)
    except TemplateSyntaxError as error:
        raise TemplateInvalid(f"syntax error: {error.message}", error.lineno) from error
    problems = _refused_constructs(kind, environment().parse(source))
    if problems:
        raise problems[0]
    for context in _sample_contexts(kind):
        try:
            _render_bounded(template, context)
        except RenderTimedOut as error:
            raise TemplateInvalid(_timed_out(), _line_of(error)) from error
        except SecurityError as error:
            raise TemplateInvalid(f"not allowed: {error}", _line_of(error)) from error
        except UndefinedError as error:
            raise TemplateInvalid(f"undefined: {error}", _line_of(error)) from error
        except TemplateNotFound as error:
            raise TemplateInvalid(f"no template named {error.name!r}", _line_of(error)) from error
        except TemplateSyntaxError as error:
            # Raised by an included template, whose line would mislead; name the template.
            raise TemplateInvalid(
                f"syntax error in {error.name or 'an included template'}: {error.message}",
                _line_of(error),
            ) from error
        except DocumentTooLarge as error:
            raise TemplateInvalid(str(error), _line_of(error)) from error
        except Exception as error:
            # Whatever else an admin's template raises (a filter given a float, a division by
            # zero, a macro calling itself forever) makes it unusable just the same.
            raise TemplateInvalid(f"{type(error).__name__}: {error}", _line_of(error)) from error


def _refused_constructs(kind: DocumentKind, template: nodes.Template) -> list[TemplateInvalid]:
    """What the template says it does that it may not, first line first: found in its syntax
    tree, so a branch the sample deals do not take is checked as well."""
    problems: list[TemplateInvalid] = []
    for node in template.find_all((nodes.Filter, nodes.EvalContextModifier)):
        if isinstance(node, nodes.Filter) and node.name in REFUSED_FILTERS:
            problems.append(TemplateInvalid(f"not allowed: the |{node.name} filter", node.lineno))
        elif isinstance(node, nodes.EvalContextModifier):
            # `{% autoescape false %}`, or a value only known at render time.
            for option in node.options:
                turned_on = isinstance(option.value, nodes.Const) and option.value.value is True
                if option.key == "autoescape" and not turned_on:
                    problems.append(
                        TemplateInvalid("not allowed: turning autoescape off", node.lineno)
                    )
    known = {name for context in _sample_contexts(kind) for name in context}
    known |= set(environment().globals)
    unknown = meta.find_undeclared_variables(template) - known
    for name in template.find_all(nodes.Name):
        if name.ctx == "load" and name.name in unknown:
            problems.append(TemplateInvalid(f"undefined: {name.name!r} is undefined", name.lineno))
            unknown.discard(name.name)
    return sorted(problems, key=lambda problem: problem.line or 0)


def _timed_out() -> str:
    return f"the template takes over {RENDER_SECONDS:g} s to render"


def _too_long(source: str) -> str:
    return f"the template is {len(source):,} characters; the limit is {MAX_TEMPLATE_CHARS:,}"


def _line_of(error: BaseException) -> int | None:
    # Jinja rewrites a render error's traceback so that template frames carry the template's
    # own line numbers; a template from a string is named "<template>".
    line = None
    trace: TracebackType | None = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _check_kind(kind: str) -> None:
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {DOCUMENT_KINDS}")


# --- the sample deal ------------------------------------------------------------------------


def sample_context(kind: DocumentKind) -> dict[str, Any]:
    """A realistic deal across every charge model, for validating and previewing templates."""
    _check_kind(kind)
    return copy.deepcopy(_sample_contexts(kind)[0])


@lru_cache(maxsize=len(DOCUMENT_KINDS))
def _sample_contexts(kind: DocumentKind) -> tuple[dict[str, Any], ...]:
    """The full sample first, then a bare deal that takes the other side of every optional
    part (no validity date, usage, discounts, special terms, approvals or SLA clauses), so a
    template is validated on both branches of each `if` the shipped templates have."""
    full, full_priced = _sample_deal(bare=False)
    bare, bare_priced = _sample_deal(bare=True)
    generated_at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    approvals = [
        ApprovalRecord(
            name="Dana Whitfield",
            role="sales_manager",
            decided_at=datetime(2026, 11, 19, 10, 5, tzinfo=UTC),
        ),
        ApprovalRecord(
            name="Felix Moreau",
            role="finance",
            decided_at=datetime(2026, 11, 20, 9, 40, tzinfo=UTC),
        ),
    ]
    common: dict[str, Any] = {
        "deal_id": "D-2026-0142",
        "version": 3,
        "generated_at": generated_at,
        "seller": "Example Software Ltd.",
    }
    if kind == "proposal":
        return (
            proposal_context(
                deal=full,
                priced=full_priced,
                approvals=approvals,
                valid_until=date(2026, 12, 20),
                **common,
            ),
            proposal_context(
                deal=bare, priced=bare_priced, approvals=[], valid_until=None, **common
            ),
        )
    acceptance = Acceptance(
        name="Priya Raman",
        title="VP Operations",
        email="priya.raman@northwind.example",
        accepted_at=datetime(2026, 12, 2, 16, 12, tzinfo=UTC),
    )
    # As activities build them: each product's SLA from the price book, once per product.
    skus = {line.sku for line in full.lines}
    clauses = [
        SlaClause(product=product.name, text=product.sla)
        for product in demo_catalog()
        if product.sku in skus and product.sla
    ]
    return (
        contract_context(
            deal=full,
            priced=full_priced,
            schedule=billing_schedule(full, full_priced),
            approvals=approvals,
            acceptance=acceptance,
            sla_clauses=clauses,
            **common,
        ),
        contract_context(
            deal=bare,
            priced=bare_priced,
            schedule=billing_schedule(bare, bare_priced),
            approvals=[],
            acceptance=acceptance,
            sla_clauses=[],
            **common,
        ),
    )


@lru_cache(maxsize=2)
def _sample_deal(*, bare: bool) -> tuple[DealInput, PricedDeal]:
    customer = {
        "name": "Northwind Traders",
        "segment": "enterprise",
        "region": "EMEA",
        "new_customer": True,
        "credit_rating": "A",
    }
    if bare:
        body: dict[str, Any] = {
            "currency": "USD",
            "term_months": 12,
            "start_date": "2027-01-01",
            "billing_frequency": "monthly",
            "customer": customer,
            "lines": [{"sku": "PLAT-SEAT", "quantity": "10"}],
        }
    else:
        body = {
            "currency": "USD",
            "term_months": 36,
            "start_date": "2027-01-01",
            "billing_frequency": "annual",
            "payment_terms_days": 45,
            "customer": customer,
            "header_discount_pct": "3",
            "nonstandard_terms": [
                "Renewal price increase capped at 5% a year.",
                "Termination for convenience after month 24 with 90 days' notice.",
            ],
            "lines": [
                {"sku": "PLAT-SEAT", "quantity": "150", "discount_pct": "12"},
                {"sku": "PLAT-ONBOARD", "quantity": "1", "discount_amount": "2500"},
                {"sku": "DWH-NODE", "quantity": "2"},
                {"sku": "ANALYTICS-PRO", "quantity": "40"},
                {"sku": "SUPPORT-PREMIUM", "quantity": "1"},
                {"sku": "API-CALLS", "quantity": "1"},
                {"sku": "STORAGE-GB", "quantity": "1"},
                {"sku": "SMS-MSG", "quantity": "1"},
                {"sku": "EVENTS-PACK", "quantity": "1"},
            ],
        }
    deal = DealInput.model_validate(body)
    return deal, price_deal(deal, {product.sku: product for product in demo_catalog()})


# --- PDF ------------------------------------------------------------------------------------


def _refuse_fetching(url: str) -> dict[str, Any]:
    """Every URL but data: ones is refused.

    A template is text an admin controls and a deal is text a rep controls; either could put
    <img src="file:///etc/passwd">, <link href="http://169.254.169.254/...">, @import or url()
    into the HTML. WeasyPrint would read the file into the PDF or make the request from our
    network (SSRF). Documents need nothing external, so nothing is fetched; a data: URI (a logo
    an admin embeds) is decoded in memory, with no I/O.
    """
    if url[:5].lower() != "data:":
        raise PermissionError(f"documents load no external resources: {url[:200]}")
    response = DataHandler().data_open(Request(url))
    return {"body": response.read(), "content_type": response.headers.get("Content-Type", "")}


@lru_cache(maxsize=1)
def _weasyprint() -> tuple[Any, Any]:
    """WeasyPrint's HTML class and our URL fetcher, imported on first use.

    Lazily, because the import takes about half a second that nothing but PDF output needs.
    (`make install` puts libharfbuzz-subset in place; without it WeasyPrint warns at import,
    and the test suite turns that warning into an error on purpose.)
    """
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import (  # type: ignore[import-untyped]
        URLFetcher,
        URLFetcherResponse,
    )

    class NoFetching(URLFetcher):  # type: ignore[misc]
        __doc__ = _refuse_fetching.__doc__

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            data = _refuse_fetching(url)
            return URLFetcherResponse(
                url, body=data["body"], headers={"Content-Type": data["content_type"]}
            )

    return HTML, NoFetching


def html_to_pdf(html: str) -> bytes:
    """A PDF of `html`, laid out by WeasyPrint with nothing fetched from disk or network."""
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise DocumentTooLarge(f"the HTML is {size:,} bytes; the limit is {MAX_HTML_BYTES:,}")
    html_class, fetcher_class = _weasyprint()
    # base_url=None: a relative URL resolves to nothing, so it cannot name a local file either.
    pdf = html_class(string=html, base_url=None, url_fetcher=fetcher_class()).write_pdf()
    if not isinstance(pdf, bytes):
        raise TypeError(f"WeasyPrint returned {type(pdf).__name__}, not the PDF's bytes")
    return pdf
