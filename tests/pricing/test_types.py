from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from pricing import Amount, CurrencyCode, Percent, Quantity

AMOUNT: TypeAdapter[Decimal] = TypeAdapter(Amount)
QUANTITY: TypeAdapter[Decimal] = TypeAdapter(Quantity)
PERCENT: TypeAdapter[Decimal] = TypeAdapter(Percent)
CURRENCY: TypeAdapter[str] = TypeAdapter(CurrencyCode)


@pytest.mark.parametrize(
    ("adapter", "text", "expected"),
    [
        (AMOUNT, "0", "0"),
        (AMOUNT, "1234.50", "1234.50"),
        (AMOUNT, "0.0005", "0.0005"),  # a price per API call is finer than a cent
        (AMOUNT, "999999999999.99", "999999999999.99"),
        (QUANTITY, "120", "120"),
        (QUANTITY, "0.000001", "0.000001"),
        (PERCENT, "100", "100"),
        (PERCENT, "12.5", "12.5"),
    ],
)
def test_plain_decimal_strings_are_accepted(
    adapter: TypeAdapter[Decimal], text: str, expected: str
) -> None:
    value = adapter.validate_json(f'"{text}"')
    assert value == Decimal(expected)
    assert str(value) == expected


def test_decimal_instances_built_in_python_are_accepted() -> None:
    assert AMOUNT.validate_python(Decimal("12.50")) == Decimal("12.50")
    # no "-0.00" can ever come out of a "-0" that came in
    assert not AMOUNT.validate_python(Decimal("-0")).is_signed()


@pytest.mark.parametrize(
    ("adapter", "json", "code"),
    [
        (AMOUNT, "12.5", "decimal_string_type"),  # a JSON number has been a float
        (AMOUNT, "12", "decimal_string_type"),
        (AMOUNT, "true", "decimal_string_type"),
        (AMOUNT, "null", "decimal_string_type"),
        (AMOUNT, '"NaN"', "decimal_string"),
        (AMOUNT, '"Infinity"', "decimal_string"),
        (AMOUNT, '"1e999999"', "decimal_string"),
        (AMOUNT, '"1e3"', "decimal_string"),
        (AMOUNT, '" 12"', "decimal_string"),
        (AMOUNT, '"1_000"', "decimal_string"),
        (AMOUNT, '"1,000"', "decimal_string"),
        (AMOUNT, '""', "decimal_string"),
        (AMOUNT, '"' + "1" * 41 + '"', "decimal_string"),  # refused before it is parsed
        (AMOUNT, '"1.2.3"', "decimal_parsing"),
        (AMOUNT, '"-0.01"', "greater_than_equal"),
        (AMOUNT, '"-0"', "greater_than_equal"),
        (AMOUNT, '"1000000000000"', "decimal_whole_digits"),  # 10^12: 13 whole digits
        (QUANTITY, '"1000000000000"', "decimal_whole_digits"),
        (AMOUNT, '"0.00000000001"', "decimal_max_places"),
        (QUANTITY, '"0.0000001"', "decimal_max_places"),  # 7 places
        (QUANTITY, '"-1"', "greater_than_equal"),
        (PERCENT, '"100.01"', "less_than_equal"),
        (PERCENT, '"-5"', "greater_than_equal"),
    ],
)
def test_anything_but_a_bounded_plain_decimal_string_is_refused(
    adapter: TypeAdapter[Decimal], json: str, code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_json(json)
    assert [error["type"] for error in caught.value.errors()] == [code]


@pytest.mark.parametrize("value", [12, 12.5, True, Decimal("NaN"), Decimal("Infinity")])
def test_python_numbers_other_than_finite_decimals_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError):
        AMOUNT.validate_python(value)


def test_decimal_types_are_strings_in_the_json_schema() -> None:
    schema = AMOUNT.json_schema()
    assert schema["type"] == "string"
    assert "pattern" in schema


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY", "KWD"])
def test_iso_currency_codes_are_accepted(code: str) -> None:
    assert CURRENCY.validate_python(code) == code


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("XYZ", "unknown_currency"),
        ("usd", "unknown_currency"),
        ("US", "string_too_short"),
        ("DOLLAR", "string_too_long"),
    ],
)
def test_unknown_currency_codes_are_refused(code: str, error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CURRENCY.validate_python(code)
    assert caught.value.errors()[0]["type"] == error
