"""Deals, their versions, approval tasks, audit events and documents.

Every writer here is idempotent: activities retry, and a retried write must never
double a row (DESIGN.md: keyed by deal id, version and step).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from store import audit
from store.tables import ApprovalTask, AuditEvent, Deal, DealVersion


class NotFoundError(LookupError):
    pass


def record_version(
    session: Session,
    *,
    deal_id: str,
    owner: str,
    actor: str,
    version: int,
    deal_input: dict[str, Any],
    catalog_version: int,
    status: str,
    at: datetime,
    request_hash: str = "",
) -> DealVersion:
    existing = get_version(session, deal_id=deal_id, version=version)
    if existing is not None:
        return existing
    customer = deal_input["customer"]
    deal = session.get(Deal, deal_id)
    if deal is None:
        deal = Deal(
            id=deal_id,
            owner=owner,
            customer_name=customer["name"],
            segment=customer["segment"],
            region=customer["region"],
            currency=deal_input["currency"],
            status=status,
            current_version=version,
            request_hash=request_hash,
            created_at=at,
            updated_at=at,
        )
        session.add(deal)
        session.flush()
    row = DealVersion(
        deal_id=deal_id,
        version=version,
        created_by=actor,
        created_at=at,
        input=deal_input,
        catalog_version=catalog_version,
    )
    session.add(row)
    deal.current_version = max(deal.current_version, version)
    deal.customer_name = customer["name"]
    deal.segment = customer["segment"]
    deal.region = customer["region"]
    deal.updated_at = at
    session.add(deal)
    session.flush()
    return row


def get_version(session: Session, *, deal_id: str, version: int) -> DealVersion | None:
    return session.exec(
        select(DealVersion).where(DealVersion.deal_id == deal_id, DealVersion.version == version)
    ).first()


def require_version(session: Session, *, deal_id: str, version: int) -> DealVersion:
    row = get_version(session, deal_id=deal_id, version=version)
    if row is None:
        raise NotFoundError(f"deal {deal_id} has no version {version}")
    return row


def save_pricing(session: Session, *, deal_id: str, version: int, priced: dict[str, Any]) -> None:
    row = require_version(session, deal_id=deal_id, version=version)
    row.priced = priced
    session.add(row)


def save_plan(
    session: Session, *, deal_id: str, version: int, plan: dict[str, Any], policy_version: int
) -> None:
    row = require_version(session, deal_id=deal_id, version=version)
    row.plan = plan
    row.policy_version = policy_version
    session.add(row)


def set_status(
    session: Session, *, deal_id: str, status: str, reason: str | None, seq: int, at: datetime
) -> Deal:
    deal = session.get(Deal, deal_id, with_for_update=True)
    if deal is None:
        raise NotFoundError(f"no deal {deal_id}")
    if seq <= deal.status_seq:
        return deal  # a retry, or a change the workflow has already moved past
    deal.status_seq = seq
    deal.status = status
    deal.status_reason = reason
    deal.updated_at = at
    session.add(deal)
    return deal


def get_deal(session: Session, *, deal_id: str) -> Deal | None:
    return session.get(Deal, deal_id)


class ListedTotals(NamedTuple):
    """The figures a list row shows of a version's pricing (decimal strings, as priced)."""

    acv: str | None
    tcv: str | None
    gross_margin_pct: str | None

    @classmethod
    def of(cls, version: DealVersion) -> ListedTotals:
        totals: dict[str, Any] = (version.priced or {}).get("totals", {})
        return cls(*(totals.get(name) for name in cls._fields))


# Read out of the pricing JSON by the database: loading each listed version whole made
# decoding its input and pricing JSON about a third of the API's CPU under bench/approvals.py,
# whose reps and approvers poll these lists.
_LISTED_TOTALS = [
    DealVersion.__table__.c.priced[("totals", name)].as_string()  # type: ignore[attr-defined]
    for name in ListedTotals._fields
]


def list_deals(
    session: Session,
    *,
    owner: str | None,
    limit: int,
    offset: int,
    statuses: Sequence[str] | None = None,
) -> list[tuple[Deal, ListedTotals]]:
    """Deals newest first, with their current version's totals."""
    query = (
        select(Deal, *_LISTED_TOTALS)
        .join(
            DealVersion,
            (col(DealVersion.deal_id) == col(Deal.id))
            & (col(DealVersion.version) == col(Deal.current_version)),
        )
        .order_by(col(Deal.created_at).desc(), col(Deal.id))
        .limit(limit)
        .offset(offset)
    )
    if owner is not None:
        query = query.where(Deal.owner == owner)
    if statuses:
        query = query.where(col(Deal.status).in_(statuses))
    return [(deal, ListedTotals(*totals)) for deal, *totals in session.exec(query).all()]


