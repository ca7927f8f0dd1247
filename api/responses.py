"""The error answers the routes document in the OpenAPI schema, so clients (and schemathesis's
status-code check) know every status a route can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every error is `{"detail": ...}`: a sentence, or a list of field errors."""

    detail: str | list[dict[str, Any]]


_DESCRIPTIONS = {
    400: "the body could not be read (not UTF-8, or not the declared content type)",
    401: "not signed in, or the token is invalid or expired",
    403: "the caller's role may not do this",
    404: "no such object, or one the caller may not see",
    406: "none of the accepted media types can be served",
    413: "the request body is over the size limit",
    409: "the object's state does not allow this now, or a request with this Idempotency-Key "
    "is still being processed",
}


# Spelled out rather than given as `model`: FastAPI would document the error under the route's
# own media type, which is wrong for the routes that answer HTML or PDF (errors are JSON).
_JSON_ERROR = {"application/json": {"schema": ErrorBody.model_json_schema()}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or route: each status with its meaning and the error body."""
    return {
        status: {"description": _DESCRIPTIONS[status], "content": _JSON_ERROR}
        for status in statuses
    }
