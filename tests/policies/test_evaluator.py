"""The evaluator: stages, modes, merged reasons, recorded values, and the plan's JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from policies import (
    ApprovalPlan,
    DirectoryUser,
    PolicyEvaluationError,
    default_policy,
    evaluate,
    load_policy,
)
from pricing import DealInput, demo_catalog, price_deal
from tests.policies.builders import (
    AT,
    directory,
    facts,
    plan_for,
    policy_text,
    rule,
    user,
)

FINANCE_TEAM = [
    user("carol", "finance"),
    user("erin", "finance"),
    user("fay", "finance"),
    user("gus", "finance"),
    user("admin", "deal_desk"),
]


def finance_stage(
    *rules: dict[str, object], users: list[DirectoryUser] | None = None
) -> ApprovalPlan:
    policy = load_policy(policy_text(*rules))
    return plan_for(facts(), policy, directory_=directory(users or FINANCE_TEAM))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("all", ("all", None, 4)),
        ("any", ("any", None, 1)),
        ({"quorum": 2}, ("quorum", 2, 2)),
        ({"quorum": 9}, ("quorum", 9, 4)),  # capped: four approvers can give four approvals
    ],
)
def test_modes_set_the_approvals_required(
    mode: object, expected: tuple[str, int | None, int]
) -> None:
    (stage,) = finance_stage(rule("r", "tcv > 0", mode=mode)).stages

    assert (stage.mode, stage.quorum, stage.required) == expected
    assert [a.username for a in stage.approvers] == ["carol", "erin", "fay", "gus"]


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        (["any", {"quorum": 2}], ("quorum", 2, 2)),
        (["any", "all"], ("all", None, 4)),
        ([{"quorum": 3}, {"quorum": 2}], ("quorum", 3, 3)),
        ([{"quorum": 3}, "all", "any"], ("all", None, 4)),
    ],
)
def test_rules_sharing_a_stage_take_the_strictest_mode(
    modes: list[object], expected: tuple[str, int | None, int]
) -> None:
    rules = [rule(f"r{i}", "tcv > 0", mode=m) for i, m in enumerate(modes)]

    (stage,) = finance_stage(*rules).stages

    assert (stage.mode, stage.quorum, stage.required) == expected
    assert stage.rule_ids == [f"r{i}" for i in range(len(modes))]


def test_with_one_approver_a_tie_reads_as_the_strictest_mode() -> None:
    users = [user("carol", "finance"), user("admin", "deal_desk")]

    (stage,) = finance_stage(
        rule("a", "tcv > 0", mode="any"), rule("b", "tcv > 0", mode={"quorum": 3}), users=users
    ).stages

    assert (stage.mode, stage.quorum, stage.required) == ("quorum", 3, 1)


def test_stages_are_ordered_by_stage_then_role_and_merge_per_role() -> None:
    policy = load_policy(
        policy_text(
            rule("late", "tcv > 0", stage=3, role="cfo"),
            rule("sales", "tcv > 0", stage=1, role="sales_vp"),
            rule("fin-a", "tcv > 0", stage=1, role="finance"),
            rule("fin-b", "tcv > 0", stage=1, role="finance"),
            rule("fin-2", "tcv > 0", stage=2, role="finance"),
            rule("quiet", "tcv < 0", stage=1, role="legal"),
        )
    )

    plan = plan_for(facts(), policy)

    assert [(s.stage, s.role, s.rule_ids) for s in plan.stages] == [
        (1, "finance", ["fin-a", "fin-b"]),
        (1, "sales_vp", ["sales"]),
        (2, "finance", ["fin-2"]),
        (3, "cfo", ["late"]),
    ]


def test_values_are_the_facts_tested_and_cited_when_it_fired() -> None:
    policy = load_policy(
        policy_text(
            rule(
                "r",
                "payment_terms_days > 60 and segment == 'enterprise'",
                reason="{payment_terms_days} days for {currency} {tcv}",
            )
        )
    )

    (stage,) = plan_for(facts(payment_terms_days=90, tcv="1234.5"), policy).stages

    (reason,) = stage.reasons
    assert reason.text == "90 days for USD 1,234.50"
    assert reason.values == {
        "currency": "USD",
        "payment_terms_days": "90",
        "segment": "enterprise",
        "tcv": "1234.5",
    }


def test_limits_merge_to_the_most_conservative() -> None:
    policy = load_policy(
        policy_text(
            rule("a", "tcv > 0", limits={"max_line_discount_pct": 40, "gross_margin_pct": 20}),
            rule("b", "tcv > 0", limits={"max_line_discount_pct": 30, "gross_margin_pct": 25}),
        )
    )

    (stage,) = plan_for(facts(), policy).stages

    assert stage.limits == {"max_line_discount_pct": Decimal(30), "gross_margin_pct": Decimal(25)}


def test_sla_comes_from_the_stage_override() -> None:
    policy = load_policy(
        policy_text(
            rule("a", "tcv > 0"),
            rule("b", "tcv > 0", stage=2, role="cfo"),
            sla={
                "remind_after": "PT2S",
                "escalate_after": "PT5S",
                "stages": {2: {"remind_after": 1}},
            },
        )
    )

    plan = plan_for(facts(), policy)

    assert [(s.remind_after, s.escalate_after) for s in plan.stages] == [
        (timedelta(seconds=2), timedelta(seconds=5)),
        (timedelta(seconds=1), timedelta(seconds=5)),
    ]


def test_violations_and_stages_together_are_not_a_standard_offer() -> None:
    policy = load_policy(
        policy_text(
            rule("route", "tcv > 0"),
            rule("refuse", "tcv > 0", stage=None, role=None, effect="violation", reason="no"),
        )
    )

    plan = plan_for(facts(), policy)

    assert plan.standard_offer is False
    assert [s.rule_ids for s in plan.stages] == [["route"]]
    assert [v.rule_id for v in plan.violations] == ["refuse"]


def test_a_rule_that_fails_on_a_deal_names_itself() -> None:
    policy = load_policy(policy_text(rule("per-line", "tcv / line_count > 1000")))

    with pytest.raises(PolicyEvaluationError, match="rule 'per-line' failed") as caught:
        plan_for(facts(line_count=0), policy)
    assert caught.value.rule_id == "per-line"


def test_plan_json_has_the_shape_issue_4_promises() -> None:
    plan = plan_for(facts(gross_margin_pct="28.4"))

    data = json.loads(plan.model_dump_json())

    assert data["standard_offer"] is False
    assert data["violations"] == []
    assert data["risk"] == {
        "score": 0,
        "factors": data["risk"]["factors"],
    }
    assert {"name", "weight", "applies", "detail"} == set(data["risk"]["factors"][0])
    (stage,) = data["stages"]
    assert {k: stage[k] for k in ("stage", "role", "mode", "required")} == {
        "stage": 1,
        "role": "finance",
        "mode": "all",
        "required": 1,
    }
    assert stage["approvers"] == [{"username": "carol", "role": "finance", "delegated_from": None}]
    assert stage["reasons"] == [
        {
            "rule_id": "margin-below-35",
            "text": "Gross margin 28.4% is below the 35% floor",
            "values": {"gross_margin_pct": "28.4"},
        }
    ]
    assert (stage["remind_after"], stage["escalate_after"]) == ("P1D", "P2D")
    assert data["facts"]["tcv"] == "300000"  # amounts are strings, never floats
    assert ApprovalPlan.model_validate_json(plan.model_dump_json()) == plan


def test_evaluate_prices_a_real_deal_end_to_end() -> None:
    deal = DealInput.model_validate(
        {
            "currency": "USD",
            "term_months": 24,
            "start_date": "2027-01-01",
            "billing_frequency": "annual",
            "payment_terms_days": 30,
            "customer": {
                "name": "Acme Corp",
                "segment": "enterprise",
                "region": "NA",
                "new_customer": False,
                "credit_rating": "A",
            },
            "lines": [{"sku": "PLAT-SEAT", "quantity": "50", "discount_pct": "35"}],
        }
    )
    priced = price_deal(deal, {p.sku: p for p in demo_catalog()})

    plan = evaluate(
        deal=deal,
        priced=priced,
        policy=load_policy(policy_text(rule("floor", "lines_below_floor > 0", role="deal_desk"))),
        directory=directory(),
        submitter="alice",
        at=AT,
    )

    # 35% off a seat whose floor is 30%: below floor, so the deal desk.
    assert plan.facts.max_line_discount_pct == Decimal("35.00")
    assert plan.facts.lines_below_floor == 1
    assert [(s.role, s.rule_ids, [a.username for a in s.approvers]) for s in plan.stages] == [
        ("deal_desk", ["floor"], ["admin"])
    ]


def test_evaluate_with_the_default_policy_on_a_real_deal() -> None:
    deal = DealInput.model_validate(
        {
            "currency": "USD",
            "term_months": 12,
            "start_date": "2027-01-01",
            "billing_frequency": "annual",
            "payment_terms_days": 90,
            "customer": {
                "name": "Acme Corp",
                "segment": "enterprise",
                "region": "NA",
                "new_customer": True,
                "credit_rating": "A",
            },
            "competitor": {"name": "OtherCo"},
            "lines": [{"sku": "PLAT-SEAT", "quantity": "100", "discount_pct": "25"}],
        }
    )
    priced = price_deal(deal, {p.sku: p for p in demo_catalog()})

    plan = evaluate(
        deal=deal,
        priced=priced,
        policy=default_policy(),
        directory=directory(),
        submitter="alice",
        at=AT,
    )

    # 25% off seats (floor 30%) with a named competitor: the sales VP; net 90: legal and finance.
    assert [(s.stage, s.role, s.rule_ids) for s in plan.stages] == [
        (1, "finance", ["payment-terms-finance"]),
        (1, "legal", ["payment-terms-legal"]),
        (1, "sales_vp", ["line-discount-over-20"]),
    ]
    assert plan.risk.score == 25  # payment terms 15 + new customer 10
