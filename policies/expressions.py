"""Rule conditions (rule-engine expressions) and reason templates (str.format placeholders),
both checked against the typed facts when a policy loads."""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import rule_engine
from rule_engine import ast as re_ast

from policies.facts import FACTS, FactSpec, FactValue, render_fact

_BOOLEAN = rule_engine.DataType.BOOLEAN
_UNDEFINED = rule_engine.DataType.UNDEFINED


class ExpressionError(ValueError):
    """A condition or template that does not compile; the message is for the policy author."""


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    symbols: tuple[str, ...]
    rule: Any  # rule_engine.Rule; the library ships no type information

    def matches(self, values: Mapping[str, FactValue]) -> bool:
        return self.rule.evaluate(values) is True


_FRIENDLY = {"FLOAT": "number", "STRING": "text", "BOOLEAN": "true/false", "ARRAY": "list"}


def _type_name(datatype: Any) -> str:
    name = str(getattr(datatype, "name", datatype))
    member = getattr(datatype, "value_type", _UNDEFINED)
    if name == "ARRAY" and member != _UNDEFINED:
        return f"list of {_type_name(member)}"
    return _FRIENDLY.get(name, name.lower())


def _children(node: Any) -> Iterator[Any]:
    for attr in (
        *("left", "right", "condition", "case_true", "case_false", "container", "member"),
        *("object", "item", "iterable", "result", "start", "stop"),
    ):
        child = getattr(node, attr, None)
        if isinstance(child, re_ast.ExpressionBase):
            yield child
    for attr in ("value", "arguments"):
        items = getattr(node, attr, None)
        if isinstance(items, tuple | list):
            yield from (i for i in items if isinstance(i, re_ast.ExpressionBase))


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _walk(child)


def _describe(node: Any) -> str:
    if isinstance(node, re_ast.SymbolExpression):
        return f"{node.name} ({_type_name(node.result_type)})"
    if isinstance(node, re_ast.ArrayExpression):
        return f"a list literal ({_type_name(node.result_type)})"
    if isinstance(node, re_ast.LiteralExpressionBase):
        value = node.value
        shown = f"{value:f}" if isinstance(value, Decimal) else repr(value)
        return f"{shown} ({_type_name(node.result_type)})"
    return _type_name(node.result_type)


def _check_tree(root: Any) -> None:
    """What rule-engine accepts but a policy author never means: `segment == 3` (always false,
    rule-engine only refuses ordered comparisons across types), a number used as a truth value,
    or a string compared with a value a Literal fact can never take."""
    for node in _walk(root):
        if isinstance(node, re_ast.ComparisonExpression) and node.type in ("eq", "ne"):
            for side, other in ((node.left, node.right), (node.right, node.left)):
                if isinstance(side, re_ast.NullExpression) and other.result_type != _UNDEFINED:
                    raise ExpressionError(f"{_describe(other)} is never null")
            # is_compatible, not ==, so a list of text matches an empty list literal.
            if not rule_engine.DataType.is_compatible(
                node.left.result_type, node.right.result_type
            ):
                raise ExpressionError(
                    f"type mismatch: {_describe(node.left)} compared with {_describe(node.right)}"
                )
            _check_choices(node.left, node.right)
            _check_choices(node.right, node.left)
        elif isinstance(node, re_ast.ContainsExpression) and isinstance(
            node.container, re_ast.ArrayExpression
        ):
            for item in node.container.value:
                _check_choices(node.member, item)
        elif isinstance(node, re_ast.LogicExpression):
            for side in (node.left, node.right):
                if side.result_type not in (_BOOLEAN, _UNDEFINED):
                    raise ExpressionError(
                        f"type mismatch: {_describe(side)} used with {node.type!r}; "
                        "compare it with a value instead"
                    )
        elif (
            isinstance(node, re_ast.UnaryExpression)
            and node.type == "not"
            and node.right.result_type not in (_BOOLEAN, _UNDEFINED)
        ):
            raise ExpressionError(f"type mismatch: 'not' applied to {_describe(node.right)}")


def _check_choices(symbol: Any, literal: Any) -> None:
    if not (
        isinstance(symbol, re_ast.SymbolExpression)
        and isinstance(literal, re_ast.StringExpression)
        and symbol.name in FACTS
    ):
        return
    choices = FACTS[symbol.name].choices
    if choices is not None and literal.value not in choices:
        raise ExpressionError(
            f"{symbol.name} is one of {', '.join(choices)}; {literal.value!r} never matches"
        )


