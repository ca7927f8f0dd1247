"""Admin pages: the policy (validate, dry run, save), document templates (preview), the catalog,
users and delegation windows.

Saving goes through the JSON API (PUT /api/v1/policies, /templates/{name}, /catalog/...,
/users, /delegations), so the pages add no second way to change anything; only the dry run is
a page route of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.authorization import CurrentUser
from api.deps import SessionFactoryDep, SettingsDep
from api.pages.common import ROLE_LABELS, render
from api.pricing_service import price_current
from api.routers.policies import MAX_POLICY_BYTES
from api.routers.users import AppRole
from policies import ApprovalPlan, NoApproverError, Policy, PolicyError, evaluate, load_policy
from policies.errors import PolicyEvaluationError
from pricing import DealInput
from store import catalog, deals, documents, policy_versions, routing, users
from store.db import SessionFactory
from templates.documents import DOCUMENT_KINDS, DocumentKind, builtin_source

router = APIRouter(prefix="/admin")


def _recent_deals(sessions: SessionFactory) -> list[dict[str, str]]:
    with sessions() as session:
        rows = deals.list_deals(session, owner=None, limit=30, offset=0)
    return [
        {"id": d.id, "label": f"{d.customer_name} v{d.current_version} ({d.status}, {d.owner})"}
        for d, _ in rows
    ]


def _active_document(sessions: SessionFactory) -> tuple[int, str]:
    with sessions() as session:
        stored = policy_versions.active_policy(session)
    if stored is None:
        return 0, ""
    return stored.version, stored.document


@router.get("/policy", response_class=HTMLResponse)
async def policy_page(
    request: Request, user: CurrentUser, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    version, document = await run_in_threadpool(_active_document, sessions)
    recent = await run_in_threadpool(_recent_deals, sessions)
    return render(
        request,
        settings,
        "pages/admin_policy.html.j2",
        user=user,
        title="Policy",
        page="admin-policy",
        version=version,
        document=document,
        recent=recent,
    )


class DryRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: str = Field(min_length=1, max_length=MAX_POLICY_BYTES)
    deal_id: str = Field(min_length=1, max_length=64)


def _plan_summary(plan: ApprovalPlan) -> dict[str, Any]:
    return {
        "standard_offer": plan.standard_offer,
        "risk": plan.risk.score,
        "stages": [
            {
                "stage": s.stage,
                "role": ROLE_LABELS.get(s.role, s.role),
                "approvers": [a.username for a in s.approvers],
                "reasons": [r.text for r in s.reasons],
            }
            for s in plan.stages
        ],
        "violations": [v.text for v in plan.violations],
    }


def _dry_run(sessions: SessionFactory, body: DryRunRequest, draft: Policy) -> dict[str, Any]:
    now = datetime.now(UTC)
    with sessions() as session:
        deal = deals.get_deal(session, deal_id=body.deal_id)
        if deal is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="deal not found")
        version = deals.require_version(session, deal_id=deal.id, version=deal.current_version)
        deal_input = DealInput.model_validate(version.input)
        priced, _ = price_current(session, deal=deal_input)
        directory = routing.directory_at(session, at=now)
        active = routing.active_policy(session)

        def plan(policy: Policy) -> dict[str, Any]:
            try:
                return _plan_summary(
                    evaluate(
                        deal=deal_input,
                        priced=priced,
                        policy=policy,
                        directory=directory,
                        submitter=deal.owner,
                        at=now,
                    )
                )
            except (PolicyEvaluationError, NoApproverError) as err:
                return {"error": str(err)}

        return {
            "valid": True,
            "deal": f"{deal.customer_name} v{deal.current_version}",
            "draft": plan(draft),
            "active": plan(active[1]) if active else None,
        }


@router.post("/policy/dry-run")
async def policy_dry_run(
    body: DryRunRequest, user: CurrentUser, sessions: SessionFactoryDep
) -> dict[str, Any]:
    """Route a recent deal through the draft (and the active policy, to compare); saves nothing."""
    try:
        draft = load_policy(body.document)
    except PolicyError as err:
        return {
            "valid": False,
            "errors": [
                {"msg": str(issue), "rule_id": issue.rule_id, "line": issue.line}
                for issue in err.errors
            ],
        }
    return await run_in_threadpool(_dry_run, sessions, body, draft)


def _template_state(sessions: SessionFactory, name: DocumentKind) -> dict[str, Any]:
    with sessions() as session:
        row = documents.current_template(session, name=name)
    customized = row is not None and row.source is not None
    return {
        "name": name,
        "customized": customized,
        "source": row.source
        if row is not None and row.source is not None
        else builtin_source(name),
        "updated_by": row.created_by if row is not None else "",
    }


@router.get("/templates", response_class=HTMLResponse)
async def templates_page(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    name: Annotated[DocumentKind, Query()] = "proposal",
) -> HTMLResponse:
    state = await run_in_threadpool(_template_state, sessions, name)
    return render(
        request,
        settings,
        "pages/admin_templates.html.j2",
        user=user,
        title="Templates",
        page="admin-templates",
        names=list(DOCUMENT_KINDS),
        **state,
    )


def _products(sessions: SessionFactory) -> list[dict[str, Any]]:
    with sessions() as session:
        products = catalog.products_at(session)
    return [
        {
            "sku": p.sku,
            "name": p.name,
            "active": p.active,
            "currency": p.currency,
            "charges": ", ".join(c.type for c in p.charges),
            "spec": p.model_dump_json(exclude={"sku"}, indent=2),
        }
        for p in sorted(products.values(), key=lambda p: p.sku)
    ]


@router.get("/catalog", response_class=HTMLResponse)
async def catalog_page(
    request: Request, user: CurrentUser, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    products = await run_in_threadpool(_products, sessions)
    return render(
        request,
        settings,
        "pages/admin_catalog.html.j2",
        user=user,
        title="Catalog",
        page="admin-catalog",
        products=products,
    )


def _people(sessions: SessionFactory) -> dict[str, Any]:
    now = datetime.now(UTC)
    with sessions() as session:
        people = users.list_users(session)
        windows = sorted(users.list_delegations(session), key=lambda d: d.starts_at, reverse=True)
    return {
        "people": [
            {
                "username": u.username,
                "full_name": u.full_name,
                "email": u.email,
                "roles": list(u.roles),
                "approval_roles": ", ".join(u.approval_roles),
                "manager": u.manager or "",
                "active": u.active,
            }
            for u in people
        ],
        "approvers": [u.username for u in people if u.active and "approver" in u.roles],
        "delegations": [
            {
                "id": d.id,
                "delegator": d.delegator,
                "delegate": d.delegate,
                "starts_at": d.starts_at,
                "ends_at": d.ends_at,
                "state": "ended"
                if d.ends_at <= now
                else ("open" if d.starts_at <= now else "upcoming"),
            }
            for d in windows
        ],
    }


@router.get("/users", response_class=HTMLResponse)
async def users_page(
    request: Request, user: CurrentUser, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    context = await run_in_threadpool(_people, sessions)
    return render(
        request,
        settings,
        "pages/admin_users.html.j2",
        user=user,
        title="Users and delegations",
        page="admin-users",
        app_roles=list(get_args(AppRole)),
        **context,
    )
