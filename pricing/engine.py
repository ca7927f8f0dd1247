"""``price_deal``: a deal and a price book in, the contract's figures out. Pure and fast.

Every figure is computed exactly (``PRICING_CONTEXT``), per charge, then per line, then for the
deal from the exact line values; rounding happens once, when the figures are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal, localcontext

from pricing.catalog import Product
from pricing.charges import ZERO, AnyCharge, ChargeType
from pricing.errors import PricingError, PricingIssue
from pricing.figures import PricedDeal
from pricing.inputs import DealInput, LineInput
from pricing.money import (
    HUNDRED,
    PERCENT_QUANTUM,
    PRICING_CONTEXT,
    money_quantum,
    round_percent,
    round_to,
)
from pricing.strategies import ChargeModel, ChargeRating, money, money_at, rate_charge, units

ONE = Decimal(1)
TWELVE = Decimal(12)
ZERO_PERCENT = Decimal("0.00")
_C = PRICING_CONTEXT


@dataclass(frozen=True, slots=True)
class ExactFigures:
    """The contract's figures before rounding. The stored fields add up across lines; the
    properties are derived from them by the contract's formulas."""

    one_time: Decimal
    mrr: Decimal
    recurring_tcv: Decimal
    usage_committed_tcv: Decimal
    usage_estimated_tcv: Decimal
    list_tcv_estimated: Decimal
    cost_tcv_estimated: Decimal
    # Stored rather than derived: it divides by the term, and a deal's ACV is defined as the sum
    # of its lines', so summing keeps "totals = sum of lines" exact field by field.
    acv: Decimal

    # The properties and methods below are public, so they must not depend on the caller's
    # decimal context (28 digits by default): they name PRICING_CONTEXT explicitly.
    @property
    def arr(self) -> Decimal:
        return _C.multiply(self.mrr, TWELVE)

    @property
    def tcv(self) -> Decimal:
        return _C.add(_C.add(self.one_time, self.recurring_tcv), self.usage_committed_tcv)

    @property
    def tcv_estimated(self) -> Decimal:
        return _C.add(_C.add(self.one_time, self.recurring_tcv), self.usage_estimated_tcv)

    @property
    def discount_amount(self) -> Decimal:
        return _C.subtract(self.list_tcv_estimated, self.tcv_estimated)

    @property
    def discount_pct(self) -> Decimal:
        if not self.list_tcv_estimated:
            return ZERO
        return _C.multiply(_C.divide(self.discount_amount, self.list_tcv_estimated), HUNDRED)

    @property
    def gross_margin(self) -> Decimal:
        return _C.subtract(self.tcv_estimated, self.cost_tcv_estimated)

    @property
    def gross_margin_pct(self) -> Decimal | None:
        tcv_estimated = self.tcv_estimated
        if not tcv_estimated:
            return None
        return _C.multiply(_C.divide(self.gross_margin, tcv_estimated), HUNDRED)

    @staticmethod
    def total(parts: Iterable[ExactFigures]) -> ExactFigures:
        items = list(parts)
        with localcontext(PRICING_CONTEXT):
            return ExactFigures(
                *(sum((getattr(part, name) for part in items), ZERO) for name in _ADDITIVE)
            )

    def reported(self, currency: str) -> dict[str, Decimal | None]:
        """The figures as the contract reports them: money to the minor unit, percent to 0.01."""
        with localcontext(PRICING_CONTEXT):
            return self._reported(money_quantum(currency))

    def _reported(self, q: Decimal) -> dict[str, Decimal | None]:
        # Each part is rounded once, half-up; the sums (TCV, margin, discount) are then the
        # sums of the rounded parts, so the figures a document or a report shows always foot
        # (a TCV rounded from the exact total could differ from its parts by a minor unit).
        # Percentages stay exact ratios, rounded last.
        def money(value: Decimal) -> Decimal:
            return value.quantize(q, ROUND_HALF_UP, PRICING_CONTEXT)

        one_time = money(self.one_time)
        recurring_tcv = money(self.recurring_tcv)
        usage_committed = money(self.usage_committed_tcv)
        usage_estimated = money(self.usage_estimated_tcv)
        list_tcv = money(self.list_tcv_estimated)
        cost = money(self.cost_tcv_estimated)
        tcv_estimated = one_time + recurring_tcv + usage_estimated
        exact_estimated = self.one_time + self.recurring_tcv + self.usage_estimated_tcv
        exact_margin = exact_estimated - self.cost_tcv_estimated
        exact_discount = self.list_tcv_estimated - exact_estimated
        return {
            "one_time": one_time,
            "mrr": money(self.mrr),
            "arr": money(self.mrr * TWELVE),
            "recurring_tcv": recurring_tcv,
            "usage_committed_tcv": usage_committed,
            "usage_estimated_tcv": usage_estimated,
            "tcv": one_time + recurring_tcv + usage_committed,
            "tcv_estimated": tcv_estimated,
            "acv": money(self.acv),
            "list_tcv_estimated": list_tcv,
            "discount_amount": round_to(list_tcv - tcv_estimated, q),
            "discount_pct": (
                (exact_discount / self.list_tcv_estimated * HUNDRED).quantize(
                    PERCENT_QUANTUM, ROUND_HALF_UP, PRICING_CONTEXT
                )
                if self.list_tcv_estimated
                else ZERO_PERCENT
            ),
            "cost_tcv_estimated": cost,
            "gross_margin": round_to(tcv_estimated - cost, q),
            "gross_margin_pct": (
                round_percent(exact_margin / exact_estimated * HUNDRED) if exact_estimated else None
            ),
        }


