"""Liveness and readiness: `/healthz` says the process is up, `/readyz` that it can serve.

Both are unauthenticated (load balancers and orchestrators probe them) and answer nothing about
deals: a failed check names the dependency and the error's class, never its message, which may
hold a host name or a user.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Per dependency. A probe's own timeout is typically 1 to 5 s; both checks run at once.
READINESS_TIMEOUT = timedelta(seconds=1.5)

router = APIRouter(include_in_schema=False)


def in_daemon_thread(fn: Callable[[], T], *, name: str) -> concurrent.futures.Future[T]:
    """Run blocking `fn` on a daemon thread of its own. A caller that stops waiting leaves it
    to finish on its own (a connect to an unreachable database can hang for minutes), and a
    daemon thread never holds up the process's exit the way a pool's worker thread does."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as err:
            future.set_exception(err)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class HealthService(Protocol):
    # The signature of temporalio's ServiceClient.check_health, which has a gRPC deadline.
    async def check_health(self, *, timeout: timedelta | None = None) -> bool: ...  # noqa: ASYNC109


class TemporalClient(Protocol):
    """What readiness needs of a `temporalio.client.Client`."""

    @property
    def service_client(self) -> HealthService: ...


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]
    failed: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.failed

    def body(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "unavailable",
            "checks": self.checks,
            "failed": self.failed,
        }


class ReadinessProbe:
    """Checks the database (`SELECT 1`) and Temporal (the gRPC health service), concurrently,
    each within `timeout`.

    A database check still running from an earlier probe is awaited again rather than joined by
    a second one, so a hung database costs one thread, not one per probe.
    """

    def __init__(self, engine: Engine, *, timeout: timedelta = READINESS_TIMEOUT) -> None:
        self._engine = engine
        self._timeout = timeout.total_seconds()
        self._database_check: concurrent.futures.Future[None] | None = None
        self._lock = threading.Lock()

    async def check(self, temporal: TemporalClient | None) -> Readiness:
        database, workflow_service = await asyncio.gather(
            self._check_database(), self._check_temporal(temporal)
        )
        checks = {"database": database, "temporal": workflow_service}
        return Readiness(checks=checks, failed=[k for k, v in checks.items() if v != "ok"])

    async def _check_database(self) -> str:
        with self._lock:
            if self._database_check is None or self._database_check.done():
                self._database_check = in_daemon_thread(self._select_one, name="readyz-database")
            pending = self._database_check
        try:
            # shield: a timeout here must not cancel the check another probe may be awaiting.
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(pending)), self._timeout)
        except TimeoutError:
            return "timeout"
        except Exception as err:
            logger.warning("readiness: database check failed: %r", err)
            return f"error: {type(err).__name__}"
        return "ok"

    def _select_one(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()

    async def _check_temporal(self, temporal: TemporalClient | None) -> str:
        if temporal is None:
            return "error: not connected"
        try:
            serving = await asyncio.wait_for(
                temporal.service_client.check_health(timeout=timedelta(seconds=self._timeout)),
                self._timeout,
            )
        except TimeoutError:
            return "timeout"
        except Exception as err:
            logger.warning("readiness: Temporal check failed: %r", err)
            return f"error: {type(err).__name__}"
        return "ok" if serving else "error: not serving"


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    probe: ReadinessProbe = request.app.state.readiness
    readiness = await probe.check(getattr(request.app.state, "temporal", None))
    return JSONResponse(
        status_code=status.HTTP_200_OK if readiness.ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        content=readiness.body(),
        headers={"Cache-Control": "no-store"},
    )
