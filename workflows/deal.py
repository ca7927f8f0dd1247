"""DealWorkflow: one per deal (workflow id `deal-<deal id>`), from submission to outcome.

The workflow owns where the deal is; activities mirror that into the read model. Every
message that changes the deal (a decision, a revision, a withdrawal) is a Workflow Update
whose validator refuses stale or unauthorised requests before anything enters history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.deal import DealActivities
    from activities.notify import NotifyActivities, NotifyEvent, NotifyInput
    from policies import ApprovalPlan, ApprovedStage, PlanStage, still_approved, validate_limits
    from policies.facts import FACTS, no_worse
    from pricing import DealInput
    from workflows.messages import (
        DECISION_TO_TASK_STATUS,
        FINAL_STATUSES,
        AnswerInput,
        AnswerResult,
        ChangeResult,
        CloseTasksInput,
        CloseWonInput,
        DealOutcome,
        DealState,
        DealStatus,
        DealWorkflowInput,
        Decision,
        DecisionInput,
        DecisionResult,
        EscalationInput,
        EscalationTargets,
        EvaluateInput,
        EventInput,
        OpenTask,
        OpenTasksInput,
        RecordDecisionInput,
        RecordVersionInput,
        RenderInput,
        ReviseInput,
        SendInput,
        SendProposalInput,
        SendResult,
        SetStatusInput,
        SubmitCheck,
        SubmitResult,
        TaskState,
        TaskStatus,
        VersionRef,
        WithdrawInput,
    )

# Activities write to the database, which may be briefly unreachable: retry with backoff and
# no attempt limit, so an outage delays a deal but never loses it.
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
_TIMEOUT = timedelta(seconds=30)
# Laying out a PDF of a long deal takes seconds, and an admin's template may be slow.
_DOCUMENT_TIMEOUT = timedelta(minutes=5)
# E-mail is a courtesy, not a step of the deal: a few tries, then the deal moves on and the
# message stays in the outbox table (see activities/notify.py).
_NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)
# Task ids are UUIDs derived from what identifies a task, so replays and retries agree on them.
_TASK_NAMESPACE = uuid.UUID("5d0c8f8e-64a3-4f0e-9d59-3b8f2f6f1a10")

# A revision is allowed until the customer has answered: while the deal is being decided,
# was sent back, or is approved and possibly sent (the new version is routed again and its
# proposal replaces the one the customer holds).
_REVISABLE = frozenset(
    {
        DealStatus.SUBMITTED,
        DealStatus.IN_APPROVAL,
        DealStatus.CHANGES_REQUESTED,
        DealStatus.REJECTED,
        DealStatus.POLICY_VIOLATION,
        DealStatus.APPROVED,
        DealStatus.SENT,
    }
)
# Deprecated patch: runs from before an approved deal waited for sending and the customer's
# answer (they ended at approval) are all closed, so new runs record no marker (a marker and
# its TemporalChangeVersion upsert cost the server about 27 ms of CPU per deal in
# bench/approvals.py); runs recorded with the marker still replay (tests/workflows/histories).
_PROPOSAL_LIFECYCLE = "proposal-lifecycle"
_AWAITING_CUSTOMER = frozenset({DealStatus.APPROVED, DealStatus.SENT})
# Tasks that no longer take part in their stage's count.
_GONE = frozenset({TaskStatus.ESCALATED, TaskStatus.SUPERSEDED, TaskStatus.WITHDRAWN})


class _Stage(Enum):
    PASSED = "passed"
    ENDED = "ended"  # rejected or sent back
    INTERRUPTED = "interrupted"  # revised or withdrawn meanwhile


def workflow_id(deal_id: str) -> str:
    return f"deal-{deal_id}"


def task_id_for(deal_id: str, version: int, stage: int, role: str, assignee: str) -> str:
    return str(uuid.uuid5(_TASK_NAMESPACE, f"{deal_id}/{version}/{stage}/{role}/{assignee}"))


class Refused(ApplicationError):
    """Raised by validators; `type` tells the API which HTTP status to answer."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


