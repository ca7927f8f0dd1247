"""`/metrics` in the Prometheus text format: HTTP traffic, and the deal desk's business figures.

Labels carry only bounded, non-personal values: HTTP method, route template, status code, deal
and task statuses, decisions. Never a deal id, a customer or a user.

The business metrics (deals by status, decisions, escalations, approval latency) are read from
the database at scrape time rather than counted in activities: the database is the one place
every worker's writes meet, so any API replica reports the same, complete figures, whatever the
number of worker processes, and a restart loses nothing. (Counters kept in a worker's memory
would start from zero on each restart and split across workers.) Every API replica reports the
same global values, so aggregate them across instances with max(), not sum().
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from re import Pattern

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import inspect
from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.health import in_daemon_thread
from store import metrics as store_metrics
from store.db import SessionFactory
from workflows.messages import DECISION_TO_TASK_STATUS, DealStatus, TaskStatus

logger = logging.getLogger(__name__)

# Labels for requests that matched no route: a scanner's random paths must not become series.
UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Approval latency is human time: minutes to days (a demo with second-long SLAs lands in the
# first bucket).
_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0
APPROVAL_LATENCY_BUCKETS: tuple[float, ...] = (
    *(m * _MINUTE for m in (1, 5, 15, 30)),
    *(h * _HOUR for h in (1, 4, 8)),
    *(d * _DAY for d in (1, 2, 3, 7)),
)
# A scrape must answer within Prometheus's scrape timeout (10 s by default) even when the
# database hangs: the read gets this long, then the scrape reports the error instead.
STORE_READ_TIMEOUT = timedelta(seconds=2)

_DECISION_OF_STATUS = {status.value: d.value for d, status in DECISION_TO_TASK_STATUS.items()}


class ApiMetrics:
    """The API's registry. One per app (not prometheus_client's global one), so two apps in one
    process, as in the tests, never collide."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "dealdesk_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "dealdesk_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            labels,
            registry=self.registry,
        )
        self.store = StoreCollector(sessions)
        self.registry.register(self.store)
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def install_metrics(app: FastAPI, *, sessions: SessionFactory) -> ApiMetrics:
    """The middleware and the `/metrics` route. Call it after every other middleware, so this
    one is outermost and also counts the answers they give (a 413 from the body limit)."""
    metrics = ApiMetrics(sessions)
    app.add_middleware(HttpMetrics, metrics=metrics, router=app.router)

    # A plain def: the database read blocks, so FastAPI runs it on its thread pool.
    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return metrics


