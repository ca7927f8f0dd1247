"""Deal risk: named factors with weights, from the policy document.

The score is the sum of the weights of the factors that apply, capped at 100. A sum rather
than a weighted average so that adding a factor to the policy never lowers anyone's score,
and a cap so that "very risky" reads the same however many factors pile up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from policies.expressions import Condition, Template
from policies.facts import FactValue

MAX_SCORE = 100


class RiskFactor(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    weight: int
    applies: bool
    detail: str


class RiskResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: int
    factors: list[RiskFactor]


@dataclass(frozen=True, slots=True)
class CompiledFactor:
    name: str
    weight: int
    condition: Condition
    detail: Template


@dataclass(frozen=True, slots=True)
class RiskModel:
    factors: tuple[CompiledFactor, ...]

    def score(
        self, values: Mapping[str, FactValue], display: Mapping[str, FactValue]
    ) -> RiskResult:
        """`values` are the rule-engine symbols, `display` the typed facts for the texts."""
        factors = [
            RiskFactor(
                name=f.name,
                weight=f.weight,
                applies=f.condition.matches(values),
                detail=f.detail.render(display),
            )
            for f in self.factors
        ]
        total = sum(f.weight for f in factors if f.applies)
        return RiskResult(score=min(MAX_SCORE, total), factors=factors)