def _message(error: rule_engine.EngineError, text: str, symbols: Iterable[str]) -> str:
    if isinstance(error, rule_engine.SymbolResolutionError):
        hint = f"; did you mean {error.suggestion!r}?" if error.suggestion else ""
        return f"unknown symbol {error.symbol_name!r}{hint}"
    if isinstance(error, rule_engine.RuleSyntaxError):
        token = error.token
        if token is None:
            return f"syntax error: {text!r} ends too early"
        return f"syntax error at {token.value!r} (column {token.lexpos + 1})"
    if error.message == "data type mismatch":
        named = ", ".join(f"{s} is {_type_name(FACTS[s].datatype)}" for s in sorted(symbols))
        return "type mismatch: an operator is applied to values of different types" + (
            f" ({named})" if named else ""
        )
    return str(error.message)


def compile_condition(text: str, facts: Mapping[str, FactSpec] = FACTS) -> Condition:
    """Compile a `when` against the typed facts; unknown symbols and type errors raise here,
    at load time, never when a deal arrives."""
    types = {name: spec.datatype for name, spec in facts.items()}
    # One context per condition: rule-engine collects the symbols a rule names on its
    # context, which is what a reason's `values` and smart re-approval are built from.
    context = rule_engine.Context(
        type_resolver=types, resolver=rule_engine.resolve_item, mapping_attribute_lookup=False
    )
    try:
        rule = rule_engine.Rule(text, context=context)
    except rule_engine.EngineError as error:
        known = (s for s in context.symbols if s in facts)
        raise ExpressionError(_message(error, text, known)) from None
    expression = rule.statement.expression
    if expression.result_type not in (_BOOLEAN, _UNDEFINED):
        raise ExpressionError(
            f"the condition is a {_type_name(expression.result_type)}, not true or false"
        )
    _check_tree(expression)
    symbols = tuple(sorted(s for s in context.symbols if s in facts))
    return Condition(text=text, symbols=symbols, rule=rule)


_SAMPLES: dict[type, FactValue] = {
    Decimal: Decimal("12.5"),
    int: 3,
    bool: True,
    str: "text",
    tuple: ("text",),
}


@dataclass(frozen=True, slots=True)
class Template:
    """A reason text: literal parts and fact placeholders, split once at load time."""

    text: str
    parts: tuple[tuple[str, str | None, str], ...]  # (literal, fact or None, format spec)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for _, name, _ in self.parts if name is not None)

    def render(self, facts: Mapping[str, FactValue]) -> str:
        out: list[str] = []
        for literal, name, spec in self.parts:
            out.append(literal)
            if name is not None:
                out.append(_format(FACTS[name], facts[name], spec))
        return "".join(out)


def _format(spec: FactSpec, value: FactValue, format_spec: str) -> str:
    if not format_spec:
        return render_fact(spec, value)
    return format(value, format_spec)


def compile_template(text: str, allowed: Mapping[str, FactSpec] = FACTS) -> Template:
    """Check every placeholder names a fact (and formats one) now, so a typo in a reason
    fails when the policy loads, not in front of an approver."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ExpressionError(f"bad template: {error}") from None
    parts: list[tuple[str, str | None, str]] = []
    for literal, field, format_spec, conversion in parsed:
        if field is None:
            parts.append((literal, None, ""))
            continue
        if field not in allowed:
            close = difflib.get_close_matches(field, list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if not field:
                raise ExpressionError("empty placeholder {}; name a fact, e.g. {tcv}")
            raise ExpressionError(f"placeholder {{{field}}} is not a fact{hint}")
        if conversion is not None:
            raise ExpressionError(f"placeholder {{{field}!{conversion}}}: conversions not allowed")
        spec = allowed[field]
        if "{" in (format_spec or ""):
            raise ExpressionError(f"placeholder {{{field}}}: nested placeholders not allowed")
        try:
            _format(spec, _SAMPLES[spec.python_type], format_spec or "")
        except (ValueError, TypeError) as error:
            raise ExpressionError(f"placeholder {{{field}:{format_spec}}}: {error}") from None
        parts.append((literal, field, format_spec or ""))
    return Template(text=text, parts=tuple(parts))
