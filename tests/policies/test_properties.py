"""Invariants of the evaluator over generated deals (default policy, demo directory)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    FACTS,
    ApprovalPlan,
    ApprovedStage,
    DealFacts,
    Worse,
    default_policy,
    still_approved,
)
from policies.facts import fact_values, parse_fact, rule_values
from tests.policies.builders import directory, fired, plan_for

TERMS = ["Net 90", "Uncapped liability", "Custom SLA", "MFN clause"]
SUBMITTERS = ["alice", "bob", "carol", "dave", "frank"]


def pct(low: int = 0, high: int = 100) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=low, max_value=high, places=2)


def money() -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=0, max_value=3_000_000, places=2)


@st.composite
def deal_facts(draw: st.DrawFn) -> DealFacts:
    terms = tuple(draw(st.lists(st.sampled_from(TERMS), unique=True, max_size=3)))
    return DealFacts(
        gross_margin_pct=draw(pct(-50, 95)),
        discount_pct=draw(pct(0, 60)),
        max_line_discount_pct=draw(pct(0, 60)),
        tcv=draw(money()),
        tcv_estimated=draw(money()),
        acv=draw(money()),
        arr=draw(money()),
        mrr=draw(money()),
        one_time=draw(money()),
        term_months=draw(st.integers(1, 120)),
        payment_terms_days=draw(st.integers(0, 180)),
        billing_frequency=draw(st.sampled_from(["monthly", "quarterly", "annual", "upfront"])),
        segment=draw(st.sampled_from(["enterprise", "mid", "smb"])),
        region=draw(st.sampled_from(["NA", "EU", "APAC"])),
        new_customer=draw(st.booleans()),
        credit_rating=draw(st.sampled_from(["AAA", "A", "BBB", "B", "CCC", "D"])),
        nonstandard_terms=terms,
        nonstandard_terms_count=len(terms),
        has_nonstandard_terms=bool(terms),
        custom_lines=draw(st.integers(0, 3)),
        lines_below_floor=draw(st.integers(0, 3)),
        usage_share_pct=draw(pct(0, 100)),
        competitor_named=draw(st.booleans()),
        line_count=draw(st.integers(1, 20)),
        currency="USD",
    )


@st.composite
def worse_deal(draw: st.DrawFn, base: DealFacts) -> DealFacts:
    """`base` moved, figure by figure, in the direction that draws more scrutiny (or kept)."""
    changes: dict[str, Any] = {}
    for name, spec in FACTS.items():
        value = getattr(base, name)
        derived = ("risk_score", "nonstandard_terms_count", "has_nonstandard_terms")
        if spec.worse is Worse.NEITHER or name in derived:
            continue
        if isinstance(value, bool):
            worst = spec.worse is Worse.HIGHER
            changes[name] = worst if draw(st.booleans()) else value
        elif isinstance(value, tuple):
            extra = draw(st.lists(st.sampled_from(TERMS), max_size=2))
            changes[name] = tuple(dict.fromkeys((*value, *extra)))
        elif isinstance(value, int):
            changes[name] = value + draw(st.integers(0, 30))
        else:
            step = draw(pct(0, 30))
            changes[name] = value + step if spec.worse is Worse.HIGHER else value - step
    terms = changes["nonstandard_terms"]
    changes["nonstandard_terms_count"] = len(terms)
    changes["has_nonstandard_terms"] = bool(terms)
    return base.model_copy(update=changes)


@st.composite
def deal_and_worse(draw: st.DrawFn) -> tuple[DealFacts, DealFacts]:
    base = draw(deal_facts())
    return base, draw(worse_deal(base))


@settings(max_examples=150, deadline=None)
@given(pair=deal_and_worse(), submitter=st.sampled_from(SUBMITTERS))
def test_a_deal_worse_on_every_figure_never_needs_less(
    pair: tuple[DealFacts, DealFacts], submitter: str
) -> None:
    base, worse = pair
    better_plan = plan_for(base, submitter=submitter)
    worse_plan = plan_for(worse, submitter=submitter)

    assert fired(better_plan) <= fired(worse_plan)
    assert len(better_plan.stages) <= len(worse_plan.stages)
    assert len(better_plan.violations) <= len(worse_plan.violations)
    assert better_plan.risk.score <= worse_plan.risk.score
    if worse_plan.standard_offer:
        assert better_plan.standard_offer


@settings(max_examples=150, deadline=None)
@given(pair=deal_and_worse())
def test_approving_the_worse_deal_covers_the_better_one(
    pair: tuple[DealFacts, DealFacts],
) -> None:
    base, worse = pair
    better_plan = plan_for(base)
    worse_plan = plan_for(worse)

    for stage in better_plan.stages:
        approved_stage = worse_plan.stage(stage.stage, stage.role)
        assert approved_stage is not None
        record = ApprovedStage.from_plan_stage(approved_stage)
        assert still_approved(record, stage, better_plan.facts)


def _invariants(plan: ApprovalPlan, submitter: str) -> None:
    policy = default_policy()
    values = rule_values(fact_values(plan.facts))
    expected = {r.id for r in policy.rules if r.matches(values)}
    routed = [r.rule_id for s in plan.stages for r in s.reasons]
    refused = [v.rule_id for v in plan.violations]

    # every fired rule appears exactly once: in one stage, or as a violation
    assert sorted(routed + refused) == sorted(expected)
    assert plan.standard_offer is (not expected)
    assert [(s.stage, s.role) for s in plan.stages] == sorted(
        (s.stage, s.role) for s in plan.stages
    )
    for stage in plan.stages:
        assert stage.approvers
        assert submitter not in {a.username for a in stage.approvers}
        assert 1 <= stage.required <= len(stage.approvers)
        for reason in stage.reasons:
            rule = policy.rule(reason.rule_id)
            assert (rule.stage, rule.role) == (stage.stage, stage.role)
            for name, raw in reason.values.items():
                assert parse_fact(FACTS[name], raw) == getattr(plan.facts, name)
        assert still_approved(ApprovedStage.from_plan_stage(stage), stage, plan.facts)


@settings(max_examples=150, deadline=None)
@given(deal=deal_facts(), submitter=st.sampled_from(SUBMITTERS))
def test_plan_invariants(deal: DealFacts, submitter: str) -> None:
    _invariants(plan_for(deal, submitter=submitter), submitter)


@settings(max_examples=75, deadline=None)
@given(deal=deal_facts())
def test_evaluate_is_deterministic(deal: DealFacts) -> None:
    first = plan_for(deal)
    again = plan_for(deal)
    shuffled = plan_for(deal, directory_=directory(list(reversed(directory().users))))

    assert first == again
    assert first.model_dump_json() == shuffled.model_dump_json()
