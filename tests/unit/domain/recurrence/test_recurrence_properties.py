"""Properties of generated rules: order, wall-clock time, agreement with plain dateutil."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.recurrence import (
    CatchUp,
    first_occurrence,
    next_occurrence,
    parse_rule,
    preview,
)

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def rrules(draw) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    interval = draw(st.integers(1, 4))
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    if freq == "WEEKLY" and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if freq == "MONTHLY":
        choice = draw(st.sampled_from(["none", "monthday", "nth", "setpos"]))
        if choice == "monthday":
            days = draw(
                st.lists(
                    st.sampled_from([1, 2, 15, 28, 30, 31, -1, -2]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
            parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
        elif choice == "nth":
            n = draw(st.sampled_from([1, 2, 3, 4, -1, -2]))
            parts.append(f"BYDAY={n}{draw(st.sampled_from(DAYS))}")
        elif choice == "setpos":
            parts.append("BYDAY=MO,TU,WE,TH,FR")
            parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
        parts.append(f"BYDAY={draw(st.sampled_from([1, 2, -1]))}{draw(st.sampled_from(DAYS))}")
    return ";".join(parts)


# Times of day include the DST-gap and fold hours of all three zones.
starts = st.builds(
    datetime,
    year=st.integers(2020, 2030),
    month=st.integers(1, 12),
    day=st.integers(1, 28),
    hour=st.sampled_from([0, 1, 2, 3, 9, 23]),
    minute=st.sampled_from([0, 15, 30, 45]),
)


@PROPERTY
@given(rrules(), starts, st.sampled_from(ZONES))
def test_occurrences_strictly_increase_and_keep_their_wall_clock_time(rrule, start, zone):
    rule = parse_rule(rrule, start, zone)
    occurrences = preview(rule, 40)
    assert [o.index for o in occurrences] == list(range(len(occurrences)))
    for earlier, later in pairwise(occurrences):
        assert earlier.local < later.local
        assert earlier.due_at < later.due_at
    for o in occurrences:
        assert o.local.time() == start.time()
        shown = o.due_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        # Equal, or moved forward by a DST gap (30 or 60 minutes in these zones).
        assert timedelta(0) <= shown - o.local <= timedelta(hours=1)
        assert o.due_at.tzinfo is UTC


@PROPERTY
@given(rrules(), starts)
def test_instances_agree_with_dateutil_iterating_from_dtstart(rrule, start):
    rule = parse_rule(rrule, start, "UTC")
    reference = list(rrulestr(rrule, dtstart=start, cache=False).xafter(start, 40, inc=True))
    if not reference or reference[0] != start:
        reference = [start, *reference][:40]  # RFC 5545: DTSTART is always occurrence 0
    assert [o.local for o in preview(rule, len(reference))] == reference


@PROPERTY
@given(rrules(), starts, st.sampled_from(ZONES))
def test_walking_next_occurrence_matches_preview(rrule, start, zone):
    rule = parse_rule(rrule, start, zone, catch_up=CatchUp.EVERY_OCCURRENCE)
    expected = preview(rule, 25)
    walked = [first_occurrence(rule)]
    while len(walked) < len(expected):
        done = walked[-1]
        walked.append(next_occurrence(rule, done, completed_at=done.due_at, now=done.due_at))
    assert walked == expected


@PROPERTY
@given(rrules(), starts, st.sampled_from(ZONES), st.integers(0, 60))
def test_preview_after_any_occurrence_continues_the_series_with_the_same_indexes(
    rrule, start, zone, k
):
    rule = parse_rule(rrule, start, zone)
    full = preview(rule, 70)
    if k >= len(full):
        k = len(full) - 1
    assert preview(rule, 8, after=full[k].due_at) == full[k + 1 : k + 9]


@PROPERTY
@given(rrules(), starts, st.sampled_from(ZONES), st.integers(1, 2000))
def test_skip_missed_lands_on_the_first_instance_after_now(rrule, start, zone, late_days):
    rule = parse_rule(rrule, start, zone)
    first = first_occurrence(rule)
    now = first.due_at + timedelta(days=late_days, minutes=1)
    nxt = next_occurrence(rule, first, completed_at=now, now=now)
    [expected] = preview(rule, 1, after=now) or [None]
    assert nxt == expected
