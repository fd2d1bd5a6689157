"""Due times as people say them: "tomorrow 5pm", "next Monday", "in 3 days", "Friday at
noon", "end of month", read against the current wall-clock time in the task's zone.

parsedatetime reads them: it understands every phrase above (dateparser, the other
candidate, read no "end of month" and put "next Monday" at midnight), is pure Python with
no data files, and leaves a phrase without a time at 09:00, a working day's start. A phrase
is taken only when the parser consumed all of it, so "call mom tomorrow" is refused rather
than quietly read as "tomorrow"."""

from __future__ import annotations

import re
from datetime import datetime

import parsedatetime

EXAMPLES = ("tomorrow 5pm", "next Monday", "in 3 days", "Friday at noon", "end of month")
_CALENDAR = parsedatetime.Calendar(version=parsedatetime.VERSION_CONTEXT_STYLE)
# what may sit between the parts a parser reads ("Friday at noon", "tomorrow, 5pm")
_FILLER = re.compile(r"[\s,.]+|\bat\b|\bon\b|\bby\b", re.IGNORECASE)


def resolve(phrase: str, now_local: datetime) -> datetime | None:
    """The naive wall-clock time `phrase` names, seen from `now_local` (naive, the task's
    zone); None when it is not (all of it) a date or time."""
    found = _CALENDAR.nlp(phrase, sourceTime=now_local)
    if not found:
        return None
    rest = phrase
    for _, _, start, end, _ in sorted(found, key=lambda f: f[2], reverse=True):
        rest = rest[:start] + rest[end:]
    if _FILLER.sub("", rest):
        return None
    when, context = _CALENDAR.parseDT(phrase, sourceTime=now_local)
    return when.replace(tzinfo=None, microsecond=0) if context.hasDateOrTime else None
