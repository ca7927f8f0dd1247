"""The charge shapes of the contract, one pydantic parameter model per charge model.

A charge is a discriminated union on ``type``; a usage charge is itself a discriminated union on
``model``, so each rating model carries exactly its own parameters (``tiers`` for graduated and
volume, ``package_size``/``package_price`` for package) and a JSON body with a parameter of
another model is refused by ``extra="forbid"`` instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from pricing.types import Amount, Quantity

MAX_TIERS = 50
MAX_RAMP_STEPS = 119  # from_month runs 2..120 and strictly increases
MAX_TERM_MONTHS = 120
ZERO = Decimal(0)


class ChargeType(StrEnum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    USAGE = "usage"


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def months(self) -> int:
        return _PERIOD_MONTHS[self]


_PERIOD_MONTHS = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}


class UsageModel(StrEnum):
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"


class PricingModel(BaseModel):
    """Base of every pricing input: unknown fields are an error, and inputs never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def invalid(code: str, message: str, loc: tuple[str | int, ...], value: Any) -> ValidationError:
    """A validation error with a machine-readable code at a location below the current field.

    Raised from a field validator, pydantic prefixes ``loc`` with the field's own path, so a
    bad tier is reported at ``(..., "tiers", 3, "up_to")`` rather than at the whole list.
    """
    return ValidationError.from_exception_data(
        "pricing",
        [InitErrorDetails(type=PydanticCustomError(code, message), loc=loc, input=value)],
    )


def _tags_required(schema: dict[str, Any]) -> None:
    # The tags have defaults for building charges in Python, but a JSON body must name them
    # (they choose the model), and the flat oneOf below needs them to tell members apart.
    properties = schema.get("properties", {})
    required = schema.setdefault("required", [])
    for tag in ("type", "model"):
        if tag in properties and tag not in required:
            required.insert(0, tag)


class ChargeBase(PricingModel):
    """What every charge shares: its tags are required in JSON."""

    model_config = ConfigDict(json_schema_extra=_tags_required)


class Tier(PricingModel):
    up_to: Annotated[Quantity, Field(gt=0)] | None = Field(
        description="inclusive upper bound of the tier in units per month; null on the last tier"
    )
    unit_price: Amount
    flat_fee: Amount = ZERO


class RampStep(PricingModel):
    from_month: Annotated[int, Field(strict=True, ge=2, le=MAX_TERM_MONTHS)]
    unit_price: Amount


class OneTimeCharge(ChargeBase):
    type: Literal["one_time"] = "one_time"
    unit_price: Amount
    unit_cost: Amount = ZERO


class RecurringCharge(ChargeBase):
    type: Literal["recurring"] = "recurring"
    period: Period = Period.MONTH
    unit_price: Amount
    unit_cost: Amount = Field(default=ZERO, description="per unit per the same period")
    ramp: list[RampStep] = Field(default_factory=list, max_length=MAX_RAMP_STEPS)

    @field_validator("ramp")
    @classmethod
    def _ramp_increases(cls, ramp: list[RampStep]) -> list[RampStep]:
        for index in range(1, len(ramp)):
            if ramp[index].from_month <= ramp[index - 1].from_month:
                raise invalid(
                    "ramp_not_increasing",
                    f"ramp step {index} starts in month {ramp[index].from_month}, which must be "
                    f"after the previous step's month {ramp[index - 1].from_month}",
                    (index, "from_month"),
                    ramp[index].from_month,
                )
        return ramp


class UsageCharge(ChargeBase):
    """What every usage charge has; the concrete classes below add their model's parameters."""

    type: Literal["usage"] = "usage"
    free_units: Quantity = Field(default=ZERO, description="units per month not rated")
    minimum_commitment: Amount = Field(default=ZERO, description="monthly floor after discounts")
    estimated_quantity: Quantity = Field(default=ZERO, description="expected units per month")
    unit_cost: Amount = Field(default=ZERO, description="per unit consumed, free units included")

    @model_validator(mode="before")
    @classmethod
    def _concrete_only(cls, data: Any) -> Any:
        # Without a model there is nothing to rate; a TypeError (not a ValidationError) because
        # this is a programming mistake, never bad input: JSON goes through ``Charge``.
        if cls is UsageCharge:
            raise TypeError(
                "UsageCharge is the base of the usage models: build PerUnitUsage, GraduatedUsage,"
                " VolumeUsage or PackageUsage, or validate through the Charge union"
            )
        return data


