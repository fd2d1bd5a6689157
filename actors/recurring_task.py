"""RecurringTaskActor (id = series id): owns a series' rule, zone, mode, catch-up policy,
EXDATEs, how many occurrences exist, and its one open occurrence.

Dapr's turn-based concurrency makes it the single place where "what comes next" is decided,
and a durable actor reminder rolls an overdue `skip_missed` series forward so nothing piles up.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from dapr.actor import Actor, Remindable
from dapr.actor.id import ActorId
from dapr.actor.runtime.context import ActorRuntimeContext
from pydantic import BaseModel

from actors.deps import ActorDeps
from actors.recurring_task_interface import RecurringTaskActorInterface, SkipInstance
from domain.recurrence import CatchUp, summarize
from domain.tasks import occurrence_id
from service import series as series_svc
from service.occurrences import NextAnswer, NextRequest, decide_next

# the definition and the remembered answers, in one state key: one read per activation
SERIES = "series.v2"
OVERDUE = "overdue"
KEEP_ANSWERS = 20


class SeriesState(BaseModel):
    definition: series_svc.SeriesDefinition
    # closed occurrence index -> the answer given, so a retried saga step gets it again
    answers: dict[int, NextAnswer] = {}


class RecurringTaskActor(Actor, RecurringTaskActorInterface, Remindable):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self.deps = deps

    async def _state(self) -> SeriesState:
        found, raw = await self._state_manager.try_get_state(SERIES)
        if found:
            return SeriesState.model_validate(raw)
        definition = await series_svc.definition(self.deps.uow_factory(), uuid.UUID(self.id.id))
        state = SeriesState(definition=definition)
        await self._store(state)
        return state

    async def _definition(self) -> series_svc.SeriesDefinition:
        return (await self._state()).definition

    async def _store(self, state: SeriesState) -> None:
        # staged: the actor runtime saves every change in one transaction when the turn ends
        await self._state_manager.set_state(SERIES, state.model_dump(mode="json"))

    async def _store_definition(self, definition: series_svc.SeriesDefinition) -> None:
        state = await self._state()
        await self._store(state.model_copy(update={"definition": definition}))

    async def describe(self) -> dict:
        d = await self._definition()
        return {**d.model_dump(mode="json"), "summary": summarize(d.rule())}

    async def next_after(self, data: dict) -> dict:
        """The occurrence after a closed one: NextRequest in, NextAnswer out.

        Answers are remembered per closed index, so a retried saga step gets the same answer.
        """
        request = NextRequest.model_validate(data)
        state = await self._state()
        known = state.answers.get(request.occurrence_index)
        if known is not None:
            return known.model_dump(mode="json")
        d = state.definition
        if d.state != "active":  # paused or ended: the closed occurrence was the last open
            answer = NextAnswer(next=None, ended=d.state == "ended")
            d = d.model_copy(update={"open_task_id": None, "open_index": None, "open_due_at": None})
        else:
            answer = decide_next(d.rule(), request, self.deps.clock.now())
            if answer.next is None:
                d = d.model_copy(update={"state": "ended", "open_task_id": None})
            else:
                d = d.model_copy(
                    update={
                        "open_task_id": occurrence_id(d.series_id, answer.next.index),
                        "open_index": answer.next.index,
                        "open_due_at": answer.next.due_at,
                        "generated": d.generated + 1,
                    }
                )
                await self._arm_overdue(d, answer.next.due_at)
        answers = {**state.answers, request.occurrence_index: answer}
        for old in sorted(answers)[:-KEEP_ANSWERS]:
            del answers[old]
        await self._store(SeriesState(definition=d, answers=answers))
        return answer.model_dump(mode="json")

    async def skip_instance(self, data: dict) -> dict:
        """Skip one future instance, given by its wall-clock time (an EXDATE)."""
        d = await self._definition()
        local = SkipInstance.model_validate(data).local.replace(tzinfo=None)
        await series_svc.add_exdate(self.deps.uow_factory(), d.user_id, d.series_id, local)
        if local not in d.exdates:
            d = d.model_copy(update={"exdates": [*d.exdates, local]})
            await self._store_definition(d)
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
        # read back: a resume may have spawned the occurrence that closed while paused
        d = await series_svc.definition(self.deps.uow_factory(), d.series_id)
        await self._store_definition(d)
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
