"""The Temporal worker: DealWorkflow and its activities on one task queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deal import DealActivities
from activities.notify import Mailer, NotifyActivities
from store.db import SessionFactory
from workflows.deal import DealWorkflow


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: SessionFactory,
    mailer: Mailer | None = None,
    base_url: str = "http://127.0.0.1:8000",
    threads: int = 16,
) -> Worker:
    deal_activities = DealActivities(sessions)
    notify_activities = NotifyActivities(sessions, mailer, base_url)
    # Activities are synchronous (database sessions block); they run on this pool.
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DealWorkflow],
        activities=[*deal_activities.all(), *notify_activities.all()],
        activity_executor=ThreadPoolExecutor(max_workers=threads),
        max_concurrent_activities=threads,
    )
