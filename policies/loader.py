"""Loading a policy document: YAML -> schema -> compiled rules, every check at load time."""

from __future__ import annotations

import difflib
import functools
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from policies.errors import PolicyError, PolicyIssue
from policies.expressions import (
    Condition,
    ExpressionError,
    Template,
    compile_condition,
    compile_template,
)
from policies.facts import FACTS, FactValue, Worse
from policies.risk import CompiledFactor, RiskModel
from policies.schema import (
    ExposureSpec,
    Mode,
    PolicyDocument,
    RiskFactorSpec,
    RiskSpec,
    RuleSpec,
    SlaSpec,
    StageSla,
)

# yaml.safe_load's loader, on libyaml's parser when PyYAML was built with it: ten times faster
# on a policy document.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Risk factors feed risk_score, so they must not read it.
_RISK_FACTS = types.MappingProxyType({k: v for k, v in FACTS.items() if k != "risk_score"})


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    description: str
    effect: Literal["approval", "violation"]
    stage: int | None
    role: str | None
    mode: Mode
    quorum: int | None
    limits: Mapping[str, Decimal]
    condition: Condition
    reason: Template
    # The facts a reason records: what the condition tests and what the text cites, i.e. all
    # an approver was shown, which is what smart re-approval compares against.
    cited: tuple[str, ...]

    @property
    def when(self) -> str:
        return self.condition.text

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.condition.symbols

    def matches(self, values: Mapping[str, FactValue]) -> bool:
        return self.condition.matches(values)


@dataclass(frozen=True, slots=True)
class StageTimes:
    remind_after: timedelta
    escalate_after: timedelta


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    remind_after: timedelta
    escalate_after: timedelta
    stages: Mapping[int, StageTimes]

    def for_stage(self, stage: int) -> StageTimes:
        return self.stages.get(stage, StageTimes(self.remind_after, self.escalate_after))


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded, compiled policy. Immutable, so one instance may serve every evaluation."""

    version: int
    document: str
    fallback_role: str
    roles: Mapping[str, str]
    sla: SlaPolicy
    risk: RiskModel
    rules: tuple[CompiledRule, ...]
    # Role -> the cost figures (schema.COST_FIELDS) it reads in API answers.
    exposure: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: _exposure(ExposureSpec())
    )

    def rule(self, rule_id: str) -> CompiledRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


Path = tuple[str | int, ...]


def _render_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _parse(text: str) -> tuple[Any, _Lines]:
    """What yaml.safe_load does (compose, then construct with the safe constructor), keeping the
    node tree in between, whose marks give every path its line."""
    loader = _SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, _Lines(root)


class _Lines:
    """YAML line numbers by path, and keys given twice (which safe_load silently merges)."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        self.duplicates: list[tuple[Path, int]] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Path) -> None:
        self.lines.setdefault(tuple(map(str, path)), node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                child = (*path, name)
                if name in seen:
                    self.duplicates.append((child, key.start_mark.line + 1))
                seen.add(name)
                self.lines[tuple(map(str, child))] = key.start_mark.line + 1
                self._walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Sequence[str | int]) -> int | None:
        key = tuple(map(str, path))
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get(())


class _Issues:
    def __init__(self, lines: _Lines, raw: Any) -> None:
        self.lines = lines
        self.raw = raw
        self.items: list[PolicyIssue] = []

    def rule_id(self, path: Sequence[str | int]) -> str | None:
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            rules = self.raw.get("rules") if isinstance(self.raw, dict) else None
            if (
                isinstance(rules, list)
                and path[1] < len(rules)
                and isinstance(rules[path[1]], dict)
            ):
                rule_id = rules[path[1]].get("id")
                return rule_id if isinstance(rule_id, str) else None
        return None

    def add(self, path: Sequence[str | int], message: str, rule_id: str | None = None) -> None:
        self.items.append(
            PolicyIssue(
                rule_id=rule_id if rule_id is not None else self.rule_id(path),
                path=_render_path(path),
                line=self.lines.line(path),
                message=message,
            )
        )


def _allowed_fields(path: Sequence[str | int]) -> list[str]:
    models: dict[tuple[str, ...], Any] = {
        (): PolicyDocument,
        ("rules",): RuleSpec,
        ("sla",): SlaSpec,
        ("sla", "stages"): StageSla,
        ("risk",): RiskSpec,
        ("risk", "factors"): RiskFactorSpec,
    }
    shape = tuple(p for p in path[:-1] if isinstance(p, str))
    model = models.get(shape)
    return list(model.model_fields) if model is not None else []


