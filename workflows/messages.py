"""Every input and result that crosses a workflow, update, query or activity boundary."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pricing import DealInput


class DealStatus(StrEnum):
    SUBMITTED = "submitted"
    IN_APPROVAL = "in_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    POLICY_VIOLATION = "policy_violation"
    WITHDRAWN = "withdrawn"
    # The proposal went to the customer; its acceptance link is live until it expires.
    SENT = "sent"
    EXPIRED = "expired"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


# Nothing moves a deal out of these.
FINAL_STATUSES = frozenset(
    {DealStatus.WITHDRAWN, DealStatus.EXPIRED, DealStatus.CLOSED_WON, DealStatus.CLOSED_LOST}
)


class TaskStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    ESCALATED = "escalated"
    DELEGATED = "delegated"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"


DECISION_TO_TASK_STATUS = {
    Decision.APPROVE: TaskStatus.APPROVED,
    Decision.REJECT: TaskStatus.REJECTED,
    Decision.REQUEST_CHANGES: TaskStatus.CHANGES_REQUESTED,
}


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaOverride(_Message):
    """Settings that replace the policy's reminder and escalation delays (tests use seconds)."""

    remind_after: timedelta
    escalate_after: timedelta


class DealWorkflowInput(_Message):
    deal_id: str
    owner: str
    deal: DealInput
    catalog_version: int
    submitted_at: datetime
    # Hash of the submitted body: an Idempotency-Key reused with another body is refused.
    request_hash: str
    revision_window: timedelta = timedelta(days=90)
    sla_override: SlaOverride | None = None
    # How long a sent proposal's acceptance link stays valid.
    proposal_validity: timedelta = timedelta(days=30)


class SubmitCheck(_Message):
    request_hash: str


class SubmitResult(_Message):
    deal_id: str
    version: int
    status: DealStatus


class TaskState(_Message):
    task_id: str
    version: int
    stage: int
    role: str
    assignee: str
    delegated_from: str | None = None
    escalated_from: str | None = None
    status: TaskStatus = TaskStatus.OPEN


class DealState(_Message):
    deal_id: str
    owner: str
    version: int
    status: DealStatus
    current_stage: int | None
    tasks: list[TaskState]


class DecisionInput(_Message):
    task_id: str
    approver: str
    decision: Decision
    comment: str = Field(default="", max_length=4000)
    version: int
    # Negotiating limits granted with an approval, e.g. {"max_line_discount_pct": "25"}.
    limits: dict[str, Decimal] = Field(default_factory=dict, max_length=20)


class ReviseInput(_Message):
    actor: str
    deal: DealInput
    catalog_version: int
    request_hash: str


class WithdrawInput(_Message):
    actor: str
    reason: str = Field(default="", max_length=4000)


class SendInput(_Message):
    actor: str
    # The customer's contact who receives the proposal and its acceptance link.
    to: str = Field(min_length=3, max_length=254)
    message: str = Field(default="", max_length=4000)


class SendResult(_Message):
    deal_id: str
    version: int
    status: DealStatus
    valid_until: datetime


class AnswerInput(_Message):
    """The customer's answer through the acceptance link (no login: the link is the proof)."""

    version: int
    accept: bool
    name: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    reason: str = Field(default="", max_length=4000)


class AnswerResult(_Message):
    deal_id: str
    version: int
    status: DealStatus


class ChangeResult(_Message):
    deal_id: str
    version: int
    status: DealStatus


class DecisionResult(_Message):
    task_id: str
    task_status: TaskStatus
    deal_status: DealStatus


class DealOutcome(_Message):
    deal_id: str
    version: int
    status: DealStatus
    reason: str | None = None


# Activity inputs and results.


class RecordVersionInput(_Message):
    deal_id: str
    owner: str
    actor: str
    version: int
    deal: DealInput
    catalog_version: int
    request_hash: str
    at: datetime


class VersionRef(_Message):
    deal_id: str
    version: int


class EvaluateInput(_Message):
    deal_id: str
    version: int
    submitter: str
    at: datetime


class OpenTask(_Message):
    task_id: str
    role: str
    assignee: str
    delegated_from: str | None = None
    escalated_from: str | None = None


class OpenTasksInput(_Message):
    deal_id: str
    version: int
    stage: int
    tasks: list[OpenTask]
    remind_at: datetime
    due_at: datetime
    at: datetime


class EscalationInput(_Message):
    deal_id: str
    submitter: str
    # task id -> its assignee; the answer names who each task goes to next.
    assignees: dict[str, str]


class EscalationTargets(_Message):
    targets: dict[str, str]


class EventInput(_Message):
    """An audit event the workflow itself witnessed (a reminder, a carried-over approval)."""

    deal_id: str
    version: int
    key: str
    event: str
    actor: str
    at: datetime
    detail: dict[str, str | int | list[str] | None] = Field(default_factory=dict)


class RecordDecisionInput(_Message):
    deal_id: str
    version: int
    task_id: str
    status: TaskStatus
    actor: str
    comment: str
    at: datetime


class CloseTasksInput(_Message):
    deal_id: str
    version: int
    task_ids: list[str]
    status: TaskStatus
    at: datetime


class SetStatusInput(_Message):
    deal_id: str
    version: int
    status: DealStatus
    reason: str | None
    actor: str
    # Status writes may land out of order (activities run concurrently); the read model keeps
    # the one with the highest sequence number.
    seq: int
    at: datetime


class RenderInput(_Message):
    deal_id: str
    version: int
    at: datetime


class DocumentResult(_Message):
    deal_id: str
    version: int
    kind: str
    sha256: str


class SendProposalInput(_Message):
    deal_id: str
    version: int
    actor: str
    to: str
    message: str
    valid_until: datetime
    at: datetime


class CloseWonInput(_Message):
    deal_id: str
    version: int
    name: str
    title: str
    email: str
    at: datetime


class SupersedeInput(_Message):
    deal_id: str
    # Documents of versions before this one stop being current.
    before_version: int
    at: datetime
