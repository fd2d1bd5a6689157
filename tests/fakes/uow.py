"""An in-memory unit of work: the same protocol as store.uow.SqlUnitOfWork
(service.unit_of_work.UnitOfWork), over plain dicts, so use cases are tested without
PostgreSQL.

Transactions are modelled by snapshot: entering copies the tables, `commit` keeps the
changes and publishes the recorded events, and leaving without a commit restores the copy.
Locks are not modelled: a test here runs one unit of work at a time."""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from domain.clock import Clock
from domain.events import Event
from domain.saga_runs import FINISHED, LIVE, RunFilter, SagaStatus
from domain.tasks import TaskFilter
from store import tasks_repo

Row = dict[str, Any]
_KEPT, _REDRIVEN = "kept", "redriven"


@dataclass
class Tables:
    """The rows the fake repositories read and write; tests seed them directly."""

    tasks: dict[uuid.UUID, Row] = field(default_factory=dict)
    processed: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    published: list[Event] = field(default_factory=list)
    redriven: list[tuple[Event, str]] = field(default_factory=list)
    audit: list[Row] = field(default_factory=list)
    notifications: dict[uuid.UUID, Row] = field(default_factory=dict)
    webhooks: dict[str, Row] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, Row] = field(default_factory=dict)
    tags: dict[uuid.UUID, Row] = field(default_factory=dict)
    task_tags: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    reminders: dict[uuid.UUID, Row] = field(default_factory=dict)
    series: dict[uuid.UUID, Row] = field(default_factory=dict)
    dead_letters: dict[uuid.UUID, Row] = field(default_factory=dict)
    saga_runs: dict[str, Row] = field(default_factory=dict)
    operator_log: list[Row] = field(default_factory=list)
    bulk_actions: dict[uuid.UUID, Row] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], Row] = field(default_factory=dict)  # (user_id, key)
    # housekeeping: per table, the time each row became prunable (published, processed, ...)
    aged: dict[str, list[datetime]] = field(default_factory=dict)


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> Tables:
        return self._uow.tables


class FakeInbox(_Repository):
    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        if (consumer, event_id) in self._t.processed:
            return False
        self._t.processed.add((consumer, event_id))
        return True

    async def claim(self, consumer: str, event_ids: Sequence[uuid.UUID]) -> None:
        """A batching of first_delivery calls: nothing to batch in memory."""


class FakeOutbox(_Repository):
    async def requeue_for_redrive(self, event: Event, topic: str) -> None:
        self._t.redriven.append((event, topic))

    async def of_tasks(
        self, user_id: str, task_ids: Sequence[uuid.UUID], limit: int
    ) -> Sequence[Row]:
        wanted = set(task_ids)
        return [
            {
                "event_id": e.event_id,
                "type": e.type,
                "topic": e.topic,
                "created_at": e.occurred_at,
                "published_at": None,
                "task_id": str(e.task_id),
            }
            for e in self._t.published
            if e.user_id == user_id and getattr(e, "task_id", None) in wanted
        ][:limit]


class FakeAuditLog(_Repository):
    _ids = itertools.count(1)

    async def add(
        self,
        *,
        user_id: str,
        task_id: uuid.UUID,
        event_id: uuid.UUID,
        action: str,
        actor: str,
        at: datetime,
        details: dict[str, Any],
    ) -> None:
        if any(e["event_id"] == event_id for e in self._t.audit):
            raise AssertionError(f"audit_log.event_id is unique: {event_id} is there already")
        self._t.audit.append(
            {
                "id": next(self._ids),
                "user_id": user_id,
                "task_id": task_id,
                "event_id": event_id,
                "action": action,
                "actor": actor,
                "at": at,
                "details": details,
            }
        )

    async def newest(self, user_id: str, *, task_id: uuid.UUID | None, limit: int) -> Sequence[Row]:
        rows = [
            e
            for e in self._t.audit
            if e["user_id"] == user_id and (task_id is None or e["task_id"] == task_id)
        ]
        return sorted(rows, key=lambda e: (e["at"], e["id"]), reverse=True)[:limit]


class FakeNotifications(_Repository):
    async def add(
        self,
        *,
        notification_id: uuid.UUID,
        user_id: str,
        task_id: uuid.UUID,
        event_id: uuid.UUID,
        kind: str,
        title: str,
        body: str,
    ) -> None:
        self._t.notifications[notification_id] = {
            "id": notification_id,
            "user_id": user_id,
            "task_id": task_id,
            "event_id": event_id,
            "kind": kind,
            "title": title,
            "body": body,
            "created_at": self._uow.now(),
            "read_at": None,
        }

    async def task_title(self, user_id: str, task_id: uuid.UUID) -> str | None:
        task = self._t.tasks.get(task_id)
        return task["title"] if task is not None and task["user_id"] == user_id else None

    async def newest(self, user_id: str, *, unread: bool, limit: int) -> Sequence[Row]:
        rows = [
            n
            for n in self._t.notifications.values()
            if n["user_id"] == user_id and not (unread and n["read_at"] is not None)
        ]
        return sorted(rows, key=lambda n: (n["created_at"], n["id"]), reverse=True)[:limit]

    async def mark_read(self, user_id: str, notification_id: uuid.UUID, at: datetime) -> Row | None:
        note = self._t.notifications.get(notification_id)
        if note is None or note["user_id"] != user_id:
            return None
        if note["read_at"] is None:
            note["read_at"] = at
        return dict(note)


