"""The operators' health panel: the outbox's backlog and its oldest age, each consumer's last
handled event and its lag, saga starts, completions and failures per minute over the last hour, and
reminder lateness over the last hour."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from domain.events import SUBSCRIBED, sources
from service.unit_of_work import UnitOfWork

WINDOW = timedelta(hours=1)


class OutboxHealth(BaseModel):
    backlog: int = Field(description="events not yet published")
    oldest_age_s: float | None = Field(description="the oldest unpublished event's age")


class ConsumerHealth(BaseModel):
    consumer: str
    last_handled_at: AwareDatetime | None
    idle_s: float | None = Field(description="since its last handled event")
    handled_last_hour: int
    behind: int = Field(
        description="its lag: events published in the last hour that reach it and that it "
        "has not handled (dead letters that were not redriven excepted)"
    )
    oldest_behind_s: float | None = Field(
        description="since the oldest of them was published; null when it is not behind"
    )


class SagaMinute(BaseModel):
    minute: AwareDatetime
    started: int
    completed: int
    failed: int


class ReminderHealth(BaseModel):
    fired_last_hour: int
    lateness_p50_s: float | None
    lateness_p99_s: float | None


class Health(BaseModel):
    at: AwareDatetime
    outbox: OutboxHealth
    consumers: list[ConsumerHealth]
    sagas: list[SagaMinute] = Field(description="the last hour, one entry per minute")
    reminders: ReminderHealth
    sidecar_reachable: bool | None = Field(description="null: the app runs without one")


class Pressure(BaseModel):
    """What waits: the outbox's backlog and each consumer's lag (the metrics' gauges too)."""

    outbox: OutboxHealth
    consumers: list[ConsumerHealth]


async def pressure(uow: UnitOfWork) -> Pressure:
    async with uow.reading():
        return await _pressure(uow, uow.now())


async def health(uow: UnitOfWork, sidecar_reachable: bool | None) -> Health:
    async with uow.reading():
        now = uow.now()
        since = now - WINDOW
        waiting = await _pressure(uow, now)
        minutes = {r["minute"]: r for r in await uow.ops_health.saga_minutes(since)}
        fired, p50, p99 = await uow.ops_health.reminder_lateness(since)
    return Health(
        at=now,
        outbox=waiting.outbox,
        consumers=waiting.consumers,
        sagas=[_minute(m, minutes.get(m)) for m in _minutes(now)],
        reminders=ReminderHealth(fired_last_hour=fired, lateness_p50_s=p50, lateness_p99_s=p99),
        sidecar_reachable=sidecar_reachable,
    )


async def _pressure(uow: UnitOfWork, now: datetime) -> Pressure:
    since = now - WINDOW
    backlog, oldest = await uow.ops_health.outbox_backlog()
    consumers = {
        name: await uow.ops_health.consumer(
            name, sources=sources(topics), subscribed=list(topics), since=since
        )
        for name, topics in SUBSCRIBED.items()
    }
    return Pressure(
        outbox=OutboxHealth(
            backlog=backlog, oldest_age_s=_age(now, oldest) if oldest is not None else None
        ),
        consumers=[
            ConsumerHealth(
                consumer=name,
                last_handled_at=c["last_at"],
                idle_s=_age(now, c["last_at"]) if c["last_at"] is not None else None,
                handled_last_hour=c["recent"],
                behind=c["behind"],
                oldest_behind_s=_age(now, old) if (old := c["oldest_behind"]) else None,
            )
            for name, c in consumers.items()
        ],
    )


def _age(now: datetime, then: datetime) -> float:
    return max((now - then).total_seconds(), 0.0)


def _minutes(now: datetime) -> list[datetime]:
    """The last hour's minutes, oldest first, this one included."""
    this = now.replace(second=0, microsecond=0)
    return [this - timedelta(minutes=n) for n in range(59, -1, -1)]


def _minute(minute: datetime, row: dict | None) -> SagaMinute:
    if row is None:
        return SagaMinute(minute=minute, started=0, completed=0, failed=0)
    return SagaMinute(
        minute=minute, started=row["started"], completed=row["completed"], failed=row["failed"]
    )
