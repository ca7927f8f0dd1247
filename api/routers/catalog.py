from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from api.authorization import CurrentUser
from api.deps import SessionDep
from api.exposure import HiddenFields, exposed
from api.responses import errors
from pricing import Product, ProductSpec
from store import catalog, deals

router = APIRouter(prefix="/catalog", tags=["catalog"], responses=errors(400, 401, 403, 413))

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get("/products", response_model_exclude_unset=True)
def list_products(user: CurrentUser, session: SessionDep, hidden: HiddenFields) -> list[Product]:
    products = sorted(catalog.products_at(session).values(), key=lambda p: p.sku)
    return [exposed(Product, product, hidden) for product in products]


@router.put("/products/{sku}")
def put_product(sku: SkuPath, spec: ProductSpec, user: CurrentUser, session: SessionDep) -> Product:
    """Create or replace a product. Deals already submitted keep the price they were given."""
    now = datetime.now(UTC)
    # The request's session has already read the user; the revision and its audit row
    # commit together (the session rolls back if anything here raises).
    product, revision = catalog.put_product(
        session, sku=sku, spec=spec, actor=user.username, at=now
    )
    deals.append_audit(
        session,
        subject_type="product",
        deal_id=sku,
        key=f"revision:{revision}",
        version=revision,
        event="product_saved",
        actor=user.username,
        at=now,
        detail=spec.model_dump(mode="json"),
    )
    session.commit()
    return product