class FakeWebhooks(_Repository):
    async def put(self, user_id: str, url: str, secret: str) -> Row:
        hook = self._t.webhooks.setdefault(user_id, {"created_at": self._uow.now()})
        hook.update(url=url, secret=secret)
        return {"url": url, "created_at": hook["created_at"]}

    async def get(self, user_id: str) -> Row | None:
        hook = self._t.webhooks.get(user_id)
        return None if hook is None else {"url": hook["url"], "created_at": hook["created_at"]}

    async def remove(self, user_id: str) -> bool:
        return self._t.webhooks.pop(user_id, None) is not None

    async def exists(self, user_id: str) -> bool:
        return user_id in self._t.webhooks

    async def add_delivery(self, delivery_id: uuid.UUID, event_id: uuid.UUID, user_id: str) -> None:
        if any(d["event_id"] == event_id for d in self._t.deliveries.values()):
            return
        self._t.deliveries[delivery_id] = {
            "delivery_id": delivery_id,
            "event_id": event_id,
            "user_id": user_id,
            "attempts": 0,
            "last_status": None,
            "delivered_at": None,
        }

    async def pending_delivery(
        self, event_id: uuid.UUID, *, settled: Collection[str]
    ) -> Row | None:
        for d in self._t.deliveries.values():
            if d["event_id"] == event_id and d["delivered_at"] is None:
                if d["last_status"] in settled:
                    return None
                hook = self._t.webhooks.get(d["user_id"], {})
                return {
                    "delivery_id": d["delivery_id"],
                    "url": hook.get("url"),
                    "secret": hook.get("secret"),
                }
        return None

    async def settle_delivery(
        self,
        delivery_id: uuid.UUID,
        *,
        status: str,
        attempted: bool,
        delivered_at: datetime | None,
    ) -> None:
        d = self._t.deliveries[delivery_id]
        d["attempts"] += 1 if attempted else 0
        d["last_status"] = status
        if delivered_at is not None:
            d["delivered_at"] = delivered_at


