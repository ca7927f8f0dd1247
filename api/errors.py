"""Mapping of domain errors onto HTTP answers."""

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
