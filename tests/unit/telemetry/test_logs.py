"""telemetry.logs: JSON lines with level, logger, trace and span ids and the request id;
the human format for a terminal; uvicorn's loggers handed to ours."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from telemetry import logs


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("tickler.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(r, key, value)
    return r


def test_a_json_line_names_level_logger_message_and_no_ids_outside_a_request() -> None:
    line = json.loads(logs.JsonFormatter().format(record("hello %s", "world")))
    assert line["level"] == "WARNING"
    assert line["logger"] == "tickler.test"
    assert line["message"] == "hello world"
    assert line["ts"].endswith("+00:00")
    assert not {"trace_id", "span_id", "request_id"} & line.keys()


def test_a_json_line_carries_the_current_trace_span_and_request() -> None:
    tracer = TracerProvider().get_tracer("test")
    token = logs.REQUEST_ID.set("req-1")
    try:
        with tracer.start_as_current_span("work") as span:
            line = json.loads(logs.JsonFormatter().format(record(http={"status": 200})))
            context = span.get_span_context()
    finally:
        logs.REQUEST_ID.reset(token)
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert line["request_id"] == "req-1"
    assert line["http"] == {"status": 200}


def test_an_exception_is_one_json_field_not_more_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        r = record()
        r.exc_info = sys.exc_info()
    text = logs.JsonFormatter().format(r)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]


def test_the_human_format_is_one_readable_line_with_short_ids() -> None:
    token = logs.REQUEST_ID.set("0123456789abcdef")
    try:
        text = logs.HumanFormatter().format(record("hello %s", "you"))
    finally:
        logs.REQUEST_ID.reset(token)
    assert "WARNING" in text and "tickler.test: hello you" in text
    assert text.endswith("[req 01234567]")
    assert not text.lstrip().startswith("{")


def test_configure_hands_uvicorns_loggers_to_the_root_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.addHandler(logging.StreamHandler())
    uvicorn.propagate = False
    try:
        logs.configure("json", logging.INFO)
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
        assert uvicorn.handlers == [] and uvicorn.propagate
        assert logging.getLogger("uvicorn.access").disabled
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False
