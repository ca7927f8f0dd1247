"""The rep's pages: my deals, a deal, the new-deal and revise form (finance and admins read all)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from activities.documents import HTML
from api.access import sees_all_deals, visible_deal
from api.authorization import CurrentUser
from api.deps import SessionFactoryDep, SettingsDep
from api.pages.common import ROLE_LABELS, PageError, render
from api.schemas import DealSummary
from store import catalog, deals, documents
from store.db import SessionFactory
from store.tables import Deal, User
from workflows.messages import FINAL_STATUSES, DealStatus

router = APIRouter()

# The proposal as the rep reads it: framed by our own page only, and it runs nothing.
DOCUMENT_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "frame-ancestors 'self'; sandbox"
    ),
}

# Statuses in which the owner may still revise or withdraw the deal.
OPEN_STATUSES = frozenset(DealStatus) - FINAL_STATUSES


def _age(since: datetime, now: datetime) -> str:
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _deal_rows(sessions: SessionFactory, user: User) -> list[dict[str, Any]]:
    owner = None if sees_all_deals(user) else user.username
    now = datetime.now(UTC)
    with sessions() as session:
        rows = deals.list_deals(session, owner=owner, limit=200, offset=0)
        # One query for every listed deal's open tasks, not one per deal.
        waiting_on: dict[str, set[str]] = defaultdict(set)
        for t in deals.open_tasks_of(session, deal_ids=[deal.id for deal, _ in rows]):
            waiting_on[t.deal_id].add(f"{t.assignee} ({ROLE_LABELS.get(t.role, t.role)})")
        out = []
        for deal, totals in rows:
            summary = DealSummary.from_rows(deal, totals)
            waiting = sorted(waiting_on[deal.id])
            out.append(
                {
                    "id": deal.id,
                    "customer": deal.customer_name,
                    "owner": deal.owner,
                    "status": deal.status,
                    "version": deal.current_version,
                    "currency": deal.currency,
                    "acv": summary.acv,
                    "margin": summary.gross_margin_pct,
                    "age": _age(deal.created_at, now),
                    "waiting": ", ".join(waiting),
                }
            )
    return out


@router.get("/deals", response_class=HTMLResponse)
async def my_deals(
    request: Request, user: CurrentUser, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    rows = await run_in_threadpool(_deal_rows, sessions, user)
    return render(
        request,
        settings,
        "pages/deals.html.j2",
        user=user,
        title="All deals" if sees_all_deals(user) else "My deals",
        page="deals",
        rows=rows,
        all_deals=sees_all_deals(user),
        is_rep="rep" in user.roles,
    )


def _products(sessions: SessionFactory) -> list[dict[str, Any]]:
    with sessions() as session:
        products = catalog.products_at(session)
    return [
        {"sku": p.sku, "name": p.name, "currency": p.currency}
        for p in sorted(products.values(), key=lambda p: p.sku)
        if p.active
    ]


_BLANK_DEAL: dict[str, Any] = {
    "currency": "USD",
    "term_months": 12,
    "start_date": "",
    "billing_frequency": "annual",
    "payment_terms_days": 30,
    "customer": {
        "name": "",
        "segment": "mid_market",
        "region": "NA",
        "new_customer": False,
        "credit_rating": "A",
    },
    "header_discount_pct": "0",
    "nonstandard_terms": [],
    "competitor": None,
    "lines": [{"sku": "PLAT-SEAT", "quantity": "10"}],
}


@router.get("/deals/new", response_class=HTMLResponse)
async def new_deal(
    request: Request, user: CurrentUser, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    products = await run_in_threadpool(_products, sessions)
    return _form(request, settings, user, products, deal_id=None, version=None, data=_BLANK_DEAL)


def _form(
    request: Request,
    settings: Any,
    user: User,
    products: list[dict[str, Any]],
    *,
    deal_id: str | None,
    version: int | None,
    data: dict[str, Any],
) -> HTMLResponse:
    return render(
        request,
        settings,
        "pages/deal_form.html.j2",
        user=user,
        title="Revise deal" if deal_id else "New deal",
        page="deal-form",
        deal_id=deal_id or "",
        version=version or 0,
        form_data={"deal": data, "products": products},
    )


def _load_deal(sessions: SessionFactory, user: User, deal_id: str) -> Deal:
    with sessions() as session:
        try:
            return visible_deal(session, user=user, deal_id=deal_id)
        except HTTPException:
            raise PageError(
                status.HTTP_404_NOT_FOUND, "Not found", "There is no such deal."
            ) from None


@router.get("/deals/{deal_id}/edit", response_class=HTMLResponse)
async def edit_deal(
    deal_id: str,
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
) -> HTMLResponse:
    def load() -> tuple[Deal, dict[str, Any]]:
        # The authorization gate lets only the deal's owner through.
        deal = _load_deal(sessions, user, deal_id)
        with sessions() as session:
            version = deals.require_version(session, deal_id=deal.id, version=deal.current_version)
        return deal, dict(version.input)

    deal, data = await run_in_threadpool(load)
    products = await run_in_threadpool(_products, sessions)
    return _form(
        request,
        settings,
        user,
        products,
        deal_id=deal.id,
        version=deal.current_version,
        data=data,
    )


def _timeline(events: Any) -> list[dict[str, Any]]:
    out = []
    for e in events:
        detail = e.detail or {}
        bits = []
        for key in ("decision", "status", "role", "assignee", "to", "reason", "comment"):
            value = detail.get(key)
            if value not in (None, "", [], {}):
                bits.append(f"{key}: {value}")
        out.append(
            {
                "event": e.event.replace("_", " "),
                "version": e.version,
                "actor": e.actor,
                "at": e.at,
                "detail": "; ".join(bits),
            }
        )
    return out


def _detail(sessions: SessionFactory, user: User, deal_id: str) -> dict[str, Any]:
    deal = _load_deal(sessions, user, deal_id)
    with sessions() as session:
        version = deals.require_version(session, deal_id=deal.id, version=deal.current_version)
        tasks = deals.tasks_for_deal(session, deal_id=deal.id)
        events = deals.history(session, deal_id=deal.id)
        proposal = documents.latest_document(
            session, deal_id=deal.id, kind="proposal", content_type=HTML
        )
        contract = documents.latest_document(
            session, deal_id=deal.id, kind="contract", content_type=HTML
        )
        sent = deals.last_event(session, deal_id=deal.id, event="proposal_sent")
        priced = version.priced or {}
        plan = version.plan or {}
        return {
            "deal": {
                "id": deal.id,
                "customer": deal.customer_name,
                "owner": deal.owner,
                "status": deal.status,
                "status_reason": deal.status_reason or "",
                "version": deal.current_version,
                "currency": deal.currency,
                "created_at": deal.created_at,
            },
            "totals": priced.get("totals") or {},
            "lines": priced.get("lines") or [],
            "input": version.input,
            "risk": (plan.get("risk") or {}),
            "stages": plan.get("stages") or [],
            "violations": plan.get("violations") or [],
            "tasks": [
                {
                    "role": ROLE_LABELS.get(t.role, t.role),
                    "assignee": t.assignee,
                    "status": t.status.replace("_", " "),
                    "version": t.version,
                    "stage": t.stage,
                    "due_at": t.due_at,
                    "decided_at": t.decided_at,
                    "comment": t.comment or "",
                }
                for t in tasks
            ],
            "timeline": _timeline(events),
            "has_proposal": proposal is not None and proposal.version == deal.current_version,
            "has_contract": contract is not None,
            "sent_to": (sent.detail or {}).get("to", "")
            if sent and sent.version == deal.current_version
            else "",
        }


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
async def deal_page(
    deal_id: str,
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
) -> HTMLResponse:
    context = await run_in_threadpool(_detail, sessions, user, deal_id)
    deal = context["deal"]
    is_owner = deal["owner"] == user.username and "rep" in user.roles
    return render(
        request,
        settings,
        "pages/deal.html.j2",
        user=user,
        title=f"{deal['customer']} · deal",
        page="deal",
        is_owner=is_owner,
        can_change=is_owner and deal["status"] in OPEN_STATUSES,
        can_send=is_owner and deal["status"] in (DealStatus.APPROVED, DealStatus.SENT),
        role_labels=ROLE_LABELS,
        **context,
    )


@router.get("/deals/{deal_id}/document/{kind}", response_class=Response)
async def deal_document(
    deal_id: str, kind: str, user: CurrentUser, sessions: SessionFactoryDep
) -> Response:
    """The proposal or contract for the deal page's frame, under a CSP that runs nothing."""
    if kind not in ("proposal", "contract"):
        raise PageError(status.HTTP_404_NOT_FOUND, "Not found", "There is no such document.")

    def load() -> bytes | None:
        deal = _load_deal(sessions, user, deal_id)
        with sessions() as session:
            doc = documents.latest_document(session, deal_id=deal.id, kind=kind, content_type=HTML)
        return doc.body if doc is not None else None

    body = await run_in_threadpool(load)
    if body is None:
        raise PageError(status.HTTP_404_NOT_FOUND, "Not found", f"This deal has no {kind} yet.")
    return Response(body, media_type=HTML, headers=DOCUMENT_HEADERS)
