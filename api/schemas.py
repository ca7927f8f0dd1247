"""Response models of the API (requests reuse the domain models of pricing/ and workflows/)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field
from pydantic_core import PydanticCustomError

from api.diff import Change
from policies import ApprovalPlan, DealFacts
from pricing import Amount, BreakdownItem, DealInput, Figures, PricedLine
from store.deals import ListedTotals
from store.tables import ApprovalTask, Deal
from workflows.messages import DealStatus, Decision, TaskStatus

MAX_COMMENT_BYTES = 4000


def _comment_bytes(text: str) -> str:
    # max_length counts characters: 4,000 of them may be 16,000 bytes of UTF-8.
    size = len(text.encode())
    if size > MAX_COMMENT_BYTES:
        raise PydanticCustomError(
            "comment_too_long",
            "at most {limit} bytes of UTF-8 (this is {size})",
            {"limit": MAX_COMMENT_BYTES, "size": size},
        )
    return text


Comment = Annotated[str, Field(max_length=MAX_COMMENT_BYTES), AfterValidator(_comment_bytes)]
"""Free text a person writes (a decision's comment, a reason, a message): 4,000 bytes at most."""


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Me(BaseModel):
    username: str
    full_name: str
    roles: list[str]
    approval_roles: list[str]


class DealCreated(BaseModel):
    id: str
    version: int
    status: DealStatus


class DealSummary(BaseModel):
    id: str
    owner: str
    customer_name: str
    segment: str
    currency: str
    status: str
    status_reason: str | None
    version: int
    acv: Decimal | None
    tcv: Decimal | None
    # Left out for a caller whose roles may not read it (api/exposure.py).
    gross_margin_pct: Decimal | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_rows(cls, deal: Deal, totals: ListedTotals) -> DealSummary:
        return cls(
            id=deal.id,
            owner=deal.owner,
            customer_name=deal.customer_name,
            segment=deal.segment,
            currency=deal.currency,
            status=deal.status,
            status_reason=deal.status_reason,
            version=deal.current_version,
            acv=totals.acv,
            tcv=totals.tcv,
            gross_margin_pct=totals.gross_margin_pct,
            created_at=deal.created_at,
            updated_at=deal.updated_at,
        )


# The figures as the API answers them: each cost figure (policies.COST_FIELDS) is left out for
# a caller whose roles may not read it, so the models say it may be absent. Widening a field
# in a subclass is what mypy's `assignment` check refuses; here it is the point.


class FiguresView(Figures):
    cost_tcv_estimated: Decimal | None = None  # type: ignore[assignment]
    gross_margin: Decimal | None = None  # type: ignore[assignment]
    gross_margin_pct: Decimal | None = None


class BreakdownItemView(BreakdownItem):
    cost: Decimal | None = None  # type: ignore[assignment]


class PricedLineView(PricedLine):
    cost_tcv_estimated: Decimal | None = None  # type: ignore[assignment]
    gross_margin: Decimal | None = None  # type: ignore[assignment]
    gross_margin_pct: Decimal | None = None
    breakdown: list[BreakdownItemView]  # type: ignore[assignment]


class DealFactsView(DealFacts):
    gross_margin_pct: Decimal | None = None  # type: ignore[assignment]


class ApprovalPlanView(ApprovalPlan):
    facts: DealFactsView


class PricedFigures(BaseModel):
    currency: str
    term_months: int
    lines: list[PricedLineView]
    totals: FiguresView


class TaskPublic(BaseModel):
    id: str
    deal_id: str
    version: int
    stage: int
    role: str
    assignee: str
    delegated_from: str | None
    escalated_from: str | None
    status: str
    reasons: list[dict[str, Any]]
    created_at: datetime
    remind_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    comment: str | None

    @classmethod
    def from_row(cls, task: ApprovalTask) -> TaskPublic:
        return cls.model_validate(task, from_attributes=True)


class QueueItem(TaskPublic):
    deal: DealSummary
    age_seconds: int
    overdue: bool


class TaskDetail(QueueItem):
    # The version this task's deal is compared with: the last one an approver approved, else
    # the one before; None for a first version.
    compared_with_version: int | None
    changes: list[Change]
    totals_before: dict[str, Any] | None
    totals_after: dict[str, Any] | None


class DealDetail(DealSummary):
    input: DealInput
    catalog_version: int
    policy_version: int | None
    priced: PricedFigures | None
    approvals: ApprovalPlanView | None
    tasks: list[TaskPublic]


class AuditEntry(BaseModel):
    event: str
    version: int
    actor: str
    at: datetime
    detail: dict[str, Any]


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    comment: Comment = ""
    # The version the approver looked at; a decision on an older one is refused (409).
    version: int | None = Field(default=None, ge=0, le=1_000_000)
    # Negotiating limits granted with an approval, e.g. {"max_line_discount_pct": "25"}: decimal
    # strings, bounded like every amount (never a JSON number, NaN or 1e999999).
    limits: dict[Annotated[str, Field(max_length=64)], Amount] = Field(
        default_factory=dict, max_length=20
    )


class DecisionResponse(BaseModel):
    task_id: str
    task_status: TaskStatus
    deal_status: DealStatus


class WithdrawRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Comment = ""


class QuoteResponse(PricedFigures):
    approvals: ApprovalPlanView | None


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The customer's contact who receives the proposal and its acceptance link.
    to: EmailStr = Field(max_length=254)
    message: Comment = ""


class SendResponse(BaseModel):
    deal_id: str
    version: int
    status: DealStatus
    valid_until: datetime
    # The signed acceptance link, for the rep to share if the e-mail does not reach the buyer.
    link: str


class ProposalLinkResponse(BaseModel):
    version: int
    valid_until: datetime
    link: str
