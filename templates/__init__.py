"""The one Jinja environment for HTML (documents, e-mails, pages), and its filters.

Every HTML template, shipped or written by an admin, renders through `environment()`: an
immutable sandbox with autoescape on and StrictUndefined. The shipped templates would be safe in
a plain environment, but one environment means an admin's template and ours behave the same, and
a template that validates in the preview renders the same way in production.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sized
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision, parse_pattern
from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATE_DIR = Path(__file__).parent
# Parsed once: parsing the locale and the patterns on every call was a third of the time of
# rendering a proposal (bench/render.py). At import also because babel reads its data files
# lazily, and a render must not depend on when that first read happens.
LOCALE = Locale.parse("en_US")
_PERCENT = parse_pattern("#,##0.00")
_NUMBER = parse_pattern("#,##0.######")

# `"-" * 80` is a rule; `"x" * 10**9` is a gigabyte of memory from one line of an admin's
# template. Likewise `(2 ** 1000) ** 1000 ** ...` (Jinja's ** chains to the left) is an integer
# of gigabytes; no document needs a power of more than a few thousand bits.
MAX_REPEAT = 100_000
MAX_POWER_BITS = 4_096
# Jinja's sandbox refuses ranges over its own default of the same size; ours is explicit.
MAX_RANGE = 100_000
# How often (in iterations) a loop looks at the render's deadline: a clock read per item would
# cost more than the loop body of a typical template.
_CLOCK_EVERY = 256

# The wall-clock deadline of the render under way on this thread (None: no limit). Set by
# templates.documents around an admin's template; read by every loop of every template.
render_deadline: ContextVar[float | None] = ContextVar("render_deadline", default=None)


class RenderTimedOut(RuntimeError):
    """A render ran past its deadline (a loop that produces little or nothing for a long time)."""


def loop_guard(iterable: Any) -> Any:
    """What every `{% for %}` iterates (DocumentSandbox wraps each loop's iterable in it): the
    items as they are, with the deadline checked as they go, so nested loops that print nothing
    (which no output cap sees) still stop."""
    deadline = render_deadline.get()
    if deadline is None:
        return iterable
    return _until(iter(iterable), deadline)


def _until(items: Iterator[Any], deadline: float) -> Iterator[Any]:
    for count, item in enumerate(items):
        if count % _CLOCK_EVERY == 0 and time.monotonic() > deadline:
            raise RenderTimedOut("the template ran past its deadline")
        yield item


def _plain_number(value: object, filter_name: str) -> Decimal:
    # A float has already lost the cents; refuse it rather than print a rounded guess.
    if isinstance(value, float | bool):
        raise TypeError(f"{filter_name} takes a Decimal, int or numeric string, not {value!r}")
    if not isinstance(value, Decimal | int | str):
        raise TypeError(f"{filter_name} takes a Decimal, int or numeric string, not {value!r}")
    return Decimal(value)


def _money(amount: Decimal | int | str | None, currency: str) -> str:
    if amount is None:
        return "–"
    # Babel knows each currency's minor units, so JPY shows no decimals and KWD three.
    return format_currency(_plain_number(amount, "money"), currency, locale=LOCALE)


def _price(amount: Decimal | int | str | None, currency: str) -> str:
    """A unit price: at the currency's minor unit, unless it is finer (an API call at $0.0005)."""
    if amount is None:
        return "–"
    value = _plain_number(amount, "price")
    digits = int(get_currency_precision(currency))
    if value == value.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP):
        return format_currency(value, currency, locale=LOCALE)
    pattern = "¤#,##0." + "0" * digits + "#" * 10
    return format_currency(value, currency, format=pattern, currency_digits=False, locale=LOCALE)


def _percent(value: Decimal | int | str | None) -> str:
    if value is None:
        return "–"
    number = _plain_number(value, "percent")
    return f"{_PERCENT.apply(number, LOCALE)}%"


