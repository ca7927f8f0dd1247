"""The deal a rep asks to price: ``POST /api/v1/quotes/price``'s body, field for field."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from pricing.charges import ZERO, Charge, PricingModel, invalid
from pricing.types import Amount, CurrencyCode, Percent, Quantity

MAX_LINES = 500
MAX_CHARGES = 20
MAX_TERMS = 50

Name = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(min_length=1, max_length=100)]


class BillingFrequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    UPFRONT = "upfront"


class Customer(PricingModel):
    name: Name
    segment: Label
    region: Label
    new_customer: Annotated[bool, Field(strict=True)]
    credit_rating: Annotated[
        str, Field(min_length=1, max_length=10, pattern=r"^[A-Za-z0-9+-]+$", examples=["A"])
    ]


class Competitor(PricingModel):
    name: Name
    price: Amount | None = None


class LineInput(PricingModel):
    """A catalog product (``sku``) or a custom line (``name`` and its own ``charges``)."""

    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    name: Name | None = None
    quantity: Annotated[Quantity, Field(gt=0)]
    discount_pct: Percent | None = None
    discount_amount: Amount | None = Field(
        default=None, description="a total over the term, spread over the line's charges"
    )
    charges: list[Charge] | None = Field(default=None, max_length=MAX_CHARGES)

    @model_validator(mode="after")
    def _one_kind_one_discount(self) -> Self:
        if self.sku is not None:
            for field in ("name", "charges"):
                if getattr(self, field) is not None:
                    raise invalid(
                        "sku_with_custom_fields",
                        f"a line with a sku takes its name and charges from the catalog; "
                        f"drop {field} or drop the sku",
                        (field,),
                        getattr(self, field),
                    )
        elif self.name is None:
            raise invalid(
                "line_without_product",
                "a line needs a catalog sku, or a name and charges for a custom line",
                ("sku",),
                None,
            )
        elif not self.charges:
            raise invalid(
                "custom_line_without_charges",
                "a custom line (no sku) needs at least one charge",
                ("charges",),
                self.charges,
            )
        if self.discount_pct is not None and self.discount_amount is not None:
            raise invalid(
                "both_discount_forms",
                "give a line discount_pct or discount_amount, not both",
                ("discount_amount",),
                self.discount_amount,
            )
        return self


class DealInput(PricingModel):
    currency: CurrencyCode
    term_months: Annotated[int, Field(strict=True, ge=1, le=120)]
    start_date: dt.date
    billing_frequency: BillingFrequency
    payment_terms_days: Annotated[int, Field(strict=True, ge=0, le=365)] = 30
    customer: Customer
    header_discount_pct: Percent = ZERO
    nonstandard_terms: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=MAX_TERMS
    )
    competitor: Competitor | None = None
    lines: list[LineInput] = Field(min_length=1, max_length=MAX_LINES)
