"""Document templates the deal desk edits: validated on save, rendered only in the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.authorization import CurrentUser
from api.deps import SessionDep
from api.responses import errors
from store import deals, documents
from store.tables import TemplateRevision
from templates.documents import (
    DOCUMENT_KINDS,
    DocumentKind,
    TemplateInvalid,
    builtin_source,
    render_document,
    sample_context,
    validate_template,
)

router = APIRouter(prefix="/templates", tags=["templates"], responses=errors(400, 401, 403, 413))

# Comfortably above the shipped templates, far below the 1 MB request limit.
MAX_TEMPLATE_CHARS = 200_000

Name = Annotated[DocumentKind, Path(description="proposal or contract")]


class TemplateSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)


class TemplatePublic(BaseModel):
    name: DocumentKind
    # False: the shipped template is in force.
    customized: bool
    revision: int | None
    source: str
    updated_by: str | None
    updated_at: datetime | None


def _public(name: DocumentKind, row: TemplateRevision | None) -> TemplatePublic:
    if row is None or row.source is None:
        return TemplatePublic(
            name=name,
            customized=False,
            revision=row.id if row is not None else None,
            source=builtin_source(name),
            updated_by=row.created_by if row is not None else None,
            updated_at=row.created_at if row is not None else None,
        )
    return TemplatePublic(
        name=name,
        customized=True,
        revision=row.id,
        source=row.source,
        updated_by=row.created_by,
        updated_at=row.created_at,
    )


def _checked(name: DocumentKind, source: str) -> None:
    try:
        validate_template(name, source)
    except TemplateInvalid as err:
        problem: dict[str, object] = {
            "loc": ["body", "source"],
            "msg": err.message,
            "type": "template_invalid",
        }
        if err.line is not None:
            problem["line"] = err.line
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[problem]) from None


@router.get("")
def list_templates(user: CurrentUser, session: SessionDep) -> list[TemplatePublic]:
    return [
        _public(name, documents.current_template(session, name=name)) for name in DOCUMENT_KINDS
    ]


@router.get("/{name}")
def get_template(name: Name, user: CurrentUser, session: SessionDep) -> TemplatePublic:
    return _public(name, documents.current_template(session, name=name))


@router.put("/{name}")
def put_template(
    name: Name, body: TemplateSource, user: CurrentUser, session: SessionDep
) -> TemplatePublic:
    """Replace the template. Refused (422, with the line) when it does not parse, reads a
    field the deal does not have, or reaches outside the sandbox."""
    _checked(name, body.source)
    return _save(session, name, body.source, user.username)


@router.delete("/{name}")
def reset_template(name: Name, user: CurrentUser, session: SessionDep) -> TemplatePublic:
    """Go back to the shipped template (kept as a revision, so the history shows it)."""
    return _save(session, name, None, user.username)


@router.post("/{name}/preview", response_class=HTMLResponse)
def preview_template(name: Name, body: TemplateSource, user: CurrentUser) -> HTMLResponse:
    """Render a draft against a sample deal, without saving it."""
    _checked(name, body.source)
    html = render_document(name, sample_context(name), source=body.source)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; sandbox"
        },
    )


def _save(
    session: SessionDep, name: DocumentKind, source: str | None, actor: str
) -> TemplatePublic:
    now = datetime.now(UTC)
    row = documents.save_template(session, name=name, source=source, actor=actor, at=now)
    assert row.id is not None
    deals.append_audit(
        session,
        subject_type="template",
        deal_id=name,
        key=f"revision:{row.id}",
        version=row.id,
        event="template_saved" if source is not None else "template_reset",
        actor=actor,
        at=now,
    )
    session.commit()
    return _public(name, row)
