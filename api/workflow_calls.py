"""Sending Updates to a deal's workflow and turning refusals into HTTP answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import HTTPException, status
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from dealdesk.settings import Settings
from pricing import DealInput
from workflows.messages import SlaOverride

T = TypeVar("T")

# The `type` of an ApplicationError raised by a workflow update validator, as an HTTP status.
REFUSAL_STATUS = {
    "forbidden": status.HTTP_403_FORBIDDEN,
    "conflict": status.HTTP_409_CONFLICT,
    "stale_version": status.HTTP_409_CONFLICT,
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "idempotency_mismatch": status.HTTP_422_UNPROCESSABLE_CONTENT,
}


async def send_update(call: Awaitable[T]) -> T:
    """Await an update; a validator's refusal becomes its HTTP status, a closed deal a 409."""
    try:
        return await call
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
            raise HTTPException(REFUSAL_STATUS[cause.type], detail=cause.message) from err
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            # The workflow has finished: nothing on this deal can change any more.
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail="this deal is closed and can no longer change"
            ) from err
        raise


def body_hash(deal: DealInput) -> str:
    body = deal.model_dump(mode="json")
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def sla_override(settings: Settings) -> SlaOverride | None:
    if settings.remind_after is None or settings.escalate_after is None:
        return None
    return SlaOverride(remind_after=settings.remind_after, escalate_after=settings.escalate_after)
