"""Logging for every DealDesk process: plain text for a terminal, or one JSON object per line
for a log pipeline, with the deal and workflow a line is about.

`configure_logging` puts one handler on the root logger; uvicorn's loggers, Temporal's and ours
all propagate to it, so every line goes through the same formatter and filter.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import IO, Any, Literal

from temporalio import activity, workflow

# What every LogRecord carries; anything else on a record came from `extra=` and is rendered.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName"}
    # uvicorn's copy of the message with terminal colour codes.
    | {"color_message"}
)
_BASE_FIELDS = ("timestamp", "level", "logger", "message")
_DEAL_WORKFLOW_PREFIX = "deal-"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (ISO 8601, UTC), level, logger, message, then every
    extra field; an exception or stack as a string field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_ATTRIBUTES or key.startswith("_"):
                continue
            # An extra named like a base field must not overwrite it.
            payload[f"extra_{key}" if key in _BASE_FIELDS else key] = value
        if record.name == "uvicorn.access":
            payload.update(_access_fields(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=_jsonable, ensure_ascii=False)


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    # uvicorn logs '%s - "%s %s HTTP/%s" %d' % (client, method, path, http version, status).
    args = record.args
    if not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, http_version, status = args
    return {
        "client": client,
        "http_method": method,
        "path": path,
        "http_version": http_version,
        "status_code": status,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # never a float: amounts stay exact in logs too
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


class TemporalContextFilter(logging.Filter):
    """Adds `workflow_id` and `deal_id` (workflow id `deal-<id>`) to every record logged inside
    an activity, whatever logger it used, and to the records of `workflow.logger` and
    `activity.logger`, which carry the Temporal details in `extra`. Core log lines forwarded by
    the runtime get their target and fields as plain fields.

    Put it on a handler, not a logger: a logger's filters see only the records logged on that
    very logger, a handler's see everything that propagates to it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        workflow_id = getattr(record, "workflow_id", None)
        if workflow_id is None:
            workflow_id = _workflow_id_of(record)
            if workflow_id is not None:
                record.workflow_id = workflow_id
        if workflow_id and not hasattr(record, "deal_id"):
            deal_id = _deal_id(workflow_id)
            if deal_id is not None:
                record.deal_id = deal_id
        core = getattr(record, "temporal_log", None)
        if core is not None:
            record.core_target = getattr(core, "target", None)
            record.core_fields = getattr(core, "fields", None)
            delattr(record, "temporal_log")
        return True


def _workflow_id_of(record: logging.LogRecord) -> str | None:
    for attribute in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, attribute, None)
        if isinstance(details, dict) and details.get("workflow_id"):
            return str(details["workflow_id"])
    if activity.in_activity():
        info = activity.info()
        if not hasattr(record, "activity_type"):
            record.activity_type = info.activity_type
        return info.workflow_id
    return None


def _deal_id(workflow_id: str) -> str | None:
    if workflow_id.startswith(_DEAL_WORKFLOW_PREFIX):
        return workflow_id.removeprefix(_DEAL_WORKFLOW_PREFIX)
    return None


_HANDLER_NAME = "dealdesk"


def configure_logging(
    *,
    format: Literal["json", "text"],
    level: str | int = "INFO",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route every logger through one handler on the root logger (idempotent: a second call
    replaces the first handler)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(TemporalContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn's own set-up (its default log config, or a log_level) would print a second,
    # unformatted copy, or hold the access log back at WARNING: undo it, the root decides.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
        uvicorn_logger.disabled = False
    if format == "json":
        # The workflow and activity details are fields already; not again inside the message.
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    return handler
