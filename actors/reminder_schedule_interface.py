"""What a ReminderScheduleActor answers (id = user id). Clients import only this module."""

from __future__ import annotations

import uuid

from dapr.actor import ActorInterface, actormethod
from pydantic import BaseModel, ConfigDict


class SyncTasks(BaseModel):
    """Re-read these tasks' pending reminders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_ids: tuple[uuid.UUID, ...]


class Synced(BaseModel):
    pending: int  # how many reminders the schedule holds now


class Schedule(BaseModel):
    """What the schedule holds, read-only (the operators' Schedules page)."""

    loaded: bool  # False: the actor has no state yet; it loads on its first sync or fire
    pending: list[dict]  # the pending reminders, earliest first
    armed_at: str | None  # when its durable reminder is armed for, as it believes


class ReminderScheduleActorInterface(ActorInterface):
    @actormethod(name="SyncTasks")
    async def sync_tasks(self, data: dict) -> dict:
        """SyncTasks in, Synced out (as JSON)."""

    @actormethod(name="SyncAll")
    async def sync_all(self) -> dict:
        """Synced out (as JSON)."""

    @actormethod(name="Describe")
    async def describe(self) -> dict:
        """Schedule out (as JSON); changes nothing."""
