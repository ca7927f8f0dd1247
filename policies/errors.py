"""Errors the policy engine raises, each carrying what an admin or an operator needs to act."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PolicyIssue(BaseModel):
    """One problem in a policy document. The API returns these as the 422 detail."""

    model_config = ConfigDict(frozen=True)

    rule_id: str | None
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        rule = f"rule {self.rule_id!r}: " if self.rule_id else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{rule}{path}{self.message}"


class PolicyError(ValueError):
    """A policy document that cannot be loaded; `errors` lists every problem found, not just
    the first, so an admin fixes them in one round."""

    def __init__(self, errors: list[PolicyIssue]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {issue}" for issue in errors)
        super().__init__(f"invalid policy ({len(errors)} error(s)):\n{lines}")


class PolicyEvaluationError(RuntimeError):
    """A rule that compiled but failed on a deal (e.g. a division by a zero fact)."""

    def __init__(self, rule_id: str, message: str) -> None:
        self.rule_id = rule_id
        super().__init__(f"rule {rule_id!r} failed: {message}")


class NoApproverError(RuntimeError):
    """Neither the role nor the fallback role has anyone who may approve the deal. The app
    always keeps an admin holding the fallback role, so this is a setup error, not a routing
    outcome: a deal must never be routed to nobody."""

    def __init__(self, role: str, fallback_role: str) -> None:
        self.role = role
        self.fallback_role = fallback_role
        super().__init__(
            f"no active approver for role {role!r} and none for the fallback role "
            f"{fallback_role!r} (other than the submitter)"
        )
