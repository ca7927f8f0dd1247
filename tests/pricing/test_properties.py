"""The invariants of the pricing contract, over generated deals (hypothesis)."""

from __future__ import annotations

from dataclasses import fields
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing import (
    DealInput,
    ExactFigures,
    Figures,
    PricingError,
    demo_catalog,
    minor_units,
    price_deal,
    price_lines_exact,
)
from pricing.engine import ExactLine
from pricing.money import PRICING_CONTEXT
from tests.pricing.builders import custom_line, deal_json, sku_line

Json = dict[str, Any]

PROPERTIES = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PRODUCTS = {item.sku: item for item in demo_catalog()}
# Reported figures that are sums of separately rounded parts, and how many parts.
REPORTED_PARTS = {"tcv": 3, "tcv_estimated": 3, "gross_margin": 4, "discount_amount": 4}
ADDITIVE = (
    "one_time",
    "mrr",
    "arr",
    "recurring_tcv",
    "usage_committed_tcv",
    "usage_estimated_tcv",
    "tcv",
    "tcv_estimated",
    "acv",
    "list_tcv_estimated",
    "discount_amount",
    "cost_tcv_estimated",
    "gross_margin",
)
STORED = tuple(field.name for field in fields(ExactFigures))
NETS = ("one_time", "mrr", "recurring_tcv", "usage_estimated_tcv", "tcv", "tcv_estimated")


def text(places: int, low: str = "0", high: str = "1000") -> st.SearchStrategy[str]:
    return st.decimals(
        min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False
    ).map(str)


prices = text(4)
costs = text(2, high="500")
percents = text(2, high="100")
estimates = text(2, high="200000")


@st.composite
def tier_lists(draw: st.DrawFn, *, descending: bool = False, fees: bool = True) -> list[Json]:
    bounds = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=100_000), max_size=4)),
    )
    tier_prices = [draw(prices) for _ in range(len(bounds) + 1)]
    if descending:
        tier_prices.sort(key=Decimal, reverse=True)
    return [
        {
            "up_to": None if index == len(bounds) else str(bounds[index]),
            "unit_price": tier_prices[index],
            "flat_fee": draw(text(2, high="50")) if fees else "0",
        }
        for index in range(len(bounds) + 1)
    ]


def usage_common(draw: st.DrawFn) -> Json:
    return {
        "type": "usage",
        "estimated_quantity": draw(estimates),
        "free_units": draw(st.sampled_from(["0", "0", "100", "5000"])),
        "minimum_commitment": draw(st.sampled_from(["0", "0", "50", "2500"])),
        "unit_cost": draw(text(4, high="0.5")),
    }


@st.composite
def charges(draw: st.DrawFn) -> Json:
    kind = draw(
        st.sampled_from(["one_time", "recurring", "per_unit", "graduated", "volume", "package"])
    )
    if kind == "one_time":
        return {"type": "one_time", "unit_price": draw(prices), "unit_cost": draw(costs)}
    if kind == "recurring":
        months = sorted(draw(st.sets(st.integers(min_value=2, max_value=120), max_size=3)))
        return {
            "type": "recurring",
            "period": draw(st.sampled_from(["month", "quarter", "year"])),
            "unit_price": draw(prices),
            "unit_cost": draw(costs),
            "ramp": [{"from_month": month, "unit_price": draw(prices)} for month in months],
        }
    charge = usage_common(draw) | {"model": kind}
    if kind == "per_unit":
        charge["unit_price"] = draw(prices)
    elif kind == "package":
        charge["package_size"] = draw(text(0, low="1", high="10000"))
        charge["package_price"] = draw(prices)
    else:
        charge["tiers"] = draw(tier_lists())
    return charge


@st.composite
def lines(draw: st.DrawFn) -> Json:
    discount = draw(st.sampled_from([{}, {}, {"discount_pct": draw(percents)}]))
    quantity = draw(text(2, low="0.01", high="500"))
    if draw(st.booleans()):
        return sku_line(draw(st.sampled_from(sorted(PRODUCTS))), quantity, **discount)
    return custom_line(
        *draw(st.lists(charges(), min_size=1, max_size=3)), quantity=quantity, **discount
    )


