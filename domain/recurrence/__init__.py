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

Layout: `rules` (the rule model and RRULE parsing), `iteration` (instances and occurrences),
`validation` (parse_rule), `summary`, `warnings`. Zones live in `domain.zones`. This package
re-exports the names the rest of the code imports from `domain.recurrence`.
"""

from __future__ import annotations

from domain.recurrence.iteration import Occurrence, first_occurrence, next_occurrence, preview
from domain.recurrence.rules import RRULE_FIELD, WEEKDAY_CODES, CatchUp, RecurrenceMode, Rule
from domain.recurrence.summary import summarize
from domain.recurrence.validation import parse_rule
from domain.recurrence.warnings import warnings

__all__ = [
    "RRULE_FIELD",
    "WEEKDAY_CODES",
    "CatchUp",
    "Occurrence",
    "RecurrenceMode",
    "Rule",
    "first_occurrence",
    "next_occurrence",
    "parse_rule",
    "preview",
    "summarize",
    "warnings",
]
