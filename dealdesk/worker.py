"""The Temporal worker: DealWorkflow and its activities on one task queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deal import DealActivities
from activities.notify import Mailer, NotifyActivities
from dealdesk.links import ProposalLinks
from dealdesk.settings import Settings
from dealdesk.telemetry import ActivityFailureCounter
from store.db import SessionFactory
from workflows.deal import DealWorkflow


def build_worker(
    client: Client,
    *,
    settings: Settings,
    sessions: SessionFactory,
    mailer: Mailer | None = None,
    task_queue: str | None = None,
    threads: int = 16,
) -> Worker:
    deal_activities = DealActivities(sessions, seller=settings.seller_name)
    notify_activities = NotifyActivities(
        sessions,
        mailer,
        settings.base_url,
        links=ProposalLinks.from_settings(settings),
        seller=settings.seller_name,
    )
    # Activities are synchronous (database sessions block); they run on this pool.
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=[DealWorkflow],
        activities=[*deal_activities.all(), *notify_activities.all()],
        activity_executor=ThreadPoolExecutor(max_workers=threads),
        max_concurrent_activities=threads,
        # Counted on the runtime's meter: served with the SDK's metrics when the worker has a
        # metrics address (DEALDESK_WORKER_METRICS_ADDRESS), a no-op otherwise.
        interceptors=[ActivityFailureCounter()],
    )
