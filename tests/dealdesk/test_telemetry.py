"""The worker's metrics endpoint: the Temporal SDK's metrics and DealDesk's activity failures."""

from __future__ import annotations

import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dealdesk import temporal
from dealdesk.settings import Settings
from dealdesk.telemetry import ActivityFailureCounter, error_type, runtime_for
from dealdesk.worker import build_worker
from store.db import SessionFactory
from tests.helpers import eventually


class FailInput(BaseModel):
    retryable_attempts: int


@activity.defn
def refuse_to_price(input: FailInput) -> None:
    raise ApplicationError("no price for PLAT-SEAT-X", type="pricing_error", non_retryable=True)


@activity.defn
def flaky(input: FailInput) -> None:
    if activity.info().attempt < input.retryable_attempts:
        raise ConnectionError("database went away")


# Unsandboxed: the sandbox would re-import this whole test module (4 s) to validate it.
@workflow.defn(sandboxed=False)
class FailingWorkflow:
    @workflow.run
    async def run(self, input: FailInput) -> str:
        await workflow.execute_activity(
            flaky,
            input,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )
        try:
            await workflow.execute_activity(
                refuse_to_price, input, start_to_close_timeout=timedelta(seconds=10)
            )
        except ActivityError as err:
            return error_type(err.cause) if err.cause else "no cause"
        return "no failure"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _scrape(address: str) -> list[Sample]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{address}/metrics")
    assert response.status_code == 200
    return [s for f in text_string_to_metric_families(response.text) for s in f.samples]


def _failures(samples: list[Sample]) -> dict[tuple[str, str], float]:
    return {
        (s.labels["activity_type"], s.labels["error_type"]): s.value
        for s in samples
        if s.name == "dealdesk_activity_failures_total"
    }


async def test_activity_failures_are_served_with_the_sdk_metrics(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    worker_settings = settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "worker_metrics_address": address,
        }
    )
    runtime = runtime_for(worker_settings, worker=True)
    assert runtime is not None
    client = await temporal.connect(worker_settings, runtime=runtime)
    task_queue = f"telemetry-{uuid.uuid4()}"

    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[FailingWorkflow],
            activities=[flaky, refuse_to_price],
            activity_executor=executor,
            interceptors=[ActivityFailureCounter()],
        ):
            outcome = await client.execute_workflow(
                FailingWorkflow.run,
                FailInput(retryable_attempts=2),
                id=f"telemetry-{uuid.uuid4()}",
                task_queue=task_queue,
            )
    assert outcome == "pricing_error"

    samples = await eventually(
        lambda: _scrape(address), lambda found: len(_failures(found)) == 2, within=5
    )
    # One failed attempt of flaky before its retry succeeded; one of the non-retryable refusal.
    assert _failures(samples) == {
        ("flaky", "ConnectionError"): 1,
        ("refuse_to_price", "pricing_error"): 1,
    }
    assert any(s.name.startswith("temporal_") for s in samples)


async def test_the_deal_worker_counts_activity_failures(
    temporal_env: WorkflowEnvironment, settings: Settings, seeded: SessionFactory
) -> None:
    worker = build_worker(temporal_env.client, settings=settings, sessions=seeded, threads=1)

    interceptors = worker.config().get("interceptors") or []
    assert ActivityFailureCounter in [type(i) for i in interceptors]


def test_no_runtime_of_its_own_by_default(settings: Settings) -> None:
    assert runtime_for(settings, worker=True) is None
    # Only a worker serves metrics.
    api_only = settings.model_copy(update={"worker_metrics_address": "127.0.0.1:1"})
    assert runtime_for(api_only, worker=False) is None
    # JSON logs: Core's own log lines are forwarded to Python logging, to be JSON as well.
    json_logs = settings.model_copy(update={"log_format": "json"})
    assert runtime_for(json_logs, worker=False) is not None


def test_error_type_is_the_code_or_the_class() -> None:
    assert error_type(ApplicationError("x", type="routing_error")) == "routing_error"
    assert error_type(ApplicationError("x")) == "ApplicationError"
    assert error_type(TimeoutError()) == "TimeoutError"
