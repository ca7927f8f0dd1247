"""What pricing returns: the contract's figures per line and for the deal, rounded for reporting.

Amounts are ``Decimal`` rounded half-up to the currency's minor unit and percentages to two
places; pydantic writes both as JSON strings, which is what the contract promises. The exact,
unrounded values live in ``pricing.engine.ExactFigures``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from pricing.strategies import ChargeModel


class PricingResult(BaseModel):
    model_config = ConfigDict(frozen=True)


class Figures(PricingResult):
    one_time: Decimal
    mrr: Decimal
    arr: Decimal
    recurring_tcv: Decimal
    usage_committed_tcv: Decimal
    usage_estimated_tcv: Decimal
    tcv: Decimal
    tcv_estimated: Decimal
    acv: Decimal
    list_tcv_estimated: Decimal
    discount_amount: Decimal
    discount_pct: Decimal
    cost_tcv_estimated: Decimal
    gross_margin: Decimal
    gross_margin_pct: Decimal | None


class TierAmount(PricingResult):
    """One tier's share of a typical month's usage, at list price."""

    tier: int  # 0-based, as in the charge's tiers list
    from_units: Decimal  # exclusive
    up_to: Decimal | None  # inclusive; None for the open last tier
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


class RampPeriod(PricingResult):
    """Contract months from_month..to_month (inclusive) at one recurring price, at list."""

    from_month: int
    to_month: int
    months: int
    unit_price: Decimal
    monthly_amount: Decimal


class BreakdownItem(PricingResult):
    """How one charge of a line was priced, for an approver to read and a tool to check."""

    charge: int  # index in the line's (or product's) charges
    type: str  # one_time | recurring | usage
    model: ChargeModel
    text: str
    units: Decimal  # the line quantity, or for usage the billable units of a month
    list_amount: Decimal  # over the term, before discounts (usage with its minimum)
    net_amount: Decimal  # over the term, after discounts (usage with its minimum)
    cost: Decimal  # over the term
    discount_pct: Decimal  # the line and header discounts combined
    minimum_applies: bool = False  # usage: the minimum commitment beat the discounted rating
    segments: list[RampPeriod] = []
    tiers: list[TierAmount] = []
    packages: Decimal | None = None


class PricedLine(Figures):
    index: int
    sku: str | None  # None for a custom line
    name: str
    quantity: Decimal
    custom: bool
    # The product's floor; None for a custom line, which has no catalog floor.
    max_discount_pct: Decimal | None
    # The line's own discount as a percent (discount_pct, or discount_amount over the line's
    # list_tcv_estimated), and that combined with the header discount.
    line_discount_pct: Decimal
    effective_discount_pct: Decimal
    # True when effective_discount_pct, exactly and before rounding, exceeds max_discount_pct.
    below_floor: bool
    breakdown: list[BreakdownItem]


class PricedDeal(PricingResult):
    currency: str
    term_months: int
    lines: list[PricedLine]
    totals: Figures
