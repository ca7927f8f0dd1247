"""Small builders for policy tests: facts, directories, policy documents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import yaml

from policies import (
    ApprovalPlan,
    DealFacts,
    Delegation,
    Directory,
    DirectoryUser,
    Policy,
    default_policy,
    evaluate_facts,
)

AT = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
SUBMITTER = "alice"


def facts(**overrides: Any) -> DealFacts:
    """A healthy standard deal (fires no default rule, risk 0), with overrides.

    `nonstandard_terms` keeps its count and flag in step unless those are overridden too."""
    base: dict[str, Any] = {
        "gross_margin_pct": Decimal("60"),
        "discount_pct": Decimal("5"),
        "max_line_discount_pct": Decimal("10"),
        "tcv": Decimal("300000"),
        "tcv_estimated": Decimal("300000"),
        "acv": Decimal("100000"),
        "arr": Decimal("100000"),
        "mrr": Decimal("8333.33"),
        "one_time": Decimal("0"),
        "term_months": 36,
        "payment_terms_days": 30,
        "billing_frequency": "annual",
        "segment": "enterprise",
        "region": "NA",
        "new_customer": False,
        "credit_rating": "A",
        "nonstandard_terms": (),
        "custom_lines": 0,
        "lines_below_floor": 0,
        "usage_share_pct": Decimal("0"),
        "competitor_named": False,
        "line_count": 1,
        "currency": "USD",
    }
    if "nonstandard_terms" in overrides:
        terms = tuple(overrides["nonstandard_terms"])
        base["nonstandard_terms_count"] = len(terms)
        base["has_nonstandard_terms"] = bool(terms)
    else:
        base["nonstandard_terms_count"] = 0
        base["has_nonstandard_terms"] = False
    base.update(overrides)
    # pydantic turns "28.4" into Decimal("28.4"), so tables can write numbers as text.
    return DealFacts.model_validate(base)


def user(
    username: str, *roles: str, manager: str | None = None, active: bool = True
) -> DirectoryUser:
    return DirectoryUser(
        username=username, approval_roles=list(roles), manager=manager, active=active
    )


def delegation(
    delegator: str,
    delegate: str,
    starts_at: datetime = AT - timedelta(days=1),
    ends_at: datetime = AT + timedelta(days=1),
) -> Delegation:
    return Delegation(delegator=delegator, delegate=delegate, starts_at=starts_at, ends_at=ends_at)


def demo_users() -> list[DirectoryUser]:
    """The demo directory: no legal user, so legal falls back to the deal desk."""
    return [
        user("alice", manager="dave"),
        user("bob", manager="dave"),
        user("carol", "finance", manager="frank"),
        user("dave", "sales_vp", manager="frank"),
        user("frank", "cfo"),
        user("admin", "deal_desk"),
    ]


def directory(
    users: Sequence[DirectoryUser] | None = None, delegations: Sequence[Delegation] = ()
) -> Directory:
    return Directory(
        users=list(demo_users() if users is None else users), delegations=list(delegations)
    )


def rule(
    rule_id: str,
    when: str,
    *,
    stage: int | None = 1,
    role: str | None = "finance",
    reason: str = "fired",
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule_id, "description": f"test rule {rule_id}", "when": when}
    if stage is not None:
        out["stage"] = stage
    if role is not None:
        out["role"] = role
    out["reason"] = reason
    out.update(extra)
    return out


ROLES = {
    "finance": "Finance",
    "sales_vp": "Sales VP",
    "cfo": "CFO",
    "legal": "Legal",
    "deal_desk": "Deal desk",
}


def policy_text(*rules: dict[str, Any], version: int = 1, **sections: Any) -> str:
    document: dict[str, Any] = {"version": version, "roles": dict(ROLES), **sections}
    document["rules"] = list(rules)
    return yaml.safe_dump(document, sort_keys=False)


def default_with(**sections: Any) -> str:
    """The default policy with some top-level sections replaced."""
    from policies import default_policy_text

    document = yaml.safe_load(default_policy_text())
    document.update(sections)
    return yaml.safe_dump(document, sort_keys=False)


def plan_for(
    deal: DealFacts,
    policy: Policy | None = None,
    *,
    directory_: Directory | None = None,
    submitter: str = SUBMITTER,
    at: datetime = AT,
) -> ApprovalPlan:
    return evaluate_facts(
        facts=deal,
        policy=policy or default_policy(),
        directory=directory_ or directory(),
        submitter=submitter,
        at=at,
    )


def fired(plan: ApprovalPlan) -> set[str]:
    """Every rule id that fired, routed or refused."""
    ids = {r.rule_id for s in plan.stages for r in s.reasons}
    return ids | {v.rule_id for v in plan.violations}
