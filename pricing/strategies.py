"""One rating strategy per charge model, behind a factory keyed by ``ChargeModel``.

A strategy rates one charge at list price (before any discount) with closed forms only: a
recurring charge is summed segment by segment of its ramp, never month by month, and usage is
rated once for a typical month and multiplied by the term. Discounts, the usage minimum
commitment after discounts, and the deal figures are the engine's job (``pricing.engine``),
because they are the same for every model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pricing.charges import (
    ZERO,
    AnyCharge,
    GraduatedUsage,
    OneTimeCharge,
    PackageUsage,
    PerUnitUsage,
    PricingModel,
    RecurringCharge,
    Tier,
    UsageCharge,
    VolumeUsage,
)
from pricing.money import PRICING_CONTEXT, money_quantum


class ChargeModel(StrEnum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"


def charge_model(charge: AnyCharge) -> ChargeModel:
    if isinstance(charge, UsageCharge):
        return ChargeModel(charge.model)
    return ChargeModel(charge.type)


@dataclass(slots=True)
class TierRating:
    """Units of one month's usage that fell in one tier, and what they cost at list."""

    tier: int
    from_units: Decimal  # exclusive: the previous tier's up_to
    up_to: Decimal | None
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(slots=True)
class RampSegment:
    """Contract months from_month..to_month (inclusive) at one recurring unit price."""

    from_month: int
    to_month: int
    unit_price: Decimal
    monthly_amount: Decimal  # at list, for the whole line quantity

    @property
    def months(self) -> int:
        return self.to_month - self.from_month + 1

    @property
    def months_text(self) -> str:
        if self.to_month == self.from_month:
            return f"month {self.from_month}"
        return f"months {self.from_month}-{self.to_month}"


@dataclass(slots=True)
class ChargeRating:
    """One charge at list price over the term; every figure exact."""

    model: ChargeModel
    text: str
    units: Decimal  # the line quantity, or for usage the billable units of a month
    one_time: Decimal = ZERO
    recurring_monthly: Decimal = ZERO  # month 1
    recurring_tcv: Decimal = ZERO
    usage_monthly: Decimal = ZERO  # rated, before the minimum commitment
    minimum_monthly: Decimal = ZERO
    cost_tcv: Decimal = ZERO
    segments: tuple[RampSegment, ...] = ()
    tiers: tuple[TierRating, ...] = ()
    packages: Decimal | None = None

    def list_tcv(self, term_months: int) -> Decimal:
        usage = max(self.usage_monthly, self.minimum_monthly) * term_months
        return self.one_time + self.recurring_tcv + usage


C = TypeVar("C", bound=PricingModel)


class ChargeStrategy(ABC, Generic[C]):
    """Rates one charge model; ``parameters`` is the pydantic model that validates its input."""

    model: ClassVar[ChargeModel]
    parameters: ClassVar[type[PricingModel]]

    @abstractmethod
    def rate(
        self, charge: C, *, quantity: Decimal, term_months: int, currency: str
    ) -> ChargeRating:
        """The charge at list price for ``quantity`` units of the line over ``term_months``."""


class OneTimeStrategy(ChargeStrategy[OneTimeCharge]):
    model = ChargeModel.ONE_TIME
    parameters = OneTimeCharge

    def rate(
        self, charge: OneTimeCharge, *, quantity: Decimal, term_months: int, currency: str
    ) -> ChargeRating:
        amount = charge.unit_price * quantity
        return ChargeRating(
            model=self.model,
            text=(
                f"{units(quantity)} x {price(charge.unit_price, currency)} once"
                f" = {money(amount, currency)}"
            ),
            units=quantity,
            one_time=amount,
            cost_tcv=charge.unit_cost * quantity,
        )


