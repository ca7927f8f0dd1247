"""What changed between two versions of a deal, for an approver who saw the earlier one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Change(BaseModel):
    path: str
    before: Any
    after: Any


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}[{index}]", out)
        if not value:
            out[prefix] = []
    else:
        out[prefix] = value


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Leaf-level differences, in path order; a path on one side only shows None on the other."""
    flat_before: dict[str, Any] = {}
    flat_after: dict[str, Any] = {}
    _flatten(before, "", flat_before)
    _flatten(after, "", flat_after)
    return [
        Change(path=path, before=flat_before.get(path), after=flat_after.get(path))
        for path in sorted(flat_before.keys() | flat_after.keys())
        if flat_before.get(path) != flat_after.get(path)
    ]
