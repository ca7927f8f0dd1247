"""The billing schedule of a priced deal: what is invoiced for each billing period of the term.

The contract's price schedule. Pure: (deal, priced deal) in, invoices out.

The schedule is built from the *stored* priced result, never by pricing again: the catalog may
have changed since the deal was approved, and the contract must show the approved figures.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, localcontext

from pricing.charges import ZERO, ChargeType
from pricing.figures import PricedDeal, PricingResult
from pricing.inputs import BillingFrequency, DealInput
from pricing.money import PRICING_CONTEXT, round_money

ONE = Decimal(1)

# Months per invoice; upfront (None) is one invoice for the whole term.
PERIOD_MONTHS: dict[BillingFrequency, int | None] = {
    BillingFrequency.MONTHLY: 1,
    BillingFrequency.QUARTERLY: 3,
    BillingFrequency.ANNUAL: 12,
    BillingFrequency.UPFRONT: None,
}


class ScheduleItem(PricingResult):
    """One invoice. Amounts are in the currency's minor units (rounded half-up)."""

    period: int  # 1-based
    starts_on: dt.date
    ends_on: dt.date  # inclusive
    months: int  # contract months this invoice covers
    one_time: Decimal
    recurring: Decimal
    usage_committed: Decimal  # minimum commitments due for the period; usage above is in arrears
    total: Decimal


