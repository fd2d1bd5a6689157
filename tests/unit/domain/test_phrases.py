"""Plain repeat phrases -> RRULE."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from domain.errors import ValidationFailed
from domain.phrases import parse_phrase
from domain.recurrence import parse_rule

TODAY = date(2027, 3, 10)


@pytest.mark.parametrize(
    ("phrase", "rrule"),
    [
        ("daily", "FREQ=DAILY"),
        ("every day", "FREQ=DAILY"),
        ("every weekday", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("every weekend", "FREQ=WEEKLY;BYDAY=SA,SU"),
        ("every 2 weeks on Mon and Thu", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"),
        ("every monday", "FREQ=WEEKLY;BYDAY=MO"),
        ("Mondays, Wednesdays and Fridays", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        ("weekly on tuesday and friday", "FREQ=WEEKLY;BYDAY=TU,FR"),
        ("every other week", "FREQ=WEEKLY;INTERVAL=2"),
        ("every month on the 15th", "FREQ=MONTHLY;BYMONTHDAY=15"),
        ("every month on the 1st and 15th", "FREQ=MONTHLY;BYMONTHDAY=1,15"),
        ("monthly on the last day", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        ("last Friday of each month", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("first Monday of every month", "FREQ=MONTHLY;BYDAY=1MO"),
        ("every 2 months on the last friday", "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR"),
        ("last weekday of the month", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
        ("every year on March 3", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=3"),
        ("every March 3rd", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=3"),
        ("every 3 days", "FREQ=DAILY;INTERVAL=3"),
        ("every hour", "FREQ=HOURLY"),
        ("hourly", "FREQ=HOURLY"),
        ("every 15 minutes", "FREQ=MINUTELY;INTERVAL=15"),
        ("fortnightly on fri", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"),
    ],
)
def test_phrases_become_rules_that_parse(phrase, rrule):
    parsed = parse_phrase(phrase, today=TODAY)
    assert parsed.rrule == rrule
    assert parsed.time_of_day is None
    parse_rule(parsed.rrule, datetime(2027, 3, 12, 9), "UTC")


@pytest.mark.parametrize(
    ("phrase", "at"),
    [
        ("every day at 9am", time(9)),
        ("every day at 9 pm", time(21)),
        ("every day at 12am", time(0)),
        ("every weekday at 17:30", time(17, 30)),
        ("every year on March 3 at noon", time(12)),
        ("at 8:15am every monday", time(8, 15)),
    ],
)
def test_a_time_of_day_is_returned_separately(phrase, at):
    assert parse_phrase(phrase, today=TODAY).time_of_day == at


@pytest.mark.parametrize(
    ("phrase", "tail"),
    [
        ("every monday until June", "UNTIL=20270630"),
        ("every monday until june 15", "UNTIL=20270615"),
        ("daily until February", "UNTIL=20280229"),  # February 2027 is past: next one
        ("daily until 2027-06-30", "UNTIL=20270630"),
        ("daily for 5 times", "COUNT=5"),
        ("every weekday at 9am 10 times", "COUNT=10"),
    ],
)
def test_until_and_count_suffixes(phrase, tail):
    assert parse_phrase(phrase, today=TODAY).rrule.endswith(";" + tail)


@pytest.mark.parametrize(
    "phrase",
    [
        "whenever I feel like it",
        "every 5 seconds",
        "daily until 2020-01-01",
        "daily until Smarch",
        "every day at 25:00",
        "every day at 13pm",
        "daily for 3 times until June",
        "every month on the 40th",
        "every year on February 30",
        "",
    ],
)
def test_unreadable_phrases_are_rejected_with_the_rrule_syntax(phrase):
    with pytest.raises(ValidationFailed) as caught:
        parse_phrase(phrase, today=TODAY)
    [error] = caught.value.errors
    assert error.field == "phrase"
    assert "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH" in error.message
