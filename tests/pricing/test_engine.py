"""price_deal end to end: every figure of the contract, one row per edge, arithmetic in comments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pricing import Figures, PricedLine, PricingError, price_deal, price_lines_exact
from tests.pricing.builders import (
    catalog,
    custom_line,
    deal,
    demo,
    graduated,
    one_time,
    package,
    per_unit,
    price,
    price_line,
    product,
    recurring,
    sku_line,
    tier,
    volume,
)

FIGURES = tuple(Figures.model_fields)


def reported(figures: Figures) -> dict[str, str | None]:
    return {
        name: None if (value := getattr(figures, name)) is None else str(value) for name in FIGURES
    }


def assert_figures(figures: Figures, **expected: str | None) -> None:
    actual = reported(figures)
    assert {name: actual[name] for name in expected} == expected


ZERO_FIGURES = dict.fromkeys(FIGURES, "0.00") | {"gross_margin_pct": None}


def test_the_contract_request_example_end_to_end() -> None:
    result = price(
        sku_line("PLAT-SEAT", "120", discount_pct="10"),
        custom_line(one_time("48000", "30000"), name="Custom integration"),
        custom_line(
            graduated(
                [tier("1000", "0"), tier(None, "0.002")],
                "25000",
                unit_cost="0.0005",
                minimum_commitment="100",
            ),
            name="API calls",
        ),
        term_months=36,
        header_discount_pct="5",
    )
    seats, integration, api = result.lines
    # PLAT-SEAT: 120 seats x 120 = 14,400 / month at list; kept 0.90 x 0.95 = 0.855
    assert_figures(
        seats,
        one_time="0.00",
        mrr="12312.00",  # 14,400 x 0.855
        arr="147744.00",  # x 12
        recurring_tcv="443232.00",  # x 36
        usage_committed_tcv="0.00",
        usage_estimated_tcv="0.00",
        tcv="443232.00",
        tcv_estimated="443232.00",
        acv="147744.00",  # 443,232 x 12 / 36
        list_tcv_estimated="518400.00",  # 14,400 x 36
        discount_amount="75168.00",  # 518,400 - 443,232
        discount_pct="14.50",  # 1 - 0.855
        cost_tcv_estimated="77760.00",  # 18 x 120 x 36
        gross_margin="365472.00",  # 443,232 - 77,760
        gross_margin_pct="82.46",  # 365,472 / 443,232 = 82.456...
    )
    assert (seats.name, seats.custom, seats.max_discount_pct, seats.below_floor) == (
        "Platform seat",
        False,
        Decimal(30),
        False,  # 14.5% combined is within the 30% floor
    )
    assert seats.breakdown[0].text.startswith("120 x 120.00 / month")
    assert "less 10% line and 5% header discount" in seats.breakdown[0].text
    # Custom integration: 48,000 once, less the 5% header
    assert_figures(
        integration,
        one_time="45600.00",
        mrr="0.00",
        tcv="45600.00",
        tcv_estimated="45600.00",
        acv="45600.00",  # one-time counts in full in the ACV
        list_tcv_estimated="48000.00",
        discount_amount="2400.00",
        discount_pct="5.00",
        cost_tcv_estimated="30000.00",
        gross_margin="15600.00",
        gross_margin_pct="34.21",  # 15,600 / 45,600 = 34.2105...
    )
    assert (integration.sku, integration.custom, integration.max_discount_pct) == (
        None,
        True,
        None,
    )
    # API calls: 1,000 x 0 + 24,000 x 0.002 = 48 / month; x 0.95 = 45.60, under the 100
    # minimum, so 100 / month is billed; at list, max(48, 100) = 100
    assert_figures(
        api,
        one_time="0.00",
        mrr="0.00",
        usage_committed_tcv="3600.00",  # 100 x 36
        usage_estimated_tcv="3600.00",  # max(45.60, 100) x 36
        tcv="3600.00",
        tcv_estimated="3600.00",
        acv="1200.00",  # 3,600 x 12 / 36
        list_tcv_estimated="3600.00",
        discount_amount="0.00",  # the minimum absorbs the header discount
        discount_pct="0.00",
        cost_tcv_estimated="450.00",  # 25,000 x 0.0005 x 36
        gross_margin="3150.00",
        gross_margin_pct="87.50",
    )
    assert [(t.units, t.unit_price, t.amount) for t in api.breakdown[0].tiers] == [
        (Decimal(1000), Decimal(0), Decimal("0.00")),
        (Decimal(24000), Decimal("0.002"), Decimal("48.00")),
    ]
    assert api.breakdown[0].minimum_applies is True
    # The deal, from the exact line values. (The contract's response sample shows a one_time
    # of 48,000.00; its own Discounts section applies the header to every charge: 45,600.)
    assert_figures(
        result.totals,
        one_time="45600.00",
        mrr="12312.00",
        arr="147744.00",
        recurring_tcv="443232.00",
        usage_committed_tcv="3600.00",
        usage_estimated_tcv="3600.00",
        tcv="492432.00",  # 45,600 + 443,232 + 3,600
        tcv_estimated="492432.00",
        acv="194544.00",  # (443,232 + 3,600) x 12 / 36 + 45,600
        list_tcv_estimated="570000.00",  # 518,400 + 48,000 + 3,600
        discount_amount="77568.00",
        discount_pct="13.61",  # 77,568 / 570,000 = 13.6084...
        cost_tcv_estimated="108210.00",  # 77,760 + 30,000 + 450
        gross_margin="384222.00",
        gross_margin_pct="78.03",  # 384,222 / 492,432 = 78.0255...
    )
    assert (result.currency, result.term_months) == ("USD", 36)


def test_the_seed_example() -> None:
    # A flat 7,000 MRR is an ARR and recurring ACV of 84,000; a one-time 48,000 makes it 132,000.
    result = price(
        custom_line(recurring("7000"), name="Subscription"),
        custom_line(one_time("48000"), name="Implementation"),
        term_months=36,
    )
    assert_figures(
        result.totals,
        mrr="7000.00",
        arr="84000.00",
        recurring_tcv="252000.00",
        one_time="48000.00",
        acv="132000.00",
        tcv="300000.00",
    )
    assert_figures(result.lines[0], arr="84000.00", acv="84000.00")


@pytest.mark.parametrize(
    ("line", "overrides", "expected"),
    [
        # a quarterly price: 100 / quarter = 33.33... / month, reported 33.33, yet ARR and the
        # TCV come from the exact value: 400.00, not 33.33 x 12 = 399.96
        (
            custom_line(recurring("100", period="quarter")),
            {},
            {"mrr": "33.33", "arr": "400.00", "recurring_tcv": "400.00", "acv": "400.00"},
        ),
        # a yearly price: 24,000 / year = 2,000 / month over 36 months
        (
            custom_line(recurring("24000", period="year", unit_cost="9000")),
            {"term_months": 36},
            {
                "mrr": "2000.00",
                "recurring_tcv": "72000.00",
                "cost_tcv_estimated": "27000.00",  # 9,000 x 36 / 12
                "gross_margin_pct": "62.50",
            },
        ),
        # a ramp that starts after the term never applies: 12 x 100
        (
            custom_line(recurring("100", ramp=[(13, "500")])),
            {},
            {"mrr": "100.00", "recurring_tcv": "1200.00", "list_tcv_estimated": "1200.00"},
        ),
        # a ramp cut by an 18-month term: 12 x 100 + 6 x 200 = 2,400; ACV 2,400 x 12 / 18
        (
            custom_line(recurring("100", ramp=[(13, "200")])),
            {"term_months": 18},
            {"mrr": "100.00", "recurring_tcv": "2400.00", "acv": "1600.00"},
        ),
        # a zero-price line: every figure 0, margin percent undefined
        (custom_line(recurring("0"), one_time("0")), {}, ZERO_FIGURES),
        # a 100% discount: nothing billed, the whole list is discount, cost remains
        (
            custom_line(recurring("120", unit_cost="18"), quantity="10", discount_pct="100"),
            {},
            {
                "mrr": "0.00",
                "tcv_estimated": "0.00",
                "list_tcv_estimated": "14400.00",  # 10 x 120 x 12
                "discount_amount": "14400.00",
                "discount_pct": "100.00",
                "cost_tcv_estimated": "2160.00",  # cost is never discounted
                "gross_margin": "-2160.00",
                "gross_margin_pct": None,
            },
        ),
        # a 100% header discount does the same to every line
        (
            custom_line(one_time("500")),
            {"header_discount_pct": "100"},
            {"one_time": "0.00", "discount_pct": "100.00"},
        ),
        # a 100% discount still bills a usage minimum commitment: 50 x 12
        (
            custom_line(per_unit("1", "1000", minimum_commitment="50"), discount_pct="100"),
            {},
            {
                "usage_committed_tcv": "600.00",
                "usage_estimated_tcv": "600.00",
                "list_tcv_estimated": "12000.00",  # 1,000 x 1 x 12
                "discount_amount": "11400.00",
            },
        ),
        # free units larger than the estimate: usage rates to 0, its cost remains
        (
            custom_line(per_unit("0.10", "50", free_units="100", unit_cost="0.01")),
            {},
            {
                "usage_estimated_tcv": "0.00",
                "cost_tcv_estimated": "6.00",  # 50 x 0.01 x 12
                "gross_margin": "-6.00",
                "gross_margin_pct": None,
            },
        ),
        # the minimum is a floor after discounts: 200 x 0.5 = 100 < 150, so 150 / month
        (
            custom_line(per_unit("0.2", "1000", minimum_commitment="150"), discount_pct="50"),
            {},
            {
                "usage_committed_tcv": "1800.00",
                "usage_estimated_tcv": "1800.00",
                "list_tcv_estimated": "2400.00",  # max(200, 150) x 12
                "discount_amount": "600.00",
                "tcv": "1800.00",
                "acv": "1800.00",  # the commitment counts in the ACV, the estimate does not
            },
        ),
        # usage above its minimum: committed 100 x 12, estimated 300 x 12
        (
            custom_line(per_unit("0.3", "1000", minimum_commitment="100")),
            {},
            {
                "usage_committed_tcv": "1200.00",
                "usage_estimated_tcv": "3600.00",
                "tcv": "1200.00",
                "tcv_estimated": "3600.00",
                "acv": "1200.00",
            },
        ),
        # the line quantity does not multiply usage: 1,000 x 0.1 = 100 / month for 5 units too
        (
            custom_line(per_unit("0.1", "1000"), quantity="5"),
            {},
            {"usage_estimated_tcv": "1200.00"},
        ),
        # graduated on a boundary, volume past one, a package rounded up
        (
            custom_line(graduated([tier("1000", "1"), tier(None, "0.5")], "1000")),
            {},
            {"usage_estimated_tcv": "12000.00"},
        ),
        (
            custom_line(volume([tier("1000", "1"), tier(None, "0.5", "10")], "1001")),
            {},
            {"usage_estimated_tcv": "6126.00"},  # (1,001 x 0.5 + 10) x 12 = 510.50 x 12
        ),
        (
            custom_line(package("1000", "250", "2001")),
            {},
            {"usage_estimated_tcv": "9000.00"},  # 3 packages x 250 x 12
        ),
        # JPY has no minor unit: 100.5 rounds half-up to 101; 1,000 / quarter = 333.33 / month
        # is reported 333, and its ARR 4,000 comes from the exact value
        (
            custom_line(one_time("100.5"), recurring("1000", period="quarter")),
            {"currency": "JPY"},
            {"one_time": "101", "mrr": "333", "arr": "4000", "tcv": "4101"},  # 4,100.5
        ),
        # KWD has three: 1.2345 rounds to 1.235; 10 / quarter = 3.333 / month
        (
            custom_line(one_time("1.2345"), recurring("10", period="quarter")),
            {"currency": "KWD"},
            {"one_time": "1.235", "mrr": "3.333", "arr": "40.000", "tcv": "41.235"},
        ),
        # a discount amount acts as the percent it is of the line's list: 220 / 2,200 = 10%,
        # spread over both charges in proportion
        (
            custom_line(one_time("1000"), recurring("100"), discount_amount="220"),
            {},
            {
                "one_time": "900.00",
                "recurring_tcv": "1080.00",
                "mrr": "90.00",
                "discount_amount": "220.00",
                "discount_pct": "10.00",
            },
        ),
        # ... and the header applies after it: 2,200 x 0.9 x 0.5 = 990
        (
            custom_line(one_time("1000"), recurring("100"), discount_amount="220"),
            {"header_discount_pct": "50"},
            {"tcv_estimated": "990.00", "discount_amount": "1210.00", "discount_pct": "55.00"},
        ),
        # a discount amount equal to the list is a 100% discount
        (
            custom_line(one_time("1000"), discount_amount="1000"),
            {},
            {"one_time": "0.00", "discount_pct": "100.00"},
        ),
        # a zero discount amount on a zero list is no discount at all
        (custom_line(one_time("0"), discount_amount="0"), {}, {"discount_pct": "0.00"}),
    ],
)
def test_line_figures(
    line: dict[str, Any], overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert_figures(price_line(line, **overrides), **expected)


@pytest.mark.parametrize(
    ("discount", "header", "below"),
    [
        ({"discount_pct": "30"}, "0", False),  # exactly at the floor is not deeper than it
        ({"discount_pct": "30.000001"}, "0", True),
        ({"discount_pct": "25"}, "0", False),
        # the header deepens the line's discount: 1 - 0.75 x 0.9 = 32.5%
        ({"discount_pct": "25"}, "10", True),
        ({}, "30", False),
        ({}, "31", True),
        # 3,600 off a 12 x 10 x 120 = 14,400 list is 25%; 4,500 is 31.25%
        ({"discount_amount": "3600"}, "0", False),
        ({"discount_amount": "4500"}, "0", True),
    ],
)
def test_below_floor_compares_line_and_header_discounts_combined(
    discount: dict[str, str], header: str, below: bool
) -> None:
    # PLAT-SEAT's floor is a 30% maximum discount.
    line = price_line(sku_line("PLAT-SEAT", "10", **discount), header_discount_pct=header)
    assert line.max_discount_pct == Decimal(30)
    assert line.below_floor is below


def test_a_custom_line_has_no_floor() -> None:
    line = price_line(custom_line(one_time("100"), discount_pct="99"))
    assert (line.max_discount_pct, line.below_floor) == (None, False)
    assert (line.line_discount_pct, line.effective_discount_pct) == (Decimal(99), Decimal(99))


def test_line_and_effective_discount_percents_are_reported() -> None:
    line = price_line(sku_line("PLAT-SEAT", "10", discount_amount="1000"), header_discount_pct="10")
    # 1,000 / 14,400 = 6.944...%; combined 1 - (1 - 0.06944) x 0.9 = 16.25%
    assert (line.line_discount_pct, line.effective_discount_pct) == (
        Decimal("6.94"),
        Decimal("16.25"),
    )


def test_a_catalog_line_takes_the_products_charges() -> None:
    line = price_line(sku_line("DWH-NODE", "2"), term_months=36)
    # 2 x (12 x 2,000 + 12 x 2,200 + 12 x 2,400) + 2 x 2,500 once
    assert_figures(line, recurring_tcv="158400.00", one_time="5000.00", mrr="4000.00")
    assert [item.type for item in line.breakdown] == ["recurring", "one_time"]
    assert [(s.from_month, s.to_month) for s in line.breakdown[0].segments] == [
        (1, 12),
        (13, 24),
        (25, 36),
    ]


def test_breakdown_items_add_up_to_the_line() -> None:
    line = price_line(sku_line("DWH-NODE", "3", discount_pct="7"), term_months=30)
    assert sum(item.net_amount for item in line.breakdown) == line.tcv_estimated
    assert sum(item.list_amount for item in line.breakdown) == line.list_tcv_estimated
    assert sum(item.cost for item in line.breakdown) == line.cost_tcv_estimated


def test_deal_totals_come_from_exact_line_values() -> None:
    # Three lines of 100 / quarter: each reports an MRR of 33.33, yet the deal's is 100.00.
    lines = [custom_line(recurring("100", period="quarter")) for _ in range(3)]
    result = price(*lines)
    assert [line.mrr for line in result.lines] == [Decimal("33.33")] * 3
    assert result.totals.mrr == Decimal("100.00")
    exact = price_lines_exact(deal(*lines), demo())
    assert sum(line.figures.mrr for line in exact) * 3 == 300


def test_figures_serialise_as_json_strings() -> None:
    dumped = price(sku_line("PLAT-SEAT", "1")).model_dump(mode="json")
    assert dumped["totals"]["mrr"] == "120.00"
    assert dumped["lines"][0]["quantity"] == "1"
    assert dumped["totals"]["gross_margin_pct"] == "85.00"


Loc = tuple[str | int, ...]


@pytest.mark.parametrize(
    ("lines", "products", "expected"),
    [
        ([sku_line("NOPE")], {}, [(("lines", 0, "sku"), "unknown_sku")]),
        (
            [sku_line("OLD")],
            catalog(product("OLD", one_time("1"), active=False)),
            [(("lines", 0, "sku"), "inactive_sku")],
        ),
        (
            [sku_line("EURO")],
            catalog(product("EURO", one_time("1"), currency="EUR")),
            [(("lines", 0, "sku"), "currency_mismatch")],
        ),
        # a discount amount over the line's 12 x 120 = 1,440 list would make net negative
        (
            [sku_line("PLAT-SEAT", discount_amount="1440.01")],
            None,
            [(("lines", 0, "discount_amount"), "net_below_zero")],
        ),
        (
            [custom_line(one_time("0"), discount_amount="0.01")],
            None,
            [(("lines", 0, "discount_amount"), "net_below_zero")],
        ),
        # every bad line is reported, not just the first
        (
            [sku_line("PLAT-SEAT"), sku_line("NOPE"), sku_line("ALSO-NOPE")],
            None,
            [(("lines", 1, "sku"), "unknown_sku"), (("lines", 2, "sku"), "unknown_sku")],
        ),
    ],
)
def test_pricing_errors_point_at_the_offending_field(
    lines: list[dict[str, Any]], products: dict[str, Any] | None, expected: list[tuple[Loc, str]]
) -> None:
    with pytest.raises(PricingError) as caught:
        price(*lines, products=products)
    assert [(issue.loc, issue.code) for issue in caught.value.errors] == expected
    assert all(issue.msg for issue in caught.value.errors)
    assert isinstance(caught.value, ValueError)


def test_a_price_book_in_the_deals_currency_prices() -> None:
    products = catalog(product("EURO", recurring("10"), currency="EUR"))
    line = price_line(sku_line("EURO", "3"), currency="EUR", products=products)
    assert line.mrr == Decimal("30.00")


def test_pricing_is_pure() -> None:
    products = demo()
    request = deal(sku_line("PLAT-SEAT", "5"), sku_line("API-CALLS"), term_months=24)
    before = (request.model_dump(), {k: v.model_dump() for k, v in products.items()})
    assert price_deal(request, products) == price_deal(request, products)
    assert (request.model_dump(), {k: v.model_dump() for k, v in products.items()}) == before


def test_priced_lines_keep_their_index_and_quantity() -> None:
    result = price(sku_line("PLAT-SEAT", "2.5"), custom_line(one_time("1"), name="X"))
    assert [(line.index, line.quantity, line.name) for line in result.lines] == [
        (0, Decimal("2.5"), "Platform seat"),
        (1, Decimal("1"), "X"),
    ]
    assert isinstance(result.lines[0], PricedLine)