class HttpMetrics:
    """Plain ASGI middleware (see api/limits.py for why not `@app.middleware`): counts and times
    every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, router: Router) -> None:
        self.app = app
        self._requests = metrics.requests
        self._latency = metrics.latency
        self._templates = RouteTemplates(router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception before the response started ends as a 500 from Starlette's error
        # middleware, which sits outside this one.
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            labels = (method, self._templates.template(scope), str(status))
            self._requests.labels(*labels).inc()
            self._latency.labels(*labels).observe(time.perf_counter() - started)


class RouteTemplates:
    """The path pattern (`/api/v1/deals/{deal_id}`) of the route that served a request.

    The router leaves the matched route in `scope["route"]` (FastAPI routes) or only its
    endpoint in `scope["endpoint"]` (plain Starlette routes such as /docs, and mounts such as
    /static). Since FastAPI 0.137 an included router's route also carries only its own path
    (`/{deal_id}`), not the prefixes it was included under; `iter_route_contexts` gives the
    full patterns. They are indexed once, and again only when an unknown route shows up.
    """

    def __init__(self, router: Router) -> None:
        self._router = router
        # id(route or endpoint) -> (it, [(pattern, template)]): kept, so its id stays unique.
        self._templates: dict[int, tuple[object, list[tuple[Pattern[str] | None, str]]]] = {}

    def template(self, scope: Scope) -> str:
        handler = scope.get("route") or scope.get("endpoint")
        if handler is None:
            return UNMATCHED_ROUTE
        entry = self._templates.get(id(handler))
        if entry is None:
            self._index()  # routes may have been added since the last lookup
            entry = self._templates.get(id(handler))
            if entry is None:
                path = getattr(handler, "path_format", None) or UNMATCHED_ROUTE
                entry = (handler, [(None, path)])
                self._templates[id(handler)] = entry
        candidates = entry[1]
        if len(candidates) > 1:
            # One route or endpoint under two paths: the one whose pattern matches.
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            for pattern, template in candidates:
                if pattern is not None and pattern.match(path):
                    return template
        return candidates[0][1]

    def _index(self) -> None:
        templates: dict[int, tuple[object, list[tuple[Pattern[str] | None, str]]]] = {}
        for context in iter_route_contexts(self._router.routes):
            template = context.path_format or context.path
            if not template:
                continue
            route = context.original_route
            # What the router leaves in the scope: the route, else the endpoint (a mount's
            # endpoint is the app it mounts).
            keys = [route, context.endpoint, route.app if isinstance(route, Mount) else None]
            pattern = getattr(context, "path_regex", None)
            for key in keys:
                if key is not None:
                    found = templates.setdefault(id(key), (key, []))[1]
                    if (pattern, template) not in found:
                        found.append((pattern, template))
        self._templates.update(templates)


@dataclass(frozen=True)
class _Snapshot:
    deals: dict[str, int]
    tasks: list[store_metrics.TaskStatusSummary]


class StoreCollector(Collector):
    """Business metrics computed at scrape time from the read model, two GROUP BY queries in
    all. If the database does not answer within STORE_READ_TIMEOUT, the scrape still succeeds:
    it reports dealdesk_store_scrape_error 1 and leaves the business series out (a missing series
    is honest; a zero would be a lie)."""

    def __init__(
        self, sessions: SessionFactory, *, timeout: timedelta = STORE_READ_TIMEOUT
    ) -> None:
        self._sessions = sessions
        self._timeout = timeout.total_seconds()
        self._lock = threading.Lock()
        self._pending: concurrent.futures.Future[_Snapshot] | None = None

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        snapshot: _Snapshot | None = None
        with self._lock:
            # A read still running from an earlier scrape is waited on again, never doubled.
            if self._pending is None or self._pending.done():
                self._pending = in_daemon_thread(self._read, name="metrics-store-read")
            pending = self._pending
        try:
            snapshot = pending.result(timeout=self._timeout)
        except TimeoutError:
            logger.warning("metrics: the database did not answer within %.1f s", self._timeout)
        except Exception as err:
            logger.warning("metrics: reading the database failed: %r", err)

        error = GaugeMetricFamily(
            "dealdesk_store_scrape_error",
            "1 if reading the business metrics from the database failed on this scrape.",
        )
        error.add_metric([], 0 if snapshot is not None else 1)
        yield error
        duration = GaugeMetricFamily(
            "dealdesk_store_scrape_duration_seconds",
            "Time spent reading the business metrics from the database on this scrape.",
        )
        duration.add_metric([], time.perf_counter() - started)
        yield duration
        if snapshot is not None:
            yield from _business_metrics(snapshot)

    def _read(self) -> _Snapshot:
        with self._sessions() as session:
            connection = session.connection()
            if inspect(connection).dialect.name == "postgresql":
                # Bounded on the server too, so an abandoned read does not run on for minutes.
                millis = int(self._timeout * 1000)
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
            return _Snapshot(
                deals=store_metrics.deals_by_status(session),
                tasks=store_metrics.tasks_by_status(session, bounds=APPROVAL_LATENCY_BUCKETS),
            )


def _business_metrics(snapshot: _Snapshot) -> Iterable[Metric]:
    deals = GaugeMetricFamily("dealdesk_deals", "Deals by current status.", labels=["status"])
    for status, count in _with_zeros(snapshot.deals, [s.value for s in DealStatus]):
        deals.add_metric([status], count)
    yield deals

    tasks = GaugeMetricFamily(
        "dealdesk_approval_tasks", "Approval tasks by status.", labels=["status"]
    )
    by_status = {t.status: t.tasks for t in snapshot.tasks}
    for status, count in _with_zeros(by_status, [s.value for s in TaskStatus]):
        tasks.add_metric([status], count)
    yield tasks

    decisions = CounterMetricFamily(
        "dealdesk_approval_decisions",
        "Approver decisions on approval tasks, by decision.",
        labels=["decision"],
    )
    latency = HistogramMetricFamily(
        "dealdesk_approval_latency_seconds",
        "Seconds from an approval task opening to its approver's decision, by decision.",
        labels=["decision"],
    )
    summaries = {t.status: t for t in snapshot.tasks}
    for task_status, decision in _DECISION_OF_STATUS.items():
        summary = summaries.get(task_status)
        decided = summary.decided if summary else 0
        decisions.add_metric([decision], decided)
        counts = summary.latency_buckets if summary else (0,) * len(APPROVAL_LATENCY_BUCKETS)
        buckets = [
            (str(bound), float(count))
            for bound, count in zip(APPROVAL_LATENCY_BUCKETS, counts, strict=True)
        ]
        buckets.append(("+Inf", float(decided)))
        latency.add_metric(
            [decision], buckets=buckets, sum_value=summary.latency_sum if summary else 0.0
        )
    yield decisions
    yield latency

    escalations = CounterMetricFamily(
        "dealdesk_approval_escalations",
        "Approval tasks moved to another approver because their SLA ran out.",
    )
    escalations.add_metric([], sum(t.escalated for t in snapshot.tasks))
    yield escalations


def _with_zeros(counts: dict[str, int], known: Sequence[str]) -> list[tuple[str, int]]:
    # Every known status has a series from the first scrape, so rate() and alerts work at once;
    # a status the code no longer knows still shows while rows carry it.
    return [(s, counts.get(s, 0)) for s in known] + sorted(
        (s, n) for s, n in counts.items() if s not in known
    )
