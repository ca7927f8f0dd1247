"""Rendered documents (proposals, contracts) and the admin's template revisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from store.tables import Document, TemplateRevision


def store_document(
    session: Session,
    *,
    deal_id: str,
    version: int,
    kind: str,
    content_type: str,
    body: bytes,
    sha256: str,
    at: datetime,
    template_revision: int | None = None,
) -> Document:
    """Insert, or replace the same version's earlier rendering (the draft proposal of an
    approved version is replaced by the one sent, which carries the validity date)."""
    existing = session.exec(
        select(Document).where(
            Document.deal_id == deal_id,
            Document.version == version,
            Document.kind == kind,
            Document.content_type == content_type,
        )
    ).first()
    if existing is not None:
        if existing.sha256 != sha256:
            existing.body = body
            existing.sha256 = sha256
            existing.template_revision = template_revision
            existing.created_at = at
            session.add(existing)
            session.flush()
        return existing
    doc = Document(
        deal_id=deal_id,
        version=version,
        kind=kind,
        content_type=content_type,
        body=body,
        sha256=sha256,
        template_revision=template_revision,
        created_at=at,
    )
    session.add(doc)
    session.flush()
    return doc


def get_document(
    session: Session, *, deal_id: str, version: int, kind: str, content_type: str
) -> Document | None:
    return session.exec(
        select(Document).where(
            Document.deal_id == deal_id,
            Document.version == version,
            Document.kind == kind,
            Document.content_type == content_type,
        )
    ).first()


def latest_document(
    session: Session, *, deal_id: str, kind: str, content_type: str = "text/html"
) -> Document | None:
    return session.exec(
        select(Document)
        .where(
            Document.deal_id == deal_id,
            Document.kind == kind,
            Document.content_type == content_type,
        )
        .order_by(col(Document.version).desc())
    ).first()


def supersede_before(session: Session, *, deal_id: str, version: int) -> int:
    """Mark every document of earlier versions superseded; returns how many changed."""
    result = session.execute(
        update(Document)
        .where(
            col(Document.deal_id) == deal_id,
            col(Document.version) < version,
            col(Document.superseded).is_(False),
        )
        .values(superseded=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def current_template(session: Session, *, name: str) -> TemplateRevision | None:
    """The revision in force, or None when the shipped template was never replaced."""
    return session.exec(
        select(TemplateRevision)
        .where(TemplateRevision.name == name)
        .order_by(col(TemplateRevision.id).desc())
    ).first()


def template_history(session: Session, *, name: str) -> Sequence[TemplateRevision]:
    return session.exec(
        select(TemplateRevision)
        .where(TemplateRevision.name == name)
        .order_by(col(TemplateRevision.id).desc())
    ).all()


def save_template(
    session: Session, *, name: str, source: str | None, actor: str, at: datetime
) -> TemplateRevision:
    row = TemplateRevision(name=name, source=source, created_by=actor, created_at=at)
    session.add(row)
    session.flush()
    return row
