"""Risk scoring with the default policy's factors and weights."""

from __future__ import annotations

from typing import Any

import pytest

from policies import load_policy
from tests.policies.builders import facts, plan_for, policy_text, rule

# (overrides on a zero-risk deal, the one factor that applies, its weight)
SINGLE_FACTORS: list[tuple[dict[str, Any], str, int]] = [
    ({"payment_terms_days": 46}, "payment_terms", 15),
    ({"term_months": 37}, "term_length", 10),
    ({"nonstandard_terms": ("Net 90",)}, "nonstandard_terms", 20),
    ({"new_customer": True}, "new_customer", 10),
    ({"credit_rating": "CCC"}, "credit_rating", 25),
    ({"usage_share_pct": "50.01"}, "usage_share", 10),
    ({"discount_pct": "25.01", "competitor_named": True}, "discount_depth", 15),
    ({"custom_lines": 2}, "custom_lines", 10),
]


@pytest.mark.parametrize(("overrides", "name", "weight"), SINGLE_FACTORS)
def test_each_factor_alone(overrides: dict[str, Any], name: str, weight: int) -> None:
    risk = plan_for(facts(**overrides)).risk

    assert [(f.name, f.weight) for f in risk.factors if f.applies] == [(name, weight)]
    assert risk.score == weight


@pytest.mark.parametrize(
    "overrides",
    [
        {"payment_terms_days": 45},
        {"term_months": 36},
        {"usage_share_pct": "50"},
        {"discount_pct": "25"},
        {"credit_rating": "B"},
    ],
)
def test_factors_at_their_threshold_do_not_apply(overrides: dict[str, Any]) -> None:
    assert plan_for(facts(**overrides)).risk.score == 0


@pytest.mark.parametrize(
    ("rating", "below_b"),
    [
        ("AAA", False),
        ("AA+", False),
        ("A", False),
        ("a-", False),
        ("BBB-", False),
        ("BB", False),
        ("B", False),
        ("B-", False),
        ("CCC+", True),
        ("CC", True),
        ("C", True),
        ("D", True),
        ("NR", True),
    ],
)
def test_credit_rating_below_b(rating: str, below_b: bool) -> None:
    risk = plan_for(facts(credit_rating=rating)).risk

    (factor,) = [f for f in risk.factors if f.name == "credit_rating"]
    assert factor.applies is below_b
    assert factor.detail == f"Credit rating {rating}; counts below B"


def test_score_is_capped_at_100() -> None:
    plan = plan_for(
        facts(
            payment_terms_days=90,
            term_months=48,
            nonstandard_terms=("Net 90",),
            new_customer=True,
            credit_rating="D",
            usage_share_pct="80",
            discount_pct="28",
            competitor_named=True,
            custom_lines=1,
        )
    )

    assert sum(f.weight for f in plan.risk.factors if f.applies) == 115
    assert plan.risk.score == 100
    assert plan.facts.risk_score == 100


def test_factors_are_listed_whether_or_not_they_apply() -> None:
    risk = plan_for(facts(payment_terms_days=90)).risk

    assert [(f.name, f.applies, f.detail) for f in risk.factors][:2] == [
        ("payment_terms", True, "Payment terms 90 days; counts over 45"),
        ("term_length", False, "Term 36 months; counts over 36"),
    ]


def test_the_evaluator_replaces_a_stale_risk_score() -> None:
    plan = plan_for(facts(risk_score=90))

    assert plan.risk.score == 0
    assert plan.facts.risk_score == 0
    assert plan.standard_offer is True


def test_a_policy_without_risk_factors_scores_zero() -> None:
    policy = load_policy(policy_text(rule("risky", "risk_score > 0")))

    plan = plan_for(facts(credit_rating="D"), policy)

    assert (plan.risk.score, plan.risk.factors, plan.standard_offer) == (0, [], True)


def test_rules_see_the_score_the_evaluator_computed() -> None:
    # nonstandard (20) + payment terms (15) + credit (25) = 60: finance, for risk too.
    plan = plan_for(facts(nonstandard_terms=("Net 90",), payment_terms_days=50, credit_rating="C"))

    finance = plan.stage(1, "finance")
    assert finance is not None
    assert plan.risk.score == 60
    high_risk = next(r for r in finance.reasons if r.rule_id == "high-risk")
    assert (high_risk.text, high_risk.values) == (
        "Risk score 60 is 60 or more",
        {"risk_score": "60"},
    )