class RecurringStrategy(ChargeStrategy[RecurringCharge]):
    model = ChargeModel.RECURRING
    parameters = RecurringCharge

    def rate(
        self, charge: RecurringCharge, *, quantity: Decimal, term_months: int, currency: str
    ) -> ChargeRating:
        per_month = charge.period.months
        monthly = charge.unit_price * quantity / per_month
        head = (
            f"{units(quantity)} x {price(charge.unit_price, currency)} / {charge.period.value}"
            f" = {money(monthly, currency)} / month"
        )
        cost_tcv = charge.unit_cost * quantity * term_months / per_month
        if not charge.ramp:
            return ChargeRating(
                model=self.model,
                text=head,
                units=quantity,
                recurring_monthly=monthly,
                recurring_tcv=monthly * term_months,
                cost_tcv=cost_tcv,
            )
        # A ramp is summed segment by segment: sum of (months in force x unit price), then one
        # multiplication by quantity / period, so the total stays exact whenever it can be.
        starts = [1, *(step.from_month for step in charge.ramp)]
        prices = [charge.unit_price, *(step.unit_price for step in charge.ramp)]
        segments: list[RampSegment] = []
        price_months = ZERO
        for index, start in enumerate(starts):
            if start > term_months:
                break  # this step and every later one begins after the term
            end = starts[index + 1] - 1 if index + 1 < len(starts) else term_months
            end = min(end, term_months)
            amount = monthly if index == 0 else prices[index] * quantity / per_month
            segments.append(RampSegment(start, end, prices[index], amount))
            price_months += (end - start + 1) * prices[index]
        parts = [f"{head} in {segments[0].months_text}"]
        parts.extend(
            f"{price(segment.unit_price, currency)}"
            f" ({money(segment.monthly_amount, currency)} / month) in {segment.months_text}"
            for segment in segments[1:]
        )
        text = ", ".join(parts)
        if len(segments) < len(starts):
            text += (
                f" (the step from month {starts[len(segments)]} falls after the"
                f" {term_months}-month term)"
            )
        return ChargeRating(
            model=self.model,
            text=text,
            units=quantity,
            recurring_monthly=monthly,
            recurring_tcv=price_months * quantity / per_month,
            cost_tcv=cost_tcv,
            segments=tuple(segments),
        )


U = TypeVar("U", bound=UsageCharge)


@dataclass(slots=True)
class MonthRating:
    """One month of usage rated at list: the amount, how it was reached, and its parts."""

    amount: Decimal
    detail: str  # the working, without the amount itself
    tiers: tuple[TierRating, ...] = ()
    packages: Decimal | None = None


class UsageStrategy(ChargeStrategy[U]):
    """Usage is rated on one month's billable units; the line quantity does not multiply it."""

    def rate(
        self, charge: U, *, quantity: Decimal, term_months: int, currency: str
    ) -> ChargeRating:
        billable = max(charge.estimated_quantity - charge.free_units, ZERO)
        # A month with nothing to rate costs nothing under every model, flat fees included.
        month = (
            self.rate_month(charge, billable, currency)
            if billable > 0
            else MonthRating(ZERO, "nothing to rate")
        )
        estimate = f"{units(charge.estimated_quantity)} units / month"
        if charge.free_units:
            estimate += f", {units(charge.free_units)} free, {units(billable)} billable"
        return ChargeRating(
            model=self.model,
            text=(
                f"{estimate}, {self.model.value.replace('_', '-')}: {month.detail}"
                f" = {money(month.amount, currency)} / month"
            ),
            units=billable,
            usage_monthly=month.amount,
            minimum_monthly=charge.minimum_commitment,
            # Free units are still consumed, so they still cost.
            cost_tcv=charge.unit_cost * charge.estimated_quantity * term_months,
            tiers=month.tiers,
            packages=month.packages,
        )

    @abstractmethod
    def rate_month(self, charge: U, billable: Decimal, currency: str) -> MonthRating:
        """A month of ``billable`` (> 0) units at list price."""


class PerUnitStrategy(UsageStrategy[PerUnitUsage]):
    model = ChargeModel.PER_UNIT
    parameters = PerUnitUsage

    def rate_month(self, charge: PerUnitUsage, billable: Decimal, currency: str) -> MonthRating:
        return MonthRating(
            charge.unit_price * billable,
            f"{units(billable)} x {price(charge.unit_price, currency)}",
        )


def _tier_text(rating: TierRating, currency: str) -> str:
    text = f"tier {rating.tier + 1}: {units(rating.units)} x {price(rating.unit_price, currency)}"
    if rating.flat_fee:
        text += f" + {money(rating.flat_fee, currency)} flat"
    return text


