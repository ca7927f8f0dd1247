"""Finance: the reports of GET /api/v1/reports/* as tables, fetched by the page's script."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import SettingsDep
from api.pages.common import render, require_page_role
from store.tables import User

router = APIRouter()

# (path under /api/v1/reports, title, the grouping asked for; "" is the report's own default:
# `group_by=` answers 500 in reports.py as of this writing, see the issue note)
REPORTS = (
    ("margins", "Margins", ""),
    ("discounts", "Discount waterfall", ""),
    ("discounts/approvals", "Approvals needed", ""),
    ("discounts/bands", "Discount bands", ""),
    ("bookings", "Bookings", ""),
    ("pipeline", "Pipeline by status", ""),
    ("cycle-times", "Deal cycle times", ""),
    ("cycle-times/tasks", "Approval task times by role", ""),
)

FinancePage = Annotated[User, Depends(require_page_role("finance", "admin"))]


@router.get("/finance", response_class=HTMLResponse)
async def finance_dashboard(
    request: Request, user: FinancePage, settings: SettingsDep
) -> HTMLResponse:
    return render(
        request,
        settings,
        "pages/finance.html.j2",
        user=user,
        title="Finance",
        page="finance",
        reports=[{"path": p, "title": t, "group_by": g} for p, t, g in REPORTS],
    )