@workflow.defn
class DealWorkflow:
    @workflow.init
    def __init__(self, input: DealWorkflowInput) -> None:
        self._input = input
        self._owner = input.owner
        self._version = 1
        self._deal: DealInput = input.deal
        self._recorded_version = 0
        self._status = DealStatus.SUBMITTED
        self._status_seq = 0
        self._reason: str | None = None
        self._current_stage: int | None = None
        self._plan: ApprovalPlan | None = None
        self._tasks: dict[str, TaskState] = {}
        self._comments: dict[str, str] = {}
        self._limits: dict[str, dict[str, Decimal]] = {}
        # Decisions whose rows are written. The process reacts only to these, so the read
        # model never shows an outcome before the decision that caused it.
        self._recorded: set[str] = set()
        # Approvals a later version may keep (smart re-approval), by (stage, role).
        self._approved: dict[tuple[int, str], ApprovedStage] = {}
        self._withdrawn = False
        # Set when the proposal is sent: the customer may answer until then.
        self._valid_until: datetime | None = None
        # Bumped by every message the process must look at; waits wake up on a change.
        self._changes = 0

    @workflow.run
    async def run(self, input: DealWorkflowInput) -> DealOutcome:
        await self._record_version(
            1, input.deal, input.catalog_version, input.request_hash, actor=self._owner
        )
        while True:
            version = self._version
            await self._process(version)
            if self._withdrawn or self._status in FINAL_STATUSES:
                break
            # Sent, or even answered, already: the rep may send while the approval e-mail
            # is still going out.
            if self._version == version and self._status in _AWAITING_CUSTOMER:
                workflow.deprecate_patch(_PROPOSAL_LIFECYCLE)
                await self._await_customer(version)
                if self._withdrawn or self._status in FINAL_STATUSES:
                    break
                continue
            if self._version != version:
                continue
            # Rejected, sent back or in violation: the rep may revise for a while.
            try:
                await workflow.wait_condition(
                    lambda v=version: self._version != v or self._withdrawn,  # type: ignore[misc]
                    timeout=input.revision_window,
                )
            except TimeoutError:
                break
            if self._withdrawn:
                break
        # A decision or revision still writing its rows finishes before the run closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DealOutcome(
            deal_id=input.deal_id, version=self._version, status=self._status, reason=self._reason
        )

    # -- updates and queries ---------------------------------------------------------------

    @workflow.update
    async def submitted(self, check: SubmitCheck) -> SubmitResult:
        """Answered once version 1 is in the read model, so the API can return 201 safely."""
        await workflow.wait_condition(lambda: self._recorded_version >= 1)
        return SubmitResult(deal_id=self._input.deal_id, version=1, status=self._status)

    @submitted.validator
    def _validate_submitted(self, check: SubmitCheck) -> None:
        if check.request_hash != self._input.request_hash:
            raise Refused(
                "this Idempotency-Key was already used with a different request body",
                "idempotency_mismatch",
            )

    @workflow.update
    async def decide(self, input: DecisionInput) -> DecisionResult:
        new_status = DECISION_TO_TASK_STATUS[input.decision]
        # Close the task before the first await: a second decision arriving meanwhile is
        # refused by the validator instead of racing this one.
        task = self._tasks[input.task_id].model_copy(update={"status": new_status})
        self._tasks[input.task_id] = task
        self._comments[input.task_id] = input.comment
        if input.limits:
            self._limits[input.task_id] = dict(input.limits)
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
        self._changes += 1
        return DecisionResult(
            task_id=task.task_id, task_status=new_status, deal_status=self._status
        )

    @decide.validator
    def _validate_decide(self, input: DecisionInput) -> None:
        if input.approver == self._owner:
            raise Refused("the submitter of a deal may not decide on it", "forbidden")
        task = self._tasks.get(input.task_id)
        if task is None or task.assignee != input.approver:
            raise Refused("you hold no task with this id on this deal", "forbidden")
        if task.status != TaskStatus.OPEN:
            raise Refused(f"this task is already closed ({task.status})", "conflict")
        if input.version != self._version or task.version != self._version:
            raise Refused(
                f"the deal is at version {self._version}; this decision was made on "
                f"version {input.version}",
                "stale_version",
            )
        if input.decision != Decision.APPROVE and not input.comment.strip():
            raise Refused("a comment is required to reject or request changes", "invalid")
        if input.limits:
            if input.decision != Decision.APPROVE:
                raise Refused("limits are granted only with an approval", "invalid")
            stage = self._plan.stage(task.stage, task.role) if self._plan else None
            if stage is None or self._plan is None:
                raise Refused("no limits can be granted on this task", "invalid")
            try:
                validate_limits(stage, self._plan.facts, input.limits)
            except (ValueError, KeyError) as err:
                raise Refused(str(err), "invalid") from None

    @workflow.update
    async def revise(self, input: ReviseInput) -> ChangeResult:
        version = self._version + 1
        # The version moves before any await: from here on a decision on the old version is
        # stale and refused, so a decision cannot race a revision into the wrong version.
        self._version = version
        self._deal = input.deal
        self._plan = None
        self._current_stage = None
        self._changes += 1
        superseded = self._close_open_in_memory(TaskStatus.SUPERSEDED)
        await self._record_version(
            version, input.deal, input.catalog_version, input.request_hash, actor=input.actor
        )
        self._changes += 1
        await self._close_tasks(version - 1, superseded, TaskStatus.SUPERSEDED)
        return ChangeResult(deal_id=self._input.deal_id, version=version, status=self._status)

    @revise.validator
    def _validate_revise(self, input: ReviseInput) -> None:
        if input.actor != self._owner:
            raise Refused("only the deal's owner may revise it", "forbidden")
        if self._withdrawn or self._status not in _REVISABLE:
            raise Refused(f"a deal that is {self._status} cannot be revised", "conflict")

    @workflow.update
    async def withdraw(self, input: WithdrawInput) -> ChangeResult:
        self._withdrawn = True
        self._changes += 1
        withdrawn = self._close_open_in_memory(TaskStatus.WITHDRAWN)
        await self._close_tasks(self._version, withdrawn, TaskStatus.WITHDRAWN)
        await self._change_status(DealStatus.WITHDRAWN, input.reason or None, actor=input.actor)
        return ChangeResult(deal_id=self._input.deal_id, version=self._version, status=self._status)

    @withdraw.validator
    def _validate_withdraw(self, input: WithdrawInput) -> None:
        if input.actor != self._owner:
            raise Refused("only the deal's owner may withdraw it", "forbidden")
        if self._withdrawn or self._status not in _REVISABLE:
            raise Refused(f"a deal that is {self._status} cannot be withdrawn", "conflict")

    @workflow.update
    async def send(self, input: SendInput) -> SendResult:
        version = self._version
        valid_until = workflow.now() + self._input.proposal_validity
        # Before the first await, so a second send is refused and the waiting loop moves its
        # deadline from "approved, unsent" to the proposal's validity.
        self._status = DealStatus.SENT
        self._valid_until = valid_until
        self._changes += 1
        await self._call(
            DealActivities.send_proposal,
            limit=_DOCUMENT_TIMEOUT,
            arg=SendProposalInput(
                deal_id=self._input.deal_id,
                version=version,
                actor=input.actor,
                to=input.to,
                message=input.message,
                valid_until=valid_until,
                at=workflow.now(),
            ),
        )
        if not self._stale(version):
            await self._change_status(DealStatus.SENT, None, actor=input.actor)
            # The activity mints the acceptance link, so no token enters the history.
            await self._send(
                NotifyInput(
                    deal_id=self._input.deal_id,
                    version=version,
                    key=f"v{version}:proposal_sent",
                    event="proposal_sent",
                    recipients=[],
                    addresses=[input.to],
                    link_valid_until=valid_until,
                    context={"message": input.message or None},
                )
            )
        return SendResult(
            deal_id=self._input.deal_id,
            version=version,
            status=self._status,
            valid_until=valid_until,
        )

    @send.validator
    def _validate_send(self, input: SendInput) -> None:
        if input.actor != self._owner:
            raise Refused("only the deal's owner may send its proposal", "forbidden")
        if self._status == DealStatus.SENT:
            raise Refused(
                "the proposal was already sent; revise the deal to send a new one", "conflict"
            )
        if self._withdrawn or self._status != DealStatus.APPROVED:
            raise Refused(
                f"only an approved deal can be sent; this one is {self._status}", "conflict"
            )

    @workflow.update
    async def answer(self, input: AnswerInput) -> AnswerResult:
        version = self._version
        # Final before the first await: expiry, a revision or a second answer are refused now.
        self._status = DealStatus.CLOSED_WON if input.accept else DealStatus.CLOSED_LOST
        self._changes += 1
        if input.accept:
            await self._call(
                DealActivities.close_won,
                limit=_DOCUMENT_TIMEOUT,
                arg=CloseWonInput(
                    deal_id=self._input.deal_id,
                    version=version,
                    name=input.name,
                    title=input.title,
                    email=input.email,
                    at=workflow.now(),
                ),
            )
            await self._change_status(DealStatus.CLOSED_WON, None, actor="customer")
            await self._send(
                NotifyInput(
                    deal_id=self._input.deal_id,
                    version=version,
                    key=f"v{version}:contract_ready",
                    event="contract_ready",
                    recipients=[self._owner],
                    addresses=[input.email],
                    context={
                        "customer": self._deal.customer.name,
                        "accepted_by": input.name,
                        "accepted_title": input.title,
                        "accepted_at": workflow.now().isoformat(),
                    },
                )
            )
        else:
            await self._change_status(DealStatus.CLOSED_LOST, input.reason, actor="customer")
        await self._notify_outcome(version)
        return AnswerResult(deal_id=self._input.deal_id, version=version, status=self._status)

    @answer.validator
    def _validate_answer(self, input: AnswerInput) -> None:
        if input.version != self._version:
            raise Refused(
                "a newer version of this proposal replaced the one this link belongs to",
                "superseded",
            )
        if self._status != DealStatus.SENT or self._valid_until is None:
            raise Refused(f"this proposal can no longer be answered ({self._status})", "conflict")
        if workflow.now() >= self._valid_until:
            raise Refused("this proposal has expired", "expired")
        if input.accept:
            missing = [f for f in ("name", "title", "email") if not getattr(input, f).strip()]
            if missing:
                raise Refused(f"to accept, give your {', '.join(missing)}", "invalid")
        elif not input.reason.strip():
            raise Refused("please tell us why you decline", "invalid")

    @workflow.query
    def state(self) -> DealState:
        return DealState(
            deal_id=self._input.deal_id,
            owner=self._owner,
            version=self._version,
            status=self._status,
            current_stage=self._current_stage,
            tasks=list(self._tasks.values()),
        )

    async def _record_version(
        self, version: int, deal: DealInput, catalog_version: int, request_hash: str, *, actor: str
    ) -> None:
        await self._call(
            DealActivities.record_version,
            RecordVersionInput(
                deal_id=self._input.deal_id,
                owner=self._owner,
                actor=actor,
                version=version,
                deal=deal,
                catalog_version=catalog_version,
                request_hash=request_hash,
                at=workflow.now(),
            ),
        )
        # Revisions may record out of order; the process waits for the newest one.
        self._recorded_version = max(self._recorded_version, version)

    # -- the process of one version --------------------------------------------------------

    def _stale(self, version: int) -> bool:
        return self._withdrawn or self._version != version

    async def _process(self, version: int) -> None:
        await workflow.wait_condition(
            lambda: self._recorded_version >= version or self._stale(version)
        )
        if self._stale(version):
            return
        deal_id = self._input.deal_id
        try:
            await self._call(
                DealActivities.price_version, VersionRef(deal_id=deal_id, version=version)
            )
            plan: ApprovalPlan = await self._call(
                DealActivities.evaluate_version,
                EvaluateInput(
                    deal_id=deal_id, version=version, submitter=self._owner, at=workflow.now()
                ),
            )
        except ActivityError as err:
            # Only a non-retryable business error gets here (the API validated the deal);
            # hand it back to the rep rather than fail the workflow and strand the deal.
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            if not self._stale(version):
                await self._conclude(
                    version, DealStatus.CHANGES_REQUESTED, f"could not be priced: {cause}"
                )
            return
        if self._stale(version):
            return
        self._plan = plan
        if plan.violations:
            await self._conclude(
                version, DealStatus.POLICY_VIOLATION, "; ".join(v.text for v in plan.violations)
            )
            return

        needed = await self._carry_over_approvals(version, plan)
        if self._stale(version):
            return
        if needed:
            await self._change_status(DealStatus.IN_APPROVAL, None)
        for stage in sorted({group.stage for group in needed}):
            outcome = await self._run_stage(version, stage, [g for g in needed if g.stage == stage])
            if outcome is not _Stage.PASSED:
                return
        if self._stale(version):
            return
        self._current_stage = None
        # Set before the awaits below, so a revision or withdrawal arriving meanwhile is
        # refused: an approved deal is final here.
        self._status = DealStatus.APPROVED
        await self._call(
            DealActivities.render_proposal,
            RenderInput(deal_id=deal_id, version=version, at=workflow.now()),
        )
        if self._stale(version):
            return  # revised or withdrawn while the proposal rendered
        await self._change_status(DealStatus.APPROVED, None)
        await self._notify_outcome(version)

    async def _await_customer(self, version: int) -> None:
        """An approved version waits for the rep to send it (for the revision window), then
        for the customer's answer until the proposal's validity ends; either lapse expires it.
        Returns once the deal is closed, expired, withdrawn or revised."""
        deadline = workflow.now() + self._input.revision_window
        while True:
            if self._stale(version) or self._status in FINAL_STATUSES:
                return
            if self._status == DealStatus.SENT and self._valid_until is not None:
                deadline = self._valid_until
            seen = self._changes
            try:
                await workflow.wait_condition(
                    lambda s=seen: self._changes != s,  # type: ignore[misc]
                    timeout=max(deadline - workflow.now(), timedelta(0)),
                )
            except TimeoutError:
                if self._stale(version) or self._status not in (
                    DealStatus.APPROVED,
                    DealStatus.SENT,
                ):
                    return
                reason = (
                    "the proposal expired without an answer from the customer"
                    if self._status == DealStatus.SENT
                    else "the approved proposal was not sent in time"
                )
                await self._conclude(version, DealStatus.EXPIRED, reason)
                return

    async def _carry_over_approvals(self, version: int, plan: ApprovalPlan) -> list[PlanStage]:
        """The stages of `plan` still to be approved; earlier approvals that still cover
        their stage (same rules, figures no worse, within granted limits) are kept."""
        needed: list[PlanStage] = []
        kept: dict[tuple[int, str], ApprovedStage] = {}
        for group in plan.stages:
            key = (group.stage, group.role)
            earlier = self._approved.get(key)
            if earlier is not None and still_approved(earlier, group, plan.facts):
                kept[key] = earlier
                await self._record_event(
                    version,
                    f"v{version}:carried:{group.stage}:{group.role}",
                    "approval_carried_over",
                    {"stage": group.stage, "role": group.role},
                )
            else:
                needed.append(group)
        self._approved = kept
        return needed

    async def _run_stage(self, version: int, stage: int, groups: Sequence[PlanStage]) -> _Stage:
        self._current_stage = stage
        remind_after, escalate_after = self._sla(groups[0])
        cycle_start = workflow.now()
        await self._open_tasks(
            version,
            stage,
            [
                (group.role, approver.username, approver.delegated_from, None)
                for group in groups
                for approver in group.approvers
            ],
            remind_at=cycle_start + remind_after,
            due_at=cycle_start + escalate_after,
        )
        reminded = False
        while True:
            if self._stale(version):
                return _Stage.INTERRUPTED
            await self._close_satisfied_groups(version, stage, groups)
            ending = self._ending_decision(version, stage)
            if ending is not None:
                leftovers = self._close_open_in_memory(TaskStatus.SUPERSEDED, stage=stage)
                await self._close_tasks(version, leftovers, TaskStatus.SUPERSEDED)
                await self._conclude(version, *ending)
                return _Stage.ENDED
            if all(self._group_satisfied(version, g) for g in groups):
                for group in groups:
                    self._approved[(group.stage, group.role)] = ApprovedStage.from_plan_stage(
                        group, limits=self._granted_limits(version, group)
                    )
                return _Stage.PASSED
            seen = self._changes
            deadline = cycle_start + (escalate_after if reminded else remind_after)
            try:
                await workflow.wait_condition(
                    lambda s=seen: self._changes != s,  # type: ignore[misc]
                    timeout=max(deadline - workflow.now(), timedelta(0)),
                )
            except TimeoutError:
                if not reminded:
                    await self._remind(version, stage)
                    reminded = True
                else:
                    cycle_start = workflow.now()
                    reminded = False
                    await self._escalate(
                        version,
                        stage,
                        remind_at=cycle_start + remind_after,
                        due_at=cycle_start + escalate_after,
                    )

    def _sla(self, group: PlanStage) -> tuple[timedelta, timedelta]:
        override = self._input.sla_override
        if override is not None:
            return override.remind_after, override.escalate_after
        return group.remind_after, group.escalate_after

    # -- tasks -------------------------------------------------------------------------------

    def _stage_tasks(self, version: int, stage: int) -> list[TaskState]:
        """The stage's tasks as the process sees them: a decision counts once recorded."""
        return [
            t
            if t.status not in DECISION_TO_TASK_STATUS.values() or t.task_id in self._recorded
            else t.model_copy(update={"status": TaskStatus.OPEN})
            for t in self._tasks.values()
            if t.stage == stage and t.version == version
        ]

    def _group_tasks(self, version: int, group: PlanStage) -> list[TaskState]:
        return [t for t in self._stage_tasks(version, group.stage) if t.role == group.role]

    def _group_satisfied(self, version: int, group: PlanStage) -> bool:
        tasks = [t for t in self._group_tasks(version, group) if t.status not in _GONE]
        approved = sum(1 for t in tasks if t.status == TaskStatus.APPROVED)
        if group.mode == "all":
            # Everyone still holding a task must approve (escalation may merge two tasks).
            return approved > 0 and approved == len(tasks)
        return approved >= min(group.required, len(tasks))

    def _ending_decision(
        self, version: int, stage: int
    ) -> tuple[DealStatus, str | None, str] | None:
        """(status, comment, approver) of a rejection or request for changes in the stage."""
        for task in self._stage_tasks(version, stage):
            if task.status == TaskStatus.REJECTED:
                return DealStatus.REJECTED, self._comments.get(task.task_id), task.assignee
            if task.status == TaskStatus.CHANGES_REQUESTED:
                return (
                    DealStatus.CHANGES_REQUESTED,
                    self._comments.get(task.task_id),
                    task.assignee,
                )
        return None

    def _granted_limits(self, version: int, group: PlanStage) -> dict[str, Decimal]:
        """Limits every approver of the group granted, at the strictest value among them."""
        approvals = [
            self._limits.get(t.task_id, {})
            for t in self._group_tasks(version, group)
            if t.status == TaskStatus.APPROVED
        ]
        if not approvals:
            return {}
        common = set(approvals[0]).intersection(*approvals[1:])
        granted: dict[str, Decimal] = {}
        for fact in sorted(common):
            spec = FACTS[fact]
            values = [a[fact] for a in approvals]
            granted[fact] = next(v for v in values if all(no_worse(spec, v, o) for o in values))
        return granted

    async def _close_satisfied_groups(
        self, version: int, stage: int, groups: Sequence[PlanStage]
    ) -> None:
        """An `any` or quorum group that has its approvals frees its other approvers."""
        for group in groups:
            if self._group_satisfied(version, group):
                done = [
                    t.task_id
                    for t in self._group_tasks(version, group)
                    if self._tasks[t.task_id].status == TaskStatus.OPEN
                ]
                for task_id in done:
                    self._set_task(task_id, TaskStatus.SUPERSEDED)
                await self._close_tasks(version, done, TaskStatus.SUPERSEDED)

    def _set_task(self, task_id: str, status: TaskStatus) -> None:
        self._tasks[task_id] = self._tasks[task_id].model_copy(update={"status": status})

    def _close_open_in_memory(self, status: TaskStatus, stage: int | None = None) -> list[str]:
        closed = [
            t.task_id
            for t in self._tasks.values()
            if t.status == TaskStatus.OPEN and (stage is None or t.stage == stage)
        ]
        for task_id in closed:
            self._set_task(task_id, status)
        return closed

    async def _open_tasks(
        self,
        version: int,
        stage: int,
        assignments: Sequence[tuple[str, str, str | None, str | None]],
        *,
        remind_at: datetime,
        due_at: datetime,
    ) -> None:
        """Open one task per (role, assignee, delegated_from, escalated_from)."""
        opened: list[OpenTask] = []
        for role, assignee, delegated_from, escalated_from in assignments:
            task_id = task_id_for(self._input.deal_id, version, stage, role, assignee)
            if task_id in self._tasks:
                continue
            self._tasks[task_id] = TaskState(
                task_id=task_id,
                version=version,
                stage=stage,
                role=role,
                assignee=assignee,
                delegated_from=delegated_from,
                escalated_from=escalated_from,
            )
            opened.append(
                OpenTask(
                    task_id=task_id,
                    role=role,
                    assignee=assignee,
                    delegated_from=delegated_from,
                    escalated_from=escalated_from,
                )
            )
        if not opened:
            return
        await self._call(
            DealActivities.open_tasks,
            OpenTasksInput(
                deal_id=self._input.deal_id,
                version=version,
                stage=stage,
                tasks=opened,
                remind_at=remind_at,
                due_at=due_at,
                at=workflow.now(),
            ),
        )
        for task in opened:
            await self._notify(
                version,
                f"task:{task.task_id}:opened",
                "task_escalated" if task.escalated_from else "task_opened",
                [task.assignee],
                self._tasks[task.task_id],
                due_at=due_at,
            )

    async def _close_tasks(self, version: int, task_ids: list[str], status: TaskStatus) -> None:
        if not task_ids:
            return
        await self._call(
            DealActivities.close_tasks,
            CloseTasksInput(
                deal_id=self._input.deal_id,
                version=version,
                task_ids=task_ids,
                status=status,
                at=workflow.now(),
            ),
        )

    async def _remind(self, version: int, stage: int) -> None:
        for task in self._stage_tasks(version, stage):
            if self._tasks[task.task_id].status != TaskStatus.OPEN:
                continue
            await self._record_event(
                version,
                f"task:{task.task_id}:reminded:{workflow.now().isoformat()}",
                "reminded",
                {"task_id": task.task_id, "assignee": task.assignee},
            )
            await self._notify(
                version,
                f"task:{task.task_id}:reminded:{workflow.now().isoformat()}",
                "task_reminder",
                [task.assignee],
                task,
            )

    async def _record_event(
        self, version: int, key: str, event: str, detail: dict[str, str | int | None]
    ) -> None:
        await self._call(
            DealActivities.record_event,
            EventInput(
                deal_id=self._input.deal_id,
                version=version,
                key=key,
                event=event,
                actor="system",
                at=workflow.now(),
                detail=dict(detail),
            ),
        )

    async def _escalate(
        self, version: int, stage: int, *, remind_at: datetime, due_at: datetime
    ) -> None:
        """Hand each open task of the stage to the approver's manager (or the deal desk)."""
        open_tasks = [
            self._tasks[t.task_id]
            for t in self._stage_tasks(version, stage)
            if self._tasks[t.task_id].status == TaskStatus.OPEN
        ]
        if not open_tasks:
            return
        answer: EscalationTargets = await self._call(
            DealActivities.escalation_targets,
            EscalationInput(
                deal_id=self._input.deal_id,
                submitter=self._owner,
                assignees={t.task_id: t.assignee for t in open_tasks},
            ),
        )
        if self._stale(version):
            return
        moved: list[TaskState] = []
        for task in open_tasks:
            target = answer.targets.get(task.task_id)
            # No one above this approver: the task stays and reminders continue.
            if target is None or target == task.assignee:
                continue
            if self._tasks[task.task_id].status != TaskStatus.OPEN:
                continue  # decided while we looked up the managers
            self._set_task(task.task_id, TaskStatus.ESCALATED)
            moved.append(task)
        if not moved:
            return
        self._changes += 1
        await self._close_tasks(version, [t.task_id for t in moved], TaskStatus.ESCALATED)
        await self._open_tasks(
            version,
            stage,
            [(t.role, answer.targets[t.task_id], None, t.assignee) for t in moved],
            remind_at=remind_at,
            due_at=due_at,
        )
        for task in moved:
            await self._notify(
                version,
                f"task:{task.task_id}:escalated",
                "escalation_notice",
                [task.assignee],
                task,
                escalated_to=answer.targets[task.task_id],
            )

    # -- status and notifications ----------------------------------------------------------

    async def _conclude(
        self, version: int, status: DealStatus, reason: str | None, decided_by: str | None = None
    ) -> None:
        self._current_stage = None
        await self._change_status(status, reason)
        await self._notify_outcome(version, decided_by)

    async def _change_status(
        self, status: DealStatus, reason: str | None, *, actor: str = "system"
    ) -> None:
        self._status = status
        self._reason = reason
        self._status_seq += 1
        await self._call(
            DealActivities.set_status,
            SetStatusInput(
                deal_id=self._input.deal_id,
                version=self._version,
                status=status,
                reason=reason,
                actor=actor,
                seq=self._status_seq,
                at=workflow.now(),
            ),
        )

    def _figures(self) -> dict[str, str | int | list[str] | None]:
        facts = self._plan.facts if self._plan is not None else None
        return {
            "customer": self._deal.customer.name,
            "currency": self._deal.currency,
            "tcv": str(facts.tcv) if facts else None,
            "gross_margin_pct": str(facts.gross_margin_pct) if facts else None,
            "discount_pct": str(facts.discount_pct) if facts else None,
        }

    async def _notify(
        self,
        version: int,
        key: str,
        event: NotifyEvent,
        recipients: list[str],
        task: TaskState,
        *,
        due_at: datetime | None = None,
        escalated_to: str | None = None,
    ) -> None:
        """One e-mail event about a task; each event's template takes its own fields."""
        context: dict[str, str | int | list[str] | None] = {
            "customer": self._deal.customer.name,
            "task_id": task.task_id,
            "stage": task.stage,
            "role": task.role,
        }
        if event == "escalation_notice":
            context["escalated_to"] = escalated_to
        else:
            group = self._plan.stage(task.stage, task.role) if self._plan is not None else None
            context |= self._figures() | {
                "due_at": due_at.isoformat() if due_at else None,
                "reasons": [r.text for r in group.reasons] if group else [],
            }
            if event == "task_opened":
                context["delegated_from"] = task.delegated_from
            elif event == "task_escalated":
                context["escalated_from"] = task.escalated_from
        await self._send(
            NotifyInput(
                deal_id=self._input.deal_id,
                version=version,
                key=key,
                event=event,
                recipients=recipients,
                context=context,
            )
        )

    async def _notify_outcome(self, version: int, decided_by: str | None = None) -> None:
        violations = self._plan.violations if self._plan is not None else []
        await self._send(
            NotifyInput(
                deal_id=self._input.deal_id,
                version=version,
                key=f"v{version}:outcome:{self._status.value}",
                event="deal_outcome",
                recipients=[self._owner],
                context=self._figures()
                | {
                    "outcome": self._status.value,
                    "comment": self._reason,
                    "decided_by": decided_by,
                    "reasons": [v.text for v in violations]
                    if self._status == DealStatus.POLICY_VIOLATION
                    else [],
                },
            )
        )

    async def _send(self, message: NotifyInput) -> None:
        try:
            await workflow.execute_activity_method(
                NotifyActivities.notify,
                message,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_NOTIFY_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("notification %s not delivered: %s", message.key, err.cause)

    async def _call(self, activity: Any, arg: Any, limit: timedelta = _TIMEOUT) -> Any:
        # The SDK reads each activity's return annotation to decode its result.
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=limit, retry_policy=_RETRY
        )
