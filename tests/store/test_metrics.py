"""The queries behind /metrics, and the families the API builds from them, on known rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import ApiMetrics
from store import metrics
from store.db import SessionFactory, transaction
from store.tables import ApprovalTask, Deal

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
BOUNDS = (60.0, 3600.0, 86400.0)


def _deal(deal_id: str, status: str) -> Deal:
    return Deal(
        id=deal_id,
        owner="alice",
        customer_name="Acme Corp",
        segment="enterprise",
        region="NA",
        currency="USD",
        status=status,
        current_version=1,
        created_at=T0,
        updated_at=T0,
    )


def _task(
    task_id: str,
    status: str,
    *,
    deal_id: str = "d-1",
    decided_by: str | None = None,
    after: timedelta | None = None,
    escalated_from: str | None = None,
) -> ApprovalTask:
    return ApprovalTask(
        id=task_id,
        deal_id=deal_id,
        version=1,
        stage=1,
        role="sales_vp",
        assignee="dave",
        escalated_from=escalated_from,
        status=status,
        reasons=[],
        created_at=T0,
        remind_at=T0 + timedelta(hours=4),
        due_at=T0 + timedelta(hours=8),
        decided_at=T0 + after if after is not None else None,
        decided_by=decided_by,
    )


@pytest.fixture
def rows(sessions: SessionFactory) -> SessionFactory:
    with transaction(sessions) as session:
        session.add_all([_deal("d-1", "approved"), _deal("d-2", "approved")])
        session.add(_deal("d-3", "in_approval"))
        session.flush()
        session.add_all(
            [
                _task("t-1", "approved", decided_by="dave", after=timedelta(seconds=30)),
                _task("t-2", "approved", decided_by="dave", after=timedelta(minutes=90)),
                _task(
                    "t-3", "rejected", deal_id="d-2", decided_by="frank", after=timedelta(days=2)
                ),
                # Closed by the workflow, not by an approver: no decision, no latency.
                _task("t-4", "escalated", deal_id="d-3", after=timedelta(hours=8)),
                _task("t-5", "superseded", deal_id="d-3", after=timedelta(hours=1)),
                _task("t-6", "open", deal_id="d-3", escalated_from="dave"),
            ]
        )
    return sessions


def test_deals_by_status(rows: SessionFactory) -> None:
    with rows() as session:
        assert metrics.deals_by_status(session) == {"approved": 2, "in_approval": 1}


def test_tasks_by_status_counts_decisions_escalations_and_latency(rows: SessionFactory) -> None:
    with rows() as session:
        summary = {s.status: s for s in metrics.tasks_by_status(session, bounds=BOUNDS)}

    assert set(summary) == {"approved", "rejected", "escalated", "superseded", "open"}
    approved = summary["approved"]
    assert (approved.tasks, approved.decided, approved.escalated) == (2, 2, 0)
    assert approved.latency_sum == pytest.approx(30 + 90 * 60, abs=0.01)
    # Cumulative: 30 s is within every bound, 90 minutes only within the day.
    assert approved.latency_buckets == (1, 1, 2)
    rejected = summary["rejected"]
    assert (rejected.decided, rejected.latency_buckets) == (1, (0, 0, 0))
    assert rejected.latency_sum == pytest.approx(2 * 86400, abs=0.01)
    for closed_by_the_workflow in ("escalated", "superseded"):
        assert summary[closed_by_the_workflow].decided == 0
        assert summary[closed_by_the_workflow].latency_sum == 0
    assert summary["open"].escalated == 1


def test_the_collector_reports_the_rows_as_prometheus_families(rows: SessionFactory) -> None:
    text = ApiMetrics(rows).render().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("dealdesk_store_scrape_error") == 0
    assert value("dealdesk_deals", status="approved") == 2
    assert value("dealdesk_deals", status="closed_won") == 0
    assert value("dealdesk_approval_tasks", status="escalated") == 1
    assert value("dealdesk_approval_decisions_total", decision="approve") == 2
    assert value("dealdesk_approval_decisions_total", decision="reject") == 1
    assert value("dealdesk_approval_decisions_total", decision="request_changes") == 0
    assert value("dealdesk_approval_escalations_total") == 1
    latency = "dealdesk_approval_latency_seconds"
    assert value(f"{latency}_bucket", decision="approve", le="60.0") == 1
    assert value(f"{latency}_bucket", decision="approve", le="3600.0") == 1
    assert value(f"{latency}_bucket", decision="approve", le="14400.0") == 2
    assert value(f"{latency}_bucket", decision="approve", le="+Inf") == 2
    assert value(f"{latency}_count", decision="approve") == 2
    assert value(f"{latency}_bucket", decision="reject", le="172800.0") == 1
    assert value(f"{latency}_bucket", decision="reject", le="86400.0") == 0
