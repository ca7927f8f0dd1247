"""Each charge model's strategy at list price, one row per edge, the arithmetic in a comment."""

from __future__ import annotations

from decimal import Decimal, localcontext
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import TypeAdapter

from pricing import Charge, ChargeModel, strategy_for
from pricing.money import PRICING_CONTEXT
from pricing.strategies import ChargeRating, charge_model, rate_charge
from tests.pricing.builders import graduated, one_time, package, per_unit, recurring, tier, volume

CHARGE: TypeAdapter[Any] = TypeAdapter(Charge)


def rate(data: dict[str, Any], quantity: str = "1", term: int = 12) -> ChargeRating:
    return rate_charge(
        CHARGE.validate_python(data), quantity=Decimal(quantity), term_months=term, currency="USD"
    )


def test_the_factory_has_one_strategy_per_model() -> None:
    for model in ChargeModel:
        strategy = strategy_for(model)
        assert strategy.model is model
        # each strategy names the pydantic model that validates its parameters
        fields = strategy.parameters.model_fields
        discriminator = "model" if "model" in fields else "type"
        assert fields[discriminator].default == model.value


@pytest.mark.parametrize(
    ("data", "model"),
    [
        (one_time("1"), ChargeModel.ONE_TIME),
        (recurring("1"), ChargeModel.RECURRING),
        (per_unit("1", "1"), ChargeModel.PER_UNIT),
        (graduated([tier(None, "1")], "1"), ChargeModel.GRADUATED),
        (volume([tier(None, "1")], "1"), ChargeModel.VOLUME),
        (package("1", "1", "1"), ChargeModel.PACKAGE),
    ],
)
def test_each_charge_is_rated_by_its_models_strategy(
    data: dict[str, Any], model: ChargeModel
) -> None:
    assert charge_model(CHARGE.validate_python(data)) is model
    assert rate(data).model is model


GRADUATED_FEES = [tier("100", "0", "10"), tier("1000", "0.1", "20"), tier(None, "0.05", "30")]
VOLUME_TIERS = [tier("10000", "0.05"), tier("100000", "0.04"), tier(None, "0.03", "100")]


