"""RFC 5545 recurrence rules with wall-clock semantics.

A series is an RRULE anchored at DTSTART, a naive wall-clock time in an IANA zone. Instances
are computed in wall-clock time (so "9:00 every day" stays 9:00 across DST) and converted to
UTC one by one: a time in a DST gap moves forward by the gap, an ambiguous time takes its
first offset.

dateutil does the calendar work. Two things are layered on top of it:
- Iteration starts at the FREQ/INTERVAL period that holds the point of interest rather than at
  DTSTART, so finding the next instance of a long-running series costs the same as a new one.
- Every dateutil search runs in a calendar shifted forward by a multiple of 400 years (the
  Gregorian cycle, so weekdays and leap years are unchanged). dateutil only stops a search
  that never matches at year 9999; the shift caps that at 400-800 years of search.
"""

from __future__ import annotations

import calendar
import math
import re
from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, rrule
from dateutil.rrule import weekday as nth_weekday

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


@dataclass(frozen=True)
class Occurrence:
    index: int  # position in the series; occurrence 0 is DTSTART
    local: datetime  # naive wall clock in the rule's zone
    due_at: datetime  # aware, UTC


# ---------------------------------------------------------------------------------------------
# Time zones


@lru_cache(maxsize=512)
def _cached_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def load_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone `name`, or ValidationFailed on `field`."""
    try:
        return _cached_zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationFailed.field(field, f"unknown IANA time zone {name!r}") from exc


def to_utc(local: datetime, timezone: str) -> datetime:
    """Wall clock -> aware UTC. fold=0 moves a DST-gap time forward by the gap and gives an
    ambiguous time its first offset."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=load_zone(timezone), fold=0).astimezone(UTC)


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


# ---------------------------------------------------------------------------------------------
# Instance generation

_SHIFT_TARGET_YEAR = 9599  # searches start in (9199, 9599]: at least 400 years before 9999
# Periods per memo window: one window is cheap to walk, and few windows span years.
_WINDOW_PERIODS = {YEARLY: 1, MONTHLY: 12, WEEKLY: 13, DAILY: 32, HOURLY: 24, MINUTELY: 60}


def _rrule_kwargs(p: _Parts, start: datetime) -> dict[str, object]:
    """dateutil arguments with every default it would take from DTSTART made explicit, so the
    same rule can be restarted at any later period start."""
    byweekday = tuple(nth_weekday(wd, n or None) for n, wd in p.byday) or None
    bymonth: tuple[int, ...] | None = p.bymonth or None
    bymonthday: tuple[int, ...] | None = p.bymonthday or None
    if not (p.byweekno or p.byyearday or p.bymonthday or p.byday):
        if p.freq == YEARLY:
            bymonth = bymonth or (start.month,)
            bymonthday = (start.day,)
        elif p.freq == MONTHLY:
            bymonthday = (start.day,)
        elif p.freq == WEEKLY:
            byweekday = (nth_weekday(start.weekday()),)
    return {
        "freq": p.freq,
        "interval": p.interval,
        "wkst": p.wkst if p.wkst is not None else 0,
        "bysetpos": p.bysetpos or None,
        "bymonth": bymonth,
        "bymonthday": bymonthday,
        "byyearday": p.byyearday or None,
        "byweekno": p.byweekno or None,
        "byweekday": byweekday,
        "byhour": p.byhour or ((start.hour,) if p.freq < HOURLY else None),
        "byminute": p.byminute or ((start.minute,) if p.freq < MINUTELY else None),
        "bysecond": p.bysecond or (start.second,),
    }


