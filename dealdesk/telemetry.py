"""The worker's telemetry: the Temporal runtime (SDK metrics, Core logs) and activity failures.

Business metrics (deals, decisions, escalations, approval latency) are not counted here: the API
derives them from the database at scrape time (api/metrics.py). Activity failures are the one
thing only a worker process sees, so it counts them itself, on the Temporal runtime's meter:
they are served by the same Prometheus endpoint as the SDK's own metrics.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from dealdesk.settings import Settings

ACTIVITY_FAILURES = "dealdesk_activity_failures"


def runtime_for(settings: Settings, *, worker: bool) -> Runtime | None:
    """A Temporal runtime when this process needs more than the default one: a Prometheus
    endpoint for a worker, or Core's own log lines through Python logging (so that in JSON mode
    every line on stderr is JSON). None: the default runtime will do."""
    metrics_address = settings.worker_metrics_address if worker else ""
    forward_logs = settings.effective_log_format == "json"
    if not metrics_address and not forward_logs:
        return None
    logging_config = LoggingConfig.default
    if forward_logs:
        logging_config = dataclasses.replace(
            logging_config,
            forwarding=LogForwardingConfig(
                logger=logging.getLogger("temporalio.core"),
                append_target_to_name=False,
                prepend_target_on_message=False,
                # The target and fields become fields of their own (dealdesk.logging).
                append_log_fields_to_message=False,
            ),
        )
    # SDK metric names stay as Temporal publishes them (no _total or unit suffixes), so the
    # SDK's own dashboards work unchanged.
    return Runtime(
        telemetry=TelemetryConfig(
            logging=logging_config,
            metrics=PrometheusConfig(bind_address=metrics_address) if metrics_address else None,
        )
    )


class ActivityFailureCounter(Interceptor):
    """Counts failed activity attempts by activity type and error type.

    Every failed attempt counts, retried or not: a rising rate is the signal (a database that
    keeps refusing, a template that no longer renders). The error type is the ApplicationError
    code our activities raise (pricing_error, routing_error, ...) or the exception's class name:
    both come from our code, never from a deal. Cancellation is not a failure.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountFailures(next)


class _CountFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except CancelledError:
            raise
        except Exception as err:
            # The activity's meter already carries namespace, task_queue and activity_type.
            # On the default runtime (no metrics address) it is a no-op.
            activity.metric_meter().create_counter(
                ACTIVITY_FAILURES, "Failed activity attempts, by activity and error type."
            ).add(1, {"error_type": error_type(err)})
            raise


def error_type(err: BaseException) -> str:
    if isinstance(err, ApplicationError) and err.type:
        return err.type
    return type(err).__name__
