"""Small builders for pricing tests. Amounts are strings, as the API receives them, and every
input goes through pydantic validation exactly as a JSON body would."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pricing import (
    DealInput,
    LineInput,
    PricedDeal,
    PricedLine,
    Product,
    demo_catalog,
    price_deal,
)

Json = dict[str, Any]


def customer(**overrides: Any) -> Json:
    return {
        "name": "Acme Corp",
        "segment": "enterprise",
        "region": "NA",
        "new_customer": True,
        "credit_rating": "A",
        **overrides,
    }


def deal_json(*lines: Json, **overrides: Any) -> Json:
    return {
        "currency": "USD",
        "term_months": 12,
        "start_date": "2027-01-01",
        "billing_frequency": "annual",
        "customer": customer(),
        "lines": list(lines),
        **overrides,
    }


def deal(*lines: Json, **overrides: Any) -> DealInput:
    return DealInput.model_validate(deal_json(*lines, **overrides))


def custom_line(*charges: Json, quantity: str = "1", name: str = "Custom", **extra: Any) -> Json:
    return {"name": name, "quantity": quantity, "charges": list(charges), **extra}


def sku_line(sku: str, quantity: str = "1", **extra: Any) -> Json:
    return {"sku": sku, "quantity": quantity, **extra}


def line(**fields: Any) -> LineInput:
    return LineInput.model_validate(fields)


def one_time(unit_price: str, unit_cost: str = "0") -> Json:
    return {"type": "one_time", "unit_price": unit_price, "unit_cost": unit_cost}


def recurring(
    unit_price: str,
    *,
    period: str = "month",
    unit_cost: str = "0",
    ramp: Sequence[tuple[int, str]] = (),
) -> Json:
    return {
        "type": "recurring",
        "period": period,
        "unit_price": unit_price,
        "unit_cost": unit_cost,
        "ramp": [{"from_month": month, "unit_price": price} for month, price in ramp],
    }


def tier(up_to: str | None, unit_price: str, flat_fee: str = "0") -> Json:
    return {"up_to": up_to, "unit_price": unit_price, "flat_fee": flat_fee}


def usage(model: str, estimated_quantity: str, **parameters: Any) -> Json:
    return {"type": "usage", "model": model, "estimated_quantity": estimated_quantity, **parameters}


def per_unit(unit_price: str, estimated_quantity: str, **extra: Any) -> Json:
    return usage("per_unit", estimated_quantity, unit_price=unit_price, **extra)


def graduated(tiers: Iterable[Json], estimated_quantity: str, **extra: Any) -> Json:
    return usage("graduated", estimated_quantity, tiers=list(tiers), **extra)


def volume(tiers: Iterable[Json], estimated_quantity: str, **extra: Any) -> Json:
    return usage("volume", estimated_quantity, tiers=list(tiers), **extra)


def package(size: str, price: str, estimated_quantity: str, **extra: Any) -> Json:
    return usage("package", estimated_quantity, package_size=size, package_price=price, **extra)


def product(sku: str, *charges: Json, **overrides: Any) -> Product:
    return Product.model_validate(
        {"sku": sku, "name": f"Product {sku}", "charges": list(charges), **overrides}
    )


def catalog(*products: Product) -> dict[str, Product]:
    return {item.sku: item for item in products}


def demo() -> dict[str, Product]:
    return catalog(*demo_catalog())


def price(
    *lines: Json, products: Mapping[str, Product] | None = None, **overrides: Any
) -> PricedDeal:
    return price_deal(deal(*lines, **overrides), demo() if products is None else products)


def price_line(line_json: Json, **overrides: Any) -> PricedLine:
    """The only line of a one-line deal (12 months, USD unless overridden)."""
    return price(line_json, **overrides).lines[0]


def d(text: str) -> Decimal:
    return Decimal(text)
