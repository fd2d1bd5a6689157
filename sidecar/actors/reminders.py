"""Actor reminders and their table, `dapr_reminders`, in the actor state store's database."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from sidecar import clock
from sidecar.database import retrying
from sidecar.durations import ScheduleError, parse_duration, parse_instant_or_offset, parse_period

ReminderKey = tuple[str, str, str]  # actor type, actor id, reminder name


@dataclass(frozen=True)
class FailurePolicy:
    """daprd's reminder failure policy; the default retries 3 times per tick, 1 s apart."""

    max_retries: int | None = 3  # None: retry until it succeeds
    interval: timedelta = timedelta(seconds=1)

    @classmethod
    def parse(cls, doc: dict[str, Any] | None) -> FailurePolicy:
        if not doc:
            return cls()
        if "drop" in doc:
            return cls(max_retries=0)
        constant = doc.get("constant") or {}
        interval = constant.get("interval")
        return cls(
            max_retries=constant.get("maxRetries"),
            interval=parse_duration(interval) if interval else cls.interval,
        )

    def as_doc(self) -> dict[str, Any]:
        if self.max_retries == 0:
            return {"drop": {}}
        doc: dict[str, Any] = {"interval": f"{self.interval.total_seconds()}s"}
        if self.max_retries is not None:
            doc["maxRetries"] = self.max_retries
        return {"constant": doc}


@dataclass(frozen=True)
class Reminder:
    actor_type: str
    actor_id: str
    name: str
    due_time: str  # as registered; echoed to the app
    period: str
    ttl: str
    data: bytes  # raw JSON value of `data` (the SDK sends a base64 string)
    interval: timedelta | None  # None: fires once
    repetitions_left: int | None  # None: unbounded
    expires_at: datetime | None
    failure_policy: FailurePolicy
    next_fire_at: datetime
    etag: uuid.UUID  # changes on every registration, never on a tick

    @property
    def key(self) -> ReminderKey:
        return (self.actor_type, self.actor_id, self.name)

    @classmethod
    def register(cls, actor_type: str, actor_id: str, name: str, body: dict[str, Any]) -> Reminder:
        now = clock.now()
        due_time = body.get("dueTime") or ""
        period_text = body.get("period") or ""
        ttl = body.get("ttl") or ""
        if due_time.startswith("R"):
            raise ScheduleError("dueTime cannot have repetitions")
        iso = period_text.rsplit("/", 1)[-1]  # after any repetition count, R<n>/
        if iso.startswith("P") and re.search(r"[DW]", iso.split("T")[0]):
            # DAPR-CONTRACT.md: the Scheduler refuses ISO 8601 periods with days (or weeks)
            raise ScheduleError(f"period with days is not supported: {period_text!r}")
        period = parse_period(period_text)
        due_at = parse_instant_or_offset(due_time, now) or now
        return cls(
            actor_type=actor_type,
            actor_id=actor_id,
            name=name,
            due_time=due_time,
            period=period_text,
            ttl=ttl,
            data=json.dumps(body.get("data")).encode(),
            interval=period.interval if period else None,
            repetitions_left=period.repetitions if period else None,
            # a ttl offset counts from the due time, not from registration (as daprd)
            expires_at=parse_instant_or_offset(ttl, due_at),
            # daprd reads `failure_policy`; the Python SDK sends `failurePolicy`, which
            # daprd ignores, so an SDK-registered reminder gets the default policy
            # (DAPR-CONTRACT.md, "Reminders live in the Scheduler's etcd")
            failure_policy=FailurePolicy.parse(body.get("failure_policy")),
            next_fire_at=due_at,
            etag=uuid.uuid4(),
        )

    def app_body(self) -> bytes:
        """What the SDK's `ActorReminderData.from_dict` reads at `/method/remind/{name}`:
        when the Scheduler fires a reminder, daprd sends `dueTime` and `period` as "" and
        no ttl, whatever was registered (DAPR-CONTRACT.md; pkg/actors/internal/scheduler,
        the streamer's invokeActorReminder)."""
        return b'{"data":' + self.data + b',"dueTime":"","period":""}'

    def as_doc(self) -> dict[str, Any]:
        doc = {
            "actorType": self.actor_type,
            "actorId": self.actor_id,
            "name": self.name,
            "dueTime": self.due_time,
            "period": self.period,
            "data": json.loads(self.data),
        }
        if self.ttl:
            doc["ttl"] = self.ttl
        return doc

    def after_tick(self, fired_at: datetime, now: datetime) -> Reminder | None:
        """The reminder's next state after the tick due at `fired_at`; None when it is done."""
        if self.interval is None:
            return None
        left = None if self.repetitions_left is None else self.repetitions_left - 1
        if left is not None and left <= 0:
            return None
        # Ticks missed while the sidecar was down or busy collapse into one.
        next_at = max(fired_at + self.interval, now)
        if self.expires_at is not None and next_at > self.expires_at:
            return None
        return replace(self, repetitions_left=left, next_fire_at=next_at)


