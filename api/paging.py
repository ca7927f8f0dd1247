"""Query parameters of the paged lists."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# Far past any real list, and well inside the 64-bit integers SQLite and PostgreSQL take for
# OFFSET: an unbounded one overflowed SQLite's driver into a 500 (found by schemathesis).
MAX_OFFSET = 1_000_000_000

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
