"""domain.due_phrases: the issue's phrases, read against a fixed wall clock; anything that
is not wholly a time is refused."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.due_phrases import EXAMPLES, resolve

NOW = datetime(2027, 1, 4, 12, 0)  # a Monday, noon


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("tomorrow 5pm", datetime(2027, 1, 5, 17, 0)),
        ("next Monday", datetime(2027, 1, 11, 9, 0)),
        ("in 3 days", datetime(2027, 1, 7, 12, 0)),
        ("Friday at noon", datetime(2027, 1, 8, 12, 0)),
        ("end of month", datetime(2027, 1, 31, 9, 0)),
        ("tomorrow, 5pm", datetime(2027, 1, 5, 17, 0)),
        ("in 2 hours", datetime(2027, 1, 4, 14, 0)),
    ],
)
def test_a_phrase_resolves_against_the_wall_clock(phrase: str, expected: datetime) -> None:
    assert resolve(phrase, NOW) == expected


@pytest.mark.parametrize("phrase", ["gibberish", "call mom tomorrow", "soonish", "", "???"])
def test_what_is_not_wholly_a_time_is_refused(phrase: str) -> None:
    assert resolve(phrase, NOW) is None


def test_every_example_offered_in_errors_resolves() -> None:
    assert all(resolve(example, NOW) is not None for example in EXAMPLES)
