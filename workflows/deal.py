"""DealWorkflow: one per deal (workflow id `deal-<deal id>`), from submission to outcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.deal import DealActivities
    from policies import ApprovalPlan, PlanStage
    from workflows.messages import (
        DECISION_TO_TASK_STATUS,
        CloseTasksInput,
        DealOutcome,
        DealState,
        DealStatus,
        DealWorkflowInput,
        Decision,
        DecisionInput,
        DecisionResult,
        EvaluateInput,
        OpenTask,
        OpenTasksInput,
        RecordDecisionInput,
        RecordVersionInput,
        RenderInput,
        SetStatusInput,
        SubmitCheck,
        SubmitResult,
        TaskState,
        TaskStatus,
        VersionRef,
    )

# Activities write to the database, which may be briefly unreachable: retry with backoff
# and no attempt limit, so an outage delays a deal but never loses it.
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
_TIMEOUT = timedelta(seconds=30)
# Task ids are UUIDs derived from what identifies a task, so replays and retries agree on them.
_TASK_NAMESPACE = uuid.UUID("5d0c8f8e-64a3-4f0e-9d59-3b8f2f6f1a10")


def workflow_id(deal_id: str) -> str:
    return f"deal-{deal_id}"


def task_id_for(deal_id: str, version: int, stage: int, role: str, assignee: str) -> str:
    return str(uuid.uuid5(_TASK_NAMESPACE, f"{deal_id}/{version}/{stage}/{role}/{assignee}"))


class DecisionRefused(ApplicationError):
    """Raised by validators; `type` tells the API which HTTP status to answer."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


