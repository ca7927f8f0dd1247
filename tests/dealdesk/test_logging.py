"""The JSON log format and the filter that puts the deal on every activity's log line."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.testing import ActivityEnvironment

from dealdesk.logging import JsonFormatter, TemporalContextFilter, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A logger of the test's own, through the JSON formatter and the filter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TemporalContextFilter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield buffer
    logger.removeHandler(handler)
    logger.propagate = True


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_base_fields(stream: io.StringIO) -> None:
    logging.getLogger("tests.json").warning("price book %s published", 7)

    [line] = _lines(stream)
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.json"
    assert line["message"] == "price book 7 published"
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_extra_fields_are_fields(stream: io.StringIO) -> None:
    at = datetime(2027, 1, 1, 9, 30, tzinfo=UTC)
    logging.getLogger("tests.json").info(
        "decided",
        extra={
            "task_id": "t-1",
            "amount": Decimal("1234.50"),
            "at": at,
            "stages": [1, 2],
            "temporal_workflow": {"workflow_id": "deal-42", "attempt": 1},
            "level": "sneaky",
        },
    )

    [line] = _lines(stream)
    assert line["task_id"] == "t-1"
    assert line["amount"] == "1234.50"  # exact, never a float
    assert line["at"] == "2027-01-01T09:30:00+00:00"
    assert line["stages"] == [1, 2]
    # workflow.logger's details arrive as a nested object, and name the deal.
    assert line["temporal_workflow"] == {"workflow_id": "deal-42", "attempt": 1}
    assert line["workflow_id"] == "deal-42"
    assert line["deal_id"] == "42"
    # An extra cannot overwrite a base field.
    assert line["level"] == "INFO"
    assert line["extra_level"] == "sneaky"


def test_an_exception_is_one_string_field(stream: io.StringIO) -> None:
    try:
        raise ValueError("no such SKU: PLAT-SEAT-X")
    except ValueError:
        logging.getLogger("tests.json").exception("pricing failed")

    [line] = _lines(stream)
    assert line["message"] == "pricing failed"
    assert isinstance(line["exception"], str)
    assert line["exception"].startswith("Traceback")
    assert "ValueError: no such SKU: PLAT-SEAT-X" in line["exception"]
    assert "\n" not in stream.getvalue().rstrip("\n")  # still one line


def test_uvicorn_access_lines_have_request_fields() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.7:5123", "GET", "/api/v1/deals", "1.1", 200),
        None,
    )
    record.color_message = "\x1b[1mGET\x1b[0m"

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == '10.0.0.7:5123 - "GET /api/v1/deals HTTP/1.1" 200'
    assert line["http_method"] == "GET"
    assert line["path"] == "/api/v1/deals"
    assert line["status_code"] == 200
    assert line["client"] == "10.0.0.7:5123"
    assert "color_message" not in line


@dataclasses.dataclass
class _CoreLog:
    target: str
    fields: dict[str, str]


def test_forwarded_core_lines_get_their_target_and_fields(stream: io.StringIO) -> None:
    core = _CoreLog(target="temporal_sdk_core::worker", fields={"task_queue": "dealdesk"})
    logging.getLogger("tests.json").warning("poll failed", extra={"temporal_log": core})

    [line] = _lines(stream)
    assert line["core_target"] == "temporal_sdk_core::worker"
    assert line["core_fields"] == {"task_queue": "dealdesk"}
    assert "temporal_log" not in line


@activity.defn
def _log_something(note: str) -> None:
    # Any logger at all, not only activity.logger: the filter reads the activity context.
    logging.getLogger("tests.json").info("activity says %s", note)


def test_an_activity_line_names_its_deal_and_workflow(stream: io.StringIO) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        workflow_id="deal-7f3c",
        activity_type="record_decision",
    )

    env.run(_log_something, "hello")

    [line] = _lines(stream)
    assert line["message"] == "activity says hello"
    assert line["workflow_id"] == "deal-7f3c"
    assert line["deal_id"] == "7f3c"
    assert line["activity_type"] == "record_decision"


def test_a_line_outside_any_workflow_names_no_deal(stream: io.StringIO) -> None:
    logging.getLogger("tests.json").info("start-up")

    [line] = _lines(stream)
    assert "deal_id" not in line
    assert "workflow_id" not in line


def test_a_workflow_other_than_a_deal_names_no_deal(stream: io.StringIO) -> None:
    logging.getLogger("tests.json").info(
        "sweep", extra={"temporal_workflow": {"workflow_id": "nightly-report"}}
    )

    [line] = _lines(stream)
    assert line["workflow_id"] == "nightly-report"
    assert "deal_id" not in line


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    on_message = (
        workflow.logger.workflow_info_on_message,
        activity.logger.activity_info_on_message,
    )
    uvicorn = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level, lg.disabled) for lg in uvicorn]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = on_message
    for lg, lg_handlers, propagate, lg_level, disabled in saved:
        lg.handlers[:] = lg_handlers
        lg.propagate, lg.disabled = propagate, disabled
        lg.setLevel(lg_level)


@pytest.mark.usefixtures("root_logging")
def test_configure_logging_routes_every_logger_through_one_handler() -> None:
    buffer = io.StringIO()
    # As uvicorn's own log config leaves it.
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(io.StringIO()))
    access.propagate = False
    access.setLevel(logging.WARNING)

    configure_logging(format="json", level="info", stream=io.StringIO())
    handler = configure_logging(format="json", level="info", stream=buffer)
    logging.getLogger("uvicorn.access").info("GET /healthz")
    logging.getLogger("dealdesk.test").debug("not at INFO")

    ours = [h for h in logging.getLogger().handlers if h.get_name() == handler.get_name()]
    assert ours == [handler]  # a second call replaced the first handler
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("uvicorn.access").handlers == []
    [line] = [json.loads(text) for text in buffer.getvalue().splitlines()]
    assert line["logger"] == "uvicorn.access"
    assert line["message"] == "GET /healthz"
    # The Temporal details are fields in JSON mode, not appended to the message as well.
    assert workflow.logger.workflow_info_on_message is False
    assert activity.logger.activity_info_on_message is False


@pytest.mark.usefixtures("root_logging")
def test_text_format_is_one_plain_line() -> None:
    buffer = io.StringIO()
    configure_logging(format="text", stream=buffer)

    logging.getLogger("dealdesk.test").warning("the outbox is %d behind", 3)

    [text] = buffer.getvalue().splitlines()
    assert text.endswith("WARNING dealdesk.test: the outbox is 3 behind")
