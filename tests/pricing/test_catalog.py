from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from pricing import (
    ChargeModel,
    Product,
    ProductSpec,
    RecurringCharge,
    demo_catalog,
    price_deal,
)
from pricing.strategies import charge_model
from tests.pricing.builders import deal, one_time, product, sku_line

SPEC = {"name": "Platform seat", "charges": [one_time("1")]}


def test_plat_seat_is_the_contract_example() -> None:
    seat = {item.sku: item for item in demo_catalog()}["PLAT-SEAT"]
    expected = ProductSpec.model_validate_json(
        """{"name": "Platform seat", "description": "Per-user platform licence",
            "charges": [{"type": "recurring", "period": "month", "unit_price": "120",
                         "unit_cost": "18"}],
            "max_discount_pct": "30", "active": true}"""
    )
    # The contract's example is about pricing; the SLA clause is for the contract document only.
    assert seat.model_dump(exclude={"sku", "sla"}) == expected.model_dump(exclude={"sla"})
    assert seat.sla.startswith("99.9% monthly uptime")
    assert seat.charges == [RecurringCharge(unit_price=Decimal(120), unit_cost=Decimal(18))]


def test_the_demo_catalog_uses_every_charge_model_and_feature() -> None:
    products = demo_catalog()
    charges = [charge for item in products for charge in item.charges]
    assert 6 <= len(products) <= 10
    assert len({item.sku for item in products}) == len(products)
    assert {charge_model(charge) for charge in charges} == set(ChargeModel)
    assert {getattr(charge, "period", None) for charge in charges} >= {"month", "quarter", "year"}
    assert any(getattr(charge, "ramp", None) for charge in charges)
    assert any(getattr(charge, "free_units", 0) > 0 for charge in charges)
    assert any(getattr(charge, "minimum_commitment", 0) > 0 for charge in charges)
    assert any(tier.flat_fee for charge in charges for tier in getattr(charge, "tiers", []))


def test_the_demo_catalog_survives_storage_as_json() -> None:
    # The store keeps ProductSpec JSON and rebuilds Products from it.
    for item in demo_catalog():
        stored = item.model_dump(mode="json", exclude={"sku"})
        assert Product.model_validate({**stored, "sku": item.sku}) == item


def test_every_demo_product_prices() -> None:
    products = {item.sku: item for item in demo_catalog()}
    priced = deal(*[sku_line(sku, "2") for sku in products], term_months=36)
    result = price_deal(priced, products)
    assert [line.sku for line in result.lines] == list(products)
    assert all(line.tcv_estimated > 0 for line in result.lines)


def test_product_spec_defaults() -> None:
    spec = ProductSpec.model_validate(SPEC)
    assert (spec.description, spec.max_discount_pct, spec.active, spec.currency, spec.sla) == (
        "",
        None,
        True,
        "USD",
        "",
    )


def test_an_sla_clause_is_kept_as_written_up_to_4000_characters() -> None:
    clause = "99.9% monthly uptime; " + "x" * (4000 - 22)
    assert ProductSpec.model_validate({**SPEC, "sla": clause}).sla == clause
    schema = ProductSpec.model_json_schema()["properties"]["sla"]
    assert schema["maxLength"] == 4000
    assert "contract" in schema["description"]


def test_the_demo_catalog_has_sla_clauses_for_its_services() -> None:
    slas = {item.sku: item.sla for item in demo_catalog()}
    assert "1 hour" in slas["SUPPORT-PREMIUM"]
    # A one-time service has nothing to keep up.
    assert slas["PLAT-ONBOARD"] == ""
    assert all(len(sla) <= 4000 for sla in slas.values())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"charges": []}, ("too_short", ("charges",))),
        ({"charges": [one_time("1")] * 21}, ("too_long", ("charges",))),
        ({"name": ""}, ("string_too_short", ("name",))),
        ({"max_discount_pct": "101"}, ("less_than_equal", ("max_discount_pct",))),
        ({"currency": "EURO"}, ("string_too_long", ("currency",))),
        ({"currency": "ABC"}, ("unknown_currency", ("currency",))),
        ({"price": "1"}, ("extra_forbidden", ("price",))),
        ({"sla": "x" * 4001}, ("string_too_long", ("sla",))),
    ],
)
def test_invalid_product_specs_are_refused(
    overrides: dict[str, Any], expected: tuple[str, tuple[str | int, ...]]
) -> None:
    with pytest.raises(ValidationError) as caught:
        ProductSpec.model_validate({**SPEC, **overrides})
    assert [(error["type"], error["loc"]) for error in caught.value.errors()] == [expected]


@pytest.mark.parametrize("sku", ["PLAT-SEAT", "a.b_c-1", "X" * 64])
def test_valid_skus(sku: str) -> None:
    assert product(sku, one_time("1")).sku == sku


@pytest.mark.parametrize(
    ("sku", "error"),
    [
        ("", "string_too_short"),
        ("X" * 65, "string_too_long"),
        ("PLAT SEAT", "string_pattern_mismatch"),
        ("plat/seat", "string_pattern_mismatch"),
    ],
)
def test_invalid_skus(sku: str, error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        product(sku, one_time("1"))
    assert caught.value.errors()[0]["type"] == error