class GraduatedStrategy(UsageStrategy[GraduatedUsage]):
    model = ChargeModel.GRADUATED
    parameters = GraduatedUsage

    def rate_month(self, charge: GraduatedUsage, billable: Decimal, currency: str) -> MonthRating:
        ratings: list[TierRating] = []
        lower = ZERO
        for index, tier in enumerate(charge.tiers):
            top = billable if tier.up_to is None else min(billable, tier.up_to)
            in_tier = top - lower
            # Bounds are inclusive: exactly up_to units stay in this tier, and a tier's flat fee
            # counts only when at least part of a unit falls in it (we stop at the first tier
            # that holds the last unit).
            amount = in_tier * tier.unit_price + tier.flat_fee
            ratings.append(
                TierRating(
                    index, lower, tier.up_to, in_tier, tier.unit_price, tier.flat_fee, amount
                )
            )
            if tier.up_to is None or billable <= tier.up_to:
                break
            lower = tier.up_to
        total = sum((rating.amount for rating in ratings), ZERO)
        detail = "; ".join(
            f"{_tier_text(rating, currency)} = {money(rating.amount, currency)}"
            for rating in ratings
        )
        return MonthRating(total, f"{detail}; in all", tuple(ratings))


def volume_tier(tiers: list[Tier], billable: Decimal) -> int:
    """Index of the tier whose inclusive bound holds the whole quantity."""
    for index, tier in enumerate(tiers):
        if tier.up_to is None or billable <= tier.up_to:
            return index
    raise AssertionError("validated tiers end with an open tier")


class VolumeStrategy(UsageStrategy[VolumeUsage]):
    model = ChargeModel.VOLUME
    parameters = VolumeUsage

    def rate_month(self, charge: VolumeUsage, billable: Decimal, currency: str) -> MonthRating:
        index = volume_tier(charge.tiers, billable)
        tier = charge.tiers[index]
        previous = charge.tiers[index - 1].up_to if index else None
        lower = ZERO if previous is None else previous
        amount = billable * tier.unit_price + tier.flat_fee
        rating = TierRating(
            index, lower, tier.up_to, billable, tier.unit_price, tier.flat_fee, amount
        )
        return MonthRating(amount, f"every unit at {_tier_text(rating, currency)}", (rating,))


class PackageStrategy(UsageStrategy[PackageUsage]):
    model = ChargeModel.PACKAGE
    parameters = PackageUsage

    def rate_month(self, charge: PackageUsage, billable: Decimal, currency: str) -> MonthRating:
        # A started package is a whole package.
        packages = (billable / charge.package_size).to_integral_value(rounding=ROUND_CEILING)
        return MonthRating(
            packages * charge.package_price,
            f"{units(packages)} package(s) of {units(charge.package_size)}"
            f" x {price(charge.package_price, currency)}",
            packages=packages,
        )


STRATEGIES: dict[ChargeModel, ChargeStrategy[Any]] = {
    strategy.model: strategy
    for strategy in (
        OneTimeStrategy(),
        RecurringStrategy(),
        PerUnitStrategy(),
        GraduatedStrategy(),
        VolumeStrategy(),
        PackageStrategy(),
    )
}


# The same factory keyed by the parameter class, so rating a charge is one dict lookup.
_BY_PARAMETERS: dict[type[PricingModel], ChargeStrategy[Any]] = {
    strategy.parameters: strategy for strategy in STRATEGIES.values()
}


def strategy_for(model: ChargeModel) -> ChargeStrategy[Any]:
    """The factory: the one strategy that rates ``model``."""
    return STRATEGIES[model]


def rate_charge(
    charge: AnyCharge, *, quantity: Decimal, term_months: int, currency: str
) -> ChargeRating:
    """``charge`` at list price, by the strategy of its model, exactly."""
    strategy = _BY_PARAMETERS[type(charge)]
    with localcontext(PRICING_CONTEXT):
        return strategy.rate(charge, quantity=quantity, term_months=term_months, currency=currency)


def units(quantity: Decimal) -> str:
    """A quantity as a person writes it: 1,000 rather than 1000.000000 or 1E+3."""
    return f"{quantity.normalize():,f}"


def money(amount: Decimal, currency: str) -> str:
    return money_at(amount, money_quantum(currency))


def money_at(amount: Decimal, quantum: Decimal) -> str:
    """An amount for a reader, e.g. 14,400.00. Amounts in texts are never negative, so
    round_money's "-0" guard is not needed here."""
    return f"{amount.quantize(quantum, ROUND_HALF_UP, PRICING_CONTEXT):,f}"


def price(unit_price: Decimal, currency: str) -> str:
    """A unit price at the currency's minor unit, unless it is finer (an API call at 0.002)."""
    rounded = unit_price.quantize(money_quantum(currency), ROUND_HALF_UP, PRICING_CONTEXT)
    if rounded == unit_price:
        return f"{rounded:,f}"
    return units(unit_price)
