from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from pricing import BillingFrequency, DealInput
from tests.pricing.builders import custom_line, deal, deal_json, one_time, sku_line

Loc = tuple[str | int, ...]


def deal_errors(data: dict[str, Any]) -> list[tuple[str, Loc]]:
    # Through JSON, as the API receives it.
    with pytest.raises(ValidationError) as caught:
        DealInput.model_validate_json(json.dumps(data))
    return [(error["type"], error["loc"]) for error in caught.value.errors()]


def test_the_contract_request_shape_validates() -> None:
    priced = deal(
        sku_line("PLAT-SEAT", "120", discount_pct="10"),
        custom_line(one_time("48000", "30000"), name="Custom integration"),
        header_discount_pct="5",
        nonstandard_terms=["Net 90 payment terms"],
        competitor={"name": "OtherCo", "price": "150000"},
    )
    assert priced.billing_frequency is BillingFrequency.ANNUAL
    assert priced.payment_terms_days == 30
    assert priced.lines[0].sku == "PLAT-SEAT"
    assert priced.lines[1].charges is not None


def test_a_deal_round_trips_through_json() -> None:
    original = deal(sku_line("PLAT-SEAT", "3.5"), custom_line(one_time("1")))
    assert DealInput.model_validate_json(original.model_dump_json()) == original


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # a catalog line takes its name and charges from the catalog
        (
            {**sku_line("PLAT-SEAT"), "charges": [one_time("1")]},
            [("sku_with_custom_fields", ("lines", 0, "charges"))],
        ),
        (
            {**sku_line("PLAT-SEAT"), "name": "Seats"},
            [("sku_with_custom_fields", ("lines", 0, "name"))],
        ),
        # a custom line needs a name and at least one charge
        ({"quantity": "1"}, [("line_without_product", ("lines", 0, "sku"))]),
        (
            {"quantity": "1", "charges": [one_time("1")]},
            [("line_without_product", ("lines", 0, "sku"))],
        ),
        (custom_line(), [("custom_line_without_charges", ("lines", 0, "charges"))]),
        (
            {"name": "Custom", "quantity": "1"},
            [("custom_line_without_charges", ("lines", 0, "charges"))],
        ),
        (
            custom_line(*[one_time("1")] * 21),
            [("too_long", ("lines", 0, "charges"))],
        ),
        # one discount form at most
        (
            sku_line("PLAT-SEAT", discount_pct="5", discount_amount="100"),
            [("both_discount_forms", ("lines", 0, "discount_amount"))],
        ),
        (
            sku_line("PLAT-SEAT", discount_pct="100.5"),
            [("less_than_equal", ("lines", 0, "discount_pct"))],
        ),
        (
            sku_line("PLAT-SEAT", discount_amount="-1"),
            [("greater_than_equal", ("lines", 0, "discount_amount"))],
        ),
        # quantity > 0, at most 6 places, a string
        (sku_line("PLAT-SEAT", "0"), [("greater_than", ("lines", 0, "quantity"))]),
        (sku_line("PLAT-SEAT", "1.0000001"), [("decimal_max_places", ("lines", 0, "quantity"))]),
        ({"sku": "PLAT-SEAT", "quantity": 5}, [("decimal_string_type", ("lines", 0, "quantity"))]),
        ({"sku": "PLAT-SEAT"}, [("missing", ("lines", 0, "quantity"))]),
        ({**sku_line("PLAT-SEAT"), "colour": "red"}, [("extra_forbidden", ("lines", 0, "colour"))]),
        # a bad charge inside a custom line is reported at its own field
        (
            custom_line({"type": "one_time", "unit_price": "NaN"}),
            [("decimal_string", ("lines", 0, "charges", 0, "unit_price"))],
        ),
    ],
)
def test_invalid_lines_are_refused_at_the_field_with_a_code(
    line: dict[str, Any], expected: list[tuple[str, Loc]]
) -> None:
    assert deal_errors(deal_json(line)) == expected


def ok_line() -> dict[str, Any]:
    return sku_line("PLAT-SEAT")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"currency": "XYZ"}, [("unknown_currency", ("currency",))]),
        ({"currency": "usd"}, [("unknown_currency", ("currency",))]),
        ({"term_months": 0}, [("greater_than_equal", ("term_months",))]),
        ({"term_months": 121}, [("less_than_equal", ("term_months",))]),
        ({"term_months": "12"}, [("int_type", ("term_months",))]),
        ({"start_date": "2027-02-30"}, [("date_from_datetime_parsing", ("start_date",))]),
        ({"billing_frequency": "weekly"}, [("enum", ("billing_frequency",))]),
        ({"payment_terms_days": -1}, [("greater_than_equal", ("payment_terms_days",))]),
        ({"payment_terms_days": 366}, [("less_than_equal", ("payment_terms_days",))]),
        ({"header_discount_pct": "101"}, [("less_than_equal", ("header_discount_pct",))]),
        ({"header_discount_pct": 5}, [("decimal_string_type", ("header_discount_pct",))]),
        ({"nonstandard_terms": ["x"] * 51}, [("too_long", ("nonstandard_terms",))]),
        ({"nonstandard_terms": ["x" * 1001]}, [("string_too_long", ("nonstandard_terms", 0))]),
        (
            {"competitor": {"name": "OtherCo", "price": 1.5}},
            [("decimal_string_type", ("competitor", "price"))],
        ),
        ({"lines": []}, [("too_short", ("lines",))]),
        ({"lines": [ok_line()] * 501}, [("too_long", ("lines",))]),
        ({"discount": "5"}, [("extra_forbidden", ("discount",))]),
    ],
)
def test_invalid_deals_are_refused_at_the_field_with_a_code(
    overrides: dict[str, Any], expected: list[tuple[str, Loc]]
) -> None:
    assert deal_errors({**deal_json(ok_line()), **overrides}) == expected


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        ({"name": "x" * 201}, ("string_too_long", ("customer", "name"))),
        ({"name": ""}, ("string_too_short", ("customer", "name"))),
        ({"new_customer": "yes"}, ("bool_type", ("customer", "new_customer"))),
        ({"credit_rating": "A A"}, ("string_pattern_mismatch", ("customer", "credit_rating"))),
    ],
)
def test_invalid_customers_are_refused(customer: dict[str, Any], expected: tuple[str, Loc]) -> None:
    data = deal_json(ok_line())
    data["customer"] = {**data["customer"], **customer}
    assert deal_errors(data) == [expected]


def test_the_largest_allowed_deal_validates() -> None:
    big = deal(*[ok_line()] * 500, term_months=120, nonstandard_terms=["x" * 1000] * 50)
    assert len(big.lines) == 500
