"""The flat, typed facts a policy rule can test, and how they are built from a priced deal.

Each fact declares the direction in which it draws more scrutiny (`Worse`), so smart
re-approval can tell whether a revised deal is "no worse" than the one approved, and how it
reads in a reason ("28.4", "1,250,000", "yes").
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum, StrEnum
from typing import Annotated, Literal, Protocol

import rule_engine
from pydantic import BaseModel, ConfigDict, Field


class Worse(StrEnum):
    """Which way a fact moves when the deal gets riskier for the company."""

    HIGHER = "higher"
    LOWER = "lower"
    # Categorical facts (segment, region, ...) have no order: any change is a change.
    NEITHER = "neither"


class Kind(StrEnum):
    """How a fact reads in a reason text."""

    PERCENT = "percent"
    MONEY = "money"
    NUMBER = "number"
    FLAG = "flag"
    TEXT = "text"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class Fact:
    """Annotated metadata on a DealFacts field."""

    worse: Worse
    kind: Kind


_PCT = Fact(Worse.HIGHER, Kind.PERCENT)
_MONEY = Fact(Worse.HIGHER, Kind.MONEY)
_COUNT = Fact(Worse.HIGHER, Kind.NUMBER)
_FLAG = Fact(Worse.HIGHER, Kind.FLAG)
_TEXT = Fact(Worse.NEITHER, Kind.TEXT)

BillingFrequency = Literal["monthly", "quarterly", "annual", "upfront"]


class DealFacts(BaseModel):
    """Everything a rule's `when` may name. Integers stay integers here; the evaluator hands
    them to rule-engine as Decimals because rule-engine compares FLOAT values by exact type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gross_margin_pct: Annotated[Decimal, Fact(Worse.LOWER, Kind.PERCENT)] = Field(
        description="Gross margin as a percent of estimated TCV (0 when there is no revenue)"
    )
    discount_pct: Annotated[Decimal, _PCT] = Field(description="Deal discount off list, percent")
    max_line_discount_pct: Annotated[Decimal, _PCT] = Field(
        description="The deepest discount on any one line, percent"
    )
    tcv: Annotated[Decimal, _MONEY] = Field(description="Committed total contract value")
    tcv_estimated: Annotated[Decimal, _MONEY] = Field(
        description="Total contract value with usage at the estimated quantity"
    )
    acv: Annotated[Decimal, _MONEY] = Field(description="Annual contract value")
    arr: Annotated[Decimal, _MONEY] = Field(description="Annual recurring revenue")
    mrr: Annotated[Decimal, _MONEY] = Field(description="Monthly recurring revenue, month 1")
    one_time: Annotated[Decimal, _MONEY] = Field(description="One-time amounts")
    term_months: Annotated[int, _COUNT] = Field(ge=0, description="Contract term in months")
    payment_terms_days: Annotated[int, _COUNT] = Field(ge=0, description="Payment terms in days")
    billing_frequency: Annotated[BillingFrequency, _TEXT] = Field(
        description="monthly, quarterly, annual or upfront"
    )
    segment: Annotated[str, _TEXT] = Field(description="Customer segment")
    region: Annotated[str, _TEXT] = Field(description="Customer region")
    new_customer: Annotated[bool, _FLAG] = Field(description="The customer is new")
    credit_rating: Annotated[str, _TEXT] = Field(description="Customer credit rating")
    nonstandard_terms_count: Annotated[int, _COUNT] = Field(
        ge=0, description="Number of non-standard terms"
    )
    has_nonstandard_terms: Annotated[bool, _FLAG] = Field(
        description="The deal carries non-standard terms"
    )
    # The texts themselves, so a reason can quote them and re-approval can tell a new term
    # from the ones legal already read (fewer terms is no worse; any new one is).
    nonstandard_terms: Annotated[tuple[str, ...], Fact(Worse.HIGHER, Kind.LIST)] = Field(
        default=(), description="The non-standard terms, as written"
    )
    custom_lines: Annotated[int, _COUNT] = Field(ge=0, description="Lines with no catalog SKU")
    lines_below_floor: Annotated[int, _COUNT] = Field(
        ge=0, description="Lines discounted below their product's floor"
    )
    usage_share_pct: Annotated[Decimal, _PCT] = Field(
        description="Estimated usage revenue as a percent of estimated TCV"
    )
    # No competitor is the worse case: deep discounts need a named competitor.
    competitor_named: Annotated[bool, Fact(Worse.LOWER, Kind.FLAG)] = Field(
        description="A competitor is named on the deal"
    )
    risk_score: Annotated[int, _COUNT] = Field(
        default=0, ge=0, le=100, description="Risk score 0-100, filled in by the evaluator"
    )
    line_count: Annotated[int, Fact(Worse.NEITHER, Kind.NUMBER)] = Field(
        ge=0, description="Number of lines"
    )
    currency: Annotated[str, _TEXT] = Field(description="ISO 4217 currency code")


