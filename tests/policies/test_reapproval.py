"""Smart re-approval and negotiating limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from policies import (
    ApprovedStage,
    DealFacts,
    PlanStage,
    load_policy,
    still_approved,
    validate_limits,
)
from tests.policies.builders import facts, plan_for, policy_text, rule


def revised(overrides: dict[str, Any], stage: int, role: str) -> tuple[PlanStage, DealFacts]:
    """The plan stage (stage, role) of a deal, and the facts it was evaluated on."""
    plan = plan_for(facts(**overrides))
    found = plan.stage(stage, role)
    assert found is not None, [(s.stage, s.role) for s in plan.stages]
    return found, plan.facts


def approved(overrides: dict[str, Any], stage: int, role: str, **limits: str) -> ApprovedStage:
    return ApprovedStage.from_plan_stage(
        revised(overrides, stage, role)[0], {k: Decimal(v) for k, v in limits.items()}
    )


VP_DISCOUNT = {"max_line_discount_pct": "25"}


@pytest.mark.parametrize(
    ("before", "after", "limits", "expected"),
    [
        # the same deal, and a better one
        (VP_DISCOUNT, VP_DISCOUNT, {}, True),
        (VP_DISCOUNT, {"max_line_discount_pct": "22"}, {}, True),
        # a deeper discount than approved
        (VP_DISCOUNT, {"max_line_discount_pct": "25.01"}, {}, False),
        # ...unless it stays within the limit the VP granted
        (VP_DISCOUNT, {"max_line_discount_pct": "28"}, {"max_line_discount_pct": "30"}, True),
        (VP_DISCOUNT, {"max_line_discount_pct": "30"}, {"max_line_discount_pct": "30"}, True),
        (VP_DISCOUNT, {"max_line_discount_pct": "30.01"}, {"max_line_discount_pct": "30"}, False),
        # a granted limit binds even if the deal improves on other figures
        (
            VP_DISCOUNT,
            {"max_line_discount_pct": "31", "gross_margin_pct": "70"},
            {"max_line_discount_pct": "30"},
            False,
        ),
    ],
)
def test_sales_vp_stage(
    before: dict[str, Any], after: dict[str, Any], limits: dict[str, str], expected: bool
) -> None:
    new_stage, new_facts = revised(after, 1, "sales_vp")

    assert (
        still_approved(approved(before, 1, "sales_vp", **limits), new_stage, new_facts) is expected
    )


FINANCE_MARGIN = {"gross_margin_pct": "30"}


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ({"gross_margin_pct": "30"}, True),
        ({"gross_margin_pct": "31"}, True),
        ({"gross_margin_pct": "29.99"}, False),
        # a new rule joined finance's stage: net 90 terms
        ({"gross_margin_pct": "31", "payment_terms_days": 90}, False),
    ],
)
def test_finance_stage(after: dict[str, Any], expected: bool) -> None:
    new_stage, new_facts = revised(after, 1, "finance")

    assert still_approved(approved(FINANCE_MARGIN, 1, "finance"), new_stage, new_facts) is expected


def test_a_rule_that_stopped_firing_does_not_void_the_approval() -> None:
    before = approved({"gross_margin_pct": "30", "payment_terms_days": 90}, 1, "finance")
    new_stage, new_facts = revised({"gross_margin_pct": "30"}, 1, "finance")

    assert before.rules.keys() == {"margin-below-35", "payment-terms-finance"}
    assert still_approved(before, new_stage, new_facts) is True


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (("Net 90",), True),
        ((), None),  # legal no longer needed at all
        (("Net 90", "Uncapped liability"), False),
        (("Net 120",), False),
    ],
)
def test_legal_sees_new_terms_as_worse(after: tuple[str, ...], expected: bool | None) -> None:
    before = approved({"nonstandard_terms": ("Net 90",)}, 1, "legal")
    plan = plan_for(facts(nonstandard_terms=after))
    new_stage = plan.stage(1, "legal")

    if expected is None:
        assert new_stage is None
    else:
        assert new_stage is not None
        assert still_approved(before, new_stage, plan.facts) is expected


def test_a_different_stage_or_role_is_never_still_approved() -> None:
    new_stage, new_facts = revised({"gross_margin_pct": "18"}, 2, "cfo")
    before = approved({"gross_margin_pct": "18"}, 1, "finance")

    assert still_approved(before, new_stage, new_facts) is False


def test_a_categorical_fact_must_not_change() -> None:
    policy = load_policy(policy_text(rule("eu", "region == 'EU' or tcv > 0", reason="{region}")))
    plan_eu = plan_for(facts(region="EU"), policy)
    plan_na = plan_for(facts(region="NA"), policy)
    before = ApprovedStage.from_plan_stage(plan_eu.stages[0])

    assert still_approved(before, plan_eu.stages[0], plan_eu.facts) is True
    assert still_approved(before, plan_na.stages[0], plan_na.facts) is False


def test_a_rule_that_now_tests_a_new_fact_needs_approval_again() -> None:
    before = ApprovedStage(stage=1, role="sales_vp", rules={"line-discount-over-20": {}})
    new_stage, new_facts = revised(VP_DISCOUNT, 1, "sales_vp")

    assert still_approved(before, new_stage, new_facts) is False


def test_approved_stage_round_trips_through_json() -> None:
    before = approved(VP_DISCOUNT, 1, "sales_vp", max_line_discount_pct="30")

    again = ApprovedStage.model_validate_json(before.model_dump_json())

    assert again == before
    assert again.rules == {"line-discount-over-20": {"max_line_discount_pct": "25"}}


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_line_discount_pct": Decimal("45")}, "goes past the policy's 40"),
        ({"max_line_discount_pct": Decimal("24")}, "max_line_discount_pct is already 25"),
        ({"gross_margin_pct": Decimal("20")}, "no limit on 'gross_margin_pct' may be granted"),
    ],
)
def test_validate_limits_refuses(limits: dict[str, Decimal], message: str) -> None:
    stage, deal = revised(VP_DISCOUNT, 1, "sales_vp")

    with pytest.raises(ValueError, match=message):
        validate_limits(stage, deal, limits)


@pytest.mark.parametrize("limit", ["25", "30", "40"])
def test_validate_limits_accepts_within_the_policy(limit: str) -> None:
    stage, deal = revised(VP_DISCOUNT, 1, "sales_vp")

    assert validate_limits(stage, deal, {"max_line_discount_pct": Decimal(limit)}) == {
        "max_line_discount_pct": Decimal(limit)
    }
