from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.documents import HTML, PDF
from api.access import sees_all_deals, visible_deal
from api.authorization import CurrentUser
from api.deps import PageLimit, PageOffset, SessionDep, SessionFactoryDep, SettingsDep, TemporalDep
from api.exposure import HiddenFields, exposed, redact
from api.idempotency import IdempotencyKey
from api.pricing_service import price_current
from api.responses import errors
from api.schemas import (
    ApprovalPlanView,
    AuditEntry,
    DealCreated,
    DealDetail,
    DealSummary,
    PricedFigures,
    ProposalLinkResponse,
    SendRequest,
    SendResponse,
    TaskPublic,
    WithdrawRequest,
)
from api.workflow_calls import body_hash, send_update, sla_override
from dealdesk.links import ProposalLinks
from pricing import DealInput
from store import deals, documents
from store.db import SessionFactory
from store.deals import ListedTotals
from store.tables import Deal, User
from templates.documents import html_to_pdf
from workflows.deal import DealWorkflow, workflow_id
from workflows.messages import (
    ChangeResult,
    DealStatus,
    DealWorkflowInput,
    ReviseInput,
    SendInput,
    SubmitCheck,
    WithdrawInput,
)

router = APIRouter(prefix="/deals", tags=["deals"], responses=errors(400, 401, 403, 404, 409, 413))

# Deal ids derived from an Idempotency-Key live in their own namespace.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("0b8cf7a4-8d0e-4d6f-9a57-4c0e8c9a3e11")


@router.post("", status_code=status.HTTP_201_CREATED)
async def submit_deal(
    deal: DealInput,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    idempotency_key: IdempotencyKey,
) -> DealCreated:
    """Store version 1 of a deal and start its workflow; answers once the deal is recorded."""
    catalog_version = await _validated_catalog_version(sessions, deal)
    request_hash = body_hash(deal)
    if idempotency_key is not None:
        deal_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{user.username}\n{idempotency_key}"))
    else:
        deal_id = str(uuid.uuid4())
    start = WithStartWorkflowOperation(
        DealWorkflow.run,
        DealWorkflowInput(
            deal_id=deal_id,
            owner=user.username,
            deal=deal,
            catalog_version=catalog_version,
            submitted_at=datetime.now(UTC),
            request_hash=request_hash,
            revision_window=settings.revision_window,
            sla_override=sla_override(settings),
            proposal_validity=settings.proposal_validity,
        ),
        id=workflow_id(deal_id),
        task_queue=settings.temporal_task_queue,
        # A retry with the same key joins the running workflow instead of starting another;
        # a finished one is never started again under the same deal id.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        result = await send_update(
            temporal.execute_update_with_start_workflow(
                DealWorkflow.submitted,
                SubmitCheck(request_hash=request_hash),
                start_workflow_operation=start,
                # Temporal answers a repeated update id from its first result without
                # validating, so the id carries the body's hash: another body under the same
                # key is validated (and refused), the same body gets the first answer.
                id=f"submit-{request_hash}",
            )
        )
    except (WorkflowAlreadyStartedError, RPCError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        # The workflow for this key has already finished: answer from the read model.
        return await run_in_threadpool(_replay, sessions, deal_id, user.username, request_hash)
    return DealCreated(id=result.deal_id, version=result.version, status=result.status)


async def _validated_catalog_version(sessions: SessionFactory, deal: DealInput) -> int:
    """Price now to refuse bad input (unknown SKU, negative net) with a 422 before anything
    is stored or sent; the workflow re-prices on the same catalog version."""

    def validate() -> int:
        with sessions() as session:
            return price_current(session, deal=deal)[1]

    return await run_in_threadpool(validate)


def _replay(sessions: SessionFactory, deal_id: str, owner: str, request_hash: str) -> DealCreated:
    with sessions() as session:
        deal = deals.get_deal(session, deal_id=deal_id)
    if deal is None or deal.owner != owner:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this Idempotency-Key is in use")
    if deal.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="this Idempotency-Key was already used with a different request body",
        )
    return DealCreated(id=deal.id, version=1, status=DealStatus(deal.status))