_COLUMNS = (
    "actor_type, actor_id, name, due_time, period, ttl, data, interval_us, repetitions_left,"
    " expires_at, failure_policy, next_fire_at, etag"
)


class ReminderStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_table(self) -> None:
        ddl = """
            CREATE TABLE IF NOT EXISTS dapr_reminders (
                actor_type text NOT NULL,
                actor_id text NOT NULL,
                name text NOT NULL,
                due_time text NOT NULL,
                period text NOT NULL,
                ttl text NOT NULL,
                data bytea NOT NULL,
                interval_us bigint,
                repetitions_left integer,
                expires_at timestamptz,
                failure_policy jsonb NOT NULL,
                next_fire_at timestamptz NOT NULL,
                etag uuid NOT NULL,
                PRIMARY KEY (actor_type, actor_id, name)
            )
        """
        await retrying(lambda: self._pool.execute(ddl), what="create dapr_reminders")

    async def load(self, actor_types: frozenset[str]) -> list[Reminder]:
        rows = await retrying(
            lambda: self._pool.fetch(
                f"SELECT {_COLUMNS} FROM dapr_reminders WHERE actor_type = ANY($1::text[])",
                list(actor_types),
            ),
            what="load reminders",
        )
        return [_from_row(row) for row in rows]

    async def save(self, r: Reminder) -> None:
        interval_us = None if r.interval is None else r.interval // timedelta(microseconds=1)
        args = (
            r.actor_type,
            r.actor_id,
            r.name,
            r.due_time,
            r.period,
            r.ttl,
            r.data,
            interval_us,
            r.repetitions_left,
            r.expires_at,
            json.dumps(r.failure_policy.as_doc()),
            r.next_fire_at,
            r.etag,
        )
        await retrying(
            lambda: self._pool.execute(
                f"INSERT INTO dapr_reminders ({_COLUMNS}) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)"
                " ON CONFLICT (actor_type, actor_id, name) DO UPDATE SET"
                " due_time = excluded.due_time, period = excluded.period, ttl = excluded.ttl,"
                " data = excluded.data, interval_us = excluded.interval_us,"
                " repetitions_left = excluded.repetitions_left,"
                " expires_at = excluded.expires_at, failure_policy = excluded.failure_policy,"
                " next_fire_at = excluded.next_fire_at, etag = excluded.etag",
                *args,
            ),
            what="save reminder",
        )

    async def delete(self, key: ReminderKey) -> None:
        await retrying(
            lambda: self._pool.execute(
                "DELETE FROM dapr_reminders WHERE actor_type = $1 AND actor_id = $2 AND name = $3",
                *key,
            ),
            what="delete reminder",
        )

    async def advance(self, r: Reminder) -> None:
        """Record a delivered tick, unless the reminder was re-registered or deleted since."""
        await retrying(
            lambda: self._pool.execute(
                "UPDATE dapr_reminders SET next_fire_at = $5, repetitions_left = $6"
                " WHERE actor_type = $1 AND actor_id = $2 AND name = $3 AND etag = $4"
                " AND next_fire_at < $5",
                r.actor_type,
                r.actor_id,
                r.name,
                r.etag,
                r.next_fire_at,
                r.repetitions_left,
            ),
            what="advance reminder",
            give_up_after=300.0,
        )

    async def finish(self, r: Reminder) -> None:
        """Remove a reminder whose last tick was delivered, unless re-registered since."""
        await retrying(
            lambda: self._pool.execute(
                "DELETE FROM dapr_reminders"
                " WHERE actor_type = $1 AND actor_id = $2 AND name = $3 AND etag = $4",
                r.actor_type,
                r.actor_id,
                r.name,
                r.etag,
            ),
            what="finish reminder",
            give_up_after=300.0,
        )


def _from_row(row: asyncpg.Record) -> Reminder:
    policy = json.loads(row["failure_policy"])
    interval_us = row["interval_us"]
    return Reminder(
        actor_type=row["actor_type"],
        actor_id=row["actor_id"],
        name=row["name"],
        due_time=row["due_time"],
        period=row["period"],
        ttl=row["ttl"],
        data=bytes(row["data"]),
        interval=None if interval_us is None else timedelta(microseconds=interval_us),
        repetitions_left=row["repetitions_left"],
        expires_at=row["expires_at"],
        failure_policy=FailurePolicy.parse(policy),
        next_fire_at=row["next_fire_at"],
        etag=row["etag"],
    )
