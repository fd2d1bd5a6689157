"""What a ReminderScheduleActor answers (id = user id). Clients import only this module."""

from __future__ import annotations

from dapr.actor import ActorInterface, actormethod


class ReminderScheduleActorInterface(ActorInterface):
    @actormethod(name="SyncTasks")
    async def sync_tasks(self, data: dict) -> dict: ...

    @actormethod(name="SyncAll")
    async def sync_all(self) -> dict: ...

    @actormethod(name="Snooze")
    async def snooze(self, data: dict) -> dict: ...

    @actormethod(name="ListUpcoming")
    async def list_upcoming(self, data: dict) -> list: ...

    @actormethod(name="Explain")
    async def explain(self, data: dict) -> dict: ...
