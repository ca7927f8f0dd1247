"""Query and path parameters shared by the routers, bounded to what the database can bind."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Far past any real list, and well inside the 64-bit integers SQLite and PostgreSQL take for
# OFFSET: an unbounded one overflowed SQLite's driver into a 500 (found by schemathesis).
MAX_OFFSET = 1_000_000_000
# Integer primary keys are PostgreSQL's `integer`: a larger id in a path was a 500 there.
MAX_ROW_ID = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
