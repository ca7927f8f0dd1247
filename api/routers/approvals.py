from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from api.authorization import CurrentUser
from api.deps import PageLimit, PageOffset, SessionDep, SessionFactoryDep, TemporalDep
from api.diff import changes
from api.exposure import HiddenFields, exposed
from api.idempotency import IdempotencyKey
from api.responses import errors
from api.schemas import (
    DealSummary,
    DecisionRequest,
    DecisionResponse,
    QueueItem,
    TaskDetail,
    TaskPublic,
)
from api.workflow_calls import send_update
from store import deals
from store.deals import ListedTotals
from store.tables import ApprovalTask, Deal, DealVersion
from workflows.deal import DealWorkflow, workflow_id
from workflows.messages import DecisionInput, TaskStatus

router = APIRouter(
    prefix="/approvals", tags=["approvals"], responses=errors(400, 401, 403, 404, 409, 413)
)


def _queue_item(task: ApprovalTask, deal: Deal, totals: ListedTotals, now: datetime) -> QueueItem:
    return QueueItem(
        **TaskPublic.from_row(task).model_dump(),
        deal=DealSummary.from_rows(deal, totals),
        age_seconds=int((now - task.created_at).total_seconds()),
        overdue=task.status == TaskStatus.OPEN and now > task.due_at,
    )


@router.get("", response_model_exclude_unset=True)
def list_my_tasks(
    user: CurrentUser,
    session: SessionDep,
    hidden: HiddenFields,
    task_status: Annotated[TaskStatus | None, Query(alias="status")] = TaskStatus.OPEN,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> list[QueueItem]:
    """The caller's tasks, oldest first (open ones unless `status` says otherwise)."""
    rows = deals.list_tasks(
        session,
        assignee=user.username,
        status=task_status.value if task_status else None,
        limit=limit,
        offset=offset,
    )
    now = datetime.now(UTC)
    return [
        exposed(QueueItem, _queue_item(task, deal, totals, now), hidden)
        for task, deal, totals in rows
    ]


def _my_task(session: Session, *, task_id: str, username: str) -> ApprovalTask:
    task = deals.get_task(session, task_id=task_id)
    if task is None or task.assignee != username:
        # Someone else's task is not confirmed to exist.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="task not found")
    return task


@router.get("/{task_id}", response_model_exclude_unset=True)
def get_task(
    task_id: str,
    user: CurrentUser,
    session: SessionDep,
    hidden: HiddenFields,
) -> TaskDetail:
    """One task with what changed since the version an approver last approved."""
    task = _my_task(session, task_id=task_id, username=user.username)
    deal = deals.get_deal(session, deal_id=task.deal_id)
    assert deal is not None
    current = deals.require_version(session, deal_id=task.deal_id, version=task.version)
    return task_detail(session, task, deal, current, hidden)


def task_detail(
    session: Session,
    task: ApprovalTask,
    deal: Deal,
    current: DealVersion,
    hidden: frozenset[str],
) -> TaskDetail:
    """A task the caller holds, with its deal and the version it is on (the rows a caller such
    as the inbox page has already read), compared with the last approved version."""
    earlier_version = deals.last_approved_version(
        session, deal_id=task.deal_id, before=task.version
    )
    if earlier_version is None and task.version > 1:
        earlier_version = task.version - 1
    earlier = (
        deals.require_version(session, deal_id=task.deal_id, version=earlier_version)
        if earlier_version is not None
        else None
    )
    item = _queue_item(task, deal, ListedTotals.of(current), datetime.now(UTC))
    detail = TaskDetail(
        **item.model_dump(),
        compared_with_version=earlier_version,
        changes=[
            # A change's path ends in the field's name, e.g. lines[1].charges[0].unit_cost.
            c
            for c in (changes(earlier.input, current.input) if earlier else [])
            if c.path.rsplit(".", 1)[-1] not in hidden
        ],
        totals_before=(earlier.priced or {}).get("totals") if earlier else None,
        totals_after=(current.priced or {}).get("totals"),
    )
    return exposed(TaskDetail, detail, hidden)


@router.post("/{task_id}/decision")
async def decide(
    task_id: str,
    body: DecisionRequest,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    temporal: TemporalDep,
    _key: IdempotencyKey,
) -> DecisionResponse:
    """Deliver a decision to the deal's workflow; refusals come back synchronously."""

    def load() -> ApprovalTask | None:
        with sessions() as session:
            return deals.get_task(session, task_id=task_id)

    # The authorization gate has checked the task is the caller's and the deal not theirs.
    task = await run_in_threadpool(load)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="task not found")
    handle = temporal.get_workflow_handle_for(DealWorkflow.run, workflow_id(task.deal_id))
    result = await send_update(
        handle.execute_update(
            DealWorkflow.decide,
            DecisionInput(
                task_id=task_id,
                approver=user.username,
                decision=body.decision,
                comment=body.comment,
                version=body.version if body.version is not None else task.version,
                limits=body.limits,
            ),
            # Same task, same decision: a retried request returns the first answer.
            id=f"decision-{task_id}-{body.decision.value}",
        )
    )
    return DecisionResponse(
        task_id=result.task_id, task_status=result.task_status, deal_status=result.deal_status
    )
