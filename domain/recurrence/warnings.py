"""Warnings: things about a valid rule that may surprise its author."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, YEARLY

from domain.recurrence.iteration import _series_of
from domain.recurrence.rules import RecurrenceMode, Rule
from domain.recurrence.summary import _MONTH_NAMES, clock

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
