"""The billing schedule: known answers worked by hand, then invariants over generated deals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricing import (
    BillingFrequency,
    BillingSchedule,
    DealInput,
    PricedDeal,
    Product,
    billing_schedule,
    minor_units,
    price_deal,
)
from pricing.money import PRICING_CONTEXT
from pricing.schedule import add_months, billing_periods
from tests.pricing.builders import (
    Json,
    custom_line,
    d,
    deal,
    demo,
    one_time,
    recurring,
    sku_line,
)
from tests.pricing.test_properties import PRODUCTS, PROPERTIES, deals

DAY = dt.timedelta(days=1)


def schedule(*lines: Json, **overrides: Any) -> tuple[PricedDeal, BillingSchedule]:
    submitted = deal(*lines, **overrides)
    priced = price_deal(submitted, demo())
    return priced, billing_schedule(submitted, priced)


def column(result: BillingSchedule, name: str) -> list[str]:
    """A column as the contract prints it: strings with the currency's minor units."""
    return [str(getattr(item, name)) for item in result.items]


def periods(result: BillingSchedule) -> list[tuple[str, str, int]]:
    return [
        (item.starts_on.isoformat(), item.ends_on.isoformat(), item.months) for item in result.items
    ]


# Known answers.


def test_monthly_flat_over_12_months() -> None:
    # 10 seats x 120.00 less 10% = 1,080.00 a month, every month; 12 x 1,080 = 12,960.00.
    priced, result = schedule(
        sku_line("PLAT-SEAT", "10", discount_pct="10"), billing_frequency="monthly"
    )
    assert column(result, "recurring") == ["1080.00"] * 12
    assert column(result, "one_time") == column(result, "usage_committed") == ["0.00"] * 12
    assert column(result, "total") == ["1080.00"] * 12
    assert periods(result)[:3] == [
        ("2027-01-01", "2027-01-31", 1),
        ("2027-02-01", "2027-02-28", 1),
        ("2027-03-01", "2027-03-31", 1),
    ]
    assert periods(result)[-1] == ("2027-12-01", "2027-12-31", 1)
    assert result.total == priced.totals.tcv == d("12960.00")
    assert (result.currency, result.billing_frequency) == ("USD", "monthly")


def test_quarterly_follows_a_ramp_from_month_13_net_of_discounts() -> None:
    # 1,000 a month, 1,200 from month 13, less 10%: 900 a month in year 1, 1,080 in year 2.
    # Quarters 1-4: 3 x 900 = 2,700.00; quarters 5-8: 3 x 1,080 = 3,240.00.
    # 4 x 2,700 + 4 x 3,240 = 10,800 + 12,960 = 23,760.00.
    line = custom_line(recurring("1000", ramp=[(13, "1200")]), discount_pct="10")
    priced, result = schedule(line, term_months=24, billing_frequency="quarterly")
    assert column(result, "recurring") == ["2700.00"] * 4 + ["3240.00"] * 4
    assert result.total == priced.totals.recurring_tcv == d("23760.00")
    assert periods(result)[4] == ("2028-01-01", "2028-03-31", 3)
    # The ramp's segments report list amounts (1,000 and 1,200 a month), not what is billed.
    segments = priced.lines[0].breakdown[0].segments
    assert [segment.monthly_amount for segment in segments] == [d("1000.00"), d("1200.00")]


def test_a_ramp_step_inside_a_quarter_splits_that_quarter() -> None:
    # 1,000 a month, 1,300 from month 5: quarter 1 = 3 x 1,000 = 3,000.00;
    # quarter 2 = month 4 at 1,000 + months 5 and 6 at 1,300 = 1,000 + 2,600 = 3,600.00.
    line = custom_line(recurring("1000", ramp=[(5, "1300")]))
    _, result = schedule(line, term_months=6, billing_frequency="quarterly")
    assert column(result, "recurring") == ["3000.00", "3600.00"]