_ADDITIVE = tuple(field.name for field in fields(ExactFigures))


@dataclass(slots=True)
class ChargeNet:
    """One charge after the line and header discounts, over the term."""

    rating: ChargeRating
    one_time: Decimal
    mrr: Decimal
    recurring_tcv: Decimal
    usage_monthly: Decimal  # billed: max(discounted rating, minimum commitment)
    term_months: int

    @property
    def usage_estimated_tcv(self) -> Decimal:
        return _C.multiply(self.usage_monthly, self.term_months)

    @property
    def net_tcv(self) -> Decimal:
        return _C.add(_C.add(self.one_time, self.recurring_tcv), self.usage_estimated_tcv)

    @property
    def minimum_applies(self) -> bool:
        minimum = self.rating.minimum_monthly
        return bool(minimum) and self.usage_monthly == minimum


@dataclass(slots=True)
class ExactLine:
    """A line priced exactly, with what its report needs."""

    index: int
    line: LineInput
    product: Product | None
    name: str
    line_rate: Decimal  # the line's own discount as a fraction
    keep: Decimal  # the fraction of list kept after the line and header discounts
    charges: tuple[ChargeNet, ...]
    figures: ExactFigures

    @property
    def effective_discount_pct(self) -> Decimal:
        return _C.multiply(_C.subtract(ONE, self.keep), HUNDRED)

    @property
    def below_floor(self) -> bool:
        # The floor is compared with the whole discount the customer gets on this product (line
        # and header combined, exactly, before rounding): a header discount deepens every
        # line's discount, so comparing the line discount alone would let a deal slip under a
        # floor through its header.
        floor = None if self.product is None else self.product.max_discount_pct
        return floor is not None and self.effective_discount_pct > floor


def price_deal(deal: DealInput, catalog: Mapping[str, Product]) -> PricedDeal:
    """Price ``deal`` against ``catalog`` (SKU to product), per the pricing contract.

    Raises ``PricingError`` listing every line that names an unknown or inactive SKU, a product
    in another currency, or a discount that would take its net below zero.
    """
    with localcontext(PRICING_CONTEXT):
        exact = price_lines_exact(deal, catalog)
        totals = ExactFigures.total(line.figures for line in exact)
        currency = deal.currency
        q = money_quantum(currency)
        header = _header_text(deal.header_discount_pct)
        # One validation of a plain tree is several times faster than building each nested
        # model in Python, and still checks what we report against the response schema.
        return PricedDeal.model_validate(
            {
                "currency": currency,
                "term_months": deal.term_months,
                "lines": [_report_line(line, header, deal.term_months, q) for line in exact],
                "totals": totals._reported(q),
            },
            # Our own values have exactly the declared types, so no coercion is wanted.
            strict=True,
        )


