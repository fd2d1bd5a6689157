"""The rule model and the RRULE value: parsing and validating its text into parts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY

from domain.errors import FieldError, ValidationFailed

RRULE_FIELD = "recurrence.rrule"


class RecurrenceMode(StrEnum):
    SCHEDULE = "schedule"
    AFTER_COMPLETION = "after_completion"


class CatchUp(StrEnum):
    SKIP_MISSED = "skip_missed"
    EVERY_OCCURRENCE = "every_occurrence"


@dataclass(frozen=True)
class Rule:
    rrule: str  # normalised RRULE value without the "RRULE:" prefix
    timezone: str  # IANA zone
    dtstart: datetime  # naive wall clock of occurrence 0
    mode: RecurrenceMode = RecurrenceMode.SCHEDULE
    catch_up: CatchUp = CatchUp.SKIP_MISSED
    exdates: frozenset[datetime] = field(default_factory=frozenset)  # naive wall clock


# ---------------------------------------------------------------------------------------------
# Parsing the RRULE value

_FREQS = {
    "YEARLY": YEARLY,
    "MONTHLY": MONTHLY,
    "WEEKLY": WEEKLY,
    "DAILY": DAILY,
    "HOURLY": HOURLY,
    "MINUTELY": MINUTELY,
}
_FREQ_NAMES = {v: k for k, v in _FREQS.items()}
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_UNITS = {YEARLY: "year", MONTHLY: "month", WEEKLY: "week", DAILY: "day"}
_UNITS.update({HOURLY: "hour", MINUTELY: "minute"})
# Canonical order of the normalised text; COUNT/UNTIL last reads naturally ("...;COUNT=6").
_PART_ORDER = (
    "FREQ",
    "INTERVAL",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
    "BYSETPOS",
    "WKST",
    "COUNT",
    "UNTIL",
)
_BYDAY_RE = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_UNTIL_RE = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


@dataclass(frozen=True)
class _Parts:
    freq: int
    interval: int = 1
    bymonth: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byday: tuple[tuple[int, int], ...] = ()  # (ordinal, 0 when none; weekday, 0 = Monday)
    byhour: tuple[int, ...] = ()
    byminute: tuple[int, ...] = ()
    bysecond: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int | None = None
    count: int | None = None
    until: str | None = None  # normalised UNTIL text: DATE, floating DATE-TIME, or UTC "...Z"

    def text(self) -> str:
        values = {
            "FREQ": _FREQ_NAMES[self.freq],
            "INTERVAL": str(self.interval) if self.interval != 1 else None,
            "BYMONTH": _join(self.bymonth),
            "BYWEEKNO": _join(self.byweekno),
            "BYYEARDAY": _join(self.byyearday),
            "BYMONTHDAY": _join(self.bymonthday),
            "BYDAY": ",".join(_byday_text(n, wd) for n, wd in self.byday) or None,
            "BYHOUR": _join(self.byhour),
            "BYMINUTE": _join(self.byminute),
            "BYSECOND": _join(self.bysecond),
            "BYSETPOS": _join(self.bysetpos),
            "WKST": WEEKDAY_CODES[self.wkst] if self.wkst is not None else None,
            "COUNT": str(self.count) if self.count is not None else None,
            "UNTIL": self.until,
        }
        return ";".join(f"{k}={values[k]}" for k in _PART_ORDER if values[k] is not None)

    def by_text(self) -> str:
        """The BY* parts alone, for messages about what the rule selects."""
        return ";".join(p for p in self.text().split(";") if p.startswith("BY"))


def _join(values: tuple[int, ...]) -> str | None:
    return ",".join(str(v) for v in values) or None


def _byday_text(n: int, wd: int) -> str:
    return f"{n}{WEEKDAY_CODES[wd]}" if n else WEEKDAY_CODES[wd]


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed(FieldError(RRULE_FIELD, message))


def _int_list(key: str, raw: str, lo: int, hi: int, signed: bool, what: str) -> tuple[int, ...]:
    out: list[int] = []
    for item in (i.strip() for i in raw.split(",")):
        value = int(item) if _INT_RE.match(item) else 0
        in_range = lo <= abs(value) <= hi and value != 0 if signed else lo <= value <= hi
        if not _INT_RE.match(item) or not in_range:
            span = f"{lo} to {hi} or -{hi} to -{lo}" if signed else f"{lo} to {hi}"
            raise _fail(f"{key}={raw}: {item!r} is not a valid {what} ({span})")
        if value not in out:
            out.append(value)
    return tuple(out)


def _positive(key: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise _fail(f"{key}={raw}: must be a whole number of at least 1")
    return int(raw)


def _weekday_code(key: str, raw: str) -> int:
    if raw not in WEEKDAY_CODES:
        raise _fail(f"{key}={raw}: must be one of {', '.join(WEEKDAY_CODES)}")
    return WEEKDAY_CODES.index(raw)


def _until(raw: str) -> str:
    m = _UNTIL_RE.match(raw)
    try:
        if m is None:
            raise ValueError(raw)
        datetime.strptime(m.group(1) + (m.group(2) or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _fail(
            f"UNTIL={raw}: expected a date like 20270630 or a UTC time like 20270630T170000Z"
        ) from None
    return raw


def _byday(raw: str, freq: int, has_weekno: bool) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for item in raw.split(","):
        m = _BYDAY_RE.match(item.strip())
        if m is None:
            raise _fail(f"BYDAY={raw}: {item!r} is not a weekday like MO, 2TU or -1FR")
        n = int(m.group(1)) if m.group(1) else 0
        if m.group(1) and n == 0:
            raise _fail(f"BYDAY={raw}: the weekday number in {item!r} cannot be 0")
        if n and freq not in (MONTHLY, YEARLY):
            raise _fail(f"BYDAY={raw}: a numbered weekday like 2MO needs FREQ=MONTHLY or YEARLY")
        if n and freq == YEARLY and has_weekno:
            raise _fail(f"BYDAY={raw}: a numbered weekday cannot be combined with BYWEEKNO")
        limit = 5 if freq == MONTHLY else 53
        if abs(n) > limit:
            raise _fail(f"BYDAY={raw}: {item!r} is out of range (-{limit} to {limit})")
        pair = (n, WEEKDAY_CODES.index(m.group(2)))
        if pair not in out:
            out.append(pair)
    return tuple(out)


def _parse_parts(value: str) -> _Parts:
    text = value.strip() if isinstance(value, str) else ""
    if text.upper().startswith("RRULE:"):
        text = text[6:].strip()
    if "DTSTART" in text.upper():
        raise _fail("DTSTART does not belong inside the RRULE value; send the series start apart")
    raw: dict[str, str] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, eq, val = part.partition("=")
        key, val = key.strip().upper(), val.strip().upper()
        if not eq or not key or not val:
            raise _fail(f"{part!r} is not a NAME=VALUE part such as FREQ=WEEKLY")
        if key not in _PART_ORDER:
            raise _fail(f"unknown part {key}; RRULE parts are {', '.join(_PART_ORDER)}")
        if key in raw:
            raise _fail(f"{key} appears twice")
        raw[key] = val
    if not raw:
        raise _fail("the rule is empty; expected e.g. FREQ=WEEKLY;BYDAY=MO,TH")
    if "FREQ" not in raw:
        raise _fail("FREQ is required, e.g. FREQ=DAILY")
    freq_name = raw["FREQ"]
    if freq_name == "SECONDLY":
        raise _fail("FREQ=SECONDLY fires more often than once a minute; the finest is MINUTELY")
    if freq_name not in _FREQS:
        raise _fail(f"FREQ={freq_name} is not one of {', '.join(_FREQS)}")
    freq = _FREQS[freq_name]
    if "COUNT" in raw and "UNTIL" in raw:
        raise _fail("COUNT and UNTIL cannot both be set (RFC 5545); keep one")

    def forbid(key: str, freqs: tuple[int, ...], why: str) -> None:
        if key in raw and freq in freqs:
            raise _fail(f"{key}={raw[key]} cannot be used with FREQ={freq_name}; {why}")

    forbid("BYWEEKNO", (MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY), "it needs FREQ=YEARLY")
    forbid("BYYEARDAY", (MONTHLY, WEEKLY, DAILY), "RFC 5545 allows it with YEARLY or finer")
    forbid("BYMONTHDAY", (WEEKLY,), "use BYDAY for days of the week")
    by_parts = [k for k in raw if k.startswith("BY") and k != "BYSETPOS"]
    if "BYSETPOS" in raw and not by_parts:
        raise _fail(f"BYSETPOS={raw['BYSETPOS']} needs another BY part to select from")

    def ints(key: str, lo: int, hi: int, signed: bool, what: str) -> tuple[int, ...]:
        return _int_list(key, raw[key], lo, hi, signed, what) if key in raw else ()

    bysecond = ints("BYSECOND", 0, 59, False, "second")
    if len(bysecond) > 1:
        raise _fail(
            f"BYSECOND={raw['BYSECOND']} fires more often than once a minute; give one second"
        )
    return _Parts(
        freq=freq,
        interval=_positive("INTERVAL", raw["INTERVAL"]) if "INTERVAL" in raw else 1,
        bymonth=ints("BYMONTH", 1, 12, False, "month"),
        byweekno=ints("BYWEEKNO", 1, 53, True, "week number"),
        byyearday=ints("BYYEARDAY", 1, 366, True, "day of the year"),
        bymonthday=ints("BYMONTHDAY", 1, 31, True, "day of the month"),
        byday=_byday(raw["BYDAY"], freq, "BYWEEKNO" in raw) if "BYDAY" in raw else (),
        byhour=ints("BYHOUR", 0, 23, False, "hour"),
        byminute=ints("BYMINUTE", 0, 59, False, "minute"),
        bysecond=bysecond,
        bysetpos=ints("BYSETPOS", 1, 366, True, "set position"),
        wkst=_weekday_code("WKST", raw["WKST"]) if "WKST" in raw else None,
        count=_positive("COUNT", raw["COUNT"]) if "COUNT" in raw else None,
        until=_until(raw["UNTIL"]) if "UNTIL" in raw else None,
    )


def _until_local(until: str | None, zone: ZoneInfo) -> datetime | None:
    """UNTIL as a wall-clock bound. A DATE means through the end of that local day."""
    if until is None:
        return None
    m = _UNTIL_RE.match(until)
    assert m is not None  # validated by _until
    day = datetime.strptime(m.group(1), "%Y%m%d")
    if not m.group(2):
        return day.replace(hour=23, minute=59, second=59)
    moment = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    if m.group(3):
        return moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    return moment