def test_a_catalog_ramp_and_its_one_time_charge() -> None:
    # DWH-NODE: 2,000 a month, 2,200 from month 13, 2,400 from month 25, and 2,500 once.
    # 30 months, annual: year 1 = 12 x 2,000 = 24,000; year 2 = 12 x 2,200 = 26,400;
    # the last 6 months = 6 x 2,400 = 14,400. The 2,500 is on the first invoice.
    priced, result = schedule(sku_line("DWH-NODE"), term_months=30, billing_frequency="annual")
    assert column(result, "recurring") == ["24000.00", "26400.00", "14400.00"]
    assert column(result, "one_time") == ["2500.00", "0.00", "0.00"]
    assert column(result, "total") == ["26500.00", "26400.00", "14400.00"]
    assert result.total == priced.totals.tcv == d("67300.00")


def test_annual_over_30_months_ends_with_a_6_month_invoice() -> None:
    # 10 seats x 120.00 = 1,200.00 a month: 12 x 1,200 = 14,400.00 a year, 6 x 1,200 = 7,200.00.
    priced, result = schedule(
        sku_line("PLAT-SEAT", "10"), term_months=30, billing_frequency="annual"
    )
    assert periods(result) == [
        ("2027-01-01", "2027-12-31", 12),
        ("2028-01-01", "2028-12-31", 12),
        ("2029-01-01", "2029-06-30", 6),
    ]
    assert column(result, "recurring") == ["14400.00", "14400.00", "7200.00"]
    assert result.total == priced.totals.tcv == d("36000.00")


def test_upfront_is_one_invoice_for_the_whole_term_with_the_committed_usage() -> None:
    # 10 seats x 120.00 x 36 months = 43,200.00. API-CALLS commits 200.00 a month:
    # 200 x 36 = 7,200.00, although its estimated usage (450.00 a month) beats the minimum and
    # is billed in arrears, off the schedule.
    priced, result = schedule(
        sku_line("PLAT-SEAT", "10"),
        sku_line("API-CALLS"),
        term_months=36,
        billing_frequency="upfront",
    )
    assert priced.lines[1].breakdown[0].minimum_applies is False
    assert periods(result) == [("2027-01-01", "2029-12-31", 36)]
    [item] = result.items
    assert (item.one_time, item.recurring, item.usage_committed) == (
        d("0.00"),
        d("43200.00"),
        d("7200.00"),
    )
    assert result.total == priced.totals.tcv == d("50400.00")


def test_committed_usage_is_spread_evenly() -> None:
    # SMS-MSG commits 500.00 a month (estimated 40,000 x 0.04 = 1,600.00 is in arrears):
    # a quarter commits 3 x 500 = 1,500.00; 12 months, 6,000.00.
    priced, result = schedule(sku_line("SMS-MSG"), billing_frequency="quarterly")
    assert column(result, "usage_committed") == ["1500.00"] * 4
    assert column(result, "recurring") == ["0.00"] * 4
    assert result.total == priced.totals.usage_committed_tcv == d("6000.00")


def test_one_time_charges_are_on_the_first_invoice_only() -> None:
    # Onboarding 15,000.00 once, plus 10 seats x 120.00 = 1,200.00 a month for 3 months.
    priced, result = schedule(
        sku_line("PLAT-ONBOARD"),
        sku_line("PLAT-SEAT", "10"),
        term_months=3,
        billing_frequency="monthly",
    )
    assert column(result, "one_time") == ["15000.00", "0.00", "0.00"]
    assert column(result, "total") == ["16200.00", "1200.00", "1200.00"]
    assert result.total == priced.totals.tcv == d("18600.00")


@pytest.mark.parametrize(
    ("currency", "price", "expected"),
    [
        # 1,000 JPY a quarter billed monthly: 333.33... a month. Amounts due to date 333.33,
        # 666.67 and 1,000 round to 333, 667 and 1,000, so the invoices are 333, 334 and 333
        # (rounding each month alone would bill 999).
        ("JPY", "1000", ["333", "334", "333"]),
        # KWD has 3 decimals: 3.3333, 6.6667, 10 due to date round to 3.333, 6.667, 10.000.
        ("KWD", "10", ["3.333", "3.334", "3.333"]),
        ("USD", "10", ["3.33", "3.34", "3.33"]),
    ],
)
def test_a_month_that_does_not_divide_evenly_carries_its_rounding(
    currency: str, price: str, expected: list[str]
) -> None:
    submitted = deal(
        custom_line(recurring(price, period="quarter")),
        currency=currency,
        term_months=3,
        billing_frequency="monthly",
    )
    priced = price_deal(submitted, {})
    result = billing_schedule(submitted, priced)
    assert column(result, "recurring") == expected
    assert (
        str(result.total) == str(priced.totals.tcv) == f"{Decimal(price):.{minor_units(currency)}f}"
    )