class FakeTags(_Repository):
    async def counts(self, user_id: str) -> Sequence[Row]:
        rows = [
            {"name": g["name"], "count": sum(1 for _, t in self._t.task_tags if t == tag_id)}
            for tag_id, g in self._t.tags.items()
            if g["user_id"] == user_id
        ]
        return sorted(rows, key=lambda r: r["name"].lower())

    async def find(self, user_id: str, name: str) -> uuid.UUID | None:
        for tag_id, g in self._t.tags.items():
            if g["user_id"] == user_id and g["name"].lower() == name.lower():
                return tag_id
        return None

    async def rename(self, tag_id: uuid.UUID, name: str) -> None:
        others = {
            g["name"].lower()
            for i, g in self._t.tags.items()
            if i != tag_id and g["user_id"] == self._t.tags[tag_id]["user_id"]
        }
        if name.lower() in others:
            raise AssertionError(f"uq_tags_user_name: {name!r} exists already")
        self._t.tags[tag_id]["name"] = name

    async def merge(self, source: uuid.UUID, target: uuid.UUID) -> None:
        self._t.task_tags |= {(task, target) for task, t in self._t.task_tags if t == source}
        await self.delete(source)

    async def delete(self, tag_id: uuid.UUID) -> None:
        del self._t.tags[tag_id]
        self._t.task_tags = {(task, t) for task, t in self._t.task_tags if t != tag_id}

    async def task_ids(self, tag_id: uuid.UUID) -> list[uuid.UUID]:
        return sorted(task for task, t in self._t.task_tags if t == tag_id)

    async def count_tasks(self, tag_id: uuid.UUID) -> int:
        return len(await self.task_ids(tag_id))

    async def touch_tasks(self, user_id: str, tag_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
        changed = []
        for task_id in await self.task_ids(tag_id):
            task = self._t.tasks[task_id]
            if task["user_id"] == user_id:
                task["version"] += 1
                task["updated_at"] = at
                changed.append(task_id)
        return changed


class FakeReminders(_Repository):
    def _joined(self, r: Row) -> Row:
        t = self._t.tasks[r["task_id"]]
        return {
            **{k: r[k] for k in ("id", "task_id", "before_minutes", "at", "fire_at", "state")},
            **{k: t[k] for k in ("title", "due_at", "timezone", "status", "version")},
        }

    def _live(self, user_id: str | None = None) -> list[Row]:
        """Pending reminders of open tasks."""
        return [
            r
            for r in self._t.reminders.values()
            if (user_id is None or r["user_id"] == user_id)
            and r["state"] == "pending"
            and self._t.tasks[r["task_id"]]["status"] == "open"
        ]

    async def get(self, user_id: str, reminder_id: uuid.UUID, *, lock: bool = False) -> Row | None:
        r = self._t.reminders.get(reminder_id)
        return None if r is None or r["user_id"] != user_id else self._joined(r)

    async def reschedule(self, reminder_id: uuid.UUID, fire_at: datetime) -> None:
        self._t.reminders[reminder_id].update(fire_at=fire_at, state="pending")

    async def touch_task(self, task_id: uuid.UUID, at: datetime) -> None:
        task = self._t.tasks[task_id]
        task["version"] += 1
        task["updated_at"] = at

    async def upcoming(self, user_id: str, *, until: datetime | None, limit: int) -> Sequence[Row]:
        rows = [r for r in self._live(user_id) if until is None or r["fire_at"] <= until]
        return [self._joined(r) for r in sorted(rows, key=lambda r: r["fire_at"])[:limit]]

    async def pending(self, user_id: str, task_ids: list[uuid.UUID] | None) -> Sequence[Row]:
        return [
            {"id": r["id"], "task_id": r["task_id"], "fire_at": r["fire_at"]}
            for r in self._live(user_id)
            if task_ids is None or r["task_id"] in task_ids
        ]

    async def users_with_pending(self, *, after: str, limit: int) -> list[str]:
        return sorted({r["user_id"] for r in self._live() if r["user_id"] > after})[:limit]

    async def mark_sent(
        self, user_id: str, reminder_id: uuid.UUID, fire_at: datetime, at: datetime
    ) -> Row | None:
        r = self._t.reminders.get(reminder_id)
        if r is None or r not in self._live(user_id) or r["fire_at"] != fire_at:
            return None
        r.update(state="sent", sent_at=at)
        t = self._t.tasks[r["task_id"]]
        return {
            "task_id": r["task_id"],
            "before_minutes": r["before_minutes"],
            **{k: t[k] for k in ("title", "due_at", "timezone")},
        }


class FakeSeries(_Repository):
    async def definition(self, series_id: uuid.UUID) -> Row | None:
        s = self._t.series.get(series_id)
        if s is None:
            return None
        tasks = [t for t in self._t.tasks.values() if t.get("series_id") == series_id]
        opened = [t for t in tasks if t["status"] == "open"]
        latest = max(opened, key=lambda t: t["occurrence_index"], default=None)
        return {
            **s,
            "n": len(tasks),
            "open_id": latest["id"] if latest else None,
            "open_index": latest["occurrence_index"] if latest else None,
            "open_due": latest["due_at"] if latest else None,
        }

    def _own(self, user_id: str, series_id: uuid.UUID) -> Row | None:
        s = self._t.series.get(series_id)
        return s if s is not None and s["user_id"] == user_id else None

    async def set_state(self, user_id: str, series_id: uuid.UUID, state: str) -> None:
        if (s := self._own(user_id, series_id)) is not None:
            s["state"] = state

    async def add_exdate(self, user_id: str, series_id: uuid.UUID, local: datetime) -> None:
        if (s := self._own(user_id, series_id)) is not None and local not in s["exdates"]:
            s["exdates"].append(local)


class FakeDeadLetters(_Repository):
    async def keep(
        self,
        *,
        event_id: str,
        topic: str | None,
        event: dict[str, Any],
        reason: str,
        now: datetime,
    ) -> int:
        """The arrival rules of store.dead_letters_repo.keep."""
        for row in self._t.dead_letters.values():
            if row["event_id"] == event_id:
                row.update(attempts=row["attempts"] + 1, last_seen=now, event=event, reason=reason)
                row["topic"] = row["topic"] if topic is None else topic
                if row["state"] == _REDRIVEN:
                    row.update(state=_KEPT, settled_by=None, settled_at=None)
                return row["attempts"]
        dead_letter_id = uuid.uuid4()
        self._t.dead_letters[dead_letter_id] = {
            "id": dead_letter_id,
            "event_id": event_id,
            "topic": topic,
            "event": event,
            "reason": reason,
            "first_seen": now,
            "last_seen": now,
            "attempts": 1,
            "state": _KEPT,
            "settled_by": None,
            "settled_at": None,
        }
        return 1

    async def count(self, *, state: str | None, topic: str | None) -> int:
        return sum(
            1
            for r in self._t.dead_letters.values()
            if (state is None or r["state"] == state) and (topic is None or r["topic"] == topic)
        )

    async def page(
        self,
        *,
        state: str | None,
        topic: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row]:
        rows = [
            r
            for r in self._t.dead_letters.values()
            if (state is None or r["state"] == state)
            and (topic is None or r["topic"] == topic)
            and (after is None or (r["first_seen"], r["id"]) < after)
        ]
        return sorted(rows, key=lambda r: (r["first_seen"], r["id"]), reverse=True)[:limit]

    async def get(self, dead_letter_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
        row = self._t.dead_letters.get(dead_letter_id)
        return None if row is None else dict(row)

    async def settle(self, dead_letter_id: uuid.UUID, *, state: str, by: str, at: datetime) -> Row:
        row = self._t.dead_letters[dead_letter_id]
        row.update(state=state, settled_by=by, settled_at=at)
        return dict(row)


class FakeSagaRuns(_Repository):
    """The rules of store.saga_runs_repo: a finished run never moves again."""

    async def started(
        self,
        *,
        instance_id: str,
        kind: str,
        user_id: str,
        task_id: uuid.UUID,
        attempt: int,
        retry_of: str | None,
        status: str,
        step: str | None,
        now: datetime,
    ) -> None:
        row = self._t.saga_runs.get(instance_id)
        if row is None or row["purged_at"] is not None:  # a purged id becomes a new run's
            task = self._t.tasks.get(task_id)
            mine = task is not None and task["user_id"] == user_id
            self._t.saga_runs[instance_id] = {
                "instance_id": instance_id,
                "kind": kind,
                "user_id": user_id,
                "task_id": task_id,
                "series_id": task.get("series_id") if mine else None,
                "status": status,
                "attempt": attempt,
                "retry_of": retry_of,
                "started_at": now,
                "updated_at": now,
                "finished_at": None,
                "step": step,
                "failure_message": None,
                "failure_step": None,
                "next_task_id": None,
                "purged_at": None,
            }
        elif row["status"] not in FINISHED:
            if row["status"] == SagaStatus.PENDING or status != SagaStatus.PENDING:
                row["status"] = status
            row.update(step=step or row["step"], updated_at=now)

    async def finished(
        self,
        instance_id: str,
        *,
        status: str,
        now: datetime,
        next_task_id: uuid.UUID | None = None,
        failure_message: str | None = None,
        failure_step: str | None = None,
    ) -> Row | None:
        row = self._t.saga_runs.get(instance_id)
        if row is None or row["status"] in FINISHED:
            return None
        row.update(
            status=status,
            updated_at=now,
            finished_at=now,
            step=None,
            next_task_id=next_task_id or row["next_task_id"],
            failure_message=failure_message,
            failure_step=failure_step,
        )
        return {"kind": row["kind"], "started_at": row["started_at"]}

    async def purged(self, instance_id: str, *, now: datetime) -> None:
        if (row := self._t.saga_runs.get(instance_id)) is not None:
            row.update(purged_at=now, updated_at=now)

    async def touched(self, instance_id: str, *, status: str, now: datetime) -> None:
        row = self._t.saga_runs.get(instance_id)
        if row is not None and row["status"] in LIVE:
            row.update(status=status, updated_at=now)

    async def stale(self, *, before: datetime, limit: int) -> list[str]:
        rows = [r for r in self._t.saga_runs.values() if r["status"] in LIVE]
        rows = sorted((r for r in rows if r["updated_at"] < before), key=lambda r: r["updated_at"])
        return [r["instance_id"] for r in rows[:limit]]

    async def get(self, instance_id: str) -> Row | None:
        row = self._t.saga_runs.get(instance_id)
        return None if row is None else dict(row)

    async def lineage(self, task_id: uuid.UUID) -> list[Row]:
        rows = [dict(r) for r in self._t.saga_runs.values() if r["task_id"] == task_id]
        return sorted(rows, key=lambda r: r["attempt"])

    def _matching(self, where: RunFilter, *, with_status: bool = True) -> list[Row]:
        def keep(r: Row) -> bool:
            return (
                (not with_status or not where.statuses or r["status"] in where.statuses)
                and all(
                    getattr(where, c) is None or r[c] == getattr(where, c)
                    for c in ("kind", "user_id", "task_id", "series_id")
                )
                and (where.started_after is None or r["started_at"] >= where.started_after)
                and (where.started_before is None or r["started_at"] < where.started_before)
                and (
                    not where.failure
                    or where.failure.lower() in (r["failure_message"] or "\0").lower()
                )
                and (
                    not where.latest_only
                    or not any(
                        o["task_id"] == r["task_id"] and o["attempt"] > r["attempt"]
                        for o in self._t.saga_runs.values()
                    )
                )
            )

        return [dict(r) for r in self._t.saga_runs.values() if keep(r)]

    async def page(
        self,
        where: RunFilter,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
        oldest_first: bool = False,
    ) -> list[Row]:
        rows = self._matching(where)

        def key(r: Row) -> tuple[datetime, str]:
            return r["started_at"], r["instance_id"]

        if after is not None:
            rows = [r for r in rows if (key(r) > after if oldest_first else key(r) < after)]
        rows.sort(key=key, reverse=not oldest_first)
        return rows[:limit]

    async def changed_since(self, after: tuple[datetime, str] | None, *, limit: int) -> list[Row]:
        rows = sorted(
            (dict(r) for r in self._t.saga_runs.values()),
            key=lambda r: (r["updated_at"], r["instance_id"]),
        )
        if after is None:
            return rows[-1:]
        return [r for r in rows if (r["updated_at"], r["instance_id"]) > after][:limit]

    async def counts(self, where: RunFilter) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self._matching(where, with_status=False):
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts


class FakeOperatorLog(_Repository):
    async def record(
        self, *, operator: str, action: str, target: str, reason: str, at: datetime, outcome: str
    ) -> uuid.UUID:
        entry_id = uuid.uuid4()
        self._t.operator_log.append(
            {
                "id": entry_id,
                "operator": operator,
                "action": action,
                "target": target,
                "reason": reason,
                "at": at,
                "outcome": outcome,
            }
        )
        return entry_id

    async def page(
        self, *, target: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Row]:
        rows = [
            dict(r)
            for r in self._t.operator_log
            if (target is None or r["target"] == target)
            and (after is None or (r["at"], r["id"]) < after)
        ]
        return sorted(rows, key=lambda r: (r["at"], r["id"]), reverse=True)[:limit]


class FakeBulkActions(_Repository):
    async def create(
        self,
        *,
        operator: str,
        key: str,
        action: str,
        filter: dict[str, Any],
        reason: str,
        matched: int,
        now: datetime,
    ) -> tuple[Row, bool]:
        for row in self._t.bulk_actions.values():
            if (row["operator"], row["idempotency_key"]) == (operator, key):
                return dict(row), False
        bulk_id = uuid.uuid4()
        self._t.bulk_actions[bulk_id] = {
            "id": bulk_id,
            "operator": operator,
            "idempotency_key": key,
            "action": action,
            "filter": filter,
            "reason": reason,
            "matched": matched,
            "state": "running",
            "done": 0,
            "skipped": 0,
            "failed": 0,
            "after_at": None,
            "after_id": None,
            "created_at": now,
            "lease_until": None,
            "finished_at": None,
        }
        return dict(self._t.bulk_actions[bulk_id]), True

    async def get(self, bulk_id: uuid.UUID) -> Row | None:
        row = self._t.bulk_actions.get(bulk_id)
        return None if row is None else dict(row)

    async def recent(self, limit: int) -> list[Row]:
        rows = sorted(self._t.bulk_actions.values(), key=lambda r: (r["created_at"], r["id"]))
        return [dict(r) for r in reversed(rows)][:limit]

    async def claim(self, *, now: datetime, lease: timedelta) -> Row | None:
        free = [
            r
            for r in self._t.bulk_actions.values()
            if r["state"] == "running" and (r["lease_until"] is None or r["lease_until"] < now)
        ]
        if not free:
            return None
        row = min(free, key=lambda r: r["created_at"])
        row["lease_until"] = now + lease
        return dict(row)

    async def advance(
        self,
        bulk_id: uuid.UUID,
        *,
        after: tuple[datetime, str],
        outcome: str,
        now: datetime,
        lease: timedelta,
    ) -> None:
        row = self._t.bulk_actions[bulk_id]
        row[outcome] += 1
        row.update(after_at=after[0], after_id=after[1], lease_until=now + lease)

    async def release(self, bulk_id: uuid.UUID) -> None:
        self._t.bulk_actions[bulk_id]["lease_until"] = None

    async def finish(self, bulk_id: uuid.UUID, *, now: datetime) -> None:
        self._t.bulk_actions[bulk_id].update(state="done", finished_at=now, lease_until=None)


class FakeOpsHealth(_Repository):
    """Health numbers that tests set: `figures` is what each query answers."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        super().__init__(uow)
        self.figures: dict[str, Any] = {
            "outbox_backlog": (0, None),
            "consumers": {},
            "saga_minutes": [],
            "reminder_lateness": (0, None, None),
        }

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        return self.figures["outbox_backlog"]

    async def consumer(
        self, consumer: str, *, sources: list[str], subscribed: list[str], since: datetime
    ) -> Row:
        idle = {"last_at": None, "recent": 0, "behind": 0, "oldest_behind": None}
        return self.figures["consumers"].get(consumer, idle)

    async def saga_minutes(self, since: datetime) -> list[Row]:
        return self.figures["saga_minutes"]

    async def reminder_lateness(self, since: datetime) -> tuple[int, float | None, float | None]:
        return self.figures["reminder_lateness"]


class FakeHousekeeping(_Repository):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        super().__init__(uow)
        self.batches: list[tuple[str, int]] = []  # (table, rows deleted), one per call

    async def prune(self, table: str, *, older_than: timedelta, limit: int) -> int:
        rows = self._t.aged.get(table, [])
        cutoff = self._uow.clock.now() - older_than
        old = [at for at in rows if at < cutoff][:limit]
        for at in old:
            rows.remove(at)
        self.batches.append((table, len(old)))
        return len(old)


# asyncpg reads PostgreSQL's +-infinity timestamps as naive datetime.max/min (and writes
# them back): a task without a due time sorts with this key, as in store.tasks_repo
_INFINITY, _NEGATIVE_INFINITY = datetime.max, datetime.min
_TASK_COLUMNS = (
    "id",
    "user_id",
    "title",
    "description",
    "priority",
    "status",
    "due_at",
    "timezone",
    "series_id",
    "occurrence_index",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
)
_SERIES_COLUMNS = {  # row key: series column
    "rrule": "rrule",
    "mode": "mode",
    "catch_up": "catch_up",
    "dtstart": "dtstart",
    "exdates": "exdates",
    "series_state": "state",
    "series_timezone": "timezone",
}
# The sort keys of store.tasks_repo.SORTS, as Python values (directions are taken from it).
_SORT_KEYS: dict[str, Any] = {
    "due_at": lambda t: (_INFINITY if t["due_at"] is None else t["due_at"], t["id"]),
    "-due_at": lambda t: (_NEGATIVE_INFINITY if t["due_at"] is None else t["due_at"], t["id"]),
    "priority": lambda t: (t["priority"], t["id"]),
    "-priority": lambda t: (t["priority"], t["id"]),
    "created_at": lambda t: (t["created_at"], t["id"]),
    "-created_at": lambda t: (t["created_at"], t["id"]),
    # Python orders text by code point, as the C collation does; a database with a
    # linguistic collation may order mixed case and accents differently
    "title": lambda t: (t["title"], t["id"]),
    # ranking is PostgreSQL's (ts_rank): every match ranks the same here, so relevance
    # order is not modelled and a relevance page is in id order
    "relevance": lambda t: (0.0, t["id"]),
}
assert set(_SORT_KEYS) == set(tasks_repo.SORTS)


def _comparable(value: Any) -> Any:
    """The infinity sentinels are naive; every other time is aware."""
    if value is _INFINITY or value == _INFINITY:
        return datetime.max.replace(tzinfo=UTC)
    if value is _NEGATIVE_INFINITY or value == _NEGATIVE_INFINITY:
        return datetime.min.replace(tzinfo=UTC)
    return value


def _json_time(value: datetime | None) -> str | None:
    """A timestamptz as PostgreSQL's json_build_array writes it (session zone UTC):
    2027-01-04T11:30:00+00:00, fraction without trailing zeros."""
    if value is None:
        return None
    utc = value.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}+00:00"


def _after(key: Sequence[Any], after: Sequence[Any], directions: Sequence[str]) -> bool:
    """The keyset test of store.tasks_repo._keyset: `key` comes after `after`."""
    for k, a, direction in zip(key, after, directions, strict=True):
        k, a = _comparable(k), _comparable(a)
        if k != a:
            return k > a if direction == "ASC" else k < a
    return False


class FakeTasks(_Repository):
    """store.tasks_repo.SqlTasks over the shared tables: FakeTags, FakeReminders and
    FakeSeries see what it writes. Rows have SqlTasks' keys and value shapes (reminders as
    decoded JSON arrays with ISO times, tags as names)."""

    sort_key = staticmethod(tasks_repo.sort_key)
    decode_key = staticmethod(tasks_repo.decode_key)

    def _row(self, t: Row) -> dict[str, Any]:
        """A task as TASK_COLUMNS selects it: its series' columns, tags and reminders."""
        s = self._t.series.get(t["series_id"]) if t["series_id"] is not None else None
        row: dict[str, Any] = {k: t.get(k) for k in _TASK_COLUMNS}
        row["description"] = t.get("description", "")
        for key, column in _SERIES_COLUMNS.items():
            row[key] = None if s is None else copy.copy(s[column])
        names = [self._t.tags[g]["name"] for task, g in self._t.task_tags if task == t["id"]]
        row["tags"] = sorted(names, key=str.lower)
        reminders = [r for r in self._t.reminders.values() if r["task_id"] == t["id"]]
        row["reminders"] = [
            [
                str(r["id"]),
                r["before_minutes"],
                _json_time(r["at"]),
                _json_time(r["fire_at"]),
                r["state"],
            ]
            for r in sorted(reminders, key=lambda r: r.get("position", 0))
        ]
        return row

    def _own(self, user_id: str) -> list[Row]:
        return [t for t in self._t.tasks.values() if t["user_id"] == user_id]

    def _matches(self, t: Row, f: TaskFilter) -> bool:
        """The WHERE clauses of store.tasks_repo._where."""
        due = t["due_at"]
        tags = {g for task, g in self._t.task_tags if task == t["id"]}
        overdue = t["status"] == "open" and due is not None and f.now is not None and due < f.now
        return (
            (f.status is None or t["status"] == f.status)
            and (not f.priorities or t["priority"] in f.priorities)
            and all(tag_id in tags for tag_id in f.tag_ids)
            and (f.due_before is None or (due is not None and due < f.due_before))
            and (f.due_after is None or (due is not None and due >= f.due_after))
            and (f.overdue is None or overdue == f.overdue)
            and (f.recurring is None or (t["series_id"] is not None) == f.recurring)
            # full-text search is PostgreSQL's (websearch_to_tsquery, stemming): here a plain
            # case-insensitive substring of the title or the description
            and (
                f.q is None
                or f.q.lower() in t["title"].lower()
                or f.q.lower() in t.get("description", "").lower()
            )
        )

    async def list_rows(
        self,
        user_id: str,
        f: TaskFilter,
        sort_name: str,
        limit: int,
        after: Sequence[Any] | None,
    ) -> list[dict[str, Any]]:
        directions = [d for _, d, _ in tasks_repo.SORTS[sort_name].columns]
        keyed = [(_SORT_KEYS[sort_name](t), t) for t in self._own(user_id) if self._matches(t, f)]
        if after is not None:
            keyed = [(k, t) for k, t in keyed if _after(k, after, directions)]
        # a stable sort per column, last first: mixed directions (relevance) come out right
        for i in reversed(range(len(directions))):
            keyed.sort(key=lambda kt, i=i: _comparable(kt[0][i]), reverse=directions[i] == "DESC")
        rows = []
        for key, t in keyed[:limit]:
            row = self._row(t)
            row.update({f"k{i}": v for i, v in enumerate(key)})
            rows.append(row)
        return rows

    async def get_rows(
        self, user_id: str, ids: Sequence[uuid.UUID], *, lock: bool = False
    ) -> list[dict[str, Any]]:
        # lock: one unit of work runs at a time here, so there is nothing to hold off
        by_id = {t["id"]: self._row(t) for t in self._own(user_id) if t["id"] in ids}
        return [copy.deepcopy(by_id[i]) for i in ids if i in by_id]

    async def get_row(
        self, user_id: str, task_id: uuid.UUID, *, lock: bool = False
    ) -> dict[str, Any] | None:
        rows = await self.get_rows(user_id, [task_id], lock=lock)
        return rows[0] if rows else None

    async def progress(self, user_id: str, task_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.get_row(user_id, task_id)
        keys = ("id", "status", "series_id", "series_state", "occurrence_index")
        return None if row is None else {k: row[k] for k in keys}

    def _series_tasks(self, user_id: str, series_id: uuid.UUID) -> list[Row]:
        tasks = [t for t in self._own(user_id) if t["series_id"] == series_id]
        return sorted(tasks, key=lambda t: t["occurrence_index"])

    async def next_in_series(
        self, user_id: str, series_id: uuid.UUID, after_index: int
    ) -> uuid.UUID | None:
        later = [
            t for t in self._series_tasks(user_id, series_id) if t["occurrence_index"] > after_index
        ]
        return later[0]["id"] if later else None

    async def last_in_series(self, user_id: str, series_id: uuid.UUID) -> uuid.UUID | None:
        tasks = self._series_tasks(user_id, series_id)
        return tasks[-1]["id"] if tasks else None

    async def stored_occurrence_id(
        self, user_id: str, series_id: uuid.UUID, index: int
    ) -> uuid.UUID:
        tasks = self._series_tasks(user_id, series_id)
        found = [t["id"] for t in tasks if t["occurrence_index"] == index]
        if len(found) != 1:  # scalar_one
            raise AssertionError(f"series {series_id} has {len(found)} occurrences {index}")
        return found[0]

    async def tag_ids(self, user_id: str, names: Sequence[str]) -> dict[str, uuid.UUID]:
        wanted = {n.lower() for n in names}
        return {
            g["name"].lower(): tag_id
            for tag_id, g in self._t.tags.items()
            if g["user_id"] == user_id and g["name"].lower() in wanted
        }

    async def ensure_tags(self, user_id: str, names: Sequence[str]) -> list[uuid.UUID]:
        found = await self.tag_ids(user_id, names)
        for name in names:  # uq_tags_user_name: the first spelling of a name wins
            if name.lower() not in found:
                found[name.lower()] = tag_id = uuid.uuid4()
                self._t.tags[tag_id] = {"user_id": user_id, "name": name}
        return [found[n.lower()] for n in names]

    async def set_task_tags(
        self, task_id: uuid.UUID, ids: Sequence[uuid.UUID], *, fresh: bool = False
    ) -> None:
        if fresh and any(task == task_id for task, _ in self._t.task_tags):
            raise AssertionError(f"task {task_id} is not fresh: it has tags")
        self._t.task_tags = {(task, g) for task, g in self._t.task_tags if task != task_id}
        self._t.task_tags |= {(task_id, g) for g in ids}

    async def insert_task(self, values: dict[str, Any]) -> bool:
        if unknown := set(values) - set(_TASK_COLUMNS):
            raise AssertionError(f"tasks has no columns {sorted(unknown)}")
        key = (values.get("series_id"), values.get("occurrence_index"))
        if None not in key and any(
            (t["series_id"], t["occurrence_index"]) == key for t in self._t.tasks.values()
        ):
            return False  # ON CONFLICT (series_id, occurrence_index) DO NOTHING
        if values["id"] in self._t.tasks:
            raise AssertionError(f"tasks_pkey: {values['id']} exists already")
        if key[0] is not None and key[0] not in self._t.series:
            raise AssertionError(f"tasks.series_id: no series {key[0]}")
        now = self._uow.now()
        self._t.tasks[values["id"]] = {
            # the table's defaults
            **{"description": "", "status": "open", "timezone": "UTC", "version": 1},
            **{"due_at": None, "series_id": None, "occurrence_index": None},
            **{"completed_at": None, "created_at": now, "updated_at": now},
            **values,
        }
        return True

    async def update_task(self, user_id: str, task_id: uuid.UUID, values: dict) -> None:
        if unknown := set(values) - set(_TASK_COLUMNS):
            raise AssertionError(f"tasks has no columns {sorted(unknown)}")
        t = self._t.tasks.get(task_id)
        if t is not None and t["user_id"] == user_id:
            t.update(values)

    async def replace_reminders(
        self,
        user_id: str,
        task_id: uuid.UUID,
        rows: Sequence[dict[str, Any]],
        *,
        fresh: bool = False,
    ) -> None:
        if fresh and any(r["task_id"] == task_id for r in self._t.reminders.values()):
            raise AssertionError(f"task {task_id} is not fresh: it has reminders")
        self._t.reminders = {i: r for i, r in self._t.reminders.items() if r["task_id"] != task_id}
        for r in rows:
            self._t.reminders[r["id"]] = {
                **{k: r[k] for k in ("id", "position", "before_minutes", "at", "fire_at")},
                "state": r["state"],
                "task_id": task_id,
                "user_id": user_id,
                "sent_at": None,
            }

    async def cancel_pending_reminders(self, task_id: uuid.UUID) -> None:
        for r in self._t.reminders.values():
            if r["task_id"] == task_id and r["state"] == "pending":
                r["state"] = "cancelled"

    async def restore_cancelled_reminders(self, task_id: uuid.UUID, now: datetime) -> None:
        for r in self._t.reminders.values():
            if r["task_id"] == task_id and r["state"] == "cancelled" and r["fire_at"] > now:
                r["state"] = "pending"

    async def delete_tasks(self, user_id: str, ids: Sequence[uuid.UUID]) -> None:
        gone = {t["id"] for t in self._own(user_id) if t["id"] in ids}
        for task_id in gone:
            del self._t.tasks[task_id]
        # ON DELETE CASCADE: the tasks' tags and reminders go with them
        self._t.task_tags = {(task, g) for task, g in self._t.task_tags if task not in gone}
        self._t.reminders = {i: r for i, r in self._t.reminders.items() if r["task_id"] not in gone}

    async def series_task_ids(self, user_id: str, series_id: uuid.UUID) -> list:
        return [t["id"] for t in self._series_tasks(user_id, series_id)]

    async def insert_series(self, values: dict[str, Any]) -> None:
        if values["id"] in self._t.series:
            raise AssertionError(f"series_pkey: {values['id']} exists already")
        now = self._uow.now()
        self._t.series[values["id"]] = {
            **{"exdates": [], "state": "active", "created_at": now, "updated_at": now},
            **values,
        }

    async def update_series(self, user_id: str, series_id: uuid.UUID, values: dict) -> None:
        s = self._t.series.get(series_id)
        if s is not None and s["user_id"] == user_id:
            # PostgreSQL's now() is the transaction's start: the unit of work's one instant
            s.update(values, updated_at=self._uow.now())


class FakeIdempotency(_Repository):
    async def find(self, user_id: str, key: str) -> tuple[str, Any] | None:
        found = self._t.idempotency.get((user_id, key))
        # the result column is jsonb, which the driver hands back decoded
        return None if found is None else (found["operation"], json.loads(found["result"]))

    async def keep(self, user_id: str, key: str, operation: str, result_json: str) -> None:
        # ON CONFLICT DO NOTHING: the first result stays
        self._t.idempotency.setdefault(
            (user_id, key),
            {"operation": operation, "result": result_json, "created_at": self._uow.now()},
        )


class FakeUnitOfWork:
    """Reusable: `lambda: uow` serves as a factory, and every entry is a new transaction
    over the same tables."""

    def __init__(self, clock: Clock, tables: Tables | None = None) -> None:
        self.clock = clock
        self.tables = tables or Tables()
        self.events: list[Event] = []
        self.commits = 0
        self.tasks = FakeTasks(self)
        self.idempotency = FakeIdempotency(self)
        self.inbox = FakeInbox(self)
        self.outbox = FakeOutbox(self)
        self.audit = FakeAuditLog(self)
        self.notifications = FakeNotifications(self)
        self.webhooks = FakeWebhooks(self)
        self.tags = FakeTags(self)
        self.reminders = FakeReminders(self)
        self.series = FakeSeries(self)
        self.dead_letters = FakeDeadLetters(self)
        self.saga_runs = FakeSagaRuns(self)
        self.operator_log = FakeOperatorLog(self)
        self.bulk_actions = FakeBulkActions(self)
        self.ops_health = FakeOpsHealth(self)
        self.housekeeping = FakeHousekeeping(self)
        self._now: datetime | None = None
        self._committed: Tables | None = None
        self._read_only = False

    def reading(self) -> Self:
        self._read_only = True
        return self

    async def __aenter__(self) -> Self:
        if self._committed is not None:
            raise AssertionError("a unit of work is entered once at a time")
        self._committed = copy.deepcopy(self.tables)
        self.events = []
        self._now = None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._committed is not None
        self.tables.__dict__.update(self._committed.__dict__)
        self._committed = None
        self.events = []
        self._read_only = False

    def now(self) -> datetime:
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    def record(self, event: Event) -> None:
        self.events.append(event)

    async def commit(self) -> None:
        if self._read_only:
            raise AssertionError("a reading unit of work has nothing to commit")
        # an event id already in the outbox is an idempotent step's re-run: keep the first
        seen = {e.event_id for e in self.tables.published}
        self.tables.published.extend(e for e in self.events if e.event_id not in seen)
        self.events = []
        self._committed = copy.deepcopy(self.tables)
        self.commits += 1

    @property
    def published(self) -> list[Event]:
        return self.tables.published

    # Seeding, for tests: rows as the task use cases would have left them, quicker to set up.

    def add_task(
        self,
        user_id: str,
        title: str = "Water the plants",
        *,
        status: str = "open",
        due_at: datetime | None = None,
        timezone: str = "UTC",
        series_id: uuid.UUID | None = None,
        occurrence_index: int | None = None,
        tags: Sequence[str] = (),
    ) -> uuid.UUID:
        task_id = uuid.uuid4()
        self.tables.tasks[task_id] = {
            "id": task_id,
            "user_id": user_id,
            "title": title,
            "description": "",
            "priority": 1,  # medium
            "status": status,
            "due_at": due_at,
            "timezone": timezone,
            "series_id": series_id,
            "occurrence_index": occurrence_index,
            "completed_at": None,
            "created_at": self.clock.now(),
            "updated_at": self.clock.now(),
            "version": 1,
        }
        for name in tags:
            self.tag(task_id, name)
        return task_id

    def tag(self, task_id: uuid.UUID, name: str) -> uuid.UUID:
        user_id = self.tables.tasks[task_id]["user_id"]
        tag_id = next(
            (
                i
                for i, g in self.tables.tags.items()
                if g["user_id"] == user_id and g["name"].lower() == name.lower()
            ),
            None,
        )
        if tag_id is None:
            tag_id = uuid.uuid4()
            self.tables.tags[tag_id] = {"user_id": user_id, "name": name}
        self.tables.task_tags.add((task_id, tag_id))
        return tag_id

    def add_reminder(
        self,
        task_id: uuid.UUID,
        fire_at: datetime,
        *,
        before_minutes: int | None = None,
        at: datetime | None = None,
        state: str = "pending",
    ) -> uuid.UUID:
        reminder_id = uuid.uuid4()
        position = sum(1 for r in self.tables.reminders.values() if r["task_id"] == task_id)
        self.tables.reminders[reminder_id] = {
            "id": reminder_id,
            "position": position,
            "task_id": task_id,
            "user_id": self.tables.tasks[task_id]["user_id"],
            "before_minutes": before_minutes,
            "at": at,
            "fire_at": fire_at,
            "state": state,
            "sent_at": None,
        }
        return reminder_id