def price_lines_exact(deal: DealInput, catalog: Mapping[str, Product]) -> list[ExactLine]:
    """Every line's exact figures, before any rounding; raises ``PricingError``."""
    with localcontext(PRICING_CONTEXT):
        issues: list[PricingIssue] = []
        lines: list[ExactLine] = []
        for index, line in enumerate(deal.lines):
            priced = _price_line(index, line, deal, catalog, issues)
            if priced is not None:
                lines.append(priced)
        if issues:
            raise PricingError(issues)
        return lines


def _resolve(
    index: int,
    line: LineInput,
    deal: DealInput,
    catalog: Mapping[str, Product],
    issues: list[PricingIssue],
) -> tuple[Product | None, str, Sequence[AnyCharge]] | None:
    if line.sku is None:
        # LineInput's validator guarantees a custom line has a name and charges.
        assert line.name is not None
        assert line.charges
        return None, line.name, line.charges
    loc = ("lines", index, "sku")
    product = catalog.get(line.sku)
    if product is None:
        issues.append(
            PricingIssue(loc=loc, msg=f"no product has SKU {line.sku!r}", code="unknown_sku")
        )
        return None
    if not product.active:
        issues.append(
            PricingIssue(
                loc=loc, msg=f"product {line.sku!r} is not sold any more", code="inactive_sku"
            )
        )
        return None
    if product.currency != deal.currency:
        issues.append(
            PricingIssue(
                loc=loc,
                msg=(
                    f"product {line.sku!r} is priced in {product.currency} and the deal in "
                    f"{deal.currency}; a deal has one currency"
                ),
                code="currency_mismatch",
            )
        )
        return None
    return product, product.name, product.charges


def _price_line(
    index: int,
    line: LineInput,
    deal: DealInput,
    catalog: Mapping[str, Product],
    issues: list[PricingIssue],
) -> ExactLine | None:
    resolved = _resolve(index, line, deal, catalog, issues)
    if resolved is None:
        return None
    product, name, charges = resolved
    term = deal.term_months
    ratings = [
        rate_charge(charge, quantity=line.quantity, term_months=term, currency=deal.currency)
        for charge in charges
    ]
    list_tcv = ZERO
    for rating in ratings:
        list_tcv += rating.list_tcv(term)

    line_rate = ZERO
    if line.discount_pct is not None:
        line_rate = line.discount_pct / HUNDRED
    elif line.discount_amount:
        if line.discount_amount > list_tcv:
            issues.append(
                PricingIssue(
                    loc=("lines", index, "discount_amount"),
                    msg=(
                        f"a discount of {money(line.discount_amount, deal.currency)} exceeds the "
                        f"line's list value of {money(list_tcv, deal.currency)} over the term"
                    ),
                    code="net_below_zero",
                )
            )
            return None
        # The contract spreads an amount as the percent it is of the line's estimated list value.
        line_rate = line.discount_amount / list_tcv
    keep = (ONE - line_rate) * (ONE - deal.header_discount_pct / HUNDRED)

    nets: list[ChargeNet] = []
    one_time = mrr = recurring_tcv = minimum = usage_monthly = cost = ZERO
    for rating in ratings:
        net = ChargeNet(
            rating=rating,
            one_time=rating.one_time * keep,
            mrr=rating.recurring_monthly * keep,
            recurring_tcv=rating.recurring_tcv * keep,
            # The minimum commitment floors what is billed, so it applies after discounts.
            usage_monthly=max(rating.usage_monthly * keep, rating.minimum_monthly),
            term_months=term,
        )
        nets.append(net)
        one_time += net.one_time
        mrr += net.mrr
        recurring_tcv += net.recurring_tcv
        minimum += rating.minimum_monthly
        usage_monthly += net.usage_monthly
        cost += rating.cost_tcv
    committed = minimum * term
    figures = ExactFigures(
        one_time=one_time,
        mrr=mrr,
        recurring_tcv=recurring_tcv,
        usage_committed_tcv=committed,
        usage_estimated_tcv=usage_monthly * term,
        list_tcv_estimated=list_tcv,
        cost_tcv_estimated=cost,
        acv=(recurring_tcv + committed) * TWELVE / term + one_time,
    )
    return ExactLine(index, line, product, name, line_rate, keep, tuple(nets), figures)


