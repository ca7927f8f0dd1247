"""DealFacts: what each fact means, its direction, and how it is built from a priced deal."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from policies import FACTS, DealFacts, Worse, facts_for
from policies.facts import Kind, no_worse, parse_fact, raw_fact, render_fact, usage_share_pct
from pricing import DealInput, demo_catalog, price_deal
from tests.policies.builders import facts


def test_the_fact_catalog_is_what_rules_may_name() -> None:
    assert list(FACTS) == [
        "gross_margin_pct",
        "discount_pct",
        "max_line_discount_pct",
        "tcv",
        "tcv_estimated",
        "acv",
        "arr",
        "mrr",
        "one_time",
        "term_months",
        "payment_terms_days",
        "billing_frequency",
        "segment",
        "region",
        "new_customer",
        "credit_rating",
        "nonstandard_terms_count",
        "has_nonstandard_terms",
        "nonstandard_terms",
        "custom_lines",
        "lines_below_floor",
        "usage_share_pct",
        "competitor_named",
        "risk_score",
        "line_count",
        "currency",
    ]
    assert all(spec.description for spec in FACTS.values())


@pytest.mark.parametrize(
    ("name", "worse"),
    [
        ("gross_margin_pct", Worse.LOWER),
        ("discount_pct", Worse.HIGHER),
        ("max_line_discount_pct", Worse.HIGHER),
        ("tcv", Worse.HIGHER),
        ("payment_terms_days", Worse.HIGHER),
        ("term_months", Worse.HIGHER),
        ("new_customer", Worse.HIGHER),
        ("has_nonstandard_terms", Worse.HIGHER),
        ("nonstandard_terms", Worse.HIGHER),
        ("competitor_named", Worse.LOWER),
        ("risk_score", Worse.HIGHER),
        ("segment", Worse.NEITHER),
        ("billing_frequency", Worse.NEITHER),
        ("line_count", Worse.NEITHER),
    ],
)
def test_each_fact_declares_which_way_is_worse(name: str, worse: Worse) -> None:
    assert FACTS[name].worse is worse


@pytest.mark.parametrize(
    ("name", "new", "reference", "expected"),
    [
        ("gross_margin_pct", Decimal("30"), Decimal("28.4"), True),
        ("gross_margin_pct", Decimal("28.4"), Decimal("28.4"), True),
        ("gross_margin_pct", Decimal("28.39"), Decimal("28.4"), False),
        ("max_line_discount_pct", Decimal("24"), Decimal("25"), True),
        ("max_line_discount_pct", Decimal("25.01"), Decimal("25"), False),
        ("payment_terms_days", 90, 90, True),
        ("payment_terms_days", 91, 90, False),
        ("new_customer", False, True, True),
        ("new_customer", True, False, False),
        ("competitor_named", True, False, True),
        ("competitor_named", False, True, False),
        ("nonstandard_terms", ("a",), ("a", "b"), True),
        ("nonstandard_terms", ("a", "c"), ("a", "b"), False),
        ("segment", "enterprise", "enterprise", True),
        ("segment", "smb", "enterprise", False),
    ],
)
def test_no_worse_follows_the_direction(
    name: str, new: Any, reference: Any, expected: bool
) -> None:
    assert no_worse(FACTS[name], new, reference) is expected


@pytest.mark.parametrize(
    ("name", "value", "raw"),
    [
        ("gross_margin_pct", Decimal("28.40"), "28.40"),
        ("term_months", 36, "36"),
        ("new_customer", True, "true"),
        ("competitor_named", False, "false"),
        ("nonstandard_terms", ("Net 90", 'Say "hi"; bye'), '["Net 90", "Say \\"hi\\"; bye"]'),
        ("segment", "enterprise", "enterprise"),
    ],
)
def test_raw_values_round_trip(name: str, value: Any, raw: str) -> None:
    assert raw_fact(value) == raw
    assert parse_fact(FACTS[name], raw) == value


@pytest.mark.parametrize(
    ("name", "raw"),
    [("new_customer", "yes"), ("nonstandard_terms", '{"a": 1}'), ("term_months", "3.5")],
)
def test_parse_refuses_what_raw_never_writes(name: str, raw: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - three different messages, one contract
        parse_fact(FACTS[name], raw)


def test_money_renders_grouped_and_percent_trimmed() -> None:
    assert FACTS["tcv"].kind is Kind.MONEY
    assert render_fact(FACTS["tcv"], Decimal("999.999")) == "1,000"
    assert render_fact(FACTS["discount_pct"], Decimal("100.00")) == "100"
    assert render_fact(FACTS["discount_pct"], Decimal("0.005")) == "0.01"


@pytest.mark.parametrize(
    ("usage", "tcv", "share"),
    [
        (Decimal("0"), Decimal("0"), Decimal("0")),
        (Decimal("50"), Decimal("100"), Decimal("50.00")),
        (Decimal("1"), Decimal("3"), Decimal("33.33")),
        (Decimal("2"), Decimal("3"), Decimal("66.67")),
    ],
)
def test_usage_share(usage: Decimal, tcv: Decimal, share: Decimal) -> None:
    assert usage_share_pct(usage, tcv) == share


def test_facts_are_frozen_and_refuse_unknown_fields() -> None:
    deal = facts()
    with pytest.raises(ValueError, match="frozen"):
        deal.tcv = Decimal(1)  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        DealFacts.model_validate({**deal.model_dump(), "margin": 1})


# Stand-ins for pricing's models, for edges a valid DealInput cannot reach (no revenue).
@dataclass
class _Customer:
    segment: str = "smb"
    region: str = "EU"
    new_customer: bool = True
    credit_rating: str = "BB"


@dataclass
class _Competitor:
    name: str


@dataclass
class _Deal:
    currency: str = "EUR"
    term_months: int = 12
    payment_terms_days: int = 45
    billing_frequency: str = "monthly"
    customer: _Customer = field(default_factory=_Customer)
    nonstandard_terms: list[str] = field(default_factory=list)
    competitor: _Competitor | None = None


@dataclass
class _Figures:
    one_time: Decimal = Decimal(0)
    mrr: Decimal = Decimal(0)
    arr: Decimal = Decimal(0)
    tcv: Decimal = Decimal(0)
    tcv_estimated: Decimal = Decimal(0)
    acv: Decimal = Decimal(0)
    usage_estimated_tcv: Decimal = Decimal(0)
    discount_pct: Decimal = Decimal(100)
    gross_margin_pct: Decimal | None = None


@dataclass
class _Priced:
    lines: list[Any] = field(default_factory=list)
    totals: _Figures = field(default_factory=_Figures)


def test_a_deal_with_no_revenue_has_zero_margin_and_usage_share() -> None:
    built = facts_for(_Deal(competitor=_Competitor("  ")), _Priced())

    assert built.gross_margin_pct == Decimal(0)
    assert built.usage_share_pct == Decimal(0)
    assert built.max_line_discount_pct == Decimal(0)
    assert built.competitor_named is False  # a blank name names nobody
    assert built.risk_score == 0  # scored by the evaluator, from the policy
    assert (built.line_count, built.custom_lines, built.lines_below_floor) == (0, 0, 0)


def _priced_demo_deal() -> tuple[DealInput, Any]:
    deal = DealInput.model_validate(
        {
            "currency": "USD",
            "term_months": 12,
            "start_date": "2027-01-01",
            "billing_frequency": "quarterly",
            "payment_terms_days": 90,
            "customer": {
                "name": "Acme Corp",
                "segment": "enterprise",
                "region": "NA",
                "new_customer": True,
                "credit_rating": "BBB",
            },
            "nonstandard_terms": ["Net 90 payment terms"],
            "competitor": {"name": "OtherCo"},
            "lines": [
                {"sku": "PLAT-SEAT", "quantity": "100", "discount_pct": "25"},
                {
                    "name": "Custom integration",
                    "quantity": "1",
                    "charges": [{"type": "one_time", "unit_price": "10000", "unit_cost": "4000"}],
                },
            ],
        }
    )
    return deal, price_deal(deal, {p.sku: p for p in demo_catalog()})


def test_facts_for_a_real_priced_deal() -> None:
    deal, priced = _priced_demo_deal()

    built = facts_for(deal, priced)

    # Seats: 100 x 120 x 12 = 144,000 list, 108,000 net at 25% off, cost 21,600;
    # the custom line: 10,000, cost 4,000. Margin 92,400 / 118,000; discount 36,000 / 154,000.
    assert built.tcv_estimated == Decimal("118000.00")
    assert built.gross_margin_pct == Decimal("78.31")
    assert built.discount_pct == Decimal("23.38")
    assert built.max_line_discount_pct == Decimal("25.00")
    assert built.billing_frequency == "quarterly"
    assert (built.custom_lines, built.lines_below_floor, built.line_count) == (1, 0, 2)
    assert built.nonstandard_terms == ("Net 90 payment terms",)
    assert (built.nonstandard_terms_count, built.has_nonstandard_terms) == (1, True)
    assert built.competitor_named is True
    assert (built.segment, built.region, built.credit_rating) == ("enterprise", "NA", "BBB")
