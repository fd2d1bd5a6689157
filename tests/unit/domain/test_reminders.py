"""Reminder validation, fire times, dedupe keys and explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.errors import ValidationFailed
from domain.reminders import (
    MAX_BEFORE_MINUTES,
    MAX_REMINDERS_PER_TASK,
    ReminderSpec,
    dedupe_key,
    explain,
    fire_time,
    validate_reminders,
)

NY = "America/New_York"
DUE = datetime(2027, 3, 14, 13, 0, tzinfo=UTC)  # 09:00 EDT


def fields_of(specs, *, has_due=True) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_reminders(specs, has_due=has_due)
    return [e.field for e in caught.value.errors]


def test_valid_relative_and_absolute_reminders_pass():
    validate_reminders(
        [ReminderSpec(before_minutes=0), ReminderSpec(before_minutes=30), ReminderSpec(at=DUE)],
        has_due=True,
    )


def test_absolute_reminders_need_no_due_time():
    validate_reminders([ReminderSpec(at=DUE)], has_due=False)


def test_a_relative_reminder_without_a_due_time_is_rejected_on_its_field():
    assert fields_of([ReminderSpec(at=DUE), ReminderSpec(before_minutes=5)], has_due=False) == [
        "reminders.1.before_minutes"
    ]


@pytest.mark.parametrize("minutes", [-1, MAX_BEFORE_MINUTES + 1])
def test_offsets_outside_zero_to_a_year_are_rejected(minutes):
    assert fields_of([ReminderSpec(before_minutes=minutes)]) == ["reminders.0.before_minutes"]


def test_a_year_ahead_is_the_largest_offset():
    validate_reminders([ReminderSpec(before_minutes=MAX_BEFORE_MINUTES)], has_due=True)


def test_exactly_one_of_before_minutes_or_at_is_required():
    both = ReminderSpec(before_minutes=5, at=DUE)
    assert fields_of([both, ReminderSpec()]) == ["reminders.0", "reminders.1"]


def test_a_naive_absolute_time_is_rejected():
    assert fields_of([ReminderSpec(at=datetime(2027, 3, 14, 9))]) == ["reminders.0.at"]


def test_more_than_ten_reminders_are_rejected():
    specs = [ReminderSpec(before_minutes=i) for i in range(MAX_REMINDERS_PER_TASK + 1)]
    assert fields_of(specs) == ["reminders"]


def test_duplicates_are_rejected_including_the_same_instant_in_another_offset():
    same_instant = DUE.astimezone(timezone(timedelta(hours=-4)))
    specs = [
        ReminderSpec(before_minutes=10),
        ReminderSpec(at=DUE),
        ReminderSpec(before_minutes=10),
        ReminderSpec(at=same_instant),
    ]
    assert fields_of(specs) == ["reminders.2.before_minutes", "reminders.3.at"]


def test_every_problem_is_reported_at_once():
    specs = [ReminderSpec(before_minutes=-5), ReminderSpec(at=datetime(2027, 1, 1))]
    assert fields_of(specs) == ["reminders.0.before_minutes", "reminders.1.at"]


def test_fire_time_of_a_relative_reminder_is_before_the_due_time_in_utc():
    fired = fire_time(ReminderSpec(before_minutes=90), DUE.astimezone(timezone(timedelta(hours=5))))
    assert fired == datetime(2027, 3, 14, 11, 30, tzinfo=UTC)
    assert fired.tzinfo is UTC


def test_fire_time_of_an_absolute_reminder_ignores_the_due_time():
    at = datetime(2027, 3, 1, 8, tzinfo=timezone(timedelta(hours=1)))
    assert fire_time(ReminderSpec(at=at), DUE) == datetime(2027, 3, 1, 7, tzinfo=UTC)
    assert fire_time(ReminderSpec(at=at), None) == datetime(2027, 3, 1, 7, tzinfo=UTC)


def test_fire_time_of_a_relative_reminder_needs_a_due_time():
    with pytest.raises(ValidationFailed):
        fire_time(ReminderSpec(before_minutes=5), None)


def test_dedupe_key_is_the_same_for_the_same_instant_in_any_offset():
    other = DUE.astimezone(timezone(timedelta(hours=9, minutes=30)))
    assert dedupe_key("r1", DUE) == dedupe_key("r1", other) == "r1@2027-03-14T13:00:00Z"
    assert dedupe_key("r1", DUE) != dedupe_key("r2", DUE)
    assert dedupe_key("r1", DUE) != dedupe_key("r1", DUE + timedelta(minutes=1))


def test_explanation_of_a_relative_reminder_can_be_relayed_as_is():
    spec = ReminderSpec(before_minutes=30)
    e = explain(spec, due_at=DUE, timezone=NY, fire_at=fire_time(spec, DUE), state="pending")
    assert e.anchor == "due_at"
    assert e.offset_minutes == 30
    assert e.fire_at_utc == datetime(2027, 3, 14, 12, 30, tzinfo=UTC)
    assert e.fire_at_local.replace(tzinfo=None) == datetime(2027, 3, 14, 8, 30)
    assert e.why.startswith(
        "Fires 30 minutes before the due time 2027-03-14 09:00 America/New_York (13:00 UTC)"
    )
    assert "08:30 local (12:30 UTC)" in e.why
    assert e.why.endswith("; pending.")


def test_explanation_of_an_absolute_reminder_says_it_does_not_move():
    at = datetime(2027, 3, 10, 14, tzinfo=UTC)
    e = explain(ReminderSpec(at=at), due_at=DUE, timezone=NY, fire_at=at, state="fired")
    assert (e.anchor, e.offset_minutes) == ("absolute", None)
    assert e.why == (
        "Fires at 2027-03-10 09:00 America/New_York (14:00 UTC), "
        "a fixed time that does not move with the due time; fired."
    )


def test_explanation_mentions_a_snoozed_fire_time_and_long_offsets():
    spec = ReminderSpec(before_minutes=1530)  # 1 day 1 hour 30 minutes, back across DST
    snoozed = fire_time(spec, DUE) + timedelta(minutes=10)
    e = explain(spec, due_at=DUE, timezone=NY, fire_at=snoozed, state="snoozed")
    assert "1 day 1 hour 30 minutes before" in e.why
    assert "moved from 2027-03-13 06:30" in e.why  # 11:30 UTC is 06:30 EST
    assert e.fire_at_utc == snoozed


def test_explanation_rejects_an_unknown_zone():
    with pytest.raises(ValidationFailed) as caught:
        explain(ReminderSpec(at=DUE), due_at=None, timezone="Nowhere/Land", fire_at=DUE, state="x")
    assert caught.value.errors[0].field == "timezone"
