"""RecurringTaskActor (id = series id): owns a series' rule, zone, mode, catch-up policy,
EXDATEs, how many occurrences exist, and its one open occurrence.

Dapr's turn-based concurrency makes it the single place where "what comes next" is decided,
and a durable actor reminder rolls an overdue `skip_missed` series forward so nothing piles up.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from dapr.actor import Actor, Remindable
from dapr.actor.id import ActorId
from dapr.actor.runtime.context import ActorRuntimeContext

from actors.deps import ActorDeps
from actors.recurring_task_interface import RecurringTaskActorInterface
from domain.recurrence import CatchUp, Occurrence, next_occurrence, preview, summarize
from domain.tasks import occurrence_id
from service import series as series_svc
from service.saga_steps import Closed

SERIES = "series"
ANSWERS = "answers"
OVERDUE = "overdue"
KEEP_ANSWERS = 20


class RecurringTaskActor(Actor, RecurringTaskActorInterface, Remindable):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self.deps = deps

    async def _definition(self) -> series_svc.SeriesDefinition:
        found, raw = await self._state_manager.try_get_state(SERIES)
        if found:
            return series_svc.SeriesDefinition.model_validate(raw)
        definition = await series_svc.definition(self.deps.uow_factory(), uuid.UUID(self.id.id))
        await self._store(definition)
        return definition

    async def _store(self, definition: series_svc.SeriesDefinition) -> None:
        # staged: the actor runtime saves every change in one transaction when the turn ends
        await self._state_manager.set_state(SERIES, definition.model_dump(mode="json"))

    async def describe(self) -> dict:
        d = await self._definition()
        return {**d.model_dump(mode="json"), "summary": summarize(d.rule())}

    async def preview(self, data: dict) -> dict:
        d = await self._definition()
        count = int(data.get("count", 10))
        after = d.open_due_at - timedelta(microseconds=1) if d.open_due_at else None
        return {
            "rrule": d.rrule,
            "summary": summarize(d.rule()),
            "occurrences": [o.due_at.isoformat() for o in preview(d.rule(), count, after=after)],
        }

    async def next_after(self, data: dict) -> dict | None:
        """The occurrence after a closed one: {"next": {index, due_at} | None, "ended": bool}.

        Answers are remembered per closed index, so a retried saga step gets the same answer.
        """
        closed = Closed.model_validate(data)
        _, answers = await self._state_manager.try_get_state(ANSWERS)
        answers = dict(answers or {})
        key = str(closed.occurrence_index)
        if key in answers:
            return answers[key]
        d = await self._definition()
        answer: dict[str, Any]
        if d.state != "active":
            answer = {"next": None, "ended": d.state == "ended"}
        else:
            done = Occurrence(
                index=closed.occurrence_index, local=closed.local_due, due_at=closed.due_at
            )
            upcoming = next_occurrence(
                d.rule(), done, completed_at=closed.closed_at, now=self.deps.clock.now()
            )
            if upcoming is None:
                d = d.model_copy(update={"state": "ended", "open_task_id": None})
                answer = {"next": None, "ended": True}
            else:
                d = d.model_copy(
                    update={
                        "open_task_id": occurrence_id(d.series_id, upcoming.index),
                        "open_index": upcoming.index,
                        "open_due_at": upcoming.due_at,
                        "generated": d.generated + 1,
                    }
                )
                answer = {
                    "next": {"index": upcoming.index, "due_at": upcoming.due_at.isoformat()},
                    "ended": False,
                }
                await self._arm_overdue(d, upcoming.due_at)
        answers[key] = answer
        for old in sorted(answers, key=int)[:-KEEP_ANSWERS]:
            del answers[old]
        await self._state_manager.set_state(ANSWERS, answers)
        await self._store(d)
        return answer

    async def skip_instance(self, data: dict) -> dict:
        """Skip one future instance, given by its wall-clock time (an EXDATE)."""
        d = await self._definition()
        raw = data["local"]
        local = (datetime.fromisoformat(raw) if isinstance(raw, str) else raw).replace(tzinfo=None)
        await series_svc.add_exdate(self.deps.uow_factory(), d.user_id, d.series_id, local)
        if local not in d.exdates:
            d = d.model_copy(update={"exdates": [*d.exdates, local]})
            await self._store(d)
        return d.model_dump(mode="json")

    async def pause(self) -> dict:
        return await self._set_state("paused")

    async def resume(self) -> dict:
        return await self._set_state("active")

    async def end(self) -> dict:
        return await self._set_state("ended")

    async def _set_state(self, state: str) -> dict:
        d = await self._definition()
        await series_svc.set_state(self.deps.uow_factory(), d.user_id, d.series_id, state)
        d = d.model_copy(update={"state": state})
        await self._store(d)
        return d.model_dump(mode="json")

    async def _arm_overdue(self, d: series_svc.SeriesDefinition, due_at: datetime) -> None:
        if d.catch_up is not CatchUp.SKIP_MISSED:
            return
        wait = max(due_at + self.deps.overdue_grace - self.deps.clock.now(), timedelta(0))
        await self.register_reminder(OVERDUE, b"", due_time=wait)  # one-off

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        if name != OVERDUE:
            return
        d = await self._definition()
        now = self.deps.clock.now()
        overdue = d.open_due_at is not None and now >= d.open_due_at + self.deps.overdue_grace
        if d.state == "active" and d.open_task_id is not None and overdue:
            await self.deps.start_skip(d.user_id, str(d.open_task_id))
        elif d.state == "active" and d.open_due_at is not None and not overdue:
            await self._arm_overdue(d, d.open_due_at)  # fired early: clock skew or a move
