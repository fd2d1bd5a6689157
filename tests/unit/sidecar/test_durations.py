"""Schedule strings as daprd reads them: the SDK's form, Go, ISO 8601, RFC 3339."""

from datetime import UTC, datetime, timedelta

import pytest
from dapr.serializers.util import convert_to_dapr_duration

from sidecar.durations import (
    Period,
    ScheduleError,
    parse_duration,
    parse_instant_or_offset,
    parse_period,
)

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0h0m0s500ms0μs", timedelta(milliseconds=500)),  # Greek mu, as the SDK sends it
        ("0h0m0s0ms250µs", timedelta(microseconds=250)),  # micro sign
        ("1h0m0s0ms3us", timedelta(hours=1, microseconds=3)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("1.5s", timedelta(seconds=1.5)),
        ("0", timedelta(0)),
        ("PT2H30M", timedelta(hours=2, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT0.2S", timedelta(days=1, milliseconds=200)),
    ],
)
def test_durations_in_every_format_daprd_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "1x", "h", "P", "PT", "P1Y", "P2M", "1h-2m"])
def test_malformed_or_calendar_durations_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_duration(text)


def test_every_duration_the_sdk_writes_reads_back() -> None:
    for delta in (timedelta(0), timedelta(milliseconds=200), timedelta(hours=49, seconds=7.25)):
        assert parse_duration(convert_to_dapr_duration(delta)) == delta


def test_a_period_may_carry_a_repetition_count() -> None:
    assert parse_period("R5/PT1M30S") == Period(timedelta(minutes=1, seconds=30), 5)
    assert parse_period("R3/0h0m0s200ms0μs") == Period(timedelta(milliseconds=200), 3)
    assert parse_period("1m") == Period(timedelta(minutes=1), None)


def test_an_omitted_period_means_fire_once() -> None:
    assert parse_period(None) is None
    assert parse_period("") is None


def test_a_period_of_zero_means_fire_once() -> None:
    """daprd: pkg/actors/api/period.go, HasRepeats (DAPR-CONTRACT.md, "Timers")."""
    assert parse_period("0s") is None
    assert parse_period("0h0m0s0ms0μs") is None  # the Python SDK's timedelta(0)


def test_a_negative_period_is_refused() -> None:
    with pytest.raises(ScheduleError):
        parse_period("-1s")


def test_due_time_is_an_instant_or_an_offset_from_now() -> None:
    assert parse_instant_or_offset("2030-10-02T15:00:00Z", NOW) == datetime(
        2030, 10, 2, 15, tzinfo=UTC
    )
    assert parse_instant_or_offset("PT1M", NOW) == NOW + timedelta(minutes=1)
    assert parse_instant_or_offset("0h0m1s0ms0μs", NOW) == NOW + timedelta(seconds=1)
    assert parse_instant_or_offset(None, NOW) is None


def test_an_instant_without_an_offset_is_refused() -> None:
    with pytest.raises(ScheduleError):
        parse_instant_or_offset("2030-10-02T15:00:00", NOW)
