"""Logs: one JSON object per line in production, a readable line for `tickler dev`.

Each record carries its level, logger, the current trace and span ids and the request id,
so a log line leads to its trace and to its access-log line. Access logs are records of
the `tickler.access` logger (api/request_telemetry.py) in the same format, with the
request's fields at the top level; uvicorn's own access log is switched off.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from telemetry import tracing

LogFormat = Literal["json", "human"]
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
ACCESS = logging.getLogger("tickler.access")
# a record's extra fields that belong in the JSON object (access logs set `http`)
EXTRA_FIELDS = ("http",)
# uvicorn configures these with handlers of their own and no propagation
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _context() -> dict[str, str]:
    fields: dict[str, str] = {}
    if ids := tracing.ids():
        fields["trace_id"], fields["span_id"] = ids
    if request_id := REQUEST_ID.get():
        fields["request_id"] = request_id
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(),
        }
        for name in EXTRA_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class HumanFormatter(logging.Formatter):
    """`12:00:01 INFO  api.main: message  [req 1a2b… trace 3c4d…]` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context()
        tags = [f"req {context['request_id'][:8]}"] if "request_id" in context else []
        if "trace_id" in context:
            tags.append(f"trace {context['trace_id'][:8]}")
        return f"{line}  [{' '.join(tags)}]" if tags else line


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """The process's logging, for the `tickler` entry points (not for create_app, which tests
    call in-process beside pytest's own log capture)."""
    # none of the record fields that cost a lookup per line and that no format here prints
    # (the logging docs' "Optimization" section): caller file and line, thread, process
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # ours carry the route and ids