def _pydantic_issues(error: ValidationError, issues: _Issues) -> None:
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if isinstance(p, int) or "[" not in p]
        kind = item["type"]
        if kind == "extra_forbidden":
            field = str(loc[-1])
            close = difflib.get_close_matches(field, _allowed_fields(loc), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"unknown field {field!r}{hint}"
        elif kind == "missing":
            message = f"missing required field {loc[-1]!r}"
        else:
            message = item["msg"].removeprefix("Value error, ")
        issues.add(loc, message)


def _compile_rule(
    index: int, spec: RuleSpec, doc: PolicyDocument, issues: _Issues
) -> CompiledRule | None:
    path: Path = ("rules", index)
    condition: Condition | None = None
    reason: Template | None = None
    try:
        condition = compile_condition(spec.when)
    except ExpressionError as error:
        issues.add((*path, "when"), str(error), spec.id)
    try:
        reason = compile_template(spec.reason)
    except ExpressionError as error:
        issues.add((*path, "reason"), str(error), spec.id)
    if spec.role is not None and spec.role not in doc.roles:
        issues.add((*path, "role"), f"unknown role {spec.role!r}; roles: {', '.join(doc.roles)}")
    for fact in spec.limits:
        fact_spec = FACTS.get(fact)
        if fact_spec is None or fact_spec.python_type not in (int, Decimal):
            issues.add((*path, "limits", fact), f"{fact!r} is not a numeric fact")
        elif fact_spec.worse is Worse.NEITHER:
            issues.add((*path, "limits", fact), f"{fact!r} has no better or worse direction")
    if condition is None or reason is None:
        return None
    return CompiledRule(
        id=spec.id,
        description=spec.description,
        effect=spec.effect,
        stage=spec.stage,
        role=spec.role,
        mode=spec.mode.mode,
        quorum=spec.mode.quorum,
        limits=types.MappingProxyType(dict(spec.limits)),
        condition=condition,
        reason=reason,
        cited=tuple(sorted({*condition.symbols, *reason.fields})),
    )


def _risk_message(name: str, error: ExpressionError) -> str:
    message = str(error)
    if "risk_score" in message:
        message = "risk factors compute risk_score, so they cannot read it"
    return f"risk factor {name!r}: {message}"


def _compile_risk(doc: PolicyDocument, issues: _Issues) -> RiskModel:
    factors: list[CompiledFactor] = []
    seen: set[str] = set()
    for index, spec in enumerate(doc.risk.factors):
        path: Path = ("risk", "factors", index)
        if spec.name in seen:
            issues.add((*path, "name"), f"duplicate risk factor {spec.name!r}")
        seen.add(spec.name)
        condition: Condition | None = None
        detail: Template | None = None
        try:
            condition = compile_condition(spec.when, _RISK_FACTS)
        except ExpressionError as error:
            issues.add((*path, "when"), _risk_message(spec.name, error))
        try:
            detail = compile_template(spec.detail, _RISK_FACTS)
        except ExpressionError as error:
            issues.add((*path, "detail"), _risk_message(spec.name, error))
        if condition is not None and detail is not None:
            factors.append(CompiledFactor(spec.name, spec.weight, condition, detail))
    return RiskModel(tuple(factors))


def _check_document(doc: PolicyDocument, issues: _Issues) -> tuple[CompiledRule, ...]:
    if doc.fallback_role not in doc.roles:
        issues.add(("fallback_role",), f"fallback role {doc.fallback_role!r} is not in roles")
    first: dict[str, int] = {}
    for index, spec in enumerate(doc.rules):
        if spec.id in first:
            issues.add(
                ("rules", index, "id"),
                f"duplicate rule id {spec.id!r} (first at rules[{first[spec.id]}])",
                spec.id,
            )
        first.setdefault(spec.id, index)
    compiled = [_compile_rule(i, spec, doc, issues) for i, spec in enumerate(doc.rules)]
    rules = tuple(r for r in compiled if r is not None)
    used = {r.stage for r in doc.rules if r.stage is not None}
    for stage in doc.sla.stages:
        if stage not in used:
            issues.add(("sla", "stages", stage), f"no rule routes to stage {stage}")
    return rules


def _sla(spec: SlaSpec) -> SlaPolicy:
    return SlaPolicy(
        remind_after=spec.remind_after,
        escalate_after=spec.escalate_after,
        stages=types.MappingProxyType(
            {
                n: StageTimes(
                    s.remind_after or spec.remind_after, s.escalate_after or spec.escalate_after
                )
                for n, s in spec.stages.items()
            }
        ),
    )


def load_policy(text: str) -> Policy:
    """Parse, validate and compile a policy document, or raise PolicyError listing every issue.

    Cached by text: the worker loads the active policy for every deal, and a Policy is
    immutable, so compiling a document once is enough."""
    return _load(text)


@functools.lru_cache(maxsize=16)
def _load(text: str) -> Policy:
    try:
        raw, lines = _parse(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyError(
            [
                PolicyIssue(
                    rule_id=None,
                    path="",
                    line=mark.line + 1 if mark is not None else None,
                    message=f"bad YAML: {problem}",
                )
            ]
        ) from None
    issues = _Issues(lines, raw)
    for path, line in lines.duplicates:
        issues.items.append(
            PolicyIssue(
                rule_id=issues.rule_id(path),
                path=_render_path(path),
                line=line,
                message=f"duplicate key {path[-1]!r}",
            )
        )
    if raw is None or raw == {}:
        raise PolicyError([PolicyIssue(rule_id=None, path="", line=None, message="empty policy")])
    if not isinstance(raw, dict):
        issues.add((), "a policy is a mapping with version, roles and rules")
        raise PolicyError(issues.items)
    try:
        doc = PolicyDocument.model_validate(raw)
    except ValidationError as error:
        _pydantic_issues(error, issues)
        raise PolicyError(issues.items) from None
    rules = _check_document(doc, issues)
    risk = _compile_risk(doc, issues)
    if issues.items:
        raise PolicyError(issues.items)
    return Policy(
        version=doc.version,
        document=text,
        fallback_role=doc.fallback_role,
        roles=types.MappingProxyType(dict(doc.roles)),
        sla=_sla(doc.sla),
        risk=risk,
        rules=rules,
        exposure=_exposure(doc.exposure),
    )


def _exposure(spec: ExposureSpec) -> Mapping[str, frozenset[str]]:
    return types.MappingProxyType(
        {role: frozenset(fields) for role, fields in spec.model_dump().items()}
    )


DEFAULT_EXPOSURE: Mapping[str, frozenset[str]] = _exposure(ExposureSpec())


def default_policy_text() -> str:
    return resources.files("policies").joinpath("default_policy.yaml").read_text("utf-8")


def default_policy() -> Policy:
    return load_policy(default_policy_text())
