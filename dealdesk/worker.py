"""The Temporal worker: DealWorkflow and its activities on one task queue."""

from __future__ import annotations

import compileall
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deal import DealActivities
from activities.notify import Mailer, NotifyActivities
from dealdesk.links import ProposalLinks
from dealdesk.settings import Settings
from dealdesk.telemetry import ActivityFailureCounter
from store.db import SessionFactory
from workflows.deal import DealWorkflow

_WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"


def cache_workflow_bytecode(directory: Path = _WORKFLOWS_DIR) -> None:
    """Write the workflow modules' bytecode into __pycache__ if it is missing or stale.

    The sandbox imports a workflow's module afresh for every workflow run it starts. Without
    cached bytecode (PYTHONDONTWRITEBYTECODE, as in most container images) each import
    compiles the source again: about 15 ms of CPU per deal, a twentieth of the worker's work
    (bench/approvals.py). py_compile writes whatever that flag says; a read-only install just
    keeps compiling, so a failure here is not an error (the image compiles at build time).
    """
    compileall.compile_dir(directory, quiet=2, workers=1)


def build_worker(
    client: Client,
    *,
    settings: Settings,
    sessions: SessionFactory,
    mailer: Mailer | None = None,
    task_queue: str | None = None,
    threads: int | None = None,
) -> Worker:
    cache_workflow_bytecode()
    threads = threads or settings.worker_activity_threads
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
