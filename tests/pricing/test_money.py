from __future__ import annotations

from decimal import Decimal

import pytest

from pricing import minor_units, round_money
from pricing.money import is_known_currency, round_percent


@pytest.mark.parametrize(
    ("currency", "places"),
    [("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CHF", 2)],
)
def test_minor_units_follow_iso_4217(currency: str, places: int) -> None:
    assert minor_units(currency) == places


@pytest.mark.parametrize("code", ["XYZ", "usd", "US", "USDD", ""])
def test_unknown_currency_has_no_minor_units(code: str) -> None:
    # babel answers 2 for any code it does not know; we must not round a typo like dollars.
    assert is_known_currency(code) is False
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        minor_units(code)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "USD", "2.35"),  # a tie rounds up
        ("2.3449999", "USD", "2.34"),
        ("2.3", "USD", "2.30"),  # always reported with the minor unit
        ("0.5", "JPY", "1"),  # yen have no minor unit
        ("1234.4999", "JPY", "1234"),
        ("1.2345", "KWD", "1.235"),  # three places for dinars
        ("1.2344", "KWD", "1.234"),
        ("-2.345", "USD", "-2.35"),  # a negative margin rounds away from zero on a tie
        ("-0.004", "USD", "0.00"),  # never "-0.00"
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(
    amount: str, currency: str, expected: str
) -> None:
    rounded = round_money(Decimal(amount), currency)
    assert str(rounded) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("14.5", "14.50"), ("13.60842", "13.61"), ("13.605", "13.61"), ("100", "100.00")],
)
def test_round_percent_to_two_places(value: str, expected: str) -> None:
    assert str(round_percent(Decimal(value))) == expected
