"""Finance: the reports of GET /api/v1/reports/* as tables, fetched by the page's script."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.authorization import CurrentUser
from api.deps import SettingsDep
from api.pages.common import render

router = APIRouter()

# (path under /api/v1/reports, title, the grouping asked for; "" is the report's own default)
REPORTS = (
    ("margins", "Margins by month", "month"),
    ("discounts", "Discount leakage by rep and product", "rep,product"),
    ("discounts/approvals", "Approvals needed", ""),
    ("discounts/bands", "Discount bands", ""),
    ("bookings", "Bookings by month", "month"),
    ("pipeline", "Pipeline by status", ""),
    ("cycle-times", "Deal cycle times", ""),
    ("cycle-times/tasks", "Approval task times by role", "role"),
)


@router.get("/finance", response_class=HTMLResponse)
async def finance_dashboard(
    request: Request, user: CurrentUser, settings: SettingsDep
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
