"""The tables of the read model. Temporal owns where a deal is; these rows mirror it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from store.columns import JSONType, UTCDateTime


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    # Application roles: rep, approver, finance, admin.
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    # Approval roles the policy routes to: finance, sales_vp, cfo, legal, deal_desk.
    approval_roles: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    manager: str | None = Field(default=None, max_length=64)
    active: bool = True
    password_hash: str = Field(max_length=255)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, kept for the throttling window: by account and by client address."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username_at", "username", "at"),
        Index("ix_login_failure_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    address: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Delegation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    delegator: str = Field(max_length=64, index=True)
    delegate: str = Field(max_length=64)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ProductRevision(SQLModel, table=True):
    """Append-only price book. The largest id is the catalog version in force."""

    __tablename__ = "product_revision"

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PolicyVersion(SQLModel, table=True):
    __tablename__ = "policy_version"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    document: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=False, index=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Deal(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=36)
    owner: str = Field(max_length=64, index=True)
    customer_name: str = Field(max_length=200)
    segment: str = Field(max_length=64)
    region: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=32, index=True)
    # The workflow numbers its status changes; a late write of an older one is ignored.
    status_seq: int = 0
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    current_version: int
    # Fingerprint of the submitted body, so a replayed Idempotency-Key can be checked.
    request_hash: str = Field(default="", max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DealVersion(SQLModel, table=True):
    __tablename__ = "deal_version"
    __table_args__ = (UniqueConstraint("deal_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    deal_id: str = Field(foreign_key="deal.id", max_length=36)
    version: int
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # The deal as submitted (pricing.DealInput JSON) and the price book version it is priced on.
    input: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    catalog_version: int
    # Filled by the workflow's activities: pricing.PricedDeal and policies.ApprovalPlan JSON.
    priced: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    plan: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    policy_version: int | None = None


class ApprovalTask(SQLModel, table=True):
    __tablename__ = "approval_task"
    __table_args__ = (Index("ix_task_assignee_status", "assignee", "status"),)

    id: str = Field(primary_key=True, max_length=36)
    deal_id: str = Field(foreign_key="deal.id", max_length=36, index=True)
    version: int
    stage: int
    role: str = Field(max_length=64)
    assignee: str = Field(max_length=64)
    delegated_from: str | None = Field(default=None, max_length=64)
    escalated_from: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=32)
    reasons: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # When the approver is reminded, and when the task escalates (its SLA due time).
    remind_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    decided_by: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_column=Column(Text))


class AuditEvent(SQLModel, table=True):
    """Append-only history of deals and of what admins change. `key` makes every write
    idempotent under retries; `seq`, `prev_hash` and `hash` chain every row to the one before
    it (store/audit.py, which alone writes rows)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        UniqueConstraint("subject_type", "deal_id", "key"),
        Index("ix_audit_subject", "subject_type", "deal_id"),
        Index("ix_audit_event_seq", "seq", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # "deal", "product" or "policy"; deal_id holds the subject's id (a deal id, sku, version).
    subject_type: str = Field(default="deal", max_length=16)
    deal_id: str = Field(max_length=64)
    key: str = Field(max_length=200)
    version: int
    event: str = Field(max_length=64)
    actor: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class AuditHead(SQLModel, table=True):
    """The newest position of the audit chain and its hash, in one row (id 1): a removed
    newest row leaves the chain shorter than its head says. Appends lock this row."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


@event.listens_for(SQLModel.metadata.tables["audit_head"], "after_create")
def _empty_chain_head(target: Table, connection: Connection, **_: Any) -> None:
    # Tables made by create_all (benchmarks' scratch databases) need the empty chain's head
    # too; migration 0003 inserts it itself.
    connection.execute(target.insert().values(id=1, seq=0, hash="0" * 64))


class Document(SQLModel, table=True):
    """A rendered proposal or contract of one deal version, HTML and PDF as separate rows."""

    __table_args__ = (UniqueConstraint("deal_id", "version", "kind", "content_type"),)

    id: int | None = Field(default=None, primary_key=True)
    deal_id: str = Field(foreign_key="deal.id", max_length=36, index=True)
    version: int
    kind: str = Field(max_length=32)  # proposal | contract
    content_type: str = Field(max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)
    # The admin template revision it was rendered from; None for the shipped template.
    template_revision: int | None = None
    # A later version's document replaces it (the customer's link to it stops working).
    superseded: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class TemplateRevision(SQLModel, table=True):
    """Append-only admin edits of a document template; the newest row per name is in force.
    A row with no source means "back to the shipped template"."""

    __tablename__ = "template_revision"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32, index=True)
    source: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DealOrder(SQLModel, table=True):
    """The booking a won deal creates: what finance reports on. Amounts are integers in the
    currency's minor units, so sums in SQL are exact on every backend."""

    __tablename__ = "deal_order"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: str = Field(foreign_key="deal.id", max_length=36, unique=True)
    version: int
    owner: str = Field(max_length=64, index=True)
    customer_name: str = Field(max_length=200)
    segment: str = Field(max_length=100)
    region: str = Field(max_length=100)
    new_customer: bool
    currency: str = Field(max_length=3)
    start_date: date
    end_date: date
    term_months: int
    billing_frequency: str = Field(max_length=16)
    payment_terms_days: int
    one_time_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    mrr_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    acv_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    tcv_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    accepted_by_name: str = Field(max_length=200)
    accepted_by_title: str = Field(max_length=200)
    accepted_by_email: str = Field(max_length=254)
    contract_sha256: str = Field(max_length=64)
    booked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


# The reporting tables live beside their writers and queries (store/reporting.py); importing
# them here registers them on SQLModel.metadata wherever the store's tables are used
# (create_schema, migrations). At the end: that module imports the tables above.
from store import reporting as _reporting  # noqa: E402, F401


class IdempotencyKey(SQLModel, table=True):
    """An `Idempotency-Key` a user sent on a creating request: claimed while the request runs,
    then holding its answer, so a retry gets that answer instead of a second effect."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("username", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    # Keys are the client's own names: two users may pick the same one.
    username: str = Field(max_length=64)
    key: str = Field(max_length=255)
    # The request's fingerprint: the same key may only ever mean this one request.
    method: str = Field(max_length=16)
    path: str = Field(sa_column=Column(Text, nullable=False))
    body_sha256: str = Field(max_length=64)
    state: str = Field(max_length=16)  # in_flight | done
    # Bumped by each claim, so a request whose lease was taken over cannot write its answer.
    attempt: int = 1
    locked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    response_status: int | None = None
    response_headers: list[list[str]] | None = Field(default=None, sa_column=Column(JSONType))
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
