"""The worker caches the workflow modules' bytecode, which the sandbox re-imports per run."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from dealdesk.worker import _WORKFLOWS_DIR, cache_workflow_bytecode


def test_bytecode_is_written_even_when_python_is_told_not_to(tmp_path: Path) -> None:
    # The test environment (like the image) runs with PYTHONDONTWRITEBYTECODE=1, so an
    # ordinary import would leave no cache behind.
    copy = tmp_path / "workflows"
    shutil.copytree(_WORKFLOWS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    sources = sorted(copy.glob("*.py"))
    assert sources

    cache_workflow_bytecode(copy)

    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file(), f"no bytecode for {source.name}"


def test_a_changed_module_is_compiled_again(tmp_path: Path) -> None:
    module = tmp_path / "workflow_module.py"
    module.write_text("VALUE = 1\n")
    cache_workflow_bytecode(tmp_path)
    cached = Path(importlib.util.cache_from_source(str(module)))
    first = cached.read_bytes()

    module.write_text("VALUE = 2\n")
    # A deploy a second or more later: the cache is keyed on the source's mtime in seconds.
    later = module.stat().st_mtime + 5
    os.utime(module, (later, later))
    cache_workflow_bytecode(tmp_path)

    assert cached.read_bytes() != first
