"""Pricing (and the approvals preview) of a deal that is not stored: quotes and submissions."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import HTTPException, status
from sqlmodel import Session

from api.errors import pricing_error_to_http
from policies import ApprovalPlan, NoApproverError, PolicyEvaluationError, evaluate
from pricing import DealInput, PricedDeal, PricingError, price_deal
from store import catalog, routing


def price_current(session: Session, *, deal: DealInput) -> tuple[PricedDeal, int]:
    """Price against the catalog in force now; the version is what the deal will record."""
    version = catalog.catalog_version(session)
    products = catalog.products_at(session, version=version)
    try:
        return price_deal(deal, products), version
    except PricingError as err:
        raise pricing_error_to_http(err) from err


def preview_approvals(
    session: Session, *, deal: DealInput, priced: PricedDeal, submitter: str
) -> ApprovalPlan | None:
    active = routing.active_policy(session)
    if active is None:
        return None
    now = datetime.now(UTC)
    try:
        return evaluate(
            deal=deal,
            priced=priced,
            policy=active[1],
            directory=routing.directory_at(session, at=now),
            submitter=submitter,
            at=now,
        )
    except PolicyEvaluationError as err:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body"], "msg": str(err), "type": "policy_rule_failed"}],
        ) from err
    except NoApproverError as err:
        # Not an outage (a 503 says "retry", and nothing would change): nobody but the caller
        # may approve this deal, as when the deal desk's only admin prices one of their own.
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(err)) from err