@st.composite
def deals(draw: st.DrawFn) -> DealInput:
    data = deal_json(
        *draw(st.lists(lines(), min_size=1, max_size=5)),
        term_months=draw(st.integers(min_value=1, max_value=120)),
        header_discount_pct=draw(st.sampled_from(["0", "0", draw(percents)])),
    )
    # Discount amounts are drawn as a share of the line's list value, so that most are valid.
    exact = price_lines_exact(DealInput.model_validate(data), PRODUCTS)
    for line, priced in zip(data["lines"], exact, strict=True):
        if "discount_pct" not in line and draw(st.integers(0, 3)) == 0:
            share = draw(st.decimals(min_value=0, max_value=1, places=3))
            amount = (priced.figures.list_tcv_estimated * share).quantize(
                Decimal("0.01"), ROUND_DOWN
            )
            line["discount_amount"] = str(amount)
    return DealInput.model_validate(data)


def exact_lines(deal: DealInput) -> list[ExactLine]:
    return price_lines_exact(deal, PRODUCTS)


def value(figures: ExactFigures | Figures, name: str) -> Decimal:
    result = getattr(figures, name)
    assert isinstance(result, Decimal)
    return result


def close(a: Decimal, b: Decimal) -> bool:
    # Divisions (by 3, 12, the term, a discount ratio) carry 100 digits; doubling a quantity can
    # move the hundredth. Nothing a currency can show.
    with localcontext(PRICING_CONTEXT):
        return abs(a - b) <= Decimal("1e-80") * max(abs(a), abs(b), Decimal(1))


@PROPERTIES
@given(deals())
def test_totals_equal_the_sum_of_the_lines(deal: DealInput) -> None:
    exact = exact_lines(deal)
    totals = ExactFigures.total(line.figures for line in exact)
    with localcontext(PRICING_CONTEXT):
        for name in ADDITIVE:
            lines_sum = sum((value(line.figures, name) for line in exact), Decimal(0))
            if name in STORED:
                # What a deal stores is the sum of its lines', to the last digit.
                assert value(totals, name) == lines_sum, name
            else:
                # A derived figure (tcv = one_time + recurring + usage, ...) of the totals is
                # computed from those sums; it can differ from the sum of the lines' derived
                # figures only past the 100th significant digit that divisions carry.
                assert close(value(totals, name), lines_sum), name


@PROPERTIES
@given(deals())
def test_reported_totals_are_within_a_minor_unit_per_line_of_the_reported_lines(
    deal: DealInput,
) -> None:
    priced = price_deal(deal, PRODUCTS)
    minor = Decimal(1).scaleb(-minor_units(deal.currency))
    # Rounding the sum of n values differs from summing the n rounded values by at most
    # (n + 1) / 2 minor units; a figure reported as a sum of k rounded parts (tcv: one-time,
    # recurring and committed usage) carries k such differences.
    per_part = minor * (len(priced.lines) + 1) / 2
    for name in ADDITIVE:
        lines_sum = sum(value(line, name) for line in priced.lines)
        parts = REPORTED_PARTS.get(name, 1)
        assert abs(value(priced.totals, name) - lines_sum) <= per_part * parts, name


@PROPERTIES
@given(deals())
def test_reported_sums_foot_to_their_reported_parts(deal: DealInput) -> None:
    for figures in [*price_deal(deal, PRODUCTS).lines, price_deal(deal, PRODUCTS).totals]:
        assert figures.tcv == figures.one_time + figures.recurring_tcv + figures.usage_committed_tcv
        assert figures.tcv_estimated == (
            figures.one_time + figures.recurring_tcv + figures.usage_estimated_tcv
        )
        assert figures.gross_margin == figures.tcv_estimated - figures.cost_tcv_estimated
        assert figures.discount_amount == figures.list_tcv_estimated - figures.tcv_estimated


@PROPERTIES
@given(deals(), st.data())
def test_a_bigger_discount_never_raises_a_net_amount(deal: DealInput, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(deal.lines) - 1))
    low, high = sorted(data.draw(st.lists(percents.map(Decimal), min_size=2, max_size=2)))

    def with_discount(pct: Decimal) -> ExactLine:
        lines = list(deal.lines)
        lines[index] = lines[index].model_copy(
            update={"discount_pct": pct, "discount_amount": None}
        )
        return exact_lines(deal.model_copy(update={"lines": lines}))[index]

    def with_header(pct: Decimal) -> ExactFigures:
        changed = deal.model_copy(update={"header_discount_pct": pct})
        return ExactFigures.total(line.figures for line in exact_lines(changed))

    for cheaper, dearer in (
        (with_discount(high).figures, with_discount(low).figures),
        (with_header(high), with_header(low)),
    ):
        for name in NETS:
            assert value(cheaper, name) <= value(dearer, name), name


