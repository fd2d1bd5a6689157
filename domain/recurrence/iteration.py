"""Instance generation: the occurrences of a rule, in wall-clock time, converted to UTC.

dateutil does the calendar work. Two things are layered on top of it:
- Iteration starts at the FREQ/INTERVAL period that holds the point of interest rather than at
  DTSTART, so finding the next instance of a long-running series costs the same as a new one.
- Every dateutil search runs in a calendar shifted forward by a multiple of 400 years (the
  Gregorian cycle, so weekdays and leap years are unchanged). dateutil only stops a search
  that never matches at year 9999; the shift caps that at 400-800 years of search.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, rrule
from dateutil.rrule import weekday as nth_weekday

from domain.errors import ValidationFailed
from domain.recurrence.rules import (
    CatchUp,
    RecurrenceMode,
    Rule,
    _parse_parts,
    _Parts,
    _until_local,
)
from domain.zones import load_zone


@dataclass(frozen=True)
class Occurrence:
    index: int  # position in the series; occurrence 0 is DTSTART
    local: datetime  # naive wall clock in the rule's zone
    due_at: datetime  # aware, UTC


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
