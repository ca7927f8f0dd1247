"""Mapping of domain and Temporal failures onto HTTP answers."""

from __future__ import annotations

from fastapi import HTTPException, status

from pricing import PricingError


def pricing_error_to_http(err: PricingError) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {"loc": ["body", *issue.loc], "msg": issue.msg, "type": issue.code}
            for issue in err.errors
        ],
    )


# The `type` of an ApplicationError raised by a workflow update validator, as an HTTP status.
REFUSAL_STATUS = {
    "forbidden": status.HTTP_403_FORBIDDEN,
    "conflict": status.HTTP_409_CONFLICT,
    "stale_version": status.HTTP_409_CONFLICT,
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "idempotency_mismatch": status.HTTP_422_UNPROCESSABLE_CONTENT,
}
