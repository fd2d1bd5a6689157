"""Plain repeat phrases -> RRULE, for agents relaying what a person said.

A small fixed grammar, not NLP: a frequency ("daily", "every 2 weeks", "every weekday",
"last Friday of each month", "every year on March 3", ...) with optional parts anywhere after
it: "at 9am" / "at 17:30" (time of day), "until June" / "until 2027-06-30" (UNTIL) and
"for 5 times" / "10 times" (COUNT). Anything else is refused with the RRULE syntax to use.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, time

from domain.errors import ValidationFailed
from domain.recurrence import WEEKDAY_CODES

PHRASE_FIELD = "phrase"


@dataclass(frozen=True)
class PhraseRule:
    rrule: str
    time_of_day: time | None = None


_HELP = (
    'try e.g. "every weekday at 9am", "every 2 weeks on Mon and Thu", '
    '"last Friday of each month until June", "every year on March 3 for 5 times"; '
    "or send an RRULE (RFC 5545: FREQ=...;INTERVAL=...;BYDAY=...;COUNT=... or UNTIL=...), "
    "e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=10"
)

_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "other": 2,
}
_DAYS = {
    "monday": "MO",
    "mon": "MO",
    "tuesday": "TU",
    "tue": "TU",
    "tues": "TU",
    "wednesday": "WE",
    "wed": "WE",
    "thursday": "TH",
    "thu": "TH",
    "thur": "TH",
    "thurs": "TH",
    "friday": "FR",
    "fri": "FR",
    "saturday": "SA",
    "sat": "SA",
    "sunday": "SU",
    "sun": "SU",
}
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
    "second to last": -2,
    "second-to-last": -2,
    "next to last": -2,
}
_UNIT_FREQ = {
    "minute": "MINUTELY",
    "hour": "HOURLY",
    "day": "DAILY",
    "week": "WEEKLY",
    "month": "MONTHLY",
    "year": "YEARLY",
}
_WORD_FREQ = {
    "hourly": ("HOURLY", 1),
    "daily": ("DAILY", 1),
    "weekly": ("WEEKLY", 1),
    "fortnightly": ("WEEKLY", 2),
    "monthly": ("MONTHLY", 1),
    "yearly": ("YEARLY", 1),
    "annually": ("YEARLY", 1),
}
_WORKWEEK = "MO,TU,WE,TH,FR"

_DAY_WORD = r"(?:" + "|".join(sorted(_DAYS, key=len, reverse=True)) + r")s?"
_MONTH_WORD = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")"
_ORD_WORD = r"(?:" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")"
_COUNT_WORD = r"(?:\d+|" + "|".join(_NUMBERS) + r")"

_TIME_RE = re.compile(
    r"\b(?:at|@)\s*(?:(noon|midnight)|(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?)(?![\w:])"
)
_TIMES_RE = re.compile(r"\b(?:for\s+)?(\d+)\s+(?:times|occurrences)\b")
_UNTIL_RE = re.compile(r"\buntil\s+(.+)$")
_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_MONTH_FIRST_RE = re.compile(
    rf"^(?:the\s+)?(?:end\s+of\s+)?({_MONTH_WORD})(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?)?(?:,?\s+(\d{{4}}))?$"
)
_DAY_FIRST_RE = re.compile(
    rf"^(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({_MONTH_WORD})(?:,?\s+(\d{{4}}))?$"
)
_EVERY_RE = re.compile(
    rf"^(?:(?P<word>{'|'.join(_WORD_FREQ)})|(?:every|each)\s+(?:(?P<n>{_COUNT_WORD})\s+)?"
    rf"(?P<unit>minute|hour|day|week|month|year)s?)(?:\s+(?:on|in)?\s*(?P<tail>.+?))?$"
)
_DAY_LIST_RE = re.compile(rf"^{_DAY_WORD}(?:(?:\s*,\s*|\s+and\s+|\s*&\s*|\s*/\s*){_DAY_WORD})*$")
_NTH_OF_MONTH_RE = re.compile(
    rf"^(?:on\s+)?(?:the\s+)?(?P<ord>{_ORD_WORD})\s+(?P<what>{_DAY_WORD}|weekday|business day|"
    r"day)\s+of\s+(?:each|every|the)\s+month$"
)
_MONTH_DAYS_RE = re.compile(
    r"^(?:on\s+)?(?:the\s+|day\s+)?(\d{1,2})(?:st|nd|rd|th)?"
    r"(?:(?:\s*,\s*|\s+and\s+)(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?)*$"
)


def _fail(text: str, why: str) -> ValidationFailed:
    return ValidationFailed.field(PHRASE_FIELD, f"could not read {text!r}: {why}; {_HELP}")


def parse_phrase(text: str, *, today: date) -> PhraseRule:
    """Turn a plain phrase into an RRULE (and a time of day when the phrase names one)."""
    original = text
    body = re.sub(r"\s+", " ", text.strip().lower()).rstrip(".")
    body, time_of_day = _take_time(body, original)
    count = None
    m = _TIMES_RE.search(body)
    if m:
        count = int(m.group(1))
        if count < 1:
            raise _fail(original, "the number of times must be at least 1")
        body = (body[: m.start()] + body[m.end() :]).strip()
    until = None
    m = _UNTIL_RE.search(body)
    if m:
        until = _until_date(m.group(1).strip(), today, original)
        body = body[: m.start()].strip()
    if count is not None and until is not None:
        raise _fail(original, "give either a number of times or an end date, not both")
    body = re.sub(r"^(?:repeat(?:s|ing)?|recurring)\s+", "", body).strip(" ,")
    parts = _frequency(body, original)
    if count is not None:
        parts.append(f"COUNT={count}")
    if until is not None:
        parts.append(f"UNTIL={until:%Y%m%d}")
    return PhraseRule(rrule=";".join(parts), time_of_day=time_of_day)


def _take_time(body: str, original: str) -> tuple[str, time | None]:
    m = _TIME_RE.search(body)
    if not m:
        return body, None
    word, hour_text, minute_text, meridiem = m.groups()
    if word:
        at = time(12) if word == "noon" else time(0)
    else:
        hour, minute = int(hour_text), int(minute_text or 0)
        if meridiem:
            if not 1 <= hour <= 12:
                raise _fail(original, f"{hour} is not an hour on a 12-hour clock")
            hour = hour % 12 + (12 if meridiem.startswith("p") else 0)
        if hour > 23 or minute > 59:
            raise _fail(original, f"{m.group(0).strip()!r} is not a time of day")
        at = time(hour, minute)
    return (body[: m.start()] + body[m.end() :]).strip(" ,"), at


def _until_date(text: str, today: date, original: str) -> date:
    """An end date; a bare month means the end of the next such month (from today on)."""
    if m := _ISO_RE.match(text):
        end = _date(int(m.group(1)), int(m.group(2)), int(m.group(3)), original)
    elif (m := _MONTH_FIRST_RE.match(text)) or (m := _DAY_FIRST_RE.match(text)):
        if m.re is _MONTH_FIRST_RE:
            month_text, day_text, year_text = m.group(1), m.group(2), m.group(3)
        else:
            day_text, month_text, year_text = m.group(1), m.group(2), m.group(3)
        month = _MONTHS[month_text]

        def in_year(year: int) -> date:
            day = int(day_text) if day_text else monthrange(year, month)[1]
            return _date(year, month, day, original)

        end = in_year(int(year_text) if year_text else today.year)
        if not year_text and end < today:
            end = in_year(today.year + 1)
    else:
        raise _fail(original, f"{text!r} is not a date like 2027-06-30, June 30 or June")
    if end < today:
        raise _fail(original, f"the end date {end} is before today ({today})")
    return end


def _date(year: int, month: int, day: int, original: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _fail(original, f"{year}-{month:02d}-{day:02d} is not a date") from None


def _frequency(body: str, original: str) -> list[str]:
    if re.match(r"^(?:every|each)\s+(?:\S+\s+)?seconds?$", body):
        raise _fail(original, "a reminder can repeat at most once a minute")
    if body in ("daily", "every day", "each day", "everyday"):
        return ["FREQ=DAILY"]
    if re.match(r"^(?:every |each |on )?(?:weekday|workday|business day)s?$", body):
        return ["FREQ=WEEKLY", f"BYDAY={_WORKWEEK}"]
    if re.match(r"^(?:every |each |on )?weekends?(?: days?)?$", body):
        return ["FREQ=WEEKLY", "BYDAY=SA,SU"]
    if m := _NTH_OF_MONTH_RE.match(body):
        return ["FREQ=MONTHLY", *_nth_of_month(_ORDINALS[m.group("ord")], m.group("what"))]
    if m := re.match(r"^(?:every|each|on)\s+(?P<what>.+)$", body):
        if days := _day_list(m.group("what")):
            return ["FREQ=WEEKLY", f"BYDAY={days}"]
        if (md := _MONTH_FIRST_RE.match(m.group("what"))) and md.group(2):  # "every March 3"
            return ["FREQ=YEARLY", *_yearly_tail(m.group("what"), original)]
    if days := _day_list(body):
        return ["FREQ=WEEKLY", f"BYDAY={days}"]
    m = _EVERY_RE.match(body)
    if m is None:
        raise _fail(original, "no repeat pattern recognised")
    if m.group("word"):
        freq, interval = _WORD_FREQ[m.group("word")]
    else:
        freq = _UNIT_FREQ[m.group("unit")]
        n = m.group("n")
        interval = 1 if n is None else (int(n) if n.isdigit() else _NUMBERS[n])
        if interval < 1:
            raise _fail(original, "the interval must be at least 1")
    parts = [f"FREQ={freq}"] + ([f"INTERVAL={interval}"] if interval != 1 else [])
    tail = m.group("tail")
    if tail is None:
        return parts
    if freq == "WEEKLY" and (days := _day_list(tail)):
        return [*parts, f"BYDAY={days}"]
    if freq in ("DAILY", "HOURLY", "MINUTELY") and (days := _day_list(tail)):
        return [*parts, f"BYDAY={days}"]
    if freq == "MONTHLY":
        return parts + _monthly_tail(tail, original)
    if freq == "YEARLY":
        return parts + _yearly_tail(tail, original)
    raise _fail(original, f"{tail!r} does not fit a {freq.lower()} repeat")


def _day_list(text: str) -> str | None:
    """ "mon and thu" / "mondays, wednesdays" -> "MO,TH" in week order."""
    text = text.strip()
    if not _DAY_LIST_RE.match(text):
        return None
    codes = {_day_code(w) for w in re.findall(r"[a-z]+", text) if w != "and"}
    return ",".join(c for c in WEEKDAY_CODES if c in codes)


def _nth_of_month(ordinal: int, what: str) -> list[str]:
    if what == "day":
        return [f"BYMONTHDAY={ordinal}"]
    if what in ("weekday", "business day"):
        return [f"BYDAY={_WORKWEEK}", f"BYSETPOS={ordinal}"]
    return [f"BYDAY={ordinal}{_day_code(what)}"]


def _day_code(word: str) -> str:
    """ "tues" -> "TU", "mondays" -> "MO"."""
    return _DAYS.get(word) or _DAYS[word.removesuffix("s")]


def _monthly_tail(tail: str, original: str) -> list[str]:
    tail = re.sub(r"^(?:on\s+)", "", tail)
    if m := re.match(
        rf"^(?:the\s+)?(?P<ord>{_ORD_WORD})\s+(?P<what>{_DAY_WORD}|weekday|business day|day)$",
        tail,
    ):
        return _nth_of_month(_ORDINALS[m.group("ord")], m.group("what"))
    if _MONTH_DAYS_RE.match(tail):
        days = [int(d) for d in re.findall(r"\d{1,2}", tail)]
        if not all(1 <= d <= 31 for d in days):
            raise _fail(original, "a day of the month is between 1 and 31")
        return [f"BYMONTHDAY={','.join(str(d) for d in dict.fromkeys(days))}"]
    raise _fail(
        original, f"{tail!r} is not a day of the month like 'the 15th' or 'the last Friday'"
    )


def _yearly_tail(tail: str, original: str) -> list[str]:
    tail = re.sub(r"^(?:on\s+)", "", tail)
    m = _MONTH_FIRST_RE.match(tail) or _DAY_FIRST_RE.match(tail)
    if m is None or m.group(3):
        raise _fail(original, f"{tail!r} is not a day of the year like 'March 3'")
    if m.re is _MONTH_FIRST_RE:
        month, day_text = _MONTHS[m.group(1)], m.group(2)
    else:
        month, day_text = _MONTHS[m.group(2)], m.group(1)
    if day_text is None:
        return [f"BYMONTH={month}"]
    day = int(day_text)
    if not 1 <= day <= monthrange(2000, month)[1]:  # 2000: a leap year, so Feb 29 is allowed
        raise _fail(original, f"{tail!r} is not a day of the year")
    return [f"BYMONTH={month}", f"BYMONTHDAY={day}"]
