"""The one Jinja environment for documents and e-mails, and the functions that render them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pricing import DealInput, PricedDeal

TEMPLATE_DIR = Path(__file__).parent


def _money(amount: Decimal | str | None, currency: str) -> str:
    if amount is None:
        return "–"
    # Babel knows each currency's minor units, so JPY shows no decimals and KWD three.
    return format_currency(Decimal(amount), currency, locale="en_US")


def _percent(value: Decimal | str | None) -> str:
    if value is None:
        return "–"
    return f"{format_decimal(Decimal(value), format='#,##0.00', locale='en_US')}%"


def _number(value: Decimal | str) -> str:
    return format_decimal(Decimal(value), format="#,##0.######", locale="en_US")


@lru_cache(maxsize=1)
def environment() -> Environment:
    # Autoescape everything HTML-like and fail loudly on a missing variable: a proposal with a
    # silently blank price is worse than no proposal.
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["percent"] = _percent
    env.filters["number"] = _number
    return env


def render_proposal(
    *,
    deal_id: str,
    version: int,
    deal: DealInput,
    priced: PricedDeal,
    approvals: list[dict[str, Any]],
    generated_at: datetime,
) -> str:
    template = environment().get_template("proposal.html.j2")
    return template.render(
        deal_id=deal_id,
        version=version,
        deal=deal,
        priced=priced,
        approvals=approvals,
        generated_at=generated_at,
    )