@workflow.defn
class DealWorkflow:
    @workflow.init
    def __init__(self, input: DealWorkflowInput) -> None:
        self._input = input
        self._version = 1
        self._recorded_version = 0
        self._status = DealStatus.SUBMITTED
        self._reason: str | None = None
        self._current_stage: int | None = None
        self._tasks: dict[str, TaskState] = {}
        self._comments: dict[str, str] = {}
        # Decisions whose rows are written; the process reacts only to these, so the read
        # model never shows an outcome before the decision that caused it.
        self._recorded: set[str] = set()

    @workflow.run
    async def run(self, input: DealWorkflowInput) -> DealOutcome:
        await self._call(
            DealActivities.record_version,
            RecordVersionInput(
                deal_id=input.deal_id,
                owner=input.owner,
                version=self._version,
                deal=input.deal,
                catalog_version=input.catalog_version,
                request_hash=input.request_hash,
                at=workflow.now(),
            ),
        )
        self._recorded_version = self._version
        await self._process_version()
        # Let a decision that is still writing its row finish before the run closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DealOutcome(
            deal_id=input.deal_id, version=self._version, status=self._status, reason=self._reason
        )

    # -- messages --------------------------------------------------------------------------

    @workflow.update
    async def submitted(self, check: SubmitCheck) -> SubmitResult:
        """Answered once version 1 is in the read model, so the API can return 201 safely."""
        await workflow.wait_condition(lambda: self._recorded_version >= 1)
        return SubmitResult(deal_id=self._input.deal_id, version=1, status=self._status)

    @submitted.validator
    def _validate_submitted(self, check: SubmitCheck) -> None:
        if check.request_hash != self._input.request_hash:
            raise DecisionRefused(
                "this Idempotency-Key was already used with a different request body",
                "idempotency_mismatch",
            )

    @workflow.update
    async def decide(self, input: DecisionInput) -> DecisionResult:
        new_status = DECISION_TO_TASK_STATUS[input.decision]
        # Mark the task before the first await: a second decision arriving meanwhile is then
        # refused by the validator instead of racing this one.
        task = self._tasks[input.task_id].model_copy(update={"status": new_status})
        self._tasks[input.task_id] = task
        self._comments[input.task_id] = input.comment
        await self._call(
            DealActivities.record_decision,
            RecordDecisionInput(
                deal_id=self._input.deal_id,
                version=task.version,
                task_id=task.task_id,
                status=new_status,
                actor=input.approver,
                comment=input.comment,
                at=workflow.now(),
            ),
        )
        self._recorded.add(task.task_id)
        return DecisionResult(
            task_id=task.task_id, task_status=new_status, deal_status=self._status
        )

    @decide.validator
    def _validate_decide(self, input: DecisionInput) -> None:
        if input.approver == self._input.owner:
            raise DecisionRefused("the submitter of a deal may not decide on it", "forbidden")
        task = self._tasks.get(input.task_id)
        if task is None or task.assignee != input.approver:
            raise DecisionRefused("you hold no task with this id on this deal", "forbidden")
        if task.status != TaskStatus.OPEN:
            raise DecisionRefused(f"this task is already closed ({task.status})", "conflict")
        if input.version != self._version or task.version != self._version:
            raise DecisionRefused(
                f"the deal is at version {self._version}; decision made on {input.version}",
                "stale_version",
            )
        if input.decision != Decision.APPROVE and not input.comment.strip():
            raise DecisionRefused("a comment is required to reject or request changes", "invalid")

    @workflow.query
    def state(self) -> DealState:
        return DealState(
            deal_id=self._input.deal_id,
            owner=self._input.owner,
            version=self._version,
            status=self._status,
            current_stage=self._current_stage,
            tasks=list(self._tasks.values()),
        )

    # -- the process -----------------------------------------------------------------------

    async def _process_version(self) -> None:
        ref = VersionRef(deal_id=self._input.deal_id, version=self._version)
        try:
            await self._call(DealActivities.price_version, ref)
            plan: ApprovalPlan = await self._call(
                DealActivities.evaluate_version,
                EvaluateInput(
                    deal_id=ref.deal_id,
                    version=ref.version,
                    submitter=self._input.owner,
                    at=workflow.now(),
                ),
            )
        except ActivityError as err:
            # Only a non-retryable business error gets here (the API validated the deal);
            # hand it back to the rep rather than fail the workflow and strand the deal.
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            await self._set_status(DealStatus.CHANGES_REQUESTED, f"could not be priced: {cause}")
            return

        if plan.violations:
            reason = "; ".join(v.text for v in plan.violations)
            await self._set_status(DealStatus.POLICY_VIOLATION, reason)
            return
        for stage in sorted({s.stage for s in plan.stages}):
            groups = [s for s in plan.stages if s.stage == stage]
            outcome = await self._run_stage(stage, groups)
            if outcome is not None:
                return
        self._current_stage = None
        await self._call(
            DealActivities.render_proposal,
            RenderInput(deal_id=ref.deal_id, version=ref.version, at=workflow.now()),
        )
        await self._set_status(DealStatus.APPROVED, None)

    async def _run_stage(self, stage: int, groups: Sequence[PlanStage]) -> DealStatus | None:
        """Open the stage's tasks and wait for it to settle; the status that ended it, if any."""
        self._current_stage = stage
        opened: list[OpenTask] = []
        for group in groups:
            for approver in group.approvers:
                task_id = task_id_for(
                    self._input.deal_id, self._version, stage, group.role, approver.username
                )
                if task_id in self._tasks:
                    continue
                self._tasks[task_id] = TaskState(
                    task_id=task_id,
                    version=self._version,
                    stage=stage,
                    role=group.role,
                    assignee=approver.username,
                    delegated_from=approver.delegated_from,
                )
                opened.append(
                    OpenTask(
                        task_id=task_id,
                        role=group.role,
                        assignee=approver.username,
                        delegated_from=approver.delegated_from,
                    )
                )
        self._status = DealStatus.IN_APPROVAL
        await self._call(
            DealActivities.open_tasks,
            OpenTasksInput(
                deal_id=self._input.deal_id,
                version=self._version,
                stage=stage,
                tasks=opened,
                at=workflow.now(),
            ),
        )
        await workflow.wait_condition(lambda: self._stage_settled(stage, groups))

        ending = self._ending_decision(stage)
        leftovers = [t.task_id for t in self._stage_tasks(stage) if t.status == TaskStatus.OPEN]
        if leftovers:
            for task_id in leftovers:
                self._tasks[task_id] = self._tasks[task_id].model_copy(
                    update={"status": TaskStatus.SUPERSEDED}
                )
            await self._call(
                DealActivities.close_tasks,
                CloseTasksInput(
                    deal_id=self._input.deal_id,
                    version=self._version,
                    task_ids=leftovers,
                    status=TaskStatus.SUPERSEDED,
                    at=workflow.now(),
                ),
            )
        if ending is None:
            return None
        status, reason = ending
        await self._set_status(status, reason)
        return status

    def _stage_tasks(self, stage: int) -> list[TaskState]:
        """The stage's tasks as the process sees them: a decision counts once it is recorded."""
        return [
            t
            if t.status == TaskStatus.OPEN or t.task_id in self._recorded
            else t.model_copy(update={"status": TaskStatus.OPEN})
            for t in self._tasks.values()
            if t.stage == stage and t.version == self._version
        ]

    def _ending_decision(self, stage: int) -> tuple[DealStatus, str | None] | None:
        for task in self._stage_tasks(stage):
            if task.status == TaskStatus.REJECTED:
                return DealStatus.REJECTED, self._comments.get(task.task_id)
            if task.status == TaskStatus.CHANGES_REQUESTED:
                return DealStatus.CHANGES_REQUESTED, self._comments.get(task.task_id)
        return None

    def _stage_settled(self, stage: int, groups: Sequence[PlanStage]) -> bool:
        if self._ending_decision(stage) is not None:
            return True
        tasks = self._stage_tasks(stage)
        for group in groups:
            approved = sum(
                1 for t in tasks if t.role == group.role and t.status == TaskStatus.APPROVED
            )
            if approved < group.required:
                return False
        return True

    async def _set_status(self, status: DealStatus, reason: str | None) -> None:
        self._status = status
        self._reason = reason
        await self._call(
            DealActivities.set_status,
            SetStatusInput(
                deal_id=self._input.deal_id,
                version=self._version,
                status=status,
                reason=reason,
                actor="system",
                at=workflow.now(),
            ),
        )

    async def _call(self, activity: Any, arg: Any) -> Any:
        # The SDK reads each activity's return annotation to decode its result.
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY
        )
