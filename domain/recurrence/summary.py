"""Plain-language summary of a rule."""

from __future__ import annotations

from datetime import date, datetime, time

from dateutil.rrule import DAILY, HOURLY, MONTHLY, WEEKLY, YEARLY

from domain.recurrence.iteration import _series_of
from domain.recurrence.rules import _UNITS, RecurrenceMode, Rule

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
