"""Mapping of domain errors onto HTTP answers."""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pricing import PricingError


def pricing_error_to_http(err: PricingError) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {"loc": ["body", *issue.loc], "msg": issue.msg, "type": issue.code}
            for issue in err.errors
        ],
    )


def _json_safe(value: Any) -> Any:
    """`value` with every non-finite float as text: JSON has no NaN or Infinity, so echoing a
    refused `1e999999` (parsed as inf) back in a 422 would fail the answer with a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for invalid input, with each error's echoed input made valid JSON."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": jsonable_encoder(_json_safe(exc.errors()))},
    )


_log = logging.getLogger("dealdesk.api")


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Any unexpected failure: logged in full, answered with an id to quote and nothing else
    (no traceback, SQL or file path; they tell an attacker how the service is built)."""
    error_id = uuid.uuid4().hex
    _log.error(
        "unhandled error %s on %s %s",
        error_id,
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"error_id": error_id},
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "internal error; quote this id to support", "error_id": error_id},
        # Served outside every middleware, NoStore's included.
        headers={"Cache-Control": "no-store"},
    )