def upsert_tasks(session: Session, *, tasks: Sequence[ApprovalTask]) -> None:
    for task in tasks:
        if session.get(ApprovalTask, task.id) is None:
            session.add(task)
    session.flush()


def get_task(session: Session, *, task_id: str) -> ApprovalTask | None:
    return session.get(ApprovalTask, task_id)


def close_task(
    session: Session,
    *,
    task_id: str,
    status: str,
    decided_by: str | None,
    comment: str | None,
    at: datetime,
) -> ApprovalTask:
    task = session.get(ApprovalTask, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    if task.status == "open":
        task.status = status
        task.decided_by = decided_by
        task.comment = comment
        task.decided_at = at
        session.add(task)
    return task


def list_tasks(
    session: Session, *, assignee: str, status: str | None, limit: int, offset: int
) -> list[tuple[ApprovalTask, Deal, ListedTotals]]:
    """An assignee's tasks, oldest first, each with its deal and its version's totals."""
    query = (
        select(ApprovalTask, Deal, *_LISTED_TOTALS)
        .join(Deal, col(Deal.id) == col(ApprovalTask.deal_id))
        .join(
            DealVersion,
            (col(DealVersion.deal_id) == col(ApprovalTask.deal_id))
            & (col(DealVersion.version) == col(ApprovalTask.version)),
        )
        .where(ApprovalTask.assignee == assignee)
        .order_by(col(ApprovalTask.created_at), col(ApprovalTask.id))
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        query = query.where(ApprovalTask.status == status)
    return [
        (task, deal, ListedTotals(*totals)) for task, deal, *totals in session.exec(query).all()
    ]


def last_approved_version(session: Session, *, deal_id: str, before: int) -> int | None:
    """The newest version before `before` on which some approver approved a task."""
    found: int | None = session.exec(
        select(ApprovalTask.version)
        .where(
            ApprovalTask.deal_id == deal_id,
            ApprovalTask.status == "approved",
            ApprovalTask.version < before,
        )
        .order_by(col(ApprovalTask.version).desc())
    ).first()
    return found


def tasks_for_deal(session: Session, *, deal_id: str) -> Sequence[ApprovalTask]:
    return session.exec(
        select(ApprovalTask)
        .where(ApprovalTask.deal_id == deal_id)
        .order_by(col(ApprovalTask.version), col(ApprovalTask.stage), col(ApprovalTask.role))
    ).all()


def open_tasks_of(session: Session, *, deal_ids: Sequence[str]) -> Sequence[ApprovalTask]:
    """The open tasks of several deals in one query (a list page waits on whom)."""
    if not deal_ids:
        return []
    return session.exec(
        select(ApprovalTask)
        .where(col(ApprovalTask.deal_id).in_(deal_ids), ApprovalTask.status == "open")
        .order_by(col(ApprovalTask.deal_id), col(ApprovalTask.stage), col(ApprovalTask.role))
    ).all()


def append_audit(
    session: Session,
    *,
    deal_id: str,
    key: str,
    version: int,
    event: str,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    subject_type: str = "deal",
) -> None:
    """Append once: a second call with the same key is a retry and writes nothing. The row is
    chained into the audit log when the session commits (store/audit.py)."""
    audit.enqueue(
        session,
        audit.AuditContent(
            subject_type=subject_type,
            deal_id=deal_id,
            key=key,
            version=version,
            event=event,
            actor=actor,
            at=at,
            detail=detail or {},
        ),
    )


def history(session: Session, *, deal_id: str) -> Sequence[AuditEvent]:
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "deal", AuditEvent.deal_id == deal_id)
        .order_by(col(AuditEvent.id))
    ).all()


def last_event(session: Session, *, deal_id: str, event: str) -> AuditEvent | None:
    return session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == "deal",
            AuditEvent.deal_id == deal_id,
            AuditEvent.event == event,
        )
        .order_by(col(AuditEvent.id).desc())
    ).first()
