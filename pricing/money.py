"""Currency facts and the only places where money is rounded."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

# Products never lose a digit: the longest is price (22 digits) x quantity (18) x months (3) x
# two discount factors (about 11 each), about 65 digits, so 100 keeps every product exact and
# leaves the divisions the contract requires (by 3, 12, the term, a discount ratio) 100 correct
# digits. The only rounding that matters is the explicit, reported one.
PRICING_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)

HUNDRED = Decimal(100)
PERCENT_QUANTUM = Decimal("0.01")


# babel reads its currency data from files on first use. Read it here, at import: a workflow
# decodes DealInput inside Temporal's sandbox, where opening a file is refused, so a lazy first
# read there would fail the workflow task (found by the replay test in a fresh process).
_KNOWN_CURRENCIES = frozenset(list_currencies())
get_currency_precision("USD")


def is_known_currency(code: str) -> bool:
    """True for an ISO 4217 code babel knows (upper case, as the contract writes them)."""
    return len(code) == 3 and code.isupper() and code in _KNOWN_CURRENCIES


@cache
def minor_units(currency: str) -> int:
    """ISO 4217 minor units: 2 for USD/EUR/GBP, 0 for JPY, 3 for KWD.

    babel answers 2 for any code it does not know, so refuse unknown codes explicitly rather
    than round a typo as if it were dollars.
    """
    if not is_known_currency(currency):
        raise ValueError(f"unknown ISO 4217 currency code {currency!r}")
    return int(get_currency_precision(currency))


@cache
def money_quantum(currency: str) -> Decimal:
    """The currency's minor unit as a Decimal exponent: 0.01 for USD, 1 for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up (ties away from zero) to the currency's minor unit, for reporting only."""
    return round_to(amount, money_quantum(currency))


def round_to(amount: Decimal, quantum: Decimal) -> Decimal:
    value = amount.quantize(quantum, ROUND_HALF_UP, PRICING_CONTEXT)
    # A margin of -0.001 must be reported as "0.00", not "-0.00".
    return value.copy_abs() if value.is_zero() else value


def round_percent(value: Decimal) -> Decimal:
    """Percentages are reported to 2 decimal places, half-up."""
    return round_to(value, PERCENT_QUANTUM)
