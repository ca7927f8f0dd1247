"""Input errors found while pricing (the ones pydantic cannot see: they need the catalog)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PricingIssue(BaseModel):
    """One problem with a deal, at the path of the input field that causes it."""

    model_config = ConfigDict(frozen=True)

    loc: tuple[str | int, ...]
    msg: str
    code: str


class PricingError(ValueError):
    """The deal cannot be priced; ``errors`` says where and why (the API answers 422)."""

    def __init__(self, errors: list[PricingIssue]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg} [{e.code}]" for e in errors)
        )