@PROPERTIES
@given(tier_lists(descending=True, fees=False), estimates, st.sampled_from(["0", "100"]))
def test_graduated_never_exceeds_per_unit_at_the_first_tiers_price(
    tiers: list[Json], estimate: str, free: str
) -> None:
    common = {"type": "usage", "estimated_quantity": estimate, "free_units": free}
    graduated = custom_line(common | {"model": "graduated", "tiers": tiers})
    per_unit = custom_line(common | {"model": "per_unit", "unit_price": tiers[0]["unit_price"]})
    [tiered, flat] = exact_lines(DealInput.model_validate(deal_json(graduated, per_unit)))
    assert tiered.figures.usage_estimated_tcv <= flat.figures.usage_estimated_tcv


@PROPERTIES
@given(deals())
def test_margin_percent_is_at_most_100(deal: DealInput) -> None:
    priced = price_deal(deal, PRODUCTS)
    for figures in [*priced.lines, priced.totals]:
        if figures.gross_margin_pct is not None:
            assert figures.gross_margin_pct <= 100
    for line in exact_lines(deal):
        exact = line.figures.gross_margin_pct
        assert exact is None or exact <= 100


@st.composite
def unit_lines(draw: st.DrawFn) -> Json:
    """A custom line of one-time and recurring charges: priced per unit of line quantity."""
    line_charges = draw(
        st.lists(charges().filter(lambda c: c["type"] != "usage"), min_size=1, max_size=3)
    )
    discount = draw(st.sampled_from([{}, {"discount_pct": draw(percents)}]))
    return custom_line(*line_charges, quantity=draw(text(2, low="0.01", high="500")), **discount)


@PROPERTIES
@given(unit_lines(), st.integers(min_value=1, max_value=120), percents)
def test_doubling_a_per_unit_or_recurring_lines_quantity_doubles_its_nets(
    line: Json, term: int, header: str
) -> None:
    doubled = line | {"quantity": str(Decimal(line["quantity"]) * 2)}
    data = deal_json(line, doubled, term_months=term, header_discount_pct=header)
    single, double = exact_lines(DealInput.model_validate(data))
    for name in (*NETS, "list_tcv_estimated", "cost_tcv_estimated", "acv"):
        assert close(
            value(double.figures, name), PRICING_CONTEXT.multiply(2, value(single.figures, name))
        ), name


@PROPERTIES
@given(prices, estimates, percents, st.integers(min_value=1, max_value=120))
def test_doubling_per_unit_usage_doubles_its_net(
    unit_price: str, estimate: str, discount: str, term: int
) -> None:
    def usage(quantity: Decimal) -> Json:
        charge = {"type": "usage", "model": "per_unit", "unit_price": unit_price}
        return custom_line(charge | {"estimated_quantity": str(quantity)}, discount_pct=discount)

    data = deal_json(usage(Decimal(estimate)), usage(Decimal(estimate) * 2), term_months=term)
    single, double = exact_lines(DealInput.model_validate(data))
    expected = PRICING_CONTEXT.multiply(2, single.figures.usage_estimated_tcv)
    assert double.figures.usage_estimated_tcv == expected


@PROPERTIES
@given(deals())
def test_estimated_tcv_is_at_least_tcv_when_usage_meets_its_commitment(deal: DealInput) -> None:
    # Billed usage is max(discounted rating, minimum) every month, so an estimate always "meets"
    # its commitment as far as billing goes and the inequality holds for every deal.
    priced = price_deal(deal, PRODUCTS)
    for figures in [*priced.lines, priced.totals]:
        assert figures.tcv_estimated >= figures.tcv
    for line in exact_lines(deal):
        assert line.figures.tcv_estimated >= line.figures.tcv


@PROPERTIES
@given(deals(), st.decimals(min_value=0, max_value=2, places=2))
def test_any_valid_deal_prices_or_raises_a_pricing_error(deal: DealInput, share: Decimal) -> None:
    # A discount amount past the list is the one input error left for pricing to find; anything
    # else pydantic accepted must price (the API promises a 422, never a 500).
    exact = exact_lines(deal)
    amount = (exact[0].figures.list_tcv_estimated * share).quantize(Decimal("0.01"), ROUND_DOWN)
    first = deal.lines[0].model_copy(update={"discount_pct": None, "discount_amount": amount})
    changed = deal.model_copy(update={"lines": [first, *deal.lines[1:]]})
    if amount > exact[0].figures.list_tcv_estimated:
        with pytest.raises(PricingError) as caught:
            price_deal(changed, PRODUCTS)
        assert [(issue.loc, issue.code) for issue in caught.value.errors] == [
            (("lines", 0, "discount_amount"), "net_below_zero")
        ]
    else:
        assert len(price_deal(changed, PRODUCTS).lines) == len(deal.lines)
