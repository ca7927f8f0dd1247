"""The policy engine: versioned YAML policies that turn a priced deal into an approval plan.

Pure: no I/O beyond reading the packaged default policy, no clock (callers pass `at`).
"""

from policies.directory import Delegation, Directory, DirectoryUser, PlanApprover
from policies.errors import NoApproverError, PolicyError, PolicyEvaluationError, PolicyIssue
from policies.evaluator import evaluate, evaluate_facts
from policies.facts import FACTS, DealFacts, FactSpec, Worse, facts_for
from policies.loader import (
    DEFAULT_EXPOSURE,
    CompiledRule,
    Policy,
    SlaPolicy,
    default_policy,
    default_policy_text,
    load_policy,
)
from policies.plan import ApprovalPlan, PlanStage, Reason
from policies.reapproval import ApprovedStage, still_approved, validate_limits
from policies.risk import RiskFactor, RiskResult
from policies.schema import COST_FIELDS

__all__ = [
    "COST_FIELDS",
    "DEFAULT_EXPOSURE",
    "FACTS",
    "ApprovalPlan",
    "ApprovedStage",
    "CompiledRule",
    "DealFacts",
    "Delegation",
    "Directory",
    "DirectoryUser",
    "FactSpec",
    "NoApproverError",
    "PlanApprover",
    "PlanStage",
    "Policy",
    "PolicyError",
    "PolicyEvaluationError",
    "PolicyIssue",
    "Reason",
    "RiskFactor",
    "RiskResult",
    "SlaPolicy",
    "Worse",
    "default_policy",
    "default_policy_text",
    "evaluate",
    "evaluate_facts",
    "facts_for",
    "load_policy",
    "still_approved",
    "validate_limits",
]
