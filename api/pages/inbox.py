"""The approver's inbox: open tasks oldest first, why each was routed, decide in place."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.authorization import CurrentUser
from api.deps import SessionFactoryDep, SettingsDep
from api.exposure import hidden_for
from api.pages.common import ROLE_LABELS, render
from api.routers.approvals import task_detail
from store import deals
from store.db import SessionFactory
from store.tables import User
from workflows.messages import TaskStatus

router = APIRouter()

# The totals an approver weighs, in the order shown, with how each is formatted.
KEY_FIGURES = (
    ("gross_margin_pct", "Margin", "percent"),
    ("discount_pct", "Discount", "percent"),
    ("acv", "ACV", "money"),
    ("tcv", "TCV", "money"),
)


def _items(sessions: SessionFactory, user: User) -> list[dict[str, Any]]:
    items = []
    with sessions() as session:
        rows = deals.list_tasks(
            session, assignee=user.username, status=TaskStatus.OPEN.value, limit=100, offset=0
        )
        hidden = hidden_for(session, user)
        for task, deal, _ in rows:
            # The same read as GET /api/v1/approvals/{id}: what changed since the last approval.
            version = deals.require_version(session, deal_id=deal.id, version=task.version)
            detail = task_detail(session, task, deal, version, hidden)
            plan = version.plan or {}
            rule_ids = sorted({r.get("rule_id", "") for r in task.reasons})
            before = detail.totals_before or {}
            after = detail.totals_after or {}
            items.append(
                {
                    "id": task.id,
                    "deal_id": deal.id,
                    "version": task.version,
                    "customer": deal.customer_name,
                    "owner": deal.owner,
                    "currency": deal.currency,
                    "role": ROLE_LABELS.get(task.role, task.role),
                    "reasons": [r.get("text", "") for r in task.reasons],
                    # One kind of reason: such tasks may be approved together.
                    "kind": rule_ids[0] if len(rule_ids) == 1 else "",
                    "due_at": task.due_at,
                    "overdue": detail.overdue,
                    "age_hours": detail.age_seconds // 3600,
                    "risk": (plan.get("risk") or {}).get("score", "–"),
                    "figures": [
                        {
                            "label": label,
                            "format": fmt,
                            "value": after.get(key),
                            "before": before.get(key) if before else None,
                        }
                        for key, label, fmt in KEY_FIGURES
                    ],
                    "compared_with": detail.compared_with_version,
                    "changes": [
                        {"path": c.path, "before": c.before, "after": c.after}
                        for c in detail.changes[:12]
                    ],
                    "more_changes": max(0, len(detail.changes) - 12),
                }
            )
    return items


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request, user: CurrentUser, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    items = await run_in_threadpool(_items, sessions, user)
    kinds: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item["kind"]:
            kinds[item["kind"]].append(item["id"])
    return render(
        request,
        settings,
        "pages/inbox.html.j2",
        user=user,
        title="Inbox",
        page="inbox",
        items=items,
        bulk=[
            {"kind": kind, "ids": " ".join(ids), "count": len(ids)}
            for kind, ids in sorted(kinds.items())
            if len(ids) > 1
        ],
    )
