"""What a RecurringTaskActor answers (id = series id). Clients import only this module."""

from __future__ import annotations

from datetime import datetime

from dapr.actor import ActorInterface, actormethod
from pydantic import BaseModel, ConfigDict


class SkipInstance(BaseModel):
    """SkipInstance's argument."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    local: datetime  # the instance's wall clock in the series zone


class RecurringTaskActorInterface(ActorInterface):
    @actormethod(name="Describe")
    async def describe(self) -> dict: ...

    @actormethod(name="NextAfter")
    async def next_after(self, data: dict) -> dict:
        """service.occurrences.NextRequest in, NextAnswer out (as JSON)."""

    @actormethod(name="SkipInstance")
    async def skip_instance(self, data: dict) -> dict: ...

    @actormethod(name="Pause")
    async def pause(self) -> dict: ...

    @actormethod(name="Resume")
    async def resume(self) -> dict: ...

    @actormethod(name="End")
    async def end(self) -> dict: ...
