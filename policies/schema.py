"""The shape of a policy document. Unknown fields are errors (a typo must fail at load time);
cross-references (roles, conditions, templates) are checked by the loader, which knows the ids."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

Mode = Literal["all", "any", "quorum"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModeSpec(_Strict):
    """`mode: all`, `mode: any` or `mode: {quorum: n}`, normalised."""

    mode: Mode
    quorum: int | None = None


def _parse_mode(value: Any) -> Any:
    if isinstance(value, ModeSpec):
        return value
    if value in ("all", "any"):
        return ModeSpec(mode=value)
    if isinstance(value, dict) and list(value) == ["quorum"]:
        n = value["quorum"]
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return ModeSpec(mode="quorum", quorum=n)
        raise ValueError(f"quorum must be a whole number >= 1, not {n!r}")
    raise ValueError(f"mode must be 'all', 'any' or {{quorum: n}}, not {value!r}")


RuleMode = Annotated[ModeSpec, BeforeValidator(_parse_mode)]


def _duration(value: Any) -> Any:
    # A bare "24h" is the most likely slip; say what is accepted instead of pydantic's parse error.
    if (
        isinstance(value, str)
        and value[-1:].lower() in ("h", "m", "d", "s")
        and value[:1].isdigit()
    ):
        raise ValueError(
            f"{value!r} is not a duration; use ISO 8601 (PT24H, P2D, PT30S) or a number of seconds"
        )
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]


class StageSla(_Strict):
    remind_after: Duration | None = None
    escalate_after: Duration | None = None


class SlaSpec(_Strict):
    remind_after: Duration = timedelta(hours=24)
    escalate_after: Duration = timedelta(hours=48)
    stages: dict[StrictInt, StageSla] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _remind_before_escalate(self) -> SlaSpec:
        for stage, override in sorted({0: StageSla(), **self.stages}.items()):
            remind = override.remind_after or self.remind_after
            escalate = override.escalate_after or self.escalate_after
            if remind >= escalate:
                where = f"stage {stage}: " if stage else ""
                raise ValueError(f"{where}remind_after must come before escalate_after")
        return self


_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[StrictStr, Field(pattern=_NAME, max_length=80)]


class RiskFactorSpec(_Strict):
    name: Name
    weight: Annotated[StrictInt, Field(ge=0, le=100)]
    when: StrictStr
    detail: StrictStr


class RiskSpec(_Strict):
    factors: list[RiskFactorSpec] = Field(default_factory=list)


class RuleSpec(_Strict):
    id: Name
    description: StrictStr
    when: StrictStr
    reason: StrictStr
    effect: Literal["approval", "violation"] = "approval"
    stage: Annotated[StrictInt, Field(ge=1)] | None = None
    role: StrictStr | None = None
    mode: RuleMode = ModeSpec(mode="all")
    # fact -> the furthest an approver at this stage may grant in a negotiating limit.
    limits: dict[StrictStr, Decimal] = Field(default_factory=dict)

    @field_validator("when", "reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _routing_matches_effect(self) -> RuleSpec:
        if self.effect == "approval":
            missing = [n for n in ("stage", "role") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"an approval rule needs {' and '.join(missing)}")
        else:
            given = [n for n in ("stage", "role") if getattr(self, n) is not None]
            if "mode" in self.model_fields_set:
                given.append("mode")
            if self.limits:
                given.append("limits")
            if given:
                raise ValueError(
                    "a violation refuses the deal and routes it to nobody; "
                    f"remove {', '.join(given)}"
                )
        return self


CostField = Literal["unit_cost", "cost", "cost_tcv_estimated", "gross_margin", "gross_margin_pct"]
"""The figures that reveal what we pay: a unit cost, a cost amount, the margin amount (TCV less
cost) and the margin percent. API answers leave out those a caller's roles may not read."""

COST_FIELDS: frozenset[str] = frozenset(
    ("unit_cost", "cost", "cost_tcv_estimated", "gross_margin", "gross_margin_pct")
)


class ExposureSpec(_Strict):
    """Which cost figures each role reads (finance and admins read every one). By default a
    rep sees the margin percent only, and an approver the margin (percent and amount) it
    decides on, but no unit cost or cost amount."""

    rep: tuple[CostField, ...] = ("gross_margin_pct",)
    approver: tuple[CostField, ...] = ("gross_margin", "gross_margin_pct")


class PolicyDocument(_Strict):
    version: Annotated[StrictInt, Field(ge=1)]
    fallback_role: StrictStr = "deal_desk"
    roles: dict[StrictStr, StrictStr] = Field(min_length=1)
    sla: SlaSpec = Field(default_factory=SlaSpec)
    risk: RiskSpec = Field(default_factory=RiskSpec)
    rules: list[RuleSpec] = Field(min_length=1)
    exposure: ExposureSpec = Field(default_factory=ExposureSpec)
