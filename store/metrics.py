"""The read-model queries behind /metrics: one GROUP BY per table, whatever the row count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, case, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from store.tables import ApprovalTask, Deal


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds; SQL has no portable spelling of it."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    # Julian days as a double: exact to well under a millisecond at present-day dates.
    return (
        f"((julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"
        " * 86400.0)"
    )


@dataclass(frozen=True)
class TaskStatusSummary:
    """Approval tasks in one status. `decided` counts the tasks an approver closed (approve,
    reject, request changes); the workflow closes the others (superseded, escalated, ...)."""

    status: str
    tasks: int
    escalated: int
    decided: int
    # Over decided tasks only: seconds from the task opening to the decision.
    latency_sum: float
    # Cumulative: latency_buckets[i] decided tasks took at most bounds[i] seconds.
    latency_buckets: tuple[int, ...]


def deals_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(Deal.status, func.count()).group_by(col(Deal.status))).all()
    return {status: int(count) for status, count in rows}


def tasks_by_status(session: Session, *, bounds: Sequence[float]) -> list[TaskStatusSummary]:
    """Counts, escalations and decision latency per task status, in one pass over the table,
    with the histogram buckets counted by the database rather than rows shipped to Python."""
    decided = col(ApprovalTask.decided_by).is_not(None) & col(ApprovalTask.decided_at).is_not(None)
    latency = seconds_between(col(ApprovalTask.created_at), col(ApprovalTask.decided_at))
    columns: list[Any] = [
        col(ApprovalTask.status),
        func.count(),
        func.count(col(ApprovalTask.escalated_from)),
        func.sum(case((decided, 1), else_=0)),
        func.sum(case((decided, latency), else_=0.0)),
        *(func.sum(case((decided & (latency <= bound), 1), else_=0)) for bound in bounds),
    ]
    rows = session.exec(select(*columns).group_by(col(ApprovalTask.status))).all()
    return [
        TaskStatusSummary(
            status=row[0],
            tasks=int(row[1]),
            escalated=int(row[2] or 0),
            decided=int(row[3] or 0),
            latency_sum=max(float(row[4] or 0.0), 0.0),
            latency_buckets=tuple(int(n or 0) for n in row[5:]),
        )
        for row in rows
    ]