def _number(value: Decimal | int | str) -> str:
    return str(_NUMBER.apply(_plain_number(value, "number"), LOCALE))


def _utc(moment: datetime) -> datetime:
    # Naive datetimes in DealDesk are UTC (the store writes UTC).
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _date(value: date | datetime | None, format: str = "long") -> str:
    """`long` is "January 1, 2027"; `iso` is 2027-01-01; anything else is a babel pattern."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = _utc(value).date()
    elif not isinstance(value, date):
        raise TypeError(f"date takes a date or datetime, not {value!r}")
    if format == "iso":
        return value.isoformat()
    return format_date(value, format=format, locale=LOCALE)


def _datetime(value: datetime | None) -> str:
    if value is None:
        return "–"
    if not isinstance(value, datetime):
        raise TypeError(f"datetime takes a datetime, not {value!r}")
    moment = _utc(value)
    return f"{format_date(moment.date(), format='long', locale=LOCALE)}, {moment:%H:%M} UTC"


FILTERS = {
    "money": _money,
    "price": _price,
    "percent": _percent,
    "number": _number,
    "date": _date,
    "datetime": _datetime,
}


class _ShippedTemplates(FileSystemLoader):
    """Only the .j2 files of this package: `{% include "__init__.py" %}` in an admin's template
    must not print our source, and the plain-text mail templates have their own environment."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        if not template.endswith(".j2"):
            raise TemplateNotFound(template)
        return super().get_source(environment, template)


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"ranges over {MAX_RANGE:,} numbers are not allowed")
    return numbers


def _too_long(sequence: object, times: object) -> bool:
    return (
        isinstance(sequence, Sized)
        and isinstance(times, int)
        and len(sequence) * times > MAX_REPEAT
    )


def _too_big(base: object, exponent: object) -> bool:
    # A Decimal power is rounded to its context's 28 digits, so only integers can grow.
    return (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * abs(base).bit_length() > MAX_POWER_BITS
    )


# A width or precision in a printf-style format: `'%999999999d' % 1` is a gigabyte.
_FORMAT_NUMBER = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d*))?")


def _too_wide(template: object) -> bool:
    if not isinstance(template, str):
        return False
    return any(
        int(number or 0) > MAX_REPEAT
        for match in _FORMAT_NUMBER.finditer(template)
        for number in match.groups()
    )


class DocumentSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with the arithmetic operators that can exhaust memory bounded, and every
    loop watched by the render's deadline."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            if _too_long(left, right) or _too_long(right, left):
                raise SecurityError(f"repetition longer than {MAX_REPEAT:,} is not allowed")
        elif operator_name == "**":
            if _too_big(left, right):
                raise SecurityError(f"powers over {MAX_POWER_BITS:,} bits are not allowed")
        elif _too_wide(left):
            raise SecurityError(f"format widths over {MAX_REPEAT:,} are not allowed")
        return super().call_binop(context, operator_name, left, right)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Rewrites `{% for x in items %}` to `{% for x in loop_guard(items) %}` as the template
        # is parsed, so no loop of any template (an include's too) escapes the deadline.
        # ImportedName is Jinja's node for "this Python function", out of the template's reach.
        template = super()._parse(source, name, filename)
        for loop in template.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.ImportedName(f"{__name__}.loop_guard", lineno=loop.iter.lineno),
                [loop.iter],
                [],
                None,
                None,
                lineno=loop.iter.lineno,
            )
        return template


@lru_cache(maxsize=1)
def environment() -> DocumentSandbox:
    # Autoescape everything (every template here is HTML) and fail loudly on a missing
    # variable: a proposal with a silently blank price is worse than no proposal.
    env = DocumentSandbox(
        loader=_ShippedTemplates(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # These globals hand out objects whose __init__.__globals__ reach os; the sandbox blocks the
    # dunder, but a document has no use for them, so there is nothing to probe at all.
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    env.globals["range"] = _bounded_range
    env.filters.update(FILTERS)
    return env
