"""The default policy, rule by rule: exactly at each threshold, just above, just below."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml

from policies import default_policy, default_policy_text, load_policy
from tests.policies.builders import default_with, facts, fired, plan_for

# (rule id, the overrides on a healthy deal, whether the rule fires)
BOUNDARIES: list[tuple[str, dict[str, Any], bool]] = [
    ("margin-below-35", {"gross_margin_pct": "35.01"}, False),
    ("margin-below-35", {"gross_margin_pct": "35"}, False),
    ("margin-below-35", {"gross_margin_pct": "34.99"}, True),
    ("margin-below-20", {"gross_margin_pct": "20.01"}, False),
    ("margin-below-20", {"gross_margin_pct": "20"}, False),
    ("margin-below-20", {"gross_margin_pct": "19.99"}, True),
    ("line-discount-over-20", {"max_line_discount_pct": "19.99"}, False),
    ("line-discount-over-20", {"max_line_discount_pct": "20"}, False),
    ("line-discount-over-20", {"max_line_discount_pct": "20.01"}, True),
    ("line-discount-over-40", {"max_line_discount_pct": "39.99"}, False),
    ("line-discount-over-40", {"max_line_discount_pct": "40"}, False),
    ("line-discount-over-40", {"max_line_discount_pct": "40.01"}, True),
    ("tcv-over-1m", {"tcv": "999999.99"}, False),
    ("tcv-over-1m", {"tcv": "1000000"}, False),
    ("tcv-over-1m", {"tcv": "1000000.01"}, True),
    ("payment-terms-legal", {"payment_terms_days": 59}, False),
    ("payment-terms-legal", {"payment_terms_days": 60}, False),
    ("payment-terms-legal", {"payment_terms_days": 61}, True),
    ("payment-terms-finance", {"payment_terms_days": 60}, False),
    ("payment-terms-finance", {"payment_terms_days": 61}, True),
    ("nonstandard-terms-legal", {"nonstandard_terms": ()}, False),
    ("nonstandard-terms-legal", {"nonstandard_terms": ("Net 90",)}, True),
    ("nonstandard-terms-finance", {"nonstandard_terms": ()}, False),
    ("nonstandard-terms-finance", {"nonstandard_terms": ("Net 90",)}, True),
    ("custom-lines", {"custom_lines": 0}, False),
    ("custom-lines", {"custom_lines": 1}, True),
    ("below-floor", {"lines_below_floor": 0}, False),
    ("below-floor", {"lines_below_floor": 1}, True),
    ("discount-without-competitor", {"discount_pct": "29.99"}, False),
    ("discount-without-competitor", {"discount_pct": "30"}, False),
    ("discount-without-competitor", {"discount_pct": "30.01"}, True),
    (
        "discount-without-competitor",
        {"discount_pct": "30.01", "competitor_named": True},
        False,
    ),
]


@pytest.mark.parametrize(("rule_id", "overrides", "fires"), BOUNDARIES)
def test_rule_boundary(rule_id: str, overrides: dict[str, Any], fires: bool) -> None:
    plan = plan_for(facts(**overrides))

    assert (rule_id in fired(plan)) is fires


def test_every_default_rule_has_a_boundary_row() -> None:
    tested = {row[0] for row in BOUNDARIES} | {"high-risk"}

    assert tested == {r.id for r in default_policy().rules}


# Weights chosen so 59, 60 and 61 are reachable: the rule's threshold, not the default
# weights, is under test here (the weights have their own tests in test_risk.py).
_RISK_59_60_61 = {
    "factors": [
        {"name": "base", "weight": 59, "when": "new_customer", "detail": "d"},
        {"name": "one", "weight": 1, "when": "term_months > 36", "detail": "d"},
        {"name": "two", "weight": 1, "when": "region == 'EU'", "detail": "d"},
    ]
}


@pytest.mark.parametrize(
    ("overrides", "score", "fires"),
    [
        ({"new_customer": True}, 59, False),
        ({"new_customer": True, "term_months": 48}, 60, True),
        ({"new_customer": True, "term_months": 48, "region": "EU"}, 61, True),
    ],
)
def test_high_risk_boundary(overrides: dict[str, Any], score: int, fires: bool) -> None:
    policy = load_policy(default_with(risk=_RISK_59_60_61))

    plan = plan_for(facts(**overrides), policy)

    assert plan.risk.score == score
    assert ("high-risk" in fired(plan)) is fires


ROUTES = {
    "margin-below-35": (1, "finance"),
    "margin-below-20": (2, "cfo"),
    "line-discount-over-20": (1, "sales_vp"),
    "line-discount-over-40": (2, "cfo"),
    "tcv-over-1m": (2, "cfo"),
    "payment-terms-legal": (1, "legal"),
    "payment-terms-finance": (1, "finance"),
    "nonstandard-terms-legal": (1, "legal"),
    "nonstandard-terms-finance": (1, "finance"),
    "custom-lines": (1, "deal_desk"),
    "below-floor": (1, "deal_desk"),
    "high-risk": (1, "finance"),
}


@pytest.mark.parametrize(("rule_id", "route"), sorted(ROUTES.items()))
def test_rule_routes_to_stage_and_role(rule_id: str, route: tuple[int, str]) -> None:
    rule = default_policy().rule(rule_id)

    assert (rule.stage, rule.role, rule.effect) == (*route, "approval")


def test_discount_without_competitor_is_a_violation() -> None:
    plan = plan_for(facts(discount_pct="31.5", max_line_discount_pct="15"))

    assert plan.standard_offer is False
    assert plan.stages == []
    assert [(v.rule_id, v.text, v.values) for v in plan.violations] == [
        (
            "discount-without-competitor",
            "Discount 31.5% is over 30% with no competitor named; "
            "name the competitor or reduce the discount",
            {"competitor_named": "false", "discount_pct": "31.5"},
        )
    ]


def test_healthy_deal_is_a_standard_offer() -> None:
    plan = plan_for(facts())

    assert plan.standard_offer is True
    assert plan.stages == []
    assert plan.violations == []
    assert plan.risk.score == 0
    assert plan.policy_version == 1


def test_reason_texts_read_like_a_deal_desk() -> None:
    plan = plan_for(
        facts(
            gross_margin_pct="28.40",
            max_line_discount_pct="25",
            tcv="1250000",
            payment_terms_days=90,
            nonstandard_terms=("Net 90 payment terms", "Uncapped liability"),
        )
    )

    texts = {r.rule_id: r.text for s in plan.stages for r in s.reasons}
    assert texts == {
        "margin-below-35": "Gross margin 28.4% is below the 35% floor",
        "line-discount-over-20": "Largest line discount 25% is over 20%",
        "tcv-over-1m": "TCV USD 1,250,000 is over 1,000,000",
        "payment-terms-legal": "Payment terms of 90 days are beyond net 60",
        "payment-terms-finance": "Payment terms of 90 days are beyond net 60",
        "nonstandard-terms-legal": (
            "Non-standard terms need legal review: Net 90 payment terms; Uncapped liability"
        ),
        "nonstandard-terms-finance": (
            "Non-standard terms need finance review: Net 90 payment terms; Uncapped liability"
        ),
    }


def test_demo_directory_routes_legal_to_the_deal_desk_admin() -> None:
    plan = plan_for(facts(nonstandard_terms=("Net 90",)))

    legal = plan.stage(1, "legal")
    assert legal is not None
    assert [(a.username, a.role) for a in legal.approvers] == [("admin", "deal_desk")]


def test_low_margin_deep_discount_deal_runs_two_stages() -> None:
    plan = plan_for(facts(gross_margin_pct="18", max_line_discount_pct="45", competitor_named=True))

    assert [(s.stage, s.role, [a.username for a in s.approvers]) for s in plan.stages] == [
        (1, "finance", ["carol"]),
        (1, "sales_vp", ["dave"]),
        (2, "cfo", ["frank"]),
    ]
    cfo = plan.stage(2, "cfo")
    assert cfo is not None
    assert cfo.rule_ids == ["margin-below-20", "line-discount-over-40"]
    assert cfo.escalate_after.total_seconds() == 72 * 3600


def test_default_policy_text_is_the_packaged_file() -> None:
    text = default_policy_text()

    assert yaml.safe_load(text)["version"] == 1
    assert default_policy().document == text
    assert default_policy().rule("line-discount-over-20").limits == {
        "max_line_discount_pct": Decimal(40)
    }