def _report_line(exact: ExactLine, header: str, term: int, q: Decimal) -> dict[str, object]:
    line = exact.line
    product = exact.product
    line_pct = round_percent(exact.line_rate * HUNDRED)
    effective_pct = round_percent(exact.effective_discount_pct)
    if exact.line_rate and header:
        discounts = f", less {units(line_pct)}% line and {header} discount"
    elif exact.line_rate:
        discounts = f", less {units(line_pct)}% line discount"
    elif header:
        discounts = f", less {header} discount"
    else:
        discounts = ""
    report: dict[str, object] = {**exact.figures._reported(q)}
    report.update(
        index=exact.index,
        sku=line.sku,
        name=exact.name,
        quantity=line.quantity,
        custom=product is None,
        max_discount_pct=None if product is None else product.max_discount_pct,
        line_discount_pct=line_pct,
        effective_discount_pct=effective_pct,
        below_floor=exact.below_floor,
        breakdown=[
            _breakdown(position, net, discounts, effective_pct, term, q)
            for position, net in enumerate(exact.charges)
        ],
    )
    return report


def _header_text(header_pct: Decimal) -> str:
    return f"{units(round_percent(header_pct))}% header" if header_pct else ""


def _breakdown(
    position: int,
    net: ChargeNet,
    discounts: str,
    effective_pct: Decimal,
    term: int,
    q: Decimal,
) -> dict[str, object]:
    rating = net.rating
    model = rating.model
    text = rating.text + discounts
    minimum_applies = net.minimum_applies
    if minimum_applies:
        text += f"; minimum commitment {money_at(rating.minimum_monthly, q)} / month applies"
    if model is ChargeModel.ONE_TIME:
        text += f"; net {money_at(net.one_time, q)}"
    elif model is ChargeModel.RECURRING:
        text += f"; net {money_at(net.recurring_tcv, q)} over {term} months"
    else:
        text += (
            f"; billed {money_at(net.usage_monthly, q)} / month,"
            f" {money_at(net.usage_estimated_tcv, q)} over {term} months"
        )
    return {
        "charge": position,
        "type": _CHARGE_TYPES[model],
        "model": model,
        "text": text,
        "units": rating.units,
        # Amounts of a charge are never negative, so they skip round_to's "-0" guard.
        "list_amount": rating.list_tcv(term).quantize(q, ROUND_HALF_UP, PRICING_CONTEXT),
        "net_amount": net.net_tcv.quantize(q, ROUND_HALF_UP, PRICING_CONTEXT),
        "cost": rating.cost_tcv.quantize(q, ROUND_HALF_UP, PRICING_CONTEXT),
        "discount_pct": effective_pct,
        "minimum_applies": minimum_applies,
        "segments": [
            {
                "from_month": segment.from_month,
                "to_month": segment.to_month,
                "months": segment.months,
                "unit_price": segment.unit_price,
                "monthly_amount": segment.monthly_amount.quantize(
                    q, ROUND_HALF_UP, PRICING_CONTEXT
                ),
            }
            for segment in rating.segments
        ],
        "tiers": [
            {
                "tier": tier.tier,
                "from_units": tier.from_units,
                "up_to": tier.up_to,
                "units": tier.units,
                "unit_price": tier.unit_price,
                "flat_fee": tier.flat_fee,
                "amount": tier.amount.quantize(q, ROUND_HALF_UP, PRICING_CONTEXT),
            }
            for tier in rating.tiers
        ],
        "packages": rating.packages,
    }


_CHARGE_TYPES = {
    ChargeModel.ONE_TIME: ChargeType.ONE_TIME,
    ChargeModel.RECURRING: ChargeType.RECURRING,
    ChargeModel.PER_UNIT: ChargeType.USAGE,
    ChargeModel.GRADUATED: ChargeType.USAGE,
    ChargeModel.VOLUME: ChargeType.USAGE,
    ChargeModel.PACKAGE: ChargeType.USAGE,
}
