"""Rendering and storing a deal version's documents, for the activities in activities.deal.

Figures always come from the version's stored priced result: a document never re-prices, so
the proposal and the contract match what was approved to the cent.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from pricing import DealInput, PricedDeal, billing_schedule
from store import catalog, deals, documents
from store.tables import DealVersion, Document
from templates.documents import (
    Acceptance,
    ApprovalRecord,
    DocumentKind,
    SlaClause,
    contract_context,
    html_to_pdf,
    proposal_context,
    render_document,
)

HTML = "text/html"
PDF = "application/pdf"


def priced_version(
    session: Session, *, deal_id: str, version: int
) -> tuple[DealVersion, DealInput, PricedDeal]:
    row = deals.require_version(session, deal_id=deal_id, version=version)
    if row.priced is None:
        raise ApplicationError("version is not priced", type="not_priced", non_retryable=True)
    return row, DealInput.model_validate(row.input), PricedDeal.model_validate(row.priced)


def approvals_obtained(session: Session, *, deal_id: str, version: int) -> list[ApprovalRecord]:
    """Who approved this version, including approvals carried over from earlier versions."""
    tasks = deals.tasks_for_deal(session, deal_id=deal_id)
    history = deals.history(session, deal_id=deal_id)
    carried = {
        (e.detail.get("stage"), e.detail.get("role"))
        for e in history
        if e.version == version and e.event == "approval_carried_over"
    }
    latest: dict[tuple[int, str], ApprovalRecord] = {}
    for task in tasks:
        if task.status != "approved" or task.decided_at is None:
            continue
        key = (task.stage, task.role)
        if task.version == version or (task.version < version and key in carried):
            record = ApprovalRecord(
                name=task.decided_by or task.assignee, role=task.role, decided_at=task.decided_at
            )
            latest.setdefault(key, record)
            if task.version == version:
                latest[key] = record
    return sorted(latest.values(), key=lambda r: (r.decided_at, r.role))


def render_and_store(
    session: Session,
    *,
    deal_id: str,
    version: int,
    kind: DocumentKind,
    context: dict[str, Any],
    at: datetime,
    pdf: bool,
) -> tuple[Document, Document | None]:
    """Render with the admin's current template (or the shipped one) and store HTML, and PDF
    when asked; returns the stored rows."""
    revision = documents.current_template(session, name=kind)
    source = revision.source if revision is not None else None
    html = render_document(kind, context, source=source)
    bodies = {HTML: html.encode()}
    if pdf:
        # Laid out before the first write: on SQLite a write takes the database's one write
        # lock until commit, and a PDF takes about a second.
        bodies[PDF] = html_to_pdf(html)
    stored = {
        content_type: documents.store_document(
            session,
            deal_id=deal_id,
            version=version,
            kind=kind,
            content_type=content_type,
            body=body,
            sha256=hashlib.sha256(body).hexdigest(),
            at=at,
            template_revision=revision.id if revision is not None and source else None,
        )
        for content_type, body in bodies.items()
    }
    return stored[HTML], stored.get(PDF)


def build_proposal_context(
    session: Session,
    *,
    deal_id: str,
    version: int,
    valid_until: date | None,
    at: datetime,
    seller: str,
) -> dict[str, Any]:
    _, deal, priced = priced_version(session, deal_id=deal_id, version=version)
    return proposal_context(
        deal_id=deal_id,
        version=version,
        deal=deal,
        priced=priced,
        approvals=approvals_obtained(session, deal_id=deal_id, version=version),
        valid_until=valid_until,
        generated_at=at,
        seller=seller,
    )


def build_contract_context(
    session: Session,
    *,
    deal_id: str,
    version: int,
    acceptance: Acceptance,
    at: datetime,
    seller: str,
) -> tuple[dict[str, Any], DealInput, PricedDeal]:
    row, deal, priced = priced_version(session, deal_id=deal_id, version=version)
    # The SLA clauses of the products as they stood in the price book the version was priced on.
    products = catalog.products_at(session, version=row.catalog_version)
    clauses: dict[str, SlaClause] = {}
    for line in deal.lines:
        product = products.get(line.sku) if line.sku else None
        if product is not None and product.sla:
            clauses.setdefault(product.sku, SlaClause(product=product.name, text=product.sla))
    context = contract_context(
        deal_id=deal_id,
        version=version,
        deal=deal,
        priced=priced,
        schedule=billing_schedule(deal, priced),
        approvals=approvals_obtained(session, deal_id=deal_id, version=version),
        acceptance=acceptance,
        sla_clauses=list(clauses.values()),
        generated_at=at,
        seller=seller,
    )
    return context, deal, priced


def render_proposal(
    session: Session,
    *,
    deal_id: str,
    version: int,
    valid_until: date | None,
    at: datetime,
    seller: str,
    pdf: bool,
) -> tuple[Document, Document | None]:
    """The proposal of a version: the rep's preview (no validity date, HTML only) or the one
    the customer receives (with its validity date, HTML and PDF)."""
    context = build_proposal_context(
        session, deal_id=deal_id, version=version, valid_until=valid_until, at=at, seller=seller
    )
    return render_and_store(
        session, deal_id=deal_id, version=version, kind="proposal", context=context, at=at, pdf=pdf
    )