def test_a_month_end_start_date_bills_calendar_months() -> None:
    # From Jan 31 (2028 is a leap year): Feb 29, Mar 31, Apr 30; the term ends the day before
    # Jan 31 + 4 months = May 31.
    _, result = schedule(
        sku_line("PLAT-SEAT"),
        start_date="2028-01-31",
        term_months=4,
        billing_frequency="monthly",
    )
    assert periods(result) == [
        ("2028-01-31", "2028-02-28", 1),
        ("2028-02-29", "2028-03-30", 1),
        ("2028-03-31", "2028-04-29", 1),
        ("2028-04-30", "2028-05-30", 1),
    ]


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2027-01-31", 1, "2027-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        # Counted from the start, not chained: Jan 31 + 2 months is Mar 31, not Mar 28.
        ("2027-01-31", 2, "2027-03-31"),
        ("2027-08-31", 1, "2027-09-30"),
        ("2027-12-15", 1, "2028-01-15"),
        ("2027-03-31", -1, "2027-02-28"),
        ("2027-01-01", 120, "2037-01-01"),
        ("2027-05-10", 0, "2027-05-10"),
    ],
)
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(dt.date.fromisoformat(day), months) == dt.date.fromisoformat(expected)


@pytest.mark.parametrize(
    ("frequency", "term", "expected"),
    [
        ("monthly", 3, [(1, 1), (2, 1), (3, 1)]),
        ("quarterly", 7, [(1, 3), (4, 3), (7, 1)]),
        ("annual", 30, [(1, 12), (13, 12), (25, 6)]),
        ("annual", 6, [(1, 6)]),
        ("upfront", 36, [(1, 36)]),
    ],
)
def test_billing_periods(frequency: str, term: int, expected: list[tuple[int, int]]) -> None:
    assert billing_periods(BillingFrequency(frequency), term) == expected


def test_tiny_nets_that_round_up_never_make_an_invoice_negative() -> None:
    # Three lines of 0.0005 a month for 12 months: each 0.006, reported as 0.01; the deal's
    # recurring_tcv is 3 x 0.006 = 0.018, reported as 0.02. The lines' rounded nets (0.03)
    # are scaled to the deal's 0.02: due to date 0.02 x k / 12, which reaches a half cent
    # (0.005, rounded up) in month 3 and 0.015 (0.02) in month 9. Patching the -0.01 residual
    # onto the last invoice (0.00) would have billed -0.01.
    lines = [custom_line(recurring("0.0005"), name=f"Tiny {index}") for index in range(3)]
    priced, result = schedule(*lines, billing_frequency="monthly")
    assert [line.recurring_tcv for line in priced.lines] == [d("0.01")] * 3
    assert priced.totals.recurring_tcv == d("0.02")
    expected = ["0.00"] * 12
    expected[2] = expected[8] = "0.01"
    assert column(result, "recurring") == expected


def test_tcv_is_the_sum_of_its_reported_parts_so_the_schedule_foots_to_it() -> None:
    # 0.004 once and 0.004 for one month: one_time and recurring_tcv each report 0.00. The
    # exact tcv, 0.008, would round to 0.01 on its own; the engine reports tcv as the sum of
    # its rounded parts, 0.00, which is what the invoices bill.
    priced, result = schedule(custom_line(one_time("0.004"), recurring("0.004")), term_months=1)
    assert (priced.totals.one_time, priced.totals.recurring_tcv) == (d("0.00"), d("0.00"))
    assert priced.totals.tcv == d("0.00")
    assert result.total == priced.totals.tcv


def test_a_priced_result_of_another_deal_is_refused() -> None:
    submitted = deal(sku_line("PLAT-SEAT"), term_months=12)
    other = price_deal(deal(sku_line("PLAT-SEAT"), term_months=24), demo())
    with pytest.raises(ValueError, match="not this deal"):
        billing_schedule(submitted, other)