class BillingSchedule(PricingResult):
    currency: str
    billing_frequency: str
    items: list[ScheduleItem]
    # The sum of the items: one_time + recurring_tcv + usage_committed_tcv as the priced deal
    # reports them, to the minor unit, which is the deal's reported ``tcv``.
    total: Decimal


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clamped to the end of a shorter month.

    Jan 31 + 1 month is Feb 28 (29 in a leap year), the usual contract reading; callers always
    count from the contract's start date rather than chaining, so Jan 31 + 2 months is Mar 31,
    not Mar 28.
    """
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month_index + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def billing_periods(frequency: BillingFrequency, term_months: int) -> list[tuple[int, int]]:
    """(first contract month, months covered) per invoice; the last one may be shorter."""
    step = PERIOD_MONTHS[frequency] or term_months
    firsts = range(1, term_months + 1, step)
    return [(first, min(step, term_months - first + 1)) for first in firsts]


def billing_schedule(deal: DealInput, priced: PricedDeal) -> BillingSchedule:
    """The invoices of ``deal`` over its term, from its stored priced result ``priced``.

    One-time charges go on the first invoice; recurring charges and usage minimum commitments
    are billed for the months each invoice covers, following any ramp. Usage above the minimum
    is billed in arrears and is not on the schedule.

    Each column adds up over the schedule to the priced deal's figure exactly:
    ``one_time``, ``recurring_tcv`` and ``usage_committed_tcv``.
    """
    if priced.currency != deal.currency or priced.term_months != deal.term_months:
        raise ValueError(
            f"the priced deal ({priced.currency}, {priced.term_months} months) is not this "
            f"deal ({deal.currency}, {deal.term_months} months)"
        )
    # Spreading an amount over a term or a ramp divides by arbitrary numbers (1000 / 3); each
    # amount due to date below is one division at the pricing context's 100 digits, so it is
    # exact whenever the quotient terminates: a true half minor unit (0.01 / 2) rounds up.
    with localcontext(PRICING_CONTEXT):
        currency = deal.currency
        term = deal.term_months
        periods = billing_periods(deal.billing_frequency, term)
        ends = [first + months - 1 for first, months in periods]
        totals = priced.totals
        one_time = _invoices([totals.one_time] * len(ends), currency)
        recurring = _invoices(_recurring_to_date(priced, ends, term), currency)
        usage = _invoices(_flat_to_date(totals.usage_committed_tcv, ends, term), currency)
        items = [
            ScheduleItem(
                period=index + 1,
                starts_on=add_months(deal.start_date, first - 1),
                # The day before the next period starts, so periods are contiguous whatever the
                # month lengths, and the last ends the day before start_date + term_months.
                ends_on=add_months(deal.start_date, first - 1 + months) - dt.timedelta(days=1),
                months=months,
                one_time=one_time[index],
                recurring=recurring[index],
                usage_committed=usage[index],
                total=one_time[index] + recurring[index] + usage[index],
            )
            for index, (first, months) in enumerate(periods)
        ]
        return BillingSchedule(
            currency=currency,
            billing_frequency=deal.billing_frequency.value,
            items=items,
            total=sum((item.total for item in items), ZERO),
        )


def _flat_to_date(amount: Decimal, ends: Sequence[int], term: int) -> list[Decimal]:
    """``amount`` spread evenly over the term, due by the end of each month in ``ends``."""
    return [amount * end / term for end in ends]


Window = tuple[int, int, Decimal]  # first and last contract month, unit price in force


def _recurring_to_date(priced: PricedDeal, ends: Sequence[int], term: int) -> list[Decimal]:
    """The recurring amount due by the end of each month in ``ends``; the last is recurring_tcv.

    A charge's months follow its ramp's unit prices: the discounts scale every month of a
    charge alike, so the prices in force give the exact shape and the stored net amount the
    level. (A ramp segment's ``monthly_amount`` is at list and rounded, so it is of no use.)
    """
    target = priced.totals.recurring_tcv
    # Charges billed in the same shape (every charge without a ramp; a product on several
    # lines) are spread together: one division per shape and period instead of one per charge,
    # so a deal without ramps is spread exactly, and a big deal stays fast.
    shapes: dict[tuple[Window, ...], Decimal] = {}
    for line in priced.lines:
        for item in line.breakdown:
            if item.type != ChargeType.RECURRING or not item.net_amount:
                continue
            windows = tuple(
                (segment.from_month, segment.to_month, segment.unit_price)
                for segment in item.segments
            ) or ((1, term, ONE),)
            shapes[windows] = shapes.get(windows, ZERO) + item.net_amount
    stored = sum(shapes.values(), ZERO)
    if not stored:
        # Every charge's net rounded to zero, so no shape is left to follow; the deal's total
        # can still be a minor unit or two (tiny nets add up), and flat is as good as any.
        return _flat_to_date(target, ends, term)
    to_date = [ZERO] * len(ends)
    for windows, net in shapes.items():
        weights = _weights_to_date(windows, term)
        for index, end in enumerate(ends):
            to_date[index] += net * weights[end] / weights[term]
    if target == stored:
        return to_date
    # The charges' nets are each rounded, so their sum can miss the deal's recurring_tcv (rounded
    # once, from the exact sum) by a few minor units. Scaling to the deal's figure spreads that
    # difference in proportion. Patching it onto the last invoice instead could take more than
    # a tiny last invoice holds and make it negative.
    return [amount * target / stored for amount in to_date]


def _weights_to_date(windows: Sequence[Window], term: int) -> list[Decimal]:
    """Index k: the sum of the unit prices in force in months 1..k (index 0 is 0)."""
    weights = [ZERO] * (term + 1)
    for first, last, price in windows:
        for month in range(first, last + 1):
            weights[month] = price
    for month in range(1, term + 1):
        weights[month] += weights[month - 1]
    return weights


def _invoices(to_date: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Per invoice, the rounded amount due to date less what earlier invoices billed.

    Rounding each invoice on its own would let the errors add up (three invoices of 1000 JPY / 3
    are 333 each, 999 in all). Rounding the running total instead keeps every invoice within a
    minor unit of its exact share, and the last running total is the column's total, which
    the callers take from the priced deal, already rounded, so the column adds up to it to
    the minor unit. A running total never falls, so no invoice is negative.
    """
    invoices: list[Decimal] = []
    billed = ZERO
    for amount in to_date:
        rounded = round_money(amount, currency)
        invoices.append(rounded - billed)
        billed = rounded
    return invoices
