"""Timer and reminder schedule strings, parsed the way daprd parses them.

Accepted: Go durations (`2h30m`, and the SDK's `0h0m0s500ms0μs` with Greek μ, micro sign µ
or `us`), ISO 8601 durations (`PT2H30M`, `P1DT0.5S`, weeks and days), a repetition count on
periods (`R5/PT1M30S`), and RFC 3339 instants for `dueTime` and `ttl`.
Calendar units (ISO years and months) are refused: their length depends on the date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "μs": 1e-6,  # Greek small letter mu, what the Python SDK sends
    "µs": 1e-6,  # micro sign
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|μs|µs|ms|s|m|h)")
_ISO = re.compile(
    r"P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_REPETITIONS = re.compile(r"R(\d+)/(.*)")


class ScheduleError(ValueError):
    """A dueTime, period or ttl that daprd would refuse."""


@dataclass(frozen=True)
class Period:
    interval: timedelta
    repetitions: int | None = None  # None: unbounded


def parse_duration(text: str) -> timedelta:
    """A Go or ISO 8601 duration."""
    text = text.strip()
    if not text:
        raise ScheduleError("empty duration")
    if text.startswith("P"):
        return _parse_iso(text)
    return _parse_go(text)


def parse_period(text: str | None) -> Period | None:
    """None (fire once) for an omitted period and for a period of zero, e.g. the
    `0h0m0s0ms0μs` the Python SDK sends for `timedelta(0)`: daprd reads both as "no
    repeats" (pkg/actors/api/period.go, HasRepeats)."""
    if not text:
        return None
    text = text.strip()
    repetitions = None
    if match := _REPETITIONS.fullmatch(text):
        repetitions = int(match.group(1))
        text = match.group(2)
    interval = parse_duration(text)
    if interval < timedelta(0):
        raise ScheduleError(f"period must not be negative: {text!r}")
    if interval == timedelta(0):
        return None
    return Period(interval, repetitions)


def parse_instant_or_offset(text: str | None, now: datetime) -> datetime | None:
    """An RFC 3339 instant, or a duration counted from `now`; None when omitted."""
    if not text:
        return None
    text = text.strip()
    if "T" in text and not text.startswith("P"):
        try:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ScheduleError(f"not an RFC 3339 time: {text!r}") from exc
        if instant.tzinfo is None:
            raise ScheduleError(f"RFC 3339 time needs an offset: {text!r}")
        return instant
    return now + parse_duration(text)


def _parse_go(text: str) -> timedelta:
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return timedelta(0)
    total = 0.0
    pos = 0
    for match in _GO_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ScheduleError(f"not a duration: {text!r}")
    return timedelta(seconds=sign * total)


def _parse_iso(text: str) -> timedelta:
    match = _ISO.fullmatch(text)
    if match is None or text in {"P", "PT"} or text.endswith("T"):
        raise ScheduleError(f"not a supported ISO 8601 duration: {text!r}")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return timedelta(**parts)
