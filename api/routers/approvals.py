from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ApproverUser, SessionDep, SessionFactoryDep, TemporalDep
from api.errors import REFUSAL_STATUS
from api.schemas import DealSummary, DecisionRequest, DecisionResponse, QueueItem, TaskPublic
from store import deals
from store.tables import ApprovalTask
from workflows.deal import DealWorkflow, workflow_id
from workflows.messages import DecisionInput, TaskStatus

router = APIRouter(prefix="/approvals", tags=["approvals"])


@router.get("")
def list_my_tasks(
    user: ApproverUser,
    session: SessionDep,
    task_status: Annotated[TaskStatus | None, Query(alias="status")] = TaskStatus.OPEN,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QueueItem]:
    """The caller's tasks, oldest first (open ones unless `status` says otherwise)."""
    rows = deals.list_tasks(
        session,
        assignee=user.username,
        status=task_status.value if task_status else None,
        limit=limit,
        offset=offset,
    )
    return [
        QueueItem(
            **TaskPublic.from_row(task).model_dump(), deal=DealSummary.from_rows(deal, version)
        )
        for task, deal, version in rows
    ]


@router.post("/{task_id}/decision")
async def decide(
    task_id: str,
    body: DecisionRequest,
    user: ApproverUser,
    sessions: SessionFactoryDep,
    temporal: TemporalDep,
) -> DecisionResponse:
    """Deliver a decision to the deal's workflow; refusals come back synchronously."""

    def load() -> tuple[ApprovalTask | None, str | None]:
        with sessions() as session:
            task = deals.get_task(session, task_id=task_id)
            deal = deals.get_deal(session, deal_id=task.deal_id) if task else None
            return task, deal.owner if deal else None

    task, owner = await run_in_threadpool(load)
    if task is None or owner is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="task not found")
    if owner == user.username:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="the submitter of a deal may not decide on it"
        )
    if task.assignee != user.username:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="task not found")
    handle = temporal.get_workflow_handle_for(DealWorkflow.run, workflow_id(task.deal_id))
    try:
        result = await handle.execute_update(
            DealWorkflow.decide,
            DecisionInput(
                task_id=task_id,
                approver=user.username,
                decision=body.decision,
                comment=body.comment,
                version=body.version if body.version is not None else task.version,
            ),
            # Same task, same decision: a retried request returns the first answer.
            id=f"decision-{task_id}-{body.decision.value}",
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
            raise HTTPException(REFUSAL_STATUS[cause.type], detail=cause.message) from err
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            # The workflow has finished: the task was closed with it.
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail="this deal is no longer awaiting decisions"
            ) from err
        raise
    return DecisionResponse(
        task_id=result.task_id, task_status=result.task_status, deal_status=result.deal_status
    )
