"""The number types every pricing input uses; the API reuses them for its own request bodies."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError, PydanticKnownError

from pricing.money import is_known_currency

# Long enough for any value the bounds below allow, short enough that a megabyte of digits is
# refused before Decimal ever parses it.
_MAX_TEXT = 40
_PLAIN_CHARS = frozenset("0123456789.+-")
_DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"


def _decimal_text(value: Any) -> Any:
    """Let only text (or a Decimal built in Python) through to pydantic's Decimal parsing.

    A JSON number has already been through a binary float by the time it reaches us, and a bool
    is an int in Python, so both are refused rather than silently priced. Exponents,
    underscores, spaces, NaN and Infinity are refused too: the contract promises plain decimal
    strings, and "1e999999" is a denial of service, not a price. Decimal still does the parsing.
    """
    if isinstance(value, str):
        if len(value) > _MAX_TEXT or not value or not set(value) <= _PLAIN_CHARS:
            raise PydanticCustomError(
                "decimal_string",
                'must be a plain decimal number such as "12.50" (no exponent, spaces, separators)',
            )
        if value[0] == "-":
            # Every number we take is >= 0; "-0" would pass that bound and surface as "-0.00".
            raise PydanticKnownError("greater_than_equal", {"ge": 0})
        return value
    if isinstance(value, Decimal):
        return value.copy_abs() if value.is_zero() else value
    raise PydanticCustomError(
        "decimal_string_type",
        'must be a decimal number written as a string, e.g. "12.50"',
    )


def _decimal_schema(description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": _DECIMAL_PATTERN, "description": description}
    )


# In each type below the constraints come before the BeforeValidator: pydantic-core then checks
# them natively (3x faster validation of a deal than Python-level checks); a before-validator
# still runs first whatever its position.
Amount = Annotated[
    Decimal,
    Field(ge=0, lt=10**12, max_digits=22, decimal_places=10, allow_inf_nan=False),
    BeforeValidator(_decimal_text),
    _decimal_schema("money in the deal's currency: >= 0, < 10^12, up to 10 decimal places"),
]
"""Money (a price, a cost, a discount amount): a decimal string, 0 <= amount < 10^12."""

Quantity = Annotated[
    Decimal,
    Field(ge=0, lt=10**12, max_digits=18, decimal_places=6, allow_inf_nan=False),
    BeforeValidator(_decimal_text),
    _decimal_schema("a quantity: >= 0, < 10^12, up to 6 decimal places"),
]
"""A count of units, seats or usage: a decimal string, 0 <= quantity < 10^12, 6 places."""

Percent = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=9, decimal_places=6, allow_inf_nan=False),
    BeforeValidator(_decimal_text),
    _decimal_schema("a percentage from 0 to 100, up to 6 decimal places"),
]
"""A percentage: a decimal string from 0 to 100."""


def _currency_code(value: str) -> str:
    if not is_known_currency(value):
        raise PydanticCustomError(
            "unknown_currency",
            "'{value}' is not an ISO 4217 currency code",
            {"value": value},
        )
    return value


CurrencyCode = Annotated[
    str,
    Field(min_length=3, max_length=3, examples=["USD", "EUR", "JPY"]),
    AfterValidator(_currency_code),
]
"""An upper-case ISO 4217 code that babel knows, e.g. "USD"."""
