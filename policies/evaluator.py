"""(facts, policy, directory) -> approval plan. Pure: the clock comes in as `at`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import rule_engine

from policies.directory import Directory, PlanApprover
from policies.errors import PolicyEvaluationError
from policies.facts import (
    FACTS,
    DealFacts,
    DealLike,
    FactValue,
    PricedLike,
    Worse,
    fact_values,
    facts_for,
    raw_fact,
    rule_values,
)
from policies.loader import CompiledRule, Policy
from policies.plan import ApprovalPlan, PlanStage, Reason
from policies.schema import Mode

_MODE_RANK: dict[Mode, int] = {"all": 2, "quorum": 1, "any": 0}


def _reason(rule: CompiledRule, typed: Mapping[str, FactValue]) -> Reason:
    return Reason(
        rule_id=rule.id,
        text=rule.reason.render(typed),
        values={name: raw_fact(typed[name]) for name in rule.cited},
    )


def _required(mode: Mode, quorum: int | None, approvers: int) -> int:
    if mode == "all":
        return approvers
    if mode == "any":
        return 1
    return min(quorum or 1, approvers)


def _merge_mode(rules: Sequence[CompiledRule], approvers: int) -> tuple[Mode, int | None, int]:
    """Rules sharing a stage and role may ask for different modes; the stage needs the
    strictest, i.e. the most approvals once the approvers are known. On a tie (one approver),
    prefer all over quorum over any, so the plan reads as the strictest rule wrote it."""
    best = max(
        rules,
        key=lambda r: (_required(r.mode, r.quorum, approvers), _MODE_RANK[r.mode], r.quorum or 0),
    )
    return best.mode, best.quorum, _required(best.mode, best.quorum, approvers)


def _merge_limits(rules: Sequence[CompiledRule]) -> dict[str, Decimal]:
    """Where several rules offer a limit on the same fact, the stage may grant only the most
    conservative one: an approver cannot grant past what every rule behind the task allows."""
    limits: dict[str, Decimal] = {}
    for rule in rules:
        for fact, value in rule.limits.items():
            if fact not in limits:
                limits[fact] = value
            elif FACTS[fact].worse is Worse.HIGHER:
                limits[fact] = min(limits[fact], value)
            else:
                limits[fact] = max(limits[fact], value)
    return limits


def _fires(rule: CompiledRule, values: Mapping[str, FactValue]) -> bool:
    try:
        return rule.matches(values)
    except rule_engine.EngineError as error:
        raise PolicyEvaluationError(rule.id, str(error.message)) from error


def evaluate_facts(
    *, facts: DealFacts, policy: Policy, directory: Directory, submitter: str, at: datetime
) -> ApprovalPlan:
    """Route a deal's facts through the policy. The risk score is computed here from the
    policy's risk factors and replaces whatever `facts.risk_score` held, so a plan's risk and
    its facts always agree."""
    typed = fact_values(facts)
    values = rule_values(typed)
    risk = policy.risk.score(values, typed)
    if risk.score != facts.risk_score:
        facts = facts.model_copy(update={"risk_score": risk.score})
        typed["risk_score"] = risk.score
        values["risk_score"] = Decimal(risk.score)

    groups: dict[tuple[int, str], list[CompiledRule]] = {}
    violations: list[Reason] = []
    for rule in policy.rules:
        if not _fires(rule, values):
            continue
        if rule.effect == "violation":
            violations.append(_reason(rule, typed))
        else:
            # The schema gives every approval rule a stage and a role.
            assert rule.stage is not None
            assert rule.role is not None
            groups.setdefault((rule.stage, rule.role), []).append(rule)

    resolved: dict[str, list[PlanApprover]] = {}
    stages: list[PlanStage] = []
    for (stage, role), rules in sorted(groups.items()):
        if role not in resolved:
            resolved[role] = directory.resolve(
                role, fallback_role=policy.fallback_role, submitter=submitter, at=at
            )
        approvers = resolved[role]
        mode, quorum, required = _merge_mode(rules, len(approvers))
        times = policy.sla.for_stage(stage)
        stages.append(
            PlanStage(
                stage=stage,
                role=role,
                mode=mode,
                quorum=quorum if mode == "quorum" else None,
                required=required,
                approvers=approvers,
                reasons=[_reason(rule, typed) for rule in rules],
                remind_after=times.remind_after,
                escalate_after=times.escalate_after,
                limits=_merge_limits(rules),
            )
        )
    return ApprovalPlan(
        standard_offer=not stages and not violations,
        stages=stages,
        violations=violations,
        risk=risk,
        policy_version=policy.version,
        facts=facts,
    )


def evaluate(
    *,
    deal: DealLike,
    priced: PricedLike,
    policy: Policy,
    directory: Directory,
    submitter: str,
    at: datetime,
) -> ApprovalPlan:
    """Route a priced deal: its facts, then evaluate_facts."""
    return evaluate_facts(
        facts=facts_for(deal, priced),
        policy=policy,
        directory=directory,
        submitter=submitter,
        at=at,
    )
