"""How a turn hands over inbox events: timers are restamped when they fire, as in daprd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dapr.ext.workflow._durabletask.internal.protos as pb

from sidecar.workflows import events as ev

CREATED = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
FIRED = CREATED + timedelta(seconds=30)


def test_a_fired_timer_takes_the_time_it_is_delivered() -> None:
    queued = ev.event(CREATED, timerFired=pb.TimerFiredEvent(fireAt=ev.timestamp(FIRED), timerId=3))

    delivered = ev.delivered(queued, FIRED)

    assert ev.to_datetime(delivered.timestamp) == FIRED
    assert delivered.eventId == -1
    assert delivered.timerFired.timerId == 3
    assert ev.to_datetime(delivered.timerFired.fireAt) == FIRED
    assert ev.to_datetime(queued.timestamp) == CREATED  # the stored inbox row is untouched


def test_other_events_keep_the_time_they_were_raised() -> None:
    raised = ev.event(CREATED, eventRaised=pb.EventRaisedEvent(name="go"))
    completed = ev.event(CREATED, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=1))

    for queued in (raised, completed):
        assert ev.to_datetime(ev.delivered(queued, FIRED).timestamp) == CREATED