async def _current(sessions: SessionFactory, deal_id: str) -> Deal:
    """The deal a DEAL_OWNER route acts on (the authorization gate has checked ownership)."""

    def load() -> Deal | None:
        with sessions() as session:
            return deals.get_deal(session, deal_id=deal_id)

    deal = await run_in_threadpool(load)
    if deal is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="deal not found")
    return deal


@router.put("/{deal_id}")
async def revise_deal(
    deal_id: str,
    deal: DealInput,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    temporal: TemporalDep,
) -> ChangeResult:
    """Store a new version: it is re-priced and re-routed; approvals it still meets are kept."""
    current = await _current(sessions, deal_id)
    catalog_version = await _validated_catalog_version(sessions, deal)
    request_hash = body_hash(deal)
    handle = temporal.get_workflow_handle_for(DealWorkflow.run, workflow_id(deal_id))
    return await send_update(
        handle.execute_update(
            DealWorkflow.revise,
            ReviseInput(
                actor=user.username,
                deal=deal,
                catalog_version=catalog_version,
                request_hash=request_hash,
            ),
            # The same body sent again on the same version is one revision, not two.
            id=f"revise-{current.current_version}-{request_hash}",
        )
    )


@router.post("/{deal_id}/withdraw")
async def withdraw_deal(
    deal_id: str,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    temporal: TemporalDep,
    _key: IdempotencyKey,
    body: WithdrawRequest | None = None,
) -> ChangeResult:
    await _current(sessions, deal_id)
    handle = temporal.get_workflow_handle_for(DealWorkflow.run, workflow_id(deal_id))
    return await send_update(
        handle.execute_update(
            DealWorkflow.withdraw,
            WithdrawInput(actor=user.username, reason=body.reason if body else ""),
            id="withdraw",
        )
    )


@router.get("", response_model_exclude_unset=True)
def list_deals(
    user: CurrentUser,
    session: SessionDep,
    hidden: HiddenFields,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    statuses: Annotated[
        list[DealStatus] | None,
        Query(
            alias="status",
            max_length=len(DealStatus),
            description="only deals in these statuses (repeatable)",
        ),
    ] = None,
) -> list[DealSummary]:
    """The caller's own deals, newest first; finance and admins see every deal."""
    owner = None if sees_all_deals(user) else user.username
    rows = deals.list_deals(
        session,
        owner=owner,
        statuses=[s.value for s in statuses] if statuses else None,
        limit=limit,
        offset=offset,
    )
    return [
        exposed(DealSummary, DealSummary.from_rows(deal, totals), hidden) for deal, totals in rows
    ]


@router.get("/{deal_id}", response_model_exclude_unset=True)
def get_deal(
    deal_id: str, user: CurrentUser, session: SessionDep, hidden: HiddenFields
) -> DealDetail:
    deal = visible_deal(session, user=user, deal_id=deal_id)
    version = deals.require_version(session, deal_id=deal.id, version=deal.current_version)
    summary = DealSummary.from_rows(deal, ListedTotals.of(version))
    detail = DealDetail(
        **summary.model_dump(),
        input=DealInput.model_validate(version.input),
        catalog_version=version.catalog_version,
        policy_version=version.policy_version,
        priced=PricedFigures.model_validate(version.priced) if version.priced else None,
        approvals=ApprovalPlanView.model_validate(version.plan) if version.plan else None,
        tasks=[TaskPublic.from_row(t) for t in deals.tasks_for_deal(session, deal_id=deal.id)],
    )
    return exposed(DealDetail, detail, hidden)


@router.get("/{deal_id}/history")
def get_history(
    deal_id: str, user: CurrentUser, session: SessionDep, hidden: HiddenFields
) -> list[AuditEntry]:
    deal = visible_deal(session, user=user, deal_id=deal_id)
    return [
        AuditEntry(
            event=e.event,
            version=e.version,
            actor=e.actor,
            at=e.at,
            detail=redact(e.detail, hidden),
        )
        for e in deals.history(session, deal_id=deal.id)
    ]


