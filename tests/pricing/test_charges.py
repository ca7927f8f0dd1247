from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from pricing import (
    Charge,
    GraduatedUsage,
    OneTimeCharge,
    PackageUsage,
    Period,
    PerUnitUsage,
    ProductSpec,
    RecurringCharge,
    UsageCharge,
    VolumeUsage,
)
from tests.pricing.builders import graduated, one_time, package, per_unit, recurring, tier, volume

CHARGE: TypeAdapter[Any] = TypeAdapter(Charge)


def errors_of(data: Any) -> list[tuple[str, tuple[str | int, ...]]]:
    with pytest.raises(ValidationError) as caught:
        CHARGE.validate_python(data)
    return [(error["type"], error["loc"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (one_time("100"), OneTimeCharge),
        (recurring("120"), RecurringCharge),
        (per_unit("0.1", "10"), PerUnitUsage),
        (graduated([tier(None, "1")], "10"), GraduatedUsage),
        (volume([tier(None, "1")], "10"), VolumeUsage),
        (package("10", "5", "10"), PackageUsage),
    ],
)
def test_type_and_model_choose_the_parameter_model(data: dict[str, Any], cls: type) -> None:
    charge = CHARGE.validate_python(data)
    assert type(charge) is cls
    if cls not in (OneTimeCharge, RecurringCharge):
        assert isinstance(charge, UsageCharge)


def test_defaults_follow_the_contract() -> None:
    charge = CHARGE.validate_json('{"type": "recurring", "unit_price": "120"}')
    assert charge == RecurringCharge(unit_price=Decimal("120"))
    assert charge.period is Period.MONTH
    assert charge.unit_cost == 0
    assert charge.ramp == []
    usage = CHARGE.validate_json('{"type": "usage", "model": "per_unit", "unit_price": "1"}')
    assert (usage.free_units, usage.minimum_commitment, usage.estimated_quantity) == (0, 0, 0)


def test_a_charge_round_trips_through_json() -> None:
    charge = CHARGE.validate_python(
        graduated([tier("10", "1", "5"), tier(None, "0.5")], "100", minimum_commitment="20")
    )
    assert CHARGE.validate_json(CHARGE.dump_json(charge)) == charge


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # tiers must ascend strictly; the error points at the offending bound
        (
            graduated([tier("10", "1"), tier("10", "1"), tier(None, "1")], "5"),
            [("tiers_not_ascending", ("tiers", 1, "up_to"))],
        ),
        (
            volume([tier("10", "1"), tier("5", "1"), tier(None, "1")], "5"),
            [("tiers_not_ascending", ("tiers", 1, "up_to"))],
        ),
        (
            graduated([tier("10", "1"), tier("20", "1")], "5"),
            [("last_tier_bounded", ("tiers", 1, "up_to"))],
        ),
        (
            graduated([tier(None, "1"), tier("20", "1"), tier(None, "1")], "5"),
            [("open_tier_not_last", ("tiers", 0, "up_to"))],
        ),
        (graduated([], "5"), [("too_short", ("tiers",))]),
        (
            graduated([tier(str(n), "1") for n in range(1, 51)] + [tier(None, "1")], "5"),
            [("too_long", ("tiers",))],
        ),
        (
            graduated([tier("0", "1"), tier(None, "1")], "5"),
            [("greater_than", ("tiers", 0, "up_to"))],
        ),
        # package needs a positive size and a price
        (package("0", "5", "10"), [("greater_than", ("package_size",))]),
        (
            {"type": "usage", "model": "package", "package_size": "10"},
            [("missing", ("package_price",))],
        ),
        # per_unit needs a unit price, and only its own parameters
        ({"type": "usage", "model": "per_unit"}, [("missing", ("unit_price",))]),
        (
            per_unit("1", "5", tiers=[tier(None, "1")]),
            [("extra_forbidden", ("tiers",))],
        ),
        # ramps start in month 2 or later and increase
        (recurring("1", ramp=[(1, "2")]), [("greater_than_equal", ("ramp", 0, "from_month"))]),
        (
            recurring("1", ramp=[(13, "2"), (13, "3")]),
            [("ramp_not_increasing", ("ramp", 1, "from_month"))],
        ),
        (
            recurring("1", ramp=[(25, "2"), (13, "3")]),
            [("ramp_not_increasing", ("ramp", 1, "from_month"))],
        ),
        (recurring("1", period="week"), [("enum", ("period",))]),
        # the discriminators themselves
        ({"type": "subscription", "unit_price": "1"}, [("union_tag_invalid", ("type",))]),
        ({"unit_price": "1"}, [("union_tag_not_found", ("type",))]),
        ({"type": "usage", "model": "tiered"}, [("union_tag_invalid", ("model",))]),
        ({"type": "usage", "unit_price": "1"}, [("union_tag_not_found", ("model",))]),
        # every amount is a bounded decimal string
        (one_time("-1"), [("greater_than_equal", ("unit_price",))]),
        ({"type": "one_time", "unit_price": 100}, [("decimal_string_type", ("unit_price",))]),
        (one_time("1", unit_cost="1e3"), [("decimal_string", ("unit_cost",))]),
    ],
)
def test_invalid_charges_are_refused_at_the_field_with_a_code(
    data: dict[str, Any], expected: list[tuple[str, tuple[str | int, ...]]]
) -> None:
    assert errors_of(data) == expected


def test_error_locations_carry_no_union_tags_inside_a_product() -> None:
    # pydantic would say ("charges", 0, "usage", "graduated", "tiers", 1, "up_to").
    with pytest.raises(ValidationError) as caught:
        ProductSpec.model_validate(
            {
                "name": "API",
                "charges": [
                    one_time("1"),
                    graduated([tier("10", "1"), tier("5", "1"), tier(None, "1")], "5"),
                ],
            }
        )
    assert [error["loc"] for error in caught.value.errors()] == [
        ("charges", 1, "tiers", 1, "up_to")
    ]


def test_up_to_fifty_tiers_are_allowed() -> None:
    tiers = [tier(str(n), "1") for n in range(1, 50)] + [tier(None, "1")]
    charge = CHARGE.validate_python(graduated(tiers, "5"))
    assert len(charge.tiers) == 50


def test_charges_are_immutable() -> None:
    charge = OneTimeCharge(unit_price=Decimal(1))
    with pytest.raises(ValidationError):
        charge.unit_price = Decimal(2)  # type: ignore[misc]


def test_json_schema_lists_the_six_charge_shapes_flat_with_required_tags() -> None:
    # OpenAPI allows only references in a discriminator mapping, so the nested union is
    # published as a flat oneOf, each member pinned by its required tags.
    schema = ProductSpec.model_json_schema()
    members = schema["properties"]["charges"]["items"]["oneOf"]
    names = [member["$ref"].rsplit("/", 1)[1] for member in members]
    assert names == [
        "OneTimeCharge",
        "RecurringCharge",
        "PerUnitUsage",
        "GraduatedUsage",
        "VolumeUsage",
        "PackageUsage",
    ]
    definitions = schema["$defs"]
    assert definitions["GraduatedUsage"]["required"][:2] == ["model", "type"]
    assert definitions["GraduatedUsage"]["properties"]["model"]["const"] == "graduated"
    assert definitions["OneTimeCharge"]["required"][0] == "type"
    assert definitions["Tier"]["properties"]["unit_price"]["type"] == "string"


def test_the_usage_base_class_cannot_be_built_without_a_model() -> None:
    with pytest.raises(TypeError, match="PerUnitUsage"):
        UsageCharge(estimated_quantity=Decimal(1))
