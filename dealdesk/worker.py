"""The Temporal worker: DealWorkflow and its activities on one task queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deal import DealActivities
from store.db import SessionFactory
from workflows.deal import DealWorkflow


def build_worker(
    client: Client, *, task_queue: str, sessions: SessionFactory, threads: int = 16
) -> Worker:
    activities = DealActivities(sessions)
    # Activities are synchronous (database sessions block); they run on this pool.
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DealWorkflow],
        activities=activities.all(),
        activity_executor=ThreadPoolExecutor(max_workers=threads),
        max_concurrent_activities=threads,
    )
