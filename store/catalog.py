"""The price book: append-only product revisions; a catalog version is a revision id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from pricing import Product, ProductSpec
from store.tables import ProductRevision


def catalog_version(session: Session) -> int:
    version: int = session.exec(select(func.coalesce(func.max(ProductRevision.id), 0))).one() or 0
    return version


def products_at(session: Session, *, version: int | None = None) -> dict[str, Product]:
    """Every product as it stood at catalog `version` (the newest when None)."""
    latest = select(ProductRevision.sku, func.max(ProductRevision.id).label("rev_id")).group_by(
        col(ProductRevision.sku)
    )
    if version is not None:
        latest = latest.where(col(ProductRevision.id) <= version)
    sub = latest.subquery()
    rows = session.exec(
        select(ProductRevision).join(sub, col(ProductRevision.id) == sub.c.rev_id)
    ).all()
    return {row.sku: Product.model_validate({**row.spec, "sku": row.sku}) for row in rows}


def put_product(
    session: Session, *, sku: str, spec: ProductSpec, actor: str, at: datetime
) -> tuple[Product, int]:
    revision = ProductRevision(
        sku=sku, spec=spec.model_dump(mode="json"), created_by=actor, created_at=at
    )
    session.add(revision)
    session.flush()
    assert revision.id is not None
    return Product.model_validate({**revision.spec, "sku": sku}), revision.id
