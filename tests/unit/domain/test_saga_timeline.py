"""domain.saga_runs.timeline: activity calls paired with their ends, retries counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.saga_runs import HistoryItem, timeline

T0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def item(event_id: int, ms: int, kind: str, name=None, scheduled=None, failure=None):
    return HistoryItem(event_id, T0 + timedelta(milliseconds=ms), kind, name, scheduled, failure)


def test_a_failed_call_its_retry_and_the_compensation() -> None:
    history = [
        item(-1, 0, "ORCHESTRATOR_STARTED"),
        item(-1, 0, "EXECUTION_STARTED", "complete_occurrence"),
        item(0, 1, "TASK_SCHEDULED", "advance_occurrence"),
        item(-1, 40, "TASK_FAILED", scheduled=0, failure="refused"),
        item(1, 240, "TASK_SCHEDULED", "advance_occurrence"),
        item(-1, 260, "TASK_FAILED", scheduled=1, failure="refused again"),
        item(2, 261, "TASK_SCHEDULED", "reopen_occurrence"),
    ]
    steps = timeline(history)
    assert [(s.name, s.attempt, s.outcome) for s in steps] == [
        ("advance_occurrence", 1, "failed"),
        ("advance_occurrence", 2, "failed"),
        ("reopen_occurrence", 1, "running"),
    ]
    assert steps[0].duration_ms == 39.0 and steps[0].failure == "refused"
    assert steps[2].ended_at is None and steps[2].duration_ms is None


def test_a_completed_call() -> None:
    [step] = timeline(
        [
            item(0, 0, "TASK_SCHEDULED", "advance_occurrence"),
            item(-1, 12, "TASK_COMPLETED", scheduled=0),
        ]
    )
    assert (step.outcome, step.duration_ms, step.failure) == ("completed", 12.0, None)