@pytest.mark.parametrize(
    ("data", "quantity", "term", "one_time", "monthly", "recurring_tcv", "usage_monthly"),
    [
        # 2 x 24,000 once
        (one_time("24000"), "2", 12, "48000", "0", "0", "0"),
        # 10 x 120 a month, 12 months: 1,200 / month, 14,400
        (recurring("120"), "10", 12, "0", "1200", "14400", "0"),
        # 10 x 90 a quarter = 300 a month; 36 months: 10,800
        (recurring("90", period="quarter"), "10", 36, "0", "300", "10800", "0"),
        # 24,000 a year = 2,000 a month; 36 months: 72,000
        (recurring("24000", period="year"), "1", 36, "0", "2000", "72000", "0"),
        # 100 a quarter is 33.33... a month, exactly 400 over 12 months (no rounding drift)
        (recurring("100", period="quarter"), "1", 12, "0", "100" + "/3", "400", "0"),
        # ramp 100, 110 from month 13, 120 from month 25: 12x100 + 12x110 + 12x120 = 3,960
        (recurring("100", ramp=[(13, "110"), (25, "120")]), "1", 36, "0", "100", "3960", "0"),
        # ramp cut by the term: 12x100 + 6x200 = 2,400
        (recurring("100", ramp=[(13, "200")]), "1", 18, "0", "100", "2400", "0"),
        # ramp starting after the term: never in force, 12 x 100
        (recurring("100", ramp=[(13, "200")]), "1", 12, "0", "100", "1200", "0"),
        # ramp in the last month only: 11 x 100 + 1 x 200
        (recurring("100", ramp=[(12, "200")]), "1", 12, "0", "100", "1300", "0"),
        # per unit: (2,000 - 100 free) x 0.10 = 190; the line quantity does not multiply usage
        (per_unit("0.10", "2000", free_units="100"), "7", 12, "0", "0", "0", "190"),
        # free units larger than the estimate: nothing to rate
        (per_unit("0.10", "50", free_units="100"), "1", 12, "0", "0", "0", "0"),
        # graduated, exactly on a boundary: 1,000 x 1 stays in tier 1
        (graduated([tier("1000", "1"), tier(None, "0.5")], "1000"), "1", 12, "0", "0", "0", "1000"),
        # one unit past it: 1,000 x 1 + 1 x 0.5
        (
            graduated([tier("1000", "1"), tier(None, "0.5")], "1001"),
            "1",
            12,
            "0",
            "0",
            "0",
            "1000.5",
        ),
        # graduated flat fees count once per tier reached: 100 units only reach tier 1 -> 10
        (graduated(GRADUATED_FEES, "100"), "1", 12, "0", "0", "0", "10"),
        # 101 units: 10 + (1 x 0.1 + 20) = 30.10
        (graduated(GRADUATED_FEES, "101"), "1", 12, "0", "0", "0", "30.1"),
        # 1,500: 10 + (900 x 0.1 + 20) + (500 x 0.05 + 30) = 10 + 110 + 55 = 175
        (graduated(GRADUATED_FEES, "1500"), "1", 12, "0", "0", "0", "175"),
        # zero units rate to zero under every model, flat fees included
        (graduated(GRADUATED_FEES, "0"), "1", 12, "0", "0", "0", "0"),
        (volume(VOLUME_TIERS, "0"), "1", 12, "0", "0", "0", "0"),
        # volume: 10,000 is inside tier 1 (inclusive) -> 10,000 x 0.05 = 500
        (volume(VOLUME_TIERS, "10000"), "1", 12, "0", "0", "0", "500"),
        # 10,001 moves every unit to tier 2: 10,001 x 0.04 = 400.04
        (volume(VOLUME_TIERS, "10001"), "1", 12, "0", "0", "0", "400.04"),
        # 100,001 in the last tier: 100,001 x 0.03 + 100 flat = 3,100.03
        (volume(VOLUME_TIERS, "100001"), "1", 12, "0", "0", "0", "3100.03"),
        # package: 2,001 units need 3 packages of 1,000: 3 x 250
        (package("1000", "250", "2001"), "1", 12, "0", "0", "0", "750"),
        # exactly 2 packages
        (package("1000", "250", "2000"), "1", 12, "0", "0", "0", "500"),
        # 1,500 less 500 free = 1,000: 1 package
        (package("1000", "250", "1500", free_units="500"), "1", 12, "0", "0", "0", "250"),
        # a fraction of a unit still starts a package
        (package("1000", "250", "0.5"), "1", 12, "0", "0", "0", "250"),
        (package("1000", "250", "0"), "1", 12, "0", "0", "0", "0"),
        # zero prices
        (one_time("0"), "5", 12, "0", "0", "0", "0"),
        (recurring("0"), "5", 12, "0", "0", "0", "0"),
    ],
)
def test_list_amounts(
    data: dict[str, Any],
    quantity: str,
    term: int,
    one_time: str,
    monthly: str,
    recurring_tcv: str,
    usage_monthly: str,
) -> None:
    rating = rate(data, quantity, term)
    with localcontext(PRICING_CONTEXT):
        numerator, _, denominator = monthly.partition("/")
        expected_monthly = Decimal(numerator) / Decimal(denominator or 1)
    assert rating.one_time == Decimal(one_time)
    assert rating.recurring_monthly == expected_monthly
    assert rating.recurring_tcv == Decimal(recurring_tcv)
    assert rating.usage_monthly == Decimal(usage_monthly)


def test_graduated_breakdown_lists_each_tier_reached() -> None:
    rating = rate(graduated(GRADUATED_FEES, "1500"))
    assert [(t.tier, t.from_units, t.up_to, t.units, t.amount) for t in rating.tiers] == [
        (0, D(0), D(100), D(100), D(10)),
        (1, D(100), D(1000), D(900), D(110)),
        (2, D(1000), None, D(500), D(55)),
    ]
    assert "tier 2: 900 x 0.10 + 20.00 flat = 110.00; tier 3:" in rating.text
    assert rating.text.endswith("in all = 175.00 / month")


def test_volume_breakdown_names_the_one_tier_used() -> None:
    rating = rate(volume(VOLUME_TIERS, "40000"))
    assert [(t.tier, t.units, t.unit_price, t.amount) for t in rating.tiers] == [
        (1, D(40000), D("0.04"), D(1600))
    ]


def test_package_breakdown_counts_packages() -> None:
    rating = rate(package("1000000", "250", "3500000", free_units="500000"))
    assert rating.packages == 3
    assert rating.units == 3000000
    assert "3 package(s) of 1,000,000 x 250.00" in rating.text


def test_ramp_breakdown_lists_segments_in_force() -> None:
    rating = rate(recurring("100", ramp=[(13, "110"), (40, "130")]), "2", 36)
    assert [(s.from_month, s.to_month, s.months, s.monthly_amount) for s in rating.segments] == [
        (1, 12, 12, D(200)),
        (13, 36, 24, D(220)),
    ]
    assert "falls after the 36-month term" in rating.text


def test_costs_follow_their_units() -> None:
    # one-time: per unit once; recurring: per unit per period; usage: per unit consumed,
    # free units included
    assert rate(one_time("10", "4"), "3").cost_tcv == 12
    assert rate(recurring("10", period="quarter", unit_cost="6"), "2", 12).cost_tcv == 48
    assert rate(per_unit("1", "150", free_units="100", unit_cost="0.5"), "9", 12).cost_tcv == 900
