"""The price book: products a line can name by SKU, and the demo catalog the app seeds."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from pricing.charges import (
    Charge,
    GraduatedUsage,
    OneTimeCharge,
    PackageUsage,
    Period,
    PerUnitUsage,
    PricingModel,
    RampStep,
    RecurringCharge,
    Tier,
    VolumeUsage,
)
from pricing.types import CurrencyCode, Percent

MAX_PRODUCT_CHARGES = 20

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class ProductSpec(PricingModel):
    """The body of ``PUT /api/v1/catalog/products/{sku}``."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    charges: list[Charge] = Field(min_length=1, max_length=MAX_PRODUCT_CHARGES)
    max_discount_pct: Percent | None = Field(
        default=None, description="the floor: a line discounted deeper is below it"
    )
    active: bool = True
    currency: CurrencyCode = "USD"
    sla: Annotated[
        str,
        Field(
            max_length=4000,
            description=(
                "service-level clause printed in the contract for this product; empty for none"
            ),
        ),
    ] = ""


class Product(ProductSpec):
    sku: Sku


def _d(text: str) -> Decimal:
    return Decimal(text)


def demo_catalog() -> list[Product]:
    """A realistic price book that, between its products, uses every charge model."""
    return [
        Product(
            sku="PLAT-SEAT",
            name="Platform seat",
            description="Per-user platform licence",
            sla="99.9% monthly uptime; service credits of 10% of the monthly fee per 0.1% below",
            charges=[
                RecurringCharge(period=Period.MONTH, unit_price=_d("120"), unit_cost=_d("18"))
            ],
            max_discount_pct=_d("30"),
        ),
        Product(
            sku="PLAT-ONBOARD",
            name="Onboarding package",
            description="Guided implementation, data migration and admin training",
            charges=[OneTimeCharge(unit_price=_d("15000"), unit_cost=_d("9000"))],
            max_discount_pct=_d("20"),
        ),
        Product(
            sku="DWH-NODE",
            name="Data warehouse node",
            description="Managed warehouse node; list price steps up each contract year",
            sla=(
                "99.95% monthly node availability and a recovery point objective of 1 hour; "
                "service credits of 10% of the node's monthly fee per 0.1% below"
            ),
            charges=[
                RecurringCharge(
                    period=Period.MONTH,
                    unit_price=_d("2000"),
                    unit_cost=_d("600"),
                    ramp=[
                        RampStep(from_month=13, unit_price=_d("2200")),
                        RampStep(from_month=25, unit_price=_d("2400")),
                    ],
                ),
                OneTimeCharge(unit_price=_d("2500"), unit_cost=_d("1200")),
            ],
            max_discount_pct=_d("25"),
        ),
        Product(
            sku="ANALYTICS-PRO",
            name="Analytics Pro add-on",
            description="Dashboards and scheduled reports, billed per quarter per seat",
            sla=(
                "Scheduled reports delivered within 2 hours of their scheduled time on 99% of "
                "runs each month"
            ),
            charges=[
                RecurringCharge(period=Period.QUARTER, unit_price=_d("90"), unit_cost=_d("12"))
            ],
            max_discount_pct=_d("35"),
        ),
        Product(
            sku="SUPPORT-PREMIUM",
            name="Premium support",
            description="24x7 support with a named engineer, per year",
            sla=(
                "First response within 1 hour for severity 1 (24x7), 4 business hours for "
                "severity 2 and 1 business day for severity 3; a named engineer and a quarterly "
                "service review"
            ),
            charges=[
                RecurringCharge(period=Period.YEAR, unit_price=_d("24000"), unit_cost=_d("9000"))
            ],
            max_discount_pct=_d("15"),
        ),
        Product(
            sku="API-CALLS",
            name="API calls",
            description="Graduated: the first 100,000 calls a month are included",
            sla=(
                "99.9% monthly API availability; service credits of 10% of the month's usage "
                "charges per 0.1% below"
            ),
            charges=[
                GraduatedUsage(
                    tiers=[
                        Tier(up_to=_d("100000"), unit_price=_d("0")),
                        Tier(up_to=_d("1000000"), unit_price=_d("0.001"), flat_fee=_d("50")),
                        Tier(up_to=None, unit_price=_d("0.0005")),
                    ],
                    estimated_quantity=_d("500000"),
                    minimum_commitment=_d("200"),
                    unit_cost=_d("0.0001"),
                )
            ],
            max_discount_pct=_d("40"),
        ),
        Product(
            sku="STORAGE-GB",
            name="Storage",
            description="Per GB-month stored, the first 100 GB free",
            sla="99.9% monthly availability and 99.999999999% annual durability of stored data",
            charges=[
                PerUnitUsage(
                    unit_price=_d("0.10"),
                    free_units=_d("100"),
                    estimated_quantity=_d("2000"),
                    unit_cost=_d("0.02"),
                )
            ],
            max_discount_pct=_d("40"),
        ),
        Product(
            sku="SMS-MSG",
            name="SMS messages",
            description="Volume pricing: the monthly volume sets the price of every message",
            sla="99.5% of messages handed to the carrier within 10 seconds each month",
            charges=[
                VolumeUsage(
                    tiers=[
                        Tier(up_to=_d("10000"), unit_price=_d("0.05")),
                        Tier(up_to=_d("100000"), unit_price=_d("0.04")),
                        Tier(up_to=None, unit_price=_d("0.03"), flat_fee=_d("100")),
                    ],
                    estimated_quantity=_d("40000"),
                    minimum_commitment=_d("500"),
                    unit_cost=_d("0.01"),
                )
            ],
            max_discount_pct=_d("30"),
        ),
        Product(
            sku="EVENTS-PACK",
            name="Event ingestion",
            description="Sold in packs of 1,000,000 events; 500,000 events a month free",
            sla="99.9% of accepted events ingested and queryable within 5 minutes each month",
            charges=[
                PackageUsage(
                    package_size=_d("1000000"),
                    package_price=_d("250"),
                    free_units=_d("500000"),
                    estimated_quantity=_d("3500000"),
                    unit_cost=_d("0.00002"),
                )
            ],
            max_discount_pct=_d("30"),
        ),
    ]