FactValue = Decimal | int | bool | str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    python_type: type
    datatype: typing.Any  # a rule_engine DataType definition (the library is untyped)
    worse: Worse
    kind: Kind
    description: str
    choices: tuple[str, ...] | None


def _fact_specs() -> dict[str, FactSpec]:
    specs: dict[str, FactSpec] = {}
    for name, info in DealFacts.model_fields.items():
        meta = next(m for m in info.metadata if isinstance(m, Fact))
        annotation = info.annotation
        choices: tuple[str, ...] | None = None
        if typing.get_origin(annotation) is Literal:
            choices = tuple(str(a) for a in typing.get_args(annotation))
            python_type: type = str
        elif typing.get_origin(annotation) is tuple:
            python_type = tuple
        elif isinstance(annotation, type):
            python_type = annotation
        else:  # pragma: no cover - guards a future field typed in a way we do not map
            raise TypeError(f"DealFacts.{name}: unsupported annotation {annotation!r}")
        if python_type is bool:
            datatype = rule_engine.DataType.BOOLEAN
        elif python_type in (int, Decimal):
            datatype = rule_engine.DataType.FLOAT
        elif python_type is str:
            datatype = rule_engine.DataType.STRING
        elif python_type is tuple:
            datatype = rule_engine.DataType.ARRAY(rule_engine.DataType.STRING)
        else:  # pragma: no cover
            raise TypeError(f"DealFacts.{name}: unsupported type {python_type!r}")
        specs[name] = FactSpec(
            name=name,
            python_type=python_type,
            datatype=datatype,
            worse=meta.worse,
            kind=meta.kind,
            description=info.description or "",
            choices=choices,
        )
    return specs


FACTS: Mapping[str, FactSpec] = types.MappingProxyType(_fact_specs())
"""Every fact by name, in DealFacts field order."""


def fact_values(facts: DealFacts) -> dict[str, FactValue]:
    """The facts by name, typed as declared (for texts and recorded values)."""
    return {name: getattr(facts, name) for name in FACTS}


def rule_values(typed: Mapping[str, FactValue]) -> dict[str, FactValue]:
    """The symbol table one evaluation hands to rule-engine: ints become Decimals because
    rule-engine refuses to compare an int with a FLOAT literal (always a Decimal)."""
    return {name: Decimal(value) if type(value) is int else value for name, value in typed.items()}


_CENT = Decimal("0.01")


def _plain(number: Decimal) -> str:
    """Two places at most, trailing zeros dropped: 28.40 -> "28.4", 35.00 -> "35"."""
    text = f"{number.quantize(_CENT, rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def render_fact(spec: FactSpec, value: FactValue) -> str:
    """How a fact reads in a reason: what an approver wants to see, not the raw value."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return "; ".join(value) if value else "none"
    if isinstance(value, Decimal) and spec.kind is Kind.MONEY:
        rounded = value.quantize(_CENT, rounding=ROUND_HALF_UP)
        return f"{rounded:,.0f}" if rounded == rounded.to_integral_value() else f"{rounded:,.2f}"
    if isinstance(value, Decimal):
        return _plain(value)
    return str(value)


def raw_fact(value: FactValue) -> str:
    """The machine-readable string of a fact (amounts in JSON are strings, never floats)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return str(value)


def parse_fact(spec: FactSpec, text: str) -> FactValue:
    """The inverse of raw_fact, for values recorded at approval time."""
    if spec.python_type is bool:
        if text not in ("true", "false"):
            raise ValueError(f"{spec.name}: {text!r} is not true or false")
        return text == "true"
    if spec.python_type is int:
        return int(text)
    if spec.python_type is Decimal:
        return Decimal(text)
    if spec.python_type is tuple:
        items = json.loads(text)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"{spec.name}: {text!r} is not a list of strings")
        return tuple(items)
    return text


