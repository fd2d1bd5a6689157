"""Recurrence rules: RFC 5545 semantics, wall-clock time across DST, both modes, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import ValidationFailed
from domain.recurrence import (
    CatchUp,
    Occurrence,
    RecurrenceMode,
    first_occurrence,
    next_occurrence,
    parse_rule,
    preview,
    summarize,
    warnings,
)
from domain.zones import to_utc

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def locals_of(rule, n: int) -> list[str]:
    return [o.local.strftime("%Y-%m-%d %H:%M") for o in preview(rule, n)]


def days_of(rule, n: int) -> list[str]:
    return [o.local.strftime("%Y-%m-%d") for o in preview(rule, n)]


# --- RFC 5545 section 3.8.5.3 examples (DTSTART 09:00 America/New_York) ---------------------

RFC_EXAMPLES = [
    (
        "FREQ=DAILY;COUNT=10",
        datetime(1997, 9, 2, 9),
        ["1997-09-02", "1997-09-03", "1997-09-04"],
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=TU,TH",
        datetime(1997, 9, 2, 9),
        ["1997-09-02", "1997-09-04", "1997-09-16", "1997-09-18", "1997-09-30"],
    ),
    (
        "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        datetime(1997, 9, 5, 9),
        ["1997-09-05", "1997-10-03", "1997-11-07", "1997-12-05"],
    ),
    (
        "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        datetime(1997, 9, 22, 9),
        ["1997-09-22", "1997-10-20", "1997-11-17", "1997-12-22", "1998-01-19"],
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=-3",
        datetime(1997, 9, 28, 9),
        ["1997-09-28", "1997-10-29", "1997-11-28", "1997-12-29", "1998-01-29", "1998-02-26"],
    ),
    (
        "FREQ=YEARLY;BYDAY=20MO",
        datetime(1997, 5, 19, 9),
        ["1997-05-19", "1998-05-18", "1999-05-17"],
    ),
    (
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        datetime(1997, 5, 12, 9),
        ["1997-05-12", "1998-05-11", "1999-05-17"],
    ),
    (
        "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        datetime(1997, 9, 13, 9),
        ["1997-09-13", "1997-10-11", "1997-11-08", "1997-12-13", "1998-01-10"],
    ),
    (
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        datetime(1996, 11, 5, 9),
        ["1996-11-05", "2000-11-07", "2004-11-02"],
    ),
    (
        "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        datetime(1997, 9, 4, 9),
        ["1997-09-04", "1997-10-07", "1997-11-06"],
    ),
    (
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        datetime(1997, 9, 29, 9),
        ["1997-09-29", "1997-10-30", "1997-11-27", "1997-12-30", "1998-01-29"],
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        datetime(1997, 8, 5, 9),
        ["1997-08-05", "1997-08-17", "1997-08-19", "1997-08-31"],
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        datetime(2007, 1, 15, 9),
        ["2007-01-15", "2007-01-30", "2007-02-15", "2007-03-15", "2007-03-30"],
    ),
]


@pytest.mark.parametrize(("rrule", "dtstart", "expected"), RFC_EXAMPLES)
def test_rfc_5545_examples_produce_the_documented_dates(rrule, dtstart, expected):
    rule = parse_rule(rrule, dtstart, NY)
    assert days_of(rule, len(expected)) == expected
    assert [o.index for o in preview(rule, len(expected))] == list(range(len(expected)))


# --- Normalisation and validation --------------------------------------------------------------


def test_parse_normalises_prefix_case_and_part_order():
    rule = parse_rule("rrule:count=6;byday=-1fr;freq=monthly", datetime(2027, 1, 29, 9), NY)
    assert rule.rrule == "FREQ=MONTHLY;BYDAY=-1FR;COUNT=6"


def test_aware_dtstart_becomes_the_zones_wall_clock():
    rule = parse_rule("FREQ=DAILY", utc(2027, 1, 10, 14), NY)
    assert rule.dtstart == datetime(2027, 1, 10, 9)


def test_mode_and_catch_up_accept_their_string_values():
    rule = parse_rule(
        "FREQ=DAILY",
        datetime(2027, 1, 1, 9),
        NY,
        mode="after_completion",
        catch_up="every_occurrence",
    )
    assert rule.mode is RecurrenceMode.AFTER_COMPLETION
    assert rule.catch_up is CatchUp.EVERY_OCCURRENCE


@pytest.mark.parametrize(
    ("rrule", "names"),
    [
        ("FREQ=DAILY;COLOR=RED", "COLOR"),
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY"),
        ("FREQ=SECONDLY", "SECONDLY"),
        ("FREQ=MINUTELY;BYSECOND=0,30", "BYSECOND"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR=24"),
        ("FREQ=MONTHLY;BYDAY=0MO", "BYDAY=0MO"),
        ("FREQ=MONTHLY;BYDAY=XX", "BYDAY=XX"),
        ("FREQ=WEEKLY;BYDAY=2MO", "BYDAY=2MO"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0"),
        ("FREQ=DAILY;COUNT=-1", "COUNT=-1"),
        ("FREQ=DAILY;UNTIL=2027-06-30", "UNTIL"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270630", "COUNT and UNTIL"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYWEEKNO=3", "BYWEEKNO"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears twice"),
        ("INTERVAL=2", "FREQ is required"),
        ("", "empty"),
        ("DTSTART:20270101T090000\nRRULE:FREQ=DAILY", "DTSTART"),
        ("FREQ=DAILY;DTSTART=20270101T090000", "DTSTART"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "BYMONTH=2;BYMONTHDAY=30"),
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", "BYMONTH=4;BYMONTHDAY=31"),
        ("FREQ=DAILY;BYSETPOS=2;BYHOUR=9", "BYSETPOS=2"),
        ("FREQ=HOURLY;INTERVAL=6;BYHOUR=1", "BYHOUR=1"),
    ],
)
def test_invalid_rules_are_rejected_naming_the_offending_part(rrule, names):
    with pytest.raises(ValidationFailed) as caught:
        parse_rule(rrule, datetime(2027, 1, 4, 9), NY)
    [error] = caught.value.errors
    assert error.field == "recurrence.rrule"
    assert names in error.message


def test_a_rule_that_never_lines_up_with_its_interval_is_rejected():
    # Every 7 days from a Monday only ever lands on Mondays.
    with pytest.raises(ValidationFailed, match="never produces an occurrence"):
        parse_rule("FREQ=DAILY;INTERVAL=7;BYDAY=TU", datetime(2027, 1, 4, 9), NY)


def test_unknown_time_zone_is_reported_on_the_timezone_field():
    with pytest.raises(ValidationFailed) as caught:
        parse_rule("FREQ=DAILY", datetime(2027, 1, 4, 9), "Mars/Olympus_Mons")
    assert caught.value.errors[0].field == "timezone"


def test_exdates_that_exclude_every_occurrence_are_rejected():
    with pytest.raises(ValidationFailed) as caught:
        parse_rule(
            "FREQ=DAILY;COUNT=2",
            datetime(2027, 1, 4, 9),
            NY,
            exdates=[datetime(2027, 1, 4, 9), datetime(2027, 1, 5, 9)],
        )
    assert caught.value.errors[0].field == "recurrence.exdates"


# --- to_utc ---------------------------------------------------------------------------------


def test_to_utc_moves_a_gap_time_forward_and_takes_the_first_of_an_ambiguous_time():
    assert to_utc(datetime(2027, 3, 14, 2, 30), NY) == utc(2027, 3, 14, 7, 30)  # 3:30 EDT
    assert to_utc(datetime(2027, 11, 7, 1, 30), NY) == utc(2027, 11, 7, 5, 30)  # 1:30 EDT
    assert to_utc(datetime(2027, 10, 3, 2, 15), LORD_HOWE) == utc(2027, 10, 2, 15, 45)


# --- DST ------------------------------------------------------------------------------------


def test_daily_nine_am_stays_nine_am_across_new_york_spring_forward():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 3, 13, 9), NY)
    first, second = preview(rule, 2)
    assert (first.local.hour, second.local.hour) == (9, 9)
    assert first.due_at == utc(2027, 3, 13, 14)  # EST
    assert second.due_at == utc(2027, 3, 14, 13)  # EDT


def test_a_time_in_the_new_york_gap_fires_after_the_gap_on_that_day_only():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 3, 13, 2, 30), NY)
    before, gap_day, after = preview(rule, 3)
    assert gap_day.local == datetime(2027, 3, 14, 2, 30)
    assert gap_day.due_at == utc(2027, 3, 14, 7, 30)  # 3:30 EDT
    assert after.due_at == utc(2027, 3, 15, 6, 30)  # 2:30 EDT
    assert before.due_at < gap_day.due_at < after.due_at


def test_an_ambiguous_time_in_new_york_fires_once_at_the_first_offset():
    rule = parse_rule("FREQ=DAILY;COUNT=3", datetime(2027, 11, 6, 1, 30), NY)
    dues = [o.due_at for o in preview(rule, 3)]
    assert dues == [utc(2027, 11, 6, 5, 30), utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)]


def test_london_weekly_keeps_its_wall_clock_time_across_both_transitions():
    rule = parse_rule("FREQ=WEEKLY;BYDAY=SU", datetime(2027, 3, 21, 1, 30), LONDON)
    occurrences = {o.local.date().isoformat(): o.due_at for o in preview(rule, 33)}
    assert occurrences["2027-03-21"] == utc(2027, 3, 21, 1, 30)  # GMT
    assert occurrences["2027-03-28"] == utc(2027, 3, 28, 1, 30)  # gap: 2:30 BST
    assert occurrences["2027-04-04"] == utc(2027, 4, 4, 0, 30)  # BST
    assert occurrences["2027-10-31"] == utc(2027, 10, 31, 0, 30)  # ambiguous: first (BST)


def test_lord_howe_half_hour_shift_moves_a_gap_time_by_thirty_minutes():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 10, 2, 2, 15), LORD_HOWE)
    before, gap_day, after = preview(rule, 3)
    assert before.due_at == utc(2027, 10, 1, 15, 45)  # +10:30
    assert gap_day.due_at == utc(2027, 10, 2, 15, 45)  # 2:45 at +11
    assert after.due_at == utc(2027, 10, 3, 15, 15)  # 2:15 at +11


def test_lord_howe_ambiguous_half_hour_takes_the_first_offset():
    rule = parse_rule("FREQ=DAILY;COUNT=2", datetime(2027, 4, 3, 1, 45), LORD_HOWE)
    assert [o.due_at for o in preview(rule, 2)] == [
        utc(2027, 4, 2, 14, 45),  # +11
        utc(2027, 4, 3, 14, 45),  # 1:45 happens twice on 4 April; first is +11
    ]


# --- BYxxx parts ------------------------------------------------------------------------------


def test_last_friday_and_second_monday_of_the_month():
    last_friday = parse_rule("FREQ=MONTHLY;BYDAY=-1FR", datetime(2027, 1, 29, 9), NY)
    assert days_of(last_friday, 3) == ["2027-01-29", "2027-02-26", "2027-03-26"]
    second_monday = parse_rule("FREQ=MONTHLY;BYDAY=2MO", datetime(2027, 1, 11, 9), NY)
    assert days_of(second_monday, 3) == ["2027-01-11", "2027-02-08", "2027-03-08"]


def test_bymonthday_minus_one_is_the_last_day_of_every_month():
    rule = parse_rule("FREQ=MONTHLY;BYMONTHDAY=-1", datetime(2028, 1, 31, 9), NY)
    assert days_of(rule, 4) == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]


def test_bymonthday_31_skips_shorter_months_and_says_so():
    rule = parse_rule("FREQ=MONTHLY;BYMONTHDAY=31", datetime(2027, 1, 31, 9), NY)
    assert days_of(rule, 3) == ["2027-01-31", "2027-03-31", "2027-05-31"]
    assert any("BYMONTHDAY=-1" in w for w in warnings(rule))


def test_bysetpos_picks_the_last_weekday_of_the_month():
    rule = parse_rule("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", datetime(2027, 1, 29, 9), NY)
    assert days_of(rule, 3) == ["2027-01-29", "2027-02-26", "2027-03-31"]


def test_hourly_with_byhour_fires_only_in_those_hours():
    rule = parse_rule("FREQ=HOURLY;BYHOUR=9,10,11", datetime(2027, 1, 4, 9), NY)
    assert locals_of(rule, 4) == [
        "2027-01-04 09:00",
        "2027-01-04 10:00",
        "2027-01-04 11:00",
        "2027-01-05 09:00",
    ]


# --- COUNT, UNTIL, DTSTART, EXDATE --------------------------------------------------------


def test_count_limits_the_series_and_next_occurrence_ends_it():
    rule = parse_rule("FREQ=WEEKLY;COUNT=3", datetime(2027, 1, 4, 9), NY)
    occurrences = preview(rule, 10)
    assert len(occurrences) == 3
    last = occurrences[-1]
    assert next_occurrence(rule, last, completed_at=last.due_at, now=last.due_at) is None


def test_an_unsynchronised_dtstart_is_occurrence_zero_and_counts_toward_count():
    # 2027-01-04 is a Monday; the rule only makes Fridays.
    rule = parse_rule("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3", datetime(2027, 1, 4, 9), NY)
    assert days_of(rule, 5) == ["2027-01-04", "2027-01-29", "2027-02-26"]
    assert any("does not match the rule" in w for w in warnings(rule))


def test_until_as_a_date_includes_that_whole_local_day():
    rule = parse_rule("FREQ=DAILY;UNTIL=20270106", datetime(2027, 1, 4, 21), NY)
    assert days_of(rule, 10) == ["2027-01-04", "2027-01-05", "2027-01-06"]


def test_until_in_utc_is_compared_as_an_instant():
    # 2027-01-06T02:00Z is 21:00 on the 5th in New York: the 5th is the last occurrence.
    rule = parse_rule("FREQ=DAILY;UNTIL=20270106T020000Z", datetime(2027, 1, 4, 21), NY)
    assert days_of(rule, 10) == ["2027-01-04", "2027-01-05"]
    last = preview(rule, 10)[-1]
    assert next_occurrence(rule, last, completed_at=last.due_at, now=last.due_at) is None


def test_until_before_dtstart_leaves_only_dtstart_and_warns():
    rule = parse_rule("FREQ=DAILY;UNTIL=20261231", datetime(2027, 1, 4, 9), NY)
    assert days_of(rule, 5) == ["2027-01-04"]
    assert any("UNTIL" in w and "before DTSTART" in w for w in warnings(rule))


def test_exdates_are_skipped_but_keep_their_index():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 1, 4, 9), NY, exdates=[datetime(2027, 1, 5, 9)])
    assert [(o.index, o.local.day) for o in preview(rule, 3)] == [(0, 4), (2, 6), (3, 7)]
    first = first_occurrence(rule)
    nxt = next_occurrence(rule, first, completed_at=first.due_at, now=first.due_at)
    assert (nxt.index, nxt.local.day) == (2, 6)


def test_exdate_on_dtstart_makes_the_first_occurrence_the_next_instance():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 1, 4, 9), NY, exdates=[utc(2027, 1, 4, 14)])
    assert first_occurrence(rule).index == 1


def test_an_exdate_that_is_not_an_instance_is_warned_about():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 1, 4, 9), NY, exdates=[datetime(2027, 1, 5, 10)])
    assert any("EXDATE 2027-01-05 10:00" in w for w in warnings(rule))


# --- next_occurrence: schedule mode ------------------------------------------------------------


def _daily_from_jan(catch_up: CatchUp):
    return parse_rule("FREQ=DAILY", datetime(2027, 1, 1, 9), NY, catch_up=catch_up)


def test_every_occurrence_returns_the_very_next_instance_even_when_past():
    rule = _daily_from_jan(CatchUp.EVERY_OCCURRENCE)
    first = first_occurrence(rule)
    nxt = next_occurrence(rule, first, completed_at=utc(2027, 1, 10), now=utc(2027, 1, 10))
    assert (nxt.index, nxt.local) == (1, datetime(2027, 1, 2, 9))


def test_skip_missed_returns_the_first_instance_after_now_with_its_series_index():
    rule = _daily_from_jan(CatchUp.SKIP_MISSED)
    first = first_occurrence(rule)
    now = utc(2027, 1, 10, 15)  # 10:00 in New York, after that day's 9:00
    nxt = next_occurrence(rule, first, completed_at=now, now=now)
    assert (nxt.index, nxt.local) == (10, datetime(2027, 1, 11, 9))


def test_skip_missed_never_goes_back_before_the_instance_after_the_completed_one():
    rule = _daily_from_jan(CatchUp.SKIP_MISSED)
    first = first_occurrence(rule)
    early = utc(2026, 12, 31)  # completed ahead of time
    nxt = next_occurrence(rule, first, completed_at=early, now=early)
    assert nxt.index == 1


def test_skip_missed_skips_exdates_too():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 1, 1, 9), NY, exdates=[datetime(2027, 1, 11, 9)])
    first = first_occurrence(rule)
    now = utc(2027, 1, 10, 15)
    nxt = next_occurrence(rule, first, completed_at=now, now=now)
    assert (nxt.index, nxt.local.day) == (11, 12)


def test_next_occurrence_of_a_series_five_years_in_has_the_right_index():
    rule = parse_rule("FREQ=DAILY", datetime(2020, 1, 1, 9), NY)
    [deep] = preview(rule, 1, after=utc(2025, 1, 1))
    assert (deep.index, deep.local) == (
        (datetime(2025, 1, 1) - datetime(2020, 1, 1)).days,
        datetime(2025, 1, 1, 9),
    )
    nxt = next_occurrence(rule, deep, completed_at=deep.due_at, now=deep.due_at)
    assert (nxt.index, nxt.local) == (deep.index + 1, datetime(2025, 1, 2, 9))


def test_preview_after_an_instant_is_strict_and_indexed_within_the_series():
    rule = parse_rule("FREQ=WEEKLY;BYDAY=MO,TH", datetime(2027, 1, 4, 9), NY)
    full = preview(rule, 20)
    assert preview(rule, 5, after=full[7].due_at) == full[8:13]
    assert preview(rule, 5, after=full[7].due_at - timedelta(seconds=1)) == full[7:12]


# --- next_occurrence: after-completion mode ------------------------------------------------


def _every_three_days(**kwargs):
    return parse_rule(
        "FREQ=DAILY;INTERVAL=3",
        datetime(2027, 1, 1, 9),
        NY,
        mode=RecurrenceMode.AFTER_COMPLETION,
        **kwargs,
    )


@pytest.mark.parametrize("done_local_hour", [0, 8, 9, 15, 23])
def test_after_completion_restarts_from_the_completion_date(done_local_hour):
    rule = _every_three_days()
    first = first_occurrence(rule)
    done = to_utc(datetime(2027, 1, 5, done_local_hour, 30), NY)
    nxt = next_occurrence(rule, first, completed_at=done, now=done)
    assert (nxt.index, nxt.local) == (1, datetime(2027, 1, 8, 9))


def test_after_completion_weekly_on_monday_goes_to_the_next_monday():
    rule = parse_rule("FREQ=WEEKLY;BYDAY=MO", datetime(2027, 1, 4, 9), NY, mode="after_completion")
    done = to_utc(datetime(2027, 1, 13, 12), NY)  # a Wednesday
    nxt = next_occurrence(rule, first_occurrence(rule), completed_at=done, now=done)
    assert nxt.local == datetime(2027, 1, 18, 9)


def test_after_completion_hourly_is_the_next_slot_after_the_completion_time():
    rule = parse_rule("FREQ=HOURLY", datetime(2027, 1, 4, 9), NY, mode="after_completion")
    done = to_utc(datetime(2027, 1, 4, 15, 20), NY)
    nxt = next_occurrence(rule, first_occurrence(rule), completed_at=done, now=done)
    assert nxt.local == datetime(2027, 1, 4, 16)


def test_after_completion_respects_count_and_until():
    rule = parse_rule(
        "FREQ=DAILY;INTERVAL=3;COUNT=2", datetime(2027, 1, 1, 9), NY, mode="after_completion"
    )
    done = to_utc(datetime(2027, 1, 5, 12), NY)
    second = next_occurrence(rule, first_occurrence(rule), completed_at=done, now=done)
    assert second.index == 1
    assert next_occurrence(rule, second, completed_at=done, now=done) is None
    ending = parse_rule(
        "FREQ=DAILY;INTERVAL=3;UNTIL=20270107", datetime(2027, 1, 1, 9), NY, mode="after_completion"
    )
    assert next_occurrence(ending, first_occurrence(ending), completed_at=done, now=done) is None


def test_after_completion_index_follows_the_completed_one():
    rule = _every_three_days()
    done_before = Occurrence(index=41, local=datetime(2027, 3, 1, 9), due_at=utc(2027, 3, 1, 14))
    done = to_utc(datetime(2027, 3, 2, 10), NY)
    assert next_occurrence(rule, done_before, completed_at=done, now=done).index == 42


# --- summary and warnings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rrule", "dtstart", "text"),
    [
        (
            "FREQ=MONTHLY;BYDAY=-1FR;COUNT=6",
            datetime(2027, 1, 29, 9),
            "Every month on the last Friday at 9:00 AM, 6 times",
        ),
        ("FREQ=DAILY", datetime(2027, 1, 1, 17, 30), "Every day at 5:30 PM"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", datetime(2027, 1, 4, 9), "Every weekday at 9:00 AM"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
            datetime(2027, 1, 4, 9),
            "Every 2 weeks on Mondays and Thursdays at 9:00 AM",
        ),
        ("FREQ=YEARLY", datetime(2027, 3, 3, 9), "Every year on March 3 at 9:00 AM"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            datetime(2027, 1, 31, 9),
            "Every month on the last day at 9:00 AM",
        ),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            datetime(2027, 1, 29, 9),
            "Every month on the last weekday at 9:00 AM",
        ),
        (
            "FREQ=DAILY;UNTIL=20270630",
            datetime(2027, 1, 1, 9),
            "Every day at 9:00 AM, until June 30, 2027",
        ),
        ("FREQ=MINUTELY;INTERVAL=15", datetime(2027, 1, 1, 9), "Every 15 minutes from 9:00 AM"),
    ],
)
def test_summary_reads_as_plain_language(rrule, dtstart, text):
    assert summarize(parse_rule(rrule, dtstart, NY)) == text


def test_summary_mentions_after_completion():
    assert "counted from each completion" in summarize(_every_three_days())


def test_warnings_name_the_dst_gap_and_the_time_it_will_fire():
    rule = parse_rule("FREQ=DAILY", datetime(2027, 3, 10, 2, 30), NY)
    assert (
        "2:30 AM does not exist on 2027-03-14 in America/New_York; it will fire at 3:30 AM"
        in warnings(rule)
    )
    ambiguous = parse_rule("FREQ=DAILY", datetime(2027, 10, 1, 1, 30), NY)
    assert (
        "1:30 AM happens twice on 2027-11-07 in America/New_York; "
        "it will fire at the first one (EDT)" in warnings(ambiguous)
    )


def test_a_plain_rule_has_no_warnings():
    assert warnings(parse_rule("FREQ=WEEKLY;BYDAY=MO", datetime(2027, 1, 4, 9), NY)) == []
