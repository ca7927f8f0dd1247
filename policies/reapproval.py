"""Smart re-approval and negotiating limits.

When a deal is revised, a stage approved earlier stays approved if no new rule joined it and
every figure its rules test is no worse (in that figure's declared direction) than when it was
approved, or, for a figure the approver granted a limit on, still within that limit. Rules
that stopped firing do not void the approval: the deal only got better on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from policies.facts import FACTS, DealFacts, Worse, no_worse, parse_fact
from policies.plan import PlanStage


class ApprovedStage(BaseModel):
    """What an approval of one stage and role covered: each rule's tested facts with their
    values at approval (as in Reason.values), and any limits granted (fact -> furthest value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: int
    role: str
    rules: dict[str, dict[str, str]]
    limits: dict[str, Decimal] = Field(default_factory=dict)

    @classmethod
    def from_plan_stage(
        cls, stage: PlanStage, limits: Mapping[str, Decimal] | None = None
    ) -> ApprovedStage:
        return cls(
            stage=stage.stage,
            role=stage.role,
            rules={r.rule_id: dict(r.values) for r in stage.reasons},
            limits=dict(limits or {}),
        )


def validate_limits(
    stage: PlanStage, facts: DealFacts, limits: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """Check limits an approver wants to grant on `stage`; raise ValueError saying why not.

    A limit must be on a fact the stage offers one for, no further than the policy allows,
    and must cover the deal as it stands (granting "up to 25%" on a 28% deal approves nothing).
    """
    granted: dict[str, Decimal] = {}
    for fact, value in limits.items():
        ceiling = stage.limits.get(fact)
        if ceiling is None:
            offered = ", ".join(stage.limits) or "none"
            raise ValueError(f"no limit on {fact!r} may be granted here (offered: {offered})")
        spec = FACTS[fact]
        if not no_worse(spec, value, ceiling):
            raise ValueError(f"a limit of {value} on {fact} goes past the policy's {ceiling}")
        current = getattr(facts, fact)
        if not no_worse(spec, current, value):
            raise ValueError(f"{fact} is already {current}, beyond the limit {value}")
        granted[fact] = value
    return granted


def still_approved(approved: ApprovedStage, new_stage: PlanStage, new_facts: DealFacts) -> bool:
    """Whether `approved` still covers `new_stage` of a revised deal whose facts (as evaluated,
    i.e. `plan.facts`, risk score included) are `new_facts`."""
    if (approved.stage, approved.role) != (new_stage.stage, new_stage.role):
        return False
    for reason in new_stage.reasons:
        at_approval = approved.rules.get(reason.rule_id)
        if at_approval is None:
            return False  # a rule joined this stage since it was approved
        for fact in reason.values:
            if fact not in at_approval:
                return False  # the rule now tests something the approver never saw
            if fact in approved.limits:
                continue  # judged against the limit below, which is what was granted
            spec = FACTS[fact]
            if not no_worse(spec, getattr(new_facts, fact), parse_fact(spec, at_approval[fact])):
                return False
    for fact, limit in approved.limits.items():
        limit_spec = FACTS.get(fact)
        if limit_spec is None or limit_spec.worse is Worse.NEITHER:
            return False
        if not no_worse(limit_spec, getattr(new_facts, fact), limit):
            return False
    return True