# Invariants over generated deals.

PERIOD_STEP = {"monthly": 1, "quarterly": 3, "annual": 12}


@st.composite
def scheduled_deals(draw: st.DrawFn) -> tuple[DealInput, dict[str, Product]]:
    """A generated deal in any currency, billing frequency and start date, with a catalog of
    the demo products in its currency (pricing needs the products in the deal's currency)."""
    submitted = draw(deals())
    currency = draw(st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
    submitted = submitted.model_copy(
        update={
            "currency": currency,
            "billing_frequency": draw(st.sampled_from(list(BillingFrequency))),
            "start_date": draw(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31))),
        }
    )
    products = {
        sku: item.model_copy(update={"currency": currency}) for sku, item in PRODUCTS.items()
    }
    return submitted, products


@PROPERTIES
@given(scheduled_deals())
def test_the_schedule_bills_the_priced_deal_exactly(
    case: tuple[DealInput, dict[str, Product]],
) -> None:
    submitted, products = case
    priced = price_deal(submitted, products)
    result = billing_schedule(submitted, priced)
    totals = priced.totals
    places = minor_units(submitted.currency)
    minor = Decimal(1).scaleb(-places)

    assert sum(item.one_time for item in result.items) == totals.one_time
    assert sum(item.recurring for item in result.items) == totals.recurring_tcv
    assert sum(item.usage_committed for item in result.items) == totals.usage_committed_tcv
    assert result.total == sum(item.total for item in result.items)
    assert result.total == totals.one_time + totals.recurring_tcv + totals.usage_committed_tcv
    # The reported tcv is rounded from the exact sum of its parts; see the known answer above.
    assert abs(result.total - totals.tcv) <= minor

    for item in result.items:
        amounts = (item.one_time, item.recurring, item.usage_committed, item.total)
        for amount in amounts:
            assert amount >= 0
            # A whole number of minor units, written with exactly the currency's decimals.
            assert amount.as_tuple().exponent == -places
        assert item.total == item.one_time + item.recurring + item.usage_committed
    assert all(item.one_time == 0 for item in result.items[1:])


@PROPERTIES
@given(scheduled_deals())
def test_the_periods_cover_the_term_once_in_order(
    case: tuple[DealInput, dict[str, Product]],
) -> None:
    submitted, products = case
    result = billing_schedule(submitted, price_deal(submitted, products))
    term = submitted.term_months
    step = PERIOD_STEP.get(submitted.billing_frequency, term)
    items = result.items

    assert len(items) == -(-term // step)  # ceil(term / step)
    assert [item.period for item in items] == list(range(1, len(items) + 1))
    assert all(item.months == step for item in items[:-1])
    assert 1 <= items[-1].months <= step
    assert sum(item.months for item in items) == term
    assert items[0].starts_on == submitted.start_date
    for before, after in pairwise(items):
        assert after.starts_on == before.ends_on + DAY
    for item in items:
        assert item.starts_on <= item.ends_on
    # The term ends the day before the start date's day, term months later (clamped to the end
    # of a shorter month).
    end = items[-1].ends_on + DAY
    start = submitted.start_date
    year, month = divmod(start.year * 12 + start.month - 1 + term, 12)
    assert (end.year, end.month) == (year, month + 1)
    assert end.day == start.day or (end.day < start.day and (end + DAY).day == 1)


@PROPERTIES
@given(scheduled_deals())
def test_each_invoice_is_within_a_minor_unit_of_its_share_of_committed_usage(
    case: tuple[DealInput, dict[str, Product]],
) -> None:
    # Committed usage is flat, so each invoice's exact share is months / term of the total;
    # rounding the running total moves no invoice by a whole minor unit or more.
    submitted, products = case
    priced = price_deal(submitted, products)
    result = billing_schedule(submitted, priced)
    minor = Decimal(1).scaleb(-minor_units(submitted.currency))
    committed = priced.totals.usage_committed_tcv
    with localcontext(PRICING_CONTEXT):
        for item in result.items:
            share = committed * item.months / submitted.term_months
            assert abs(item.usage_committed - share) < minor
