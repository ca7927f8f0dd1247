"""The customer's side of a proposal: `/p/<token>`, no account, the signed link is the proof.

Every page here carries a strict Content-Security-Policy, no caching and no referrer: the
token in the address must not leak to another site or into a shared cache.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Form, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.documents import HTML, PDF
from api.deps import SessionFactoryDep, SettingsDep, TemporalDep
from dealdesk.links import LinkExpired, LinkInvalid, ProposalLink, ProposalLinks
from dealdesk.settings import Settings
from store import deals, documents
from store.db import SessionFactory
from templates import environment
from workflows.deal import DealWorkflow, workflow_id
from workflows.messages import AnswerInput, DealStatus

router = APIRouter(prefix="/p", include_in_schema=False)

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
# The proposal document itself may be framed by our own page only, and runs nothing.
_DOCUMENT_HEADERS = _HEADERS | {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "frame-ancestors 'self'; sandbox"
    )
}

# The workflow's refusal types, as what the customer is told and the HTTP status.
_REFUSALS = {
    "superseded": (status.HTTP_410_GONE, "This proposal was replaced by a newer version."),
    "expired": (status.HTTP_410_GONE, "This proposal has expired."),
    "conflict": (status.HTTP_409_CONFLICT, "This proposal can no longer be answered."),
    "invalid": (status.HTTP_422_UNPROCESSABLE_CONTENT, ""),
}
_CLOSED = {
    DealStatus.CLOSED_WON: "This proposal was accepted. Thank you!",
    DealStatus.CLOSED_LOST: "This proposal was declined.",
    DealStatus.EXPIRED: "This proposal has expired.",
    DealStatus.WITHDRAWN: "This proposal was withdrawn.",
}

Text200 = Annotated[str, Form(max_length=200)]


def _message(heading: str, message: str, status_code: int) -> HTMLResponse:
    html = (
        environment()
        .get_template("pages/customer_message.html.j2")
        .render(heading=heading, message=message)
    )
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def _read(settings: Settings, token: str) -> ProposalLink:
    try:
        return ProposalLinks.from_settings(settings).read(token)
    except LinkExpired:
        raise HTTPException(status.HTTP_410_GONE, detail="This proposal has expired.") from None
    except LinkInvalid:
        # Tampered or made up: say nothing about which deal it might have named.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such proposal.") from None


def _page_state(sessions: SessionFactory, link: ProposalLink) -> dict[str, Any]:
    """What the page shows, or an HTTPException when the link may no longer be answered."""
    with sessions() as session:
        deal = deals.get_deal(session, deal_id=link.deal_id)
        if deal is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such proposal.")
        if deal.current_version != link.version:
            raise HTTPException(
                status.HTTP_410_GONE, detail="This proposal was replaced by a newer version."
            )
        closed = _CLOSED.get(DealStatus(deal.status))
        if closed is not None:
            raise HTTPException(status.HTTP_410_GONE, detail=closed)
        if deal.status != DealStatus.SENT:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such proposal.")
        return {"customer": deal.customer_name}


def _page(
    token: str,
    link: ProposalLink,
    settings: Settings,
    state: dict[str, Any],
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    html = (
        environment()
        .get_template("pages/customer_proposal.html.j2")
        .render(
            customer=state["customer"],
            seller=settings.seller_name,
            version=link.version,
            valid_until=link.expires_at.date().isoformat(),
            document_url=f"/p/{token}/document",
            answer_url=f"/p/{token}",
            error=error,
            form={"name": "", "title": "", "email": "", "reason": ""} | (form or {}),
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def _refused(exc: HTTPException) -> HTMLResponse:
    heading = "Proposal not available" if exc.status_code != status.HTTP_410_GONE else "Closed"
    return _message(heading, str(exc.detail), exc.status_code)


@router.get("/{token}", response_class=HTMLResponse)
async def proposal_page(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep
) -> HTMLResponse:
    try:
        link = _read(settings, token)
        state = await run_in_threadpool(_page_state, sessions, link)
    except HTTPException as exc:
        return _refused(exc)
    return _page(token, link, settings, state)


@router.get("/{token}/document", response_class=HTMLResponse)
async def proposal_document(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep
) -> Response:
    return await _document(token, settings, sessions, HTML)


@router.get("/{token}/document.pdf", response_class=Response)
async def proposal_pdf(token: str, settings: SettingsDep, sessions: SessionFactoryDep) -> Response:
    return await _document(token, settings, sessions, PDF)


async def _document(
    token: str, settings: Settings, sessions: SessionFactory, content_type: str
) -> Response:
    def load(link: ProposalLink) -> bytes:
        _page_state(sessions, link)
        with sessions() as session:
            doc = documents.get_document(
                session,
                deal_id=link.deal_id,
                version=link.version,
                kind="proposal",
                content_type=content_type,
            )
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such proposal.")
        return doc.body

    try:
        link = _read(settings, token)
        body = await run_in_threadpool(load, link)
    except HTTPException as exc:
        return _refused(exc)
    headers = _DOCUMENT_HEADERS | {"ETag": f'"{hashlib.sha256(body).hexdigest()}"'}
    if content_type == PDF:
        headers["Content-Disposition"] = f'inline; filename="proposal-v{link.version}.pdf"'
    return Response(body, media_type=content_type, headers=headers)


@router.post("/{token}/accept", response_class=HTMLResponse)
async def accept(
    token: str,
    name: Text200,
    title: Text200,
    email: Annotated[str, Form(max_length=254)],
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    answer = AnswerInput(version=0, accept=True, name=name, title=title, email=email)
    return await _answer(token, answer, settings, sessions, temporal)


@router.post("/{token}/decline", response_class=HTMLResponse)
async def decline(
    token: str,
    reason: Annotated[str, Form(max_length=4000)],
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    answer = AnswerInput(version=0, accept=False, reason=reason)
    return await _answer(token, answer, settings, sessions, temporal)


async def _answer(
    token: str,
    answer: AnswerInput,
    settings: Settings,
    sessions: SessionFactory,
    temporal: Client,
) -> HTMLResponse:
    try:
        link = _read(settings, token)
        state = await run_in_threadpool(_page_state, sessions, link)
    except HTTPException as exc:
        return _refused(exc)
    answer = answer.model_copy(update={"version": link.version})
    if answer.accept and answer.email.strip():
        try:
            validate_email(answer.email, check_deliverability=False)
        except EmailNotValidError as err:
            form = answer.model_dump(include={"name", "title", "email", "reason"})
            return _page(
                token,
                link,
                settings,
                state,
                error=f"Your e-mail address is not valid: {err}",
                form=form,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
    handle = temporal.get_workflow_handle_for(DealWorkflow.run, workflow_id(link.deal_id))
    # The same answer sent twice (a double click, a retry) is one answer; any other answer
    # after it is validated, and refused.
    digest = hashlib.sha256(answer.model_dump_json().encode()).hexdigest()[:32]
    try:
        result = await handle.execute_update(
            DealWorkflow.answer, answer, id=f"answer-{link.version}-{digest}"
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            code, text = _REFUSALS[cause.type]
            if code == status.HTTP_422_UNPROCESSABLE_CONTENT:
                form = answer.model_dump(include={"name", "title", "email", "reason"})
                return _page(
                    token, link, settings, state, error=cause.message, form=form, status_code=code
                )
            return _message("Closed", text, code)
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return _message("Closed", "This proposal can no longer be answered.", 409)
        raise
    if result.status == DealStatus.CLOSED_WON:
        return _message(
            "Thank you",
            f"You accepted the proposal from {settings.seller_name}. "
            "The contract will reach you by e-mail.",
            status.HTTP_200_OK,
        )
    return _message(
        "Thank you for your answer",
        "We recorded that you declined this proposal. Your account team will be in touch.",
        status.HTTP_200_OK,
    )