class PerUnitUsage(UsageCharge):
    model: Literal["per_unit"] = "per_unit"
    unit_price: Amount


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Tiers ascend strictly and only the last one is open-ended, so every quantity has a tier."""
    last = len(tiers) - 1
    for index, tier in enumerate(tiers):
        if index == last:
            if tier.up_to is not None:
                raise invalid(
                    "last_tier_bounded",
                    "the last tier's up_to must be null so that every quantity has a price",
                    (index, "up_to"),
                    tier.up_to,
                )
        elif tier.up_to is None:
            raise invalid(
                "open_tier_not_last",
                f"only the last tier may have a null up_to; tier {index} is not the last",
                (index, "up_to"),
                None,
            )
        elif index > 0 and tier.up_to <= _bound(tiers[index - 1]):
            raise invalid(
                "tiers_not_ascending",
                f"tier {index}'s up_to ({tier.up_to}) must exceed tier {index - 1}'s "
                f"({tiers[index - 1].up_to})",
                (index, "up_to"),
                tier.up_to,
            )


def _bound(tier: Tier) -> Decimal:
    # Only called on tiers already checked to be bounded.
    assert tier.up_to is not None
    return tier.up_to


class TieredUsage(UsageCharge):
    tiers: list[Tier] = Field(min_length=1, max_length=MAX_TIERS)

    @field_validator("tiers")
    @classmethod
    def _tiers_ascend(cls, tiers: list[Tier]) -> list[Tier]:
        check_tiers(tiers)
        return tiers


class GraduatedUsage(TieredUsage):
    model: Literal["graduated"] = "graduated"


class VolumeUsage(TieredUsage):
    model: Literal["volume"] = "volume"


class PackageUsage(UsageCharge):
    model: Literal["package"] = "package"
    package_size: Annotated[Quantity, Field(gt=0)]
    package_price: Amount


AnyUsageCharge = PerUnitUsage | GraduatedUsage | VolumeUsage | PackageUsage
AnyCharge = OneTimeCharge | RecurringCharge | AnyUsageCharge

_TYPE_TAGS = frozenset(ChargeType)
_MODEL_TAGS = frozenset(UsageModel)
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})
_KNOWN_ERRORS = frozenset(get_args(ErrorType))


def _untag(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # pydantic puts the discriminator values into error locations
    # (pydantic/pydantic#3947, still open); an API client needs the path of the field it sent.
    if loc and loc[0] in _TYPE_TAGS:
        usage = loc[0] == ChargeType.USAGE
        loc = loc[1:]
        if usage and loc and loc[0] in _MODEL_TAGS:
            loc = loc[1:]
    return loc


def _charge_locations(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        details = [_relocated(error) for error in exc.errors()]
        raise ValidationError.from_exception_data(exc.title, details) from None


def _relocated(error: ErrorDetails) -> InitErrorDetails:
    error_type: ErrorType | PydanticCustomError
    if error["type"] in _KNOWN_ERRORS:
        # Keep pydantic's own error types (and their ctx, which FastAPI passes on) as they were.
        error_type = cast(ErrorType, error["type"])
    else:
        error_type = PydanticCustomError(error["type"], error["msg"])
    loc = _untag(error["loc"])
    if error["type"] in _TAG_ERRORS:
        # Point at the field that holds the bad tag, as a "missing" error would.
        on_model = bool(error["loc"]) and error["loc"][-1] == ChargeType.USAGE
        loc = (*loc, "model" if on_model else "type")
    detail = InitErrorDetails(type=error_type, loc=loc, input=error["input"])
    if "ctx" in error and not isinstance(error_type, PydanticCustomError):
        detail["ctx"] = error["ctx"]
    return detail


UsageChargeVariant = Annotated[AnyUsageCharge, Field(discriminator="model")]


class _FlatChargeSchema:
    """Publish ``Charge`` in JSON Schema as one flat ``oneOf`` of the six parameter models.

    pydantic writes the nested union with a discriminator mapping whose "usage" entry is an
    object, which OpenAPI does not allow (mapping values are references); every member already
    pins its own ``type`` (and ``model``) with a const, so a plain ``oneOf`` is unambiguous.
    """

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        generated = handler(schema)
        members: list[JsonSchemaValue] = []
        for member in generated.get("oneOf", []):
            members.extend(member.get("oneOf", [member]))
        if not members:
            return generated
        return {"oneOf": members}


Charge = Annotated[
    OneTimeCharge | RecurringCharge | UsageChargeVariant,
    Field(discriminator="type"),
    WrapValidator(_charge_locations),
    _FlatChargeSchema(),
]
"""Any charge, chosen by ``type`` (and for usage by ``model``), as the contract writes it."""
