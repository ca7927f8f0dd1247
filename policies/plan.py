"""The approval plan: what the evaluator returns and the workflow runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from policies.directory import PlanApprover
from policies.facts import DealFacts
from policies.risk import RiskResult
from policies.schema import Mode


class Reason(BaseModel):
    """Why a rule fired: its id, the rendered text, and the facts its condition tested (the
    values that made it fire) plus any the text cites, as strings like every amount in JSON."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    text: str
    values: dict[str, str]


class PlanStage(BaseModel):
    """One role's approval within a stage: one task per approver."""

    model_config = ConfigDict(frozen=True)

    stage: int
    role: str
    mode: Mode
    quorum: int | None = None
    required: int = Field(description="approvals needed to pass this stage")
    approvers: list[PlanApprover]
    reasons: list[Reason]
    remind_after: timedelta
    escalate_after: timedelta
    limits: dict[str, Decimal] = Field(
        default_factory=dict,
        description="fact -> the furthest limit an approver here may grant",
    )

    @property
    def rule_ids(self) -> list[str]:
        return [r.rule_id for r in self.reasons]


class ApprovalPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    standard_offer: bool
    stages: list[PlanStage]
    violations: list[Reason]
    risk: RiskResult
    policy_version: int
    facts: DealFacts

    def stage(self, stage: int, role: str) -> PlanStage | None:
        return next((s for s in self.stages if s.stage == stage and s.role == role), None)