def no_worse(spec: FactSpec, new: FactValue, reference: FactValue) -> bool:
    """True when `new` draws no more scrutiny than `reference` in the fact's declared direction."""
    if spec.worse is Worse.NEITHER:
        return new == reference
    if isinstance(new, tuple) and isinstance(reference, tuple):
        return set(new) <= set(reference)
    # bool orders False < True, which is the order "true is worse" / "false is worse" needs.
    if spec.worse is Worse.HIGHER:
        return new <= reference  # type: ignore[operator]
    return new >= reference  # type: ignore[operator]


# Structural views of pricing's models: the only attributes facts_for reads. Keeping them as
# Protocols lets policies/ stay importable and testable whatever else pricing/ grows into.
class CustomerLike(Protocol):
    @property
    def segment(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def new_customer(self) -> bool: ...
    @property
    def credit_rating(self) -> str: ...


class CompetitorLike(Protocol):
    @property
    def name(self) -> str: ...


class DealLike(Protocol):
    @property
    def currency(self) -> str: ...
    @property
    def term_months(self) -> int: ...
    @property
    def payment_terms_days(self) -> int: ...
    @property
    def billing_frequency(self) -> str: ...
    @property
    def customer(self) -> CustomerLike: ...
    @property
    def nonstandard_terms(self) -> Sequence[str]: ...
    @property
    def competitor(self) -> CompetitorLike | None: ...


class FiguresLike(Protocol):
    @property
    def one_time(self) -> Decimal: ...
    @property
    def mrr(self) -> Decimal: ...
    @property
    def arr(self) -> Decimal: ...
    @property
    def tcv(self) -> Decimal: ...
    @property
    def tcv_estimated(self) -> Decimal: ...
    @property
    def acv(self) -> Decimal: ...
    @property
    def usage_estimated_tcv(self) -> Decimal: ...
    @property
    def discount_pct(self) -> Decimal: ...
    @property
    def gross_margin_pct(self) -> Decimal | None: ...


class PricedLineLike(Protocol):
    @property
    def discount_pct(self) -> Decimal: ...
    @property
    def custom(self) -> bool: ...
    @property
    def below_floor(self) -> bool: ...


class PricedLike(Protocol):
    @property
    def lines(self) -> Sequence[PricedLineLike]: ...
    @property
    def totals(self) -> FiguresLike: ...


def _text(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def usage_share_pct(usage_estimated_tcv: Decimal, tcv_estimated: Decimal) -> Decimal:
    if tcv_estimated == 0:
        return Decimal(0)
    share = usage_estimated_tcv / tcv_estimated * 100
    return share.quantize(_CENT, rounding=ROUND_HALF_UP)


def facts_for(deal: DealLike, priced: PricedLike) -> DealFacts:
    """The facts of a priced deal. `risk_score` is left at 0: the risk weights live in the
    policy, so `evaluate_facts` scores the deal and fills it in before any rule runs."""
    totals = priced.totals
    margin = totals.gross_margin_pct
    terms = list(deal.nonstandard_terms)
    competitor = deal.competitor
    return DealFacts(
        # No revenue means no margin to speak of; 0 routes such a deal to finance and the CFO
        # rather than letting it through as if it were healthy.
        gross_margin_pct=Decimal(0) if margin is None else margin,
        discount_pct=totals.discount_pct,
        max_line_discount_pct=max((line.discount_pct for line in priced.lines), default=Decimal(0)),
        tcv=totals.tcv,
        tcv_estimated=totals.tcv_estimated,
        acv=totals.acv,
        arr=totals.arr,
        mrr=totals.mrr,
        one_time=totals.one_time,
        term_months=deal.term_months,
        payment_terms_days=deal.payment_terms_days,
        billing_frequency=_text(deal.billing_frequency),
        segment=_text(deal.customer.segment),
        region=_text(deal.customer.region),
        new_customer=deal.customer.new_customer,
        credit_rating=_text(deal.customer.credit_rating),
        nonstandard_terms_count=len(terms),
        nonstandard_terms=tuple(terms),
        has_nonstandard_terms=bool(terms),
        custom_lines=sum(1 for line in priced.lines if line.custom),
        lines_below_floor=sum(1 for line in priced.lines if line.below_floor),
        usage_share_pct=usage_share_pct(totals.usage_estimated_tcv, totals.tcv_estimated),
        competitor_named=competitor is not None and bool(competitor.name.strip()),
        line_count=len(priced.lines),
        currency=_text(deal.currency),
    )
