"""The baseline of bench/approvals.py: a bare workflow shaped like DealWorkflow's approval path.

It lives in its own module because the workflow sandbox re-imports a workflow's module for
every run: this one must stay light (nothing of the app, no HTTP), and a workflow defined in a
script's `__main__` cannot be re-imported by name at all.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ConfigDict, Field

# The same activity options as DealWorkflow._call, so only the work inside differs.
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
_TIMEOUT = timedelta(seconds=30)


class BaselineInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deal: str
    # Activities per segment of DealWorkflow's history: segment 0 runs from the start (the
    # submit update answers after its first activity); segment k >= 1 starts with decision k,
    # whose update handler runs the segment's first activity, the run method the rest.
    segments: list[int] = Field(min_length=1)


class BaselineResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deal: str
    activities: int


class SubmitCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deal: str


class DecideInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: int


class Ack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: int


class StepInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deal: str
    step: int


class NoopActivities:
    @activity.defn(name="bench_step")
    def step(self, input: StepInput) -> None:
        """Nothing: what is left is Temporal's own cost of one activity call."""


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    @workflow.init
    def __init__(self, input: BaselineInput) -> None:
        self._input = input
        self._steps = 0
        self._first_done = False
        # The stage whose decision the run method waits for; 0 while it is still working.
        self._open_stage = 0
        self._decided = 0

    @workflow.run
    async def run(self, input: BaselineInput) -> BaselineResult:
        await self._step()
        self._first_done = True
        for _ in range(input.segments[0] - 1):
            await self._step()
        for stage, count in enumerate(input.segments[1:], start=1):
            self._open_stage = stage
            await workflow.wait_condition(lambda s=stage: self._decided >= s)  # type: ignore[misc]
            self._open_stage = 0
            for _ in range(count - 1):
                await self._step()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return BaselineResult(deal=input.deal, activities=self._steps)

    @workflow.update
    async def submitted(self, check: SubmitCheck) -> Ack:
        await workflow.wait_condition(lambda: self._first_done)
        return Ack(stage=0)

    @workflow.update
    async def decide(self, input: DecideInput) -> Ack:
        # The driver sends each decision as soon as the previous answer is back; waiting here
        # for the stage stands in for the app's approver polling the queue, at no cost.
        await workflow.wait_condition(lambda: self._open_stage == input.stage)
        await self._step()
        self._decided = input.stage
        return Ack(stage=input.stage)

    @decide.validator
    def _validate_decide(self, input: DecideInput) -> None:
        # As cheap as DealWorkflow's checks: refuse what cannot be a next decision.
        if not self._decided < input.stage < len(self._input.segments):
            raise ValueError(f"no stage {input.stage} to decide")

    async def _step(self) -> None:
        self._steps += 1
        await workflow.execute_activity_method(
            NoopActivities.step,
            StepInput(deal=self._input.deal, step=self._steps),
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )


def build_baseline_worker(client: Client, *, task_queue: str, threads: int = 16) -> Worker:
    """The same kind of worker as dealdesk.worker.build_worker: sandboxed workflow, plain `def`
    activities on a thread pool of the same size, workflow bytecode cached the same way."""
    # Imported here, not at the top: the sandbox re-imports this module for every run.
    from dealdesk.worker import cache_workflow_bytecode

    cache_workflow_bytecode(Path(__file__).resolve().parent)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BaselineWorkflow],
        activities=[NoopActivities().step],
        activity_executor=ThreadPoolExecutor(max_workers=threads),
        max_concurrent_activities=threads,
    )