def _walk(kw: dict[str, object], start: datetime, until: datetime | None) -> Iterator[datetime]:
    """Instances >= `start` of the rule whose grid begins at `start`; ends within 800 years."""
    shift = max(0, (_SHIFT_TARGET_YEAR - start.year) // 400) * 400
    shifted_until = None
    if until is not None and until.year + shift <= 9999:
        shifted_until = until.replace(year=until.year + shift)
    rule = rrule(dtstart=start.replace(year=start.year + shift), until=shifted_until, **kw)
    for x in rule:
        yield x.replace(year=x.year - shift)


def _unit_start(freq: int, wkst: int, x: datetime) -> datetime:
    if freq == YEARLY:
        return datetime(x.year, 1, 1)
    if freq == MONTHLY:
        return datetime(x.year, x.month, 1)
    if freq == WEEKLY:
        return datetime.combine(x.date() - timedelta(days=(x.weekday() - wkst) % 7), time())
    if freq == DAILY:
        return datetime.combine(x.date(), time())
    if freq == HOURLY:
        return x.replace(minute=0, second=0, microsecond=0)
    return x.replace(second=0, microsecond=0)


_UNIT_DELTA = {
    WEEKLY: timedelta(weeks=1),
    DAILY: timedelta(days=1),
    HOURLY: timedelta(hours=1),
    MINUTELY: timedelta(minutes=1),
}


def _units_between(freq: int, a: datetime, b: datetime) -> int:
    if freq == YEARLY:
        return b.year - a.year
    if freq == MONTHLY:
        return (b.year - a.year) * 12 + b.month - a.month
    return (b - a) // _UNIT_DELTA[freq]


def _add_units(freq: int, a: datetime, n: int) -> datetime:
    if freq == YEARLY:
        return a.replace(year=a.year + n)
    if freq == MONTHLY:
        years, month0 = divmod(a.month - 1 + n, 12)
        return a.replace(year=a.year + years, month=month0 + 1)
    return a + _UNIT_DELTA[freq] * n


class _Series:
    """One parsed rule at one DTSTART: instances in order, and how many precede a time."""

    def __init__(self, rrule_text: str, dtstart: datetime, timezone: str) -> None:
        self.parts = _parse_parts(rrule_text)
        self.zone = load_zone(timezone)
        self.dtstart = dtstart
        self.count = self.parts.count
        self.until = _until_local(self.parts.until, self.zone)
        self.kwargs = _rrule_kwargs(self.parts, dtstart)
        self._freq = self.parts.freq
        self._wkst = self.parts.wkst if self.parts.wkst is not None else 0
        self._origin = _unit_start(self._freq, self._wkst, dtstart)
        self._window_units = self.parts.interval * _WINDOW_PERIODS[self._freq]
        # RFC 5545: DTSTART is always the first instance, even when the rule would skip it.
        first = next(self._pattern_from(dtstart), None)
        self.extra_start = first != dtstart
        self._memo: list[tuple[int, int]] = [(0, 0)]  # (window, pattern instances before it)

    def _grid_start(self, x: datetime, units_per_step: int) -> tuple[int, datetime]:
        units = _units_between(self._freq, self._origin, _unit_start(self._freq, self._wkst, x))
        step = units // units_per_step
        return step, _add_units(self._freq, self._origin, step * units_per_step)

    def _pattern_from(self, x: datetime) -> Iterator[datetime]:
        """Rule instances (not counting an unsynchronised DTSTART) from x's period on."""
        _, start = self._grid_start(max(x, self.dtstart), self.parts.interval)
        for y in _walk(self.kwargs, start, self.until):
            if y >= self.dtstart:
                yield y

    def after(self, local: datetime | None) -> Iterator[datetime]:
        """Series instances strictly after `local` (all of them when None), in order."""
        if self.extra_start and (local is None or self.dtstart > local):
            yield self.dtstart
        for y in self._pattern_from(local if local is not None else self.dtstart):
            if local is None or y > local:
                yield y

    def count_through(self, local: datetime) -> int:
        """Number of series instances at or before `local`, with per-window checkpoints so
        later calls on a long-running series start near `local`, not at DTSTART."""
        n = 1 if self.extra_start and self.dtstart <= local else 0
        if local < self.dtstart:
            return n
        window, window_start = self._grid_start(local, self._window_units)
        known, counted = self._memo[bisect_right(self._memo, (window, math.inf)) - 1]
        walk_from = _add_units(self._freq, self._origin, known * self._window_units)
        recorded = known == window
        for y in self._pattern_from(walk_from):
            if not recorded and y >= window_start:
                insort(self._memo, (window, counted))
                recorded = True
            if y > local:
                break
            counted += 1
        return n + counted


@lru_cache(maxsize=1024)
def _series(rrule_text: str, dtstart: datetime, timezone: str) -> _Series:
    return _Series(rrule_text, dtstart, timezone)


def _series_of(rule: Rule) -> _Series:
    return _series(rule.rrule, rule.dtstart, rule.timezone)


def _occurrence(index: int, local: datetime, zone: ZoneInfo) -> Occurrence:
    return Occurrence(index, local, local.replace(tzinfo=zone, fold=0).astimezone(UTC))


# ---------------------------------------------------------------------------------------------
# Public API


def _wall_clock(value: datetime, zone: ZoneInfo) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    return value.replace(microsecond=0, fold=0)


def parse_rule(
    rrule: str,
    dtstart: datetime,
    timezone: str,
    *,
    mode: RecurrenceMode | str = RecurrenceMode.SCHEDULE,
    catch_up: CatchUp | str = CatchUp.SKIP_MISSED,
    exdates: Iterable[datetime] = (),
) -> Rule:
    """Validate and normalise a rule. Raises ValidationFailed naming the offending field."""
    zone = load_zone(timezone)
    parts = _parse_parts(rrule)
    try:
        mode = RecurrenceMode(mode)
    except ValueError:
        raise ValidationFailed.field(
            "recurrence.mode", f"must be one of {', '.join(RecurrenceMode)}"
        ) from None
    try:
        catch_up = CatchUp(catch_up)
    except ValueError:
        raise ValidationFailed.field(
            "recurrence.catch_up", f"must be one of {', '.join(CatchUp)}"
        ) from None
    start = _wall_clock(dtstart, zone)
    rule = Rule(
        rrule=parts.text(),
        timezone=timezone,
        dtstart=start,
        mode=mode,
        catch_up=catch_up,
        exdates=frozenset(_wall_clock(x, zone) for x in exdates),
    )
    _check_has_instances(parts, start)
    first_occurrence(rule)
    return rule


def _check_has_instances(parts: _Parts, start: datetime) -> None:
    """Reject a rule that never matches (ignoring COUNT/UNTIL), e.g. BYMONTH=2;BYMONTHDAY=30.

    Cheap static and YEARLY-level checks go first: a fine-grained rule that never matches
    would otherwise be searched minute by minute for centuries."""
    if not _some_date_matches(parts, start.year):
        raise _fail(f"{parts.by_text()} never matches a date, so the rule has no occurrences")
    if parts.bysetpos and parts.freq >= DAILY:
        kw = _rrule_kwargs(parts, start)
        per_period = len(kw["bysecond"])  # type: ignore[arg-type]
        if parts.freq <= HOURLY:
            per_period *= len(kw["byminute"])  # type: ignore[arg-type]
        if parts.freq == DAILY:
            per_period *= len(kw["byhour"])  # type: ignore[arg-type]
        if all(abs(pos) > per_period for pos in parts.bysetpos):
            raise _fail(
                f"BYSETPOS={_join(parts.bysetpos)} selects nothing: each "
                f"{_UNITS[parts.freq]} has only {per_period} instance(s)"
            )
    try:
        found = next(_walk(_rrule_kwargs(parts, start), start, None), None)
    except ValueError as exc:  # dateutil: BYHOUR/BYMINUTE unreachable with this INTERVAL
        raise _fail(
            f"{parts.by_text()} can never be reached with INTERVAL={parts.interval} "
            f"from DTSTART's time {start:%H:%M} ({exc})"
        ) from None
    if found is None:
        raise _fail(
            f"{parts.text()} never produces an occurrence after DTSTART {start:%Y-%m-%d %H:%M}"
        )


def _some_date_matches(p: _Parts, year: int) -> bool:
    """Whether any date passes the BY* date filters, searched as a YEARLY rule."""
    if not (p.bymonth or p.byweekno or p.byyearday or p.bymonthday or p.byday):
        return True
    months = p.bymonth
    if not months and p.freq == MONTHLY:
        months = tuple(range(1, 13))  # numbered weekdays then count within each month
    kwargs: dict[str, object] = {
        "freq": YEARLY,
        "wkst": p.wkst if p.wkst is not None else 0,
        "bymonth": months or None,
        "byweekno": p.byweekno or None,
        "byyearday": p.byyearday or None,
        "bymonthday": p.bymonthday or None,
        "byweekday": tuple(nth_weekday(wd, n or None) for n, wd in p.byday) or None,
        "byhour": 0,
        "byminute": 0,
        "bysecond": 0,
    }
    return next(_walk(kwargs, datetime(year, 1, 1), None), None) is not None


def first_occurrence(rule: Rule) -> Occurrence:
    """Occurrence 0, or the first one not excluded by EXDATE."""
    series = _series_of(rule)
    for i, local in enumerate(series.after(None)):
        if series.count is not None and i >= series.count:
            break
        if local not in rule.exdates:
            return _occurrence(i, local, series.zone)
    raise ValidationFailed.field("recurrence.exdates", "EXDATE excludes every occurrence")


def next_occurrence(
    rule: Rule, completed: Occurrence, *, completed_at: datetime, now: datetime
) -> Occurrence | None:
    """The occurrence that follows `completed`, or None when the series has ended."""
    series = _series_of(rule)
    if rule.mode is RecurrenceMode.AFTER_COMPLETION:
        return _next_after_completion(rule, series, completed, completed_at)
    skip_missed = rule.catch_up is CatchUp.SKIP_MISSED
    # Anything a day before `now` in wall-clock terms is past whatever the UTC offsets are.
    surely_past = _wall_clock(now, series.zone) - timedelta(days=1)
    for i, local in enumerate(series.after(completed.local), start=completed.index + 1):
        if series.count is not None and i >= series.count:
            return None
        if local in rule.exdates or (skip_missed and local < surely_past):
            continue
        occurrence = _occurrence(i, local, series.zone)
        if skip_missed and occurrence.due_at <= now:
            continue
        return occurrence
    return None


def _next_after_completion(
    rule: Rule, series: _Series, completed: Occurrence, completed_at: datetime
) -> Occurrence | None:
    index = completed.index + 1
    if series.count is not None and index >= series.count:
        return None
    done_day = _wall_clock(completed_at, series.zone).date()
    anchor = datetime.combine(done_day, rule.dtstart.time())
    for local in _walk(_rrule_kwargs(series.parts, anchor), anchor, series.until):
        if local <= anchor or local in rule.exdates:
            continue
        occurrence = _occurrence(index, local, series.zone)
        if occurrence.due_at > completed_at:
            return occurrence
    return None


MAX_PREVIEW = 1000


def preview(rule: Rule, count: int, *, after: datetime | None = None) -> list[Occurrence]:
    """The next `count` occurrences on the schedule, from occurrence 0 or strictly after the
    instant `after`."""
    if not 0 <= count <= MAX_PREVIEW:
        raise ValidationFailed.field("count", f"must be between 0 and {MAX_PREVIEW}")
    series = _series_of(rule)
    start: datetime | None = None
    index = 0
    if after is not None:
        # Start a day early in wall-clock terms so DST offsets cannot hide an instance.
        start = _wall_clock(after, series.zone) - timedelta(days=1)
        index = series.count_through(start)
    out: list[Occurrence] = []
    if count == 0:
        return out
    for i, local in enumerate(series.after(start), start=index):
        if series.count is not None and i >= series.count:
            break
        if local in rule.exdates:
            continue
        occurrence = _occurrence(i, local, series.zone)
        if after is None or occurrence.due_at > after:
            out.append(occurrence)
            if len(out) == count:
                break
    return out


# ---------------------------------------------------------------------------------------------
# Plain-language summary

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_UNITS = {YEARLY: "year", MONTHLY: "month", WEEKLY: "week", DAILY: "day"}
_UNITS.update({HOURLY: "hour", MINUTELY: "minute"})
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
_WEEKDAYS = frozenset(range(5))
_WEEKEND = frozenset({5, 6})


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _nth(n: int) -> str:
    suffix = (
        "th" if 10 <= abs(n) % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")
    )
    return f"{n}{suffix}"


def _position(n: int) -> str:
    """1 -> "first", -1 -> "last", -2 -> "second-to-last", 7 -> "7th"."""
    if n in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[n]
    if n < 0:
        return f"{_ORDINAL_WORDS.get(-n, _nth(-n))}-to-last"
    return _nth(n)


def _month_day(n: int) -> str:
    if n == -1:
        return "the last day"
    return f"the {_position(n)} day" if n < 0 else f"the {_nth(n)}"


def clock(t: time | datetime) -> str:
    """9:00 AM, 5:30 PM, 12:00 PM; seconds only when set."""
    hour = t.hour % 12 or 12
    seconds = f":{t.second:02d}" if t.second else ""
    return f"{hour}:{t.minute:02d}{seconds} {'AM' if t.hour < 12 else 'PM'}"


def _long_date(d: date | datetime) -> str:
    return f"{_MONTH_NAMES[d.month - 1]} {d.day}, {d.year}"


def _month_days(days: list[int]) -> str:
    """[2, 15] -> "the 2nd and 15th"; [-1] -> "the last day"."""
    if all(d > 0 for d in days):
        return "the " + _and([_nth(d) for d in days])
    return _and([_month_day(d) for d in days])


def _days_plural(days: list[int]) -> str:
    kind = _day_set(days)
    if kind == "day":
        return "every day"
    return f"{kind}s" if kind else _and([f"{_DAY_NAMES[wd]}s" for wd in days])


def _day_set(days: list[int]) -> str | None:
    if set(days) == _WEEKDAYS:
        return "weekday"
    if set(days) == _WEEKEND:
        return "weekend day"
    if len(set(days)) == 7:
        return "day"
    return None


def summarize(rule: Rule) -> str:
    """Plain language: "Every month on the last Friday at 9:00 AM, 6 times"."""
    series = _series_of(rule)
    p, start = series.parts, rule.dtstart
    kw = series.kwargs
    unit = _UNITS[p.freq]
    every = f"Every {unit}" if p.interval == 1 else f"Every {p.interval} {unit}s"
    plain = [wd for n, wd in p.byday if not n]
    numbered = [(n, wd) for n, wd in p.byday if n]
    days_text = _and([_DAY_NAMES[wd] for wd in plain])
    used: set[str] = set()
    head = every
    detail: list[str] = []

    if p.bysetpos and p.byday and not numbered and not p.bymonthday and not p.byyearday:
        kind = _day_set(plain) or f"of {days_text}"
        positions = _and([_position(n) for n in p.bysetpos])
        detail.append(f"on the {positions} {kind}")
        used |= {"byday", "bysetpos"}
    if p.freq in (DAILY, WEEKLY) and plain and "byday" not in used:
        kind = _day_set(plain)
        if p.interval == 1:
            head = f"Every {kind}" if kind and kind != "day" else f"Every {days_text}"
        else:
            detail.append(f"on {_days_plural(plain)}")
        used.add("byday")
    if p.freq == WEEKLY and not p.byday:
        wd = start.weekday()
        head = f"Every {_DAY_NAMES[wd]}" if p.interval == 1 else head
        if p.interval != 1:
            detail.append(f"on {_DAY_NAMES[wd]}")
    month_days = list(kw["bymonthday"] or ())  # type: ignore[call-overload]
    months = list(kw["bymonth"] or ())  # type: ignore[call-overload]
    if p.freq == YEARLY and months and month_days and not p.byday and not p.byyearday:
        if len(months) == 1 and len(month_days) == 1 and month_days[0] > 0:
            detail.append(f"on {_MONTH_NAMES[months[0] - 1]} {month_days[0]}")
        else:
            in_months = _and([_MONTH_NAMES[m - 1] for m in months])
            detail.append(f"on {_month_days(month_days)} of {in_months}")
        used |= {"bymonth", "bymonthday"}
    if numbered:
        of_month = p.freq == MONTHLY or months
        scope = ""
        if p.freq == YEARLY:
            scope = (
                f" of {_and([_MONTH_NAMES[m - 1] for m in months])}" if months else " of the year"
            )
            used.add("bymonth")
        picks = [f"{_position(n)} {_DAY_NAMES[wd]}" for n, wd in numbered]
        detail.append(f"on the {_and(picks)}{scope if of_month or p.freq == YEARLY else ''}")
        if plain:
            detail.append(f"and on {_days_plural(plain)}")
        used.add("byday")
    if month_days and "bymonthday" not in used and p.freq in (MONTHLY, YEARLY, DAILY):
        if "byday" in used or not p.byday:
            detail.append(f"on {_month_days(month_days)}")
        else:
            detail.append(f"on {_month_days(month_days)} if it is a {days_text}")
            used.add("byday")
        used.add("bymonthday")
    if plain and "byday" not in used:
        detail.append(f"on {_days_plural(plain)}")
    if p.byyearday:
        detail.append(f"on day {_and([str(d) for d in p.byyearday])} of the year")
    if p.byweekno:
        detail.append(f"in week {_and([str(w) for w in p.byweekno])}")
    if p.bymonth and "bymonth" not in used:
        detail.append(f"in {_and([_MONTH_NAMES[m - 1] for m in p.bymonth])}")
    if p.bysetpos and "bysetpos" not in used:
        detail.append(
            f"keeping the {_and([_position(n) for n in p.bysetpos])} match of each {unit}"
        )
    if p.freq < HOURLY:
        times = [time(h, m, kw["bysecond"][0]) for h in kw["byhour"] for m in kw["byminute"]]  # type: ignore[index,union-attr]
        detail.append(f"at {_and([clock(t) for t in sorted(times)])}")
    else:
        if p.byhour:
            detail.append(f"during the {_and([clock(time(h)) for h in p.byhour])} hours")
        if not p.byhour and not p.byminute:
            detail.append(f"from {clock(start)}")
        elif p.byminute:
            detail.append(f"at minute {_and([str(m) for m in p.byminute])}")
    text = " ".join([head, *detail])
    if rule.mode is RecurrenceMode.AFTER_COMPLETION:
        text += ", counted from each completion"
    if p.count is not None:
        text += ", once" if p.count == 1 else f", {p.count} times"
    if series.until is not None:
        until_text = _long_date(series.until)
        if series.until.time() != time(23, 59, 59):
            until_text += f" at {clock(series.until)}"
        text += f", until {until_text}"
    if rule.exdates:
        skipped = sorted(rule.exdates)
        shown = [_long_date(x) for x in skipped[:3]]
        if len(skipped) > 3:
            shown.append(f"{len(skipped) - 3} more")
        text += f", except {_and(shown)}"
    return text


# ---------------------------------------------------------------------------------------------
# Warnings

_WARNING_SCAN = 1000  # instances scanned for DST trouble
_WARNING_SPAN = timedelta(days=2 * 366)


def _dst_issue(local: datetime, timezone: str, zone: ZoneInfo) -> tuple[str, str] | None:
    """("gap" | "fold", explanation) when `local` is not a plain wall-clock time."""
    first = local.replace(tzinfo=zone, fold=0)
    if first.utcoffset() == local.replace(tzinfo=zone, fold=1).utcoffset():
        return None
    actual = first.astimezone(UTC).astimezone(zone)
    if actual.replace(tzinfo=None) != local:
        return "gap", (
            f"{clock(local)} does not exist on {local:%Y-%m-%d} in {timezone}; "
            f"it will fire at {clock(actual)}"
        )
    return "fold", (
        f"{clock(local)} happens twice on {local:%Y-%m-%d} in {timezone}; "
        f"it will fire at the first one ({first.tzname()})"
    )


def warnings(rule: Rule) -> list[str]:
    """Things about a valid rule that may surprise its author."""
    series = _series_of(rule)
    p, start, zone = series.parts, rule.dtstart, series.zone
    kw = series.kwargs
    out: list[str] = []
    if series.extra_start:
        out.append(
            f"DTSTART {start:%Y-%m-%d %H:%M} does not match the rule; RFC 5545 still makes it "
            "the first occurrence"
        )
    if series.until is not None and series.until < start:
        out.append(
            f"UNTIL {series.until:%Y-%m-%d %H:%M} is before DTSTART {start:%Y-%m-%d %H:%M}; "
            "only the first occurrence will happen"
        )
    month_days = [d for d in kw["bymonthday"] or () if d > 28]  # type: ignore[attr-defined]
    if month_days and p.freq in (MONTHLY, YEARLY, DAILY):
        day = min(month_days)
        months = list(kw["bymonth"] or range(1, 13))  # type: ignore[call-overload]
        short = [m for m in months if day > (29 if m == 2 else calendar.monthrange(2001, m)[1])]
        if day == 29 and months == [2]:
            out.append("February 29 only exists in leap years; the rule fires every 4 years")
        elif short:
            out.append(
                f"day {day} does not exist in every month (e.g. {_MONTH_NAMES[short[0] - 1]}); "
                "those months are skipped. Use BYMONTHDAY=-1 for the last day of every month"
            )
    if rule.mode is RecurrenceMode.AFTER_COMPLETION and p.interval > 1 and p.by_text():
        out.append(
            f"INTERVAL={p.interval} with {p.by_text()} restarts from each completion date, so "
            "which dates match depends on when it is completed"
        )
    for x in sorted(rule.exdates):
        if next(series.after(x - timedelta(seconds=1)), None) != x:
            out.append(
                f"EXDATE {x:%Y-%m-%d %H:%M} is not an occurrence of the rule; it does nothing"
            )
    seen: set[str] = set()  # report the first gap and the first fold only
    for i, local in enumerate(series.after(None)):
        if i >= _WARNING_SCAN or local - start > _WARNING_SPAN:
            break
        if series.count is not None and i >= series.count:
            break
        issue = _dst_issue(local, rule.timezone, zone)
        if issue and issue[0] not in seen:
            seen.add(issue[0])
            out.append(issue[1])
    return out
