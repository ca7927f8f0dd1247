from __future__ import annotations

from fastapi import APIRouter

from api.authorization import CurrentUser
from api.deps import SessionDep
from api.exposure import HiddenFields, redact
from api.pricing_service import preview_approvals, price_current
from api.responses import errors
from api.schemas import QuoteResponse
from pricing import DealInput

router = APIRouter(prefix="/quotes", tags=["quotes"], responses=errors(400, 401, 409, 413))


@router.post("/price", response_model_exclude_unset=True)
def price_quote(
    deal: DealInput, user: CurrentUser, session: SessionDep, hidden: HiddenFields
) -> QuoteResponse:
    """Price a deal and preview its approvals without storing anything or starting a workflow."""
    priced, _ = price_current(session, deal=deal)
    approvals = preview_approvals(session, deal=deal, priced=priced, submitter=user.username)
    quote = {**priced.model_dump(), "approvals": approvals.model_dump() if approvals else None}
    return QuoteResponse.model_validate(redact(quote, hidden))
