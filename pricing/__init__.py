"""DealDesk's pricing engine: pure functions over pydantic models, exact Decimal arithmetic.

``price_deal(deal, catalog)`` computes every figure of the pricing contract
(``shared/contracts/pricing.md``) per line and for the deal.
"""

from pricing.catalog import Product, ProductSpec, demo_catalog
from pricing.charges import (
    Charge,
    ChargeType,
    GraduatedUsage,
    OneTimeCharge,
    PackageUsage,
    Period,
    PerUnitUsage,
    RampStep,
    RecurringCharge,
    Tier,
    UsageCharge,
    UsageModel,
    VolumeUsage,
)
from pricing.engine import ExactFigures, price_deal, price_lines_exact
from pricing.errors import PricingError, PricingIssue
from pricing.figures import (
    BreakdownItem,
    Figures,
    PricedDeal,
    PricedLine,
    RampPeriod,
    TierAmount,
)
from pricing.inputs import BillingFrequency, Competitor, Customer, DealInput, LineInput
from pricing.money import minor_units, round_money
from pricing.schedule import BillingSchedule, ScheduleItem, billing_schedule
from pricing.strategies import ChargeModel, strategy_for
from pricing.types import Amount, CurrencyCode, Percent, Quantity

__all__ = [
    "Amount",
    "BillingFrequency",
    "BillingSchedule",
    "BreakdownItem",
    "Charge",
    "ChargeModel",
    "ChargeType",
    "Competitor",
    "CurrencyCode",
    "Customer",
    "DealInput",
    "ExactFigures",
    "Figures",
    "GraduatedUsage",
    "LineInput",
    "OneTimeCharge",
    "PackageUsage",
    "PerUnitUsage",
    "Percent",
    "Period",
    "PricedDeal",
    "PricedLine",
    "PricingError",
    "PricingIssue",
    "Product",
    "ProductSpec",
    "Quantity",
    "RampPeriod",
    "RampStep",
    "RecurringCharge",
    "ScheduleItem",
    "Tier",
    "TierAmount",
    "UsageCharge",
    "UsageModel",
    "VolumeUsage",
    "billing_schedule",
    "demo_catalog",
    "minor_units",
    "price_deal",
    "price_lines_exact",
    "round_money",
    "strategy_for",
]