@router.post("/{deal_id}/send")
async def send_proposal(
    deal_id: str,
    body: SendRequest,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    _key: IdempotencyKey,
) -> SendResponse:
    """Send an approved deal's proposal to the customer; its validity starts now."""
    current = await _current(sessions, deal_id)
    handle = temporal.get_workflow_handle_for(DealWorkflow.run, workflow_id(deal_id))
    result = await send_update(
        handle.execute_update(
            DealWorkflow.send,
            SendInput(actor=user.username, to=str(body.to), message=body.message),
            id=f"send-{current.current_version}",
        )
    )
    return SendResponse(
        deal_id=result.deal_id,
        version=result.version,
        status=result.status,
        valid_until=result.valid_until,
        link=ProposalLinks.from_settings(settings).url(
            deal_id=result.deal_id, version=result.version, expires_at=result.valid_until
        ),
    )


@router.get("/{deal_id}/proposal/link")
def get_proposal_link(
    deal_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProposalLinkResponse:
    """The customer's acceptance link of the sent proposal (the owner's, to share again)."""
    deal = visible_deal(session, user=user, deal_id=deal_id)
    sent = deals.last_event(session, deal_id=deal.id, event="proposal_sent")
    if deal.status != DealStatus.SENT or sent is None or sent.version != deal.current_version:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this deal has no proposal out")
    valid_until = datetime.fromisoformat(sent.detail["valid_until"])
    return ProposalLinkResponse(
        version=sent.version,
        valid_until=valid_until,
        link=ProposalLinks.from_settings(settings).url(
            deal_id=deal.id, version=sent.version, expires_at=valid_until
        ),
    )


_DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}, "application/pdf": {}}},
    404: {"description": "no such document yet"},
    406: {"description": "neither HTML nor PDF is acceptable"},
}


@router.get("/{deal_id}/proposal", response_class=Response, responses=_DOCUMENT_RESPONSES)
async def get_proposal(
    deal_id: str,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    accept: Annotated[str, Header()] = "text/html",
    format: Annotated[Literal["html", "pdf"] | None, Query()] = None,
) -> Response:
    """The current version's proposal, as HTML or PDF (`Accept` or `format=`)."""
    return await _document(sessions, user, deal_id, "proposal", _wanted(accept, format))


@router.get("/{deal_id}/contract", response_class=Response, responses=_DOCUMENT_RESPONSES)
async def get_contract(
    deal_id: str,
    user: CurrentUser,
    sessions: SessionFactoryDep,
    accept: Annotated[str, Header()] = "text/html",
    format: Annotated[Literal["html", "pdf"] | None, Query()] = None,
) -> Response:
    """The signed contract of a won deal, as HTML or PDF."""
    return await _document(sessions, user, deal_id, "contract", _wanted(accept, format))


def _wanted(accept: str, format: str | None) -> str:
    if format is not None:
        return PDF if format == "pdf" else HTML
    media = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for candidate in media:
        if candidate == PDF:
            return PDF
        if candidate in (HTML, "text/*", "*/*", "application/xhtml+xml"):
            return HTML
    raise HTTPException(
        status.HTTP_406_NOT_ACCEPTABLE,
        detail="documents are served as text/html or application/pdf",
    )


async def _document(
    sessions: SessionFactory, user: User, deal_id: str, kind: str, content_type: str
) -> Response:
    def load() -> tuple[bytes, str, int] | None:
        with sessions() as session:
            deal = visible_deal(session, user=user, deal_id=deal_id)
            doc = documents.latest_document(
                session, deal_id=deal.id, kind=kind, content_type=content_type
            )
            if doc is not None:
                return doc.body, doc.sha256, doc.version
            if content_type != PDF:
                return None
            # A proposal not sent yet has no stored PDF: lay out the stored HTML now.
            html = documents.latest_document(session, deal_id=deal.id, kind=kind)
            if html is None:
                return None
        pdf = html_to_pdf(html.body.decode())
        return pdf, hashlib.sha256(pdf).hexdigest(), html.version

    found = await run_in_threadpool(load)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"this deal has no {kind} yet")
    body, sha256, version = found
    return Response(
        body,
        media_type=content_type,
        headers={
            "ETag": f'"{sha256}"',
            "X-Deal-Version": str(version),
            "Content-Disposition": f'inline; filename="{kind}-{deal_id}-v{version}'
            + (".pdf" if content_type == PDF else ".html")
            + '"',
            # Documents are the customer's prices: never in a shared cache.
            "Cache-Control": "private, no-store",
        },
    )
