"""Task use cases. HTTP, MCP, actors and workflow activities all call these functions.

Each takes a unit of work and the caller's user id; every read and write is scoped to that
user, so another user's ids behave exactly like ids that do not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain.errors import Conflict, FieldError, NotFound, ValidationFailed, VersionMismatch
from domain.events import TaskCreated, TaskDeleted, TaskUpdated
from domain.recurrence import first_occurrence, parse_rule, preview
from domain.reminders import ReminderSpec, fire_time, validate_reminders
from domain.tasks import (
    DeleteScope,
    Status,
    TaskFilter,
    check_description,
    check_title,
    normalize_tags,
)
from service.occurrences import CloseRequest, close_in_place, operation, recall, remember
from service.schemas import (
    Deletion,
    OccurrencePreview,
    RecurrenceIn,
    ReminderIn,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskSort,
    TaskUpdate,
)
from service.task_views import (
    as_utc,
    due_instant,
    local_wall_clock,
    rule_of,
    to_page,
    to_public,
    zone,
)
from service.unit_of_work import UnitOfWork


async def create_task(
    uow: UnitOfWork, user_id: str, cmd: TaskCreate, idempotency_key: str | None = None
) -> TaskPublic:
    op = operation("create", cmd.model_dump_json())
    async with uow:
        if replay := await recall(uow, user_id, idempotency_key, op, TaskPublic):
            return replay
        task_id = uuid.uuid4()
        now = uow.now()
        zone(cmd.timezone)
        title = check_title(cmd.title)
        tags = normalize_tags(cmd.tags)
        due = due_instant(cmd.due_at, cmd.timezone, now) if cmd.due_at is not None else None
        reminder_rows = _reminder_rows(cmd.reminders, due, cmd.timezone)
        series_id = None
        if cmd.recurrence is not None:
            series_id = await _create_series(uow, user_id, cmd.recurrence, due, cmd.timezone)
        await uow.tasks.insert_task(
            {
                "id": task_id,
                "user_id": user_id,
                "title": title,
                "description": check_description(cmd.description),
                "priority": cmd.priority.rank,
                "status": Status.OPEN.value,
                "due_at": due,
                "timezone": cmd.timezone,
                "series_id": series_id,
                "occurrence_index": 0 if series_id else None,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            },
        )
        await uow.tasks.set_task_tags(
            task_id, await uow.tasks.ensure_tags(user_id, tags), fresh=True
        )
        await uow.tasks.replace_reminders(user_id, task_id, reminder_rows, fresh=True)
        task = await _view(uow, user_id, task_id)
        uow.record(
            TaskCreated(
                occurred_at=now, user_id=user_id, task_id=task_id, data=task.model_dump(mode="json")
            )
        )
        await remember(uow, user_id, idempotency_key, op, task)
        await uow.commit()
        return task


async def get_task(uow: UnitOfWork, user_id: str, task_id: uuid.UUID) -> TaskPublic:
    async with uow.reading():
        return await _view(uow, user_id, task_id)


async def list_tasks(uow: UnitOfWork, user_id: str, query: TaskQuery) -> TaskPage:
    sort = query.sort or (TaskSort.RELEVANCE if query.q else TaskSort.DUE_AT)
    if sort is TaskSort.RELEVANCE and not query.q:
        raise ValidationFailed.field("sort", "relevance needs a search query `q`")
    filters = TaskFilter(
        status=query.status.value if query.status else None,
        priorities=[p.rank for p in query.priority],
        due_before=_instant(query.due_before),
        due_after=_instant(query.due_after),
        overdue=query.overdue,
        recurring=query.recurring,
        q=query.q,
        now=uow.clock.now(),
    )
    async with uow.reading():
        after = _decode_cursor(query.cursor, sort, uow.tasks.decode_key) if query.cursor else None
        if query.tag:
            names = {t.strip().lower() for t in query.tag}
            known = await uow.tasks.tag_ids(user_id, list(names))
            if len(known) < len(names):
                return TaskPage(items=[], next_cursor=None)  # an unknown tag matches nothing
            filters.tag_ids = list(known.values())
        rows = await uow.tasks.list_rows(user_id, filters, sort.value, query.limit + 1, after)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = _encode_cursor(sort, uow.tasks.sort_key(rows[-1], sort.value)) if more else None
    return to_page(rows, cursor)


async def update_task(
    uow: UnitOfWork,
    user_id: str,
    task_id: uuid.UUID,
    patch: TaskUpdate,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> TaskPublic:
    """Partial update: only the fields present in `patch` change (recurrence and reminders
    included); a moved due time moves the relative reminders with it."""
    changes = patch.model_dump(exclude_unset=True)
    op = operation("update", task_id, patch.model_dump_json(exclude_unset=True), if_match)
    async with uow:
        if replay := await recall(uow, user_id, idempotency_key, op, TaskPublic):
            return replay
        row = await uow.tasks.get_row(user_id, task_id, lock=True)
        if row is None:
            raise NotFound(f"task {task_id} not found")
        if if_match is not None and if_match != row["version"]:
            raise VersionMismatch(f"task is at version {row['version']}, not {if_match}")
        now = uow.now()
        values: dict[str, Any] = {}
        if "title" in changes:
            values["title"] = check_title(patch.title)
        if "description" in changes:
            values["description"] = check_description(patch.description)
        if "priority" in changes:
            values["priority"] = patch.priority.rank
        timezone = patch.timezone if "timezone" in changes else row["timezone"]
        zone(timezone)
        values["timezone"] = timezone
        due = row["due_at"]
        if "due_at" in changes:
            due = None
            if patch.due_at is not None:
                due = due_instant(patch.due_at, timezone, uow.now())
        elif "timezone" in changes and due is not None:
            # the wall-clock time stays, the instant moves with the zone
            due = as_utc(local_wall_clock(due, row["timezone"]), timezone)
        values["due_at"] = due
        if "recurrence" in changes:
            values["series_id"], values["occurrence_index"] = await _replace_series(
                uow, user_id, row, patch.recurrence, due, timezone
            )
        elif row["series_id"] is not None and due is None:
            raise ValidationFailed.field("due_at", "a recurring task needs a due time")
        if "tags" in changes:
            ids = await uow.tasks.ensure_tags(user_id, normalize_tags(patch.tags))
            await uow.tasks.set_task_tags(task_id, ids)
        if "reminders" in changes:
            rows = _reminder_rows(patch.reminders, due, timezone)
        else:
            rows = _recomputed_reminders(row, due)
        await uow.tasks.replace_reminders(user_id, task_id, rows)
        values.update(updated_at=now, version=row["version"] + 1)
        await uow.tasks.update_task(user_id, task_id, values)
        task = await _view(uow, user_id, task_id)
        uow.record(
            TaskUpdated(
                occurred_at=now,
                user_id=user_id,
                task_id=task_id,
                data={"changed": sorted(changes), "task": task.model_dump(mode="json")},
            )
        )
        await remember(uow, user_id, idempotency_key, op, task)
        await uow.commit()
        return task


async def delete_task(
    uow: UnitOfWork,
    user_id: str,
    task_id: uuid.UUID,
    scope: DeleteScope = DeleteScope.OCCURRENCE,
    *,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> Deletion:
    """Delete one task. For a series: `occurrence` removes this one and, if it was the open
    occurrence, moves the series on to its next one; `series` removes every occurrence.
    `dry_run` reports what would go and changes nothing."""
    op = operation("delete", task_id, scope.value, dry_run)
    async with uow:
        if replay := await recall(uow, user_id, idempotency_key, op, Deletion):
            return replay
        row = await uow.tasks.get_row(user_id, task_id, lock=not dry_run)
        if row is None:
            raise NotFound(f"task {task_id} not found")
        ids = [task_id]
        if row["series_id"] is not None and scope is DeleteScope.SERIES:
            ids = await uow.tasks.series_task_ids(user_id, row["series_id"])
        result = Deletion(deleted=ids, scope=scope, dry_run=dry_run)
        if dry_run:
            return result
        if row["series_id"] is not None:
            if scope is DeleteScope.SERIES:
                await uow.tasks.update_series(user_id, row["series_id"], {"state": "ended"})
            elif row["status"] == Status.OPEN:
                skip = CloseRequest(user_id=user_id, task_id=task_id, status=Status.SKIPPED)
                await close_in_place(uow, skip, with_result=False)
        await uow.tasks.delete_tasks(user_id, ids)
        for deleted in ids:
            uow.record(
                TaskDeleted(
                    occurred_at=uow.now(),
                    user_id=user_id,
                    task_id=deleted,
                    data={"scope": scope.value},
                )
            )
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def preview_occurrences(
    uow: UnitOfWork, user_id: str, task_id: uuid.UUID, count: int
) -> OccurrencePreview:
    async with uow.reading():
        row = await uow.tasks.get_row(user_id, task_id)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    if row["series_id"] is None:
        raise Conflict("task is not recurring")
    rule = rule_of(row)
    start = row["due_at"]
    occurrences = preview(rule, count, after=start.replace(microsecond=0) - _EPSILON)
    tz = zone(row["timezone"])
    public = to_public(row)
    return OccurrencePreview(
        rrule=rule.rrule,
        summary=public.recurrence.summary if public.recurrence else "",
        occurrences=[o.due_at.astimezone(tz) for o in occurrences],
    )


# -- helpers ---------------------------------------------------------------------------------

_EPSILON = timedelta(microseconds=1)


async def _view(uow: UnitOfWork, user_id: str, task_id: uuid.UUID) -> TaskPublic:
    row = await uow.tasks.get_row(user_id, task_id)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return to_public(row)


def _instant(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value, "UTC")


def _reminder_rows(
    reminders: list[ReminderIn], due: datetime | None, timezone: str
) -> list[dict[str, Any]]:
    specs = [
        ReminderSpec(
            before_minutes=r.before_minutes,
            at=as_utc(r.at, timezone) if r.at is not None else None,
        )
        for r in reminders
    ]
    validate_reminders(specs, has_due=due is not None)
    return [
        {
            "id": uuid.uuid4(),
            "position": i,
            "before_minutes": s.before_minutes,
            "at": s.at,
            "fire_at": fire_time(s, due),
            "state": "pending",
        }
        for i, s in enumerate(specs)
    ]


def _recomputed_reminders(row: dict[str, Any], due: datetime | None) -> list:
    """The task's reminders after an update. Only a moved due time moves a relative
    reminder (and makes it pending again); anything else, a snooze included, stays."""
    rows = []
    for i, (rid, before, at, fire_at, state) in enumerate(row["reminders"]):
        spec = ReminderSpec(before_minutes=before, at=_instant_of(at))
        if before is not None and due is None:
            raise ValidationFailed.field(
                f"reminders.{i}.before_minutes", "a relative reminder needs a due time"
            )
        moved = before is not None and due != row["due_at"]
        rows.append(
            {
                "id": uuid.UUID(str(rid)),
                "position": i,
                "before_minutes": before,
                "at": spec.at,
                "fire_at": fire_time(spec, due) if moved else _instant_of(fire_at),
                "state": "pending" if moved and state != "cancelled" else state,
            }
        )
    return rows


def _instant_of(value: datetime | str | None) -> datetime | None:
    """Reminder times come back from PostgreSQL's JSON as ISO strings."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def _create_series(
    uow: UnitOfWork, user_id: str, rec: RecurrenceIn, due: datetime | None, timezone: str
) -> uuid.UUID:
    if due is None:
        raise ValidationFailed.field("recurrence", "a recurring task needs due_at")
    rule = parse_rule(
        rec.rrule, local_wall_clock(due, timezone), timezone, mode=rec.mode, catch_up=rec.catch_up
    )
    first_occurrence(rule)
    series_id = uuid.uuid4()
    await uow.tasks.insert_series(
        {
            "id": series_id,
            "user_id": user_id,
            "rrule": rule.rrule,
            "timezone": timezone,
            "dtstart": rule.dtstart,
            "mode": rule.mode.value,
            "catch_up": rule.catch_up.value,
            "state": "active",
        },
    )
    return series_id


async def _replace_series(
    uow: UnitOfWork,
    user_id: str,
    row: dict[str, Any],
    rec: RecurrenceIn | None,
    due: datetime | None,
    timezone: str,
) -> tuple[uuid.UUID | None, int | None]:
    """A new rule starts a new series anchored at this task; `null` makes it a one-off."""
    if row["series_id"] is not None:
        await uow.tasks.update_series(user_id, row["series_id"], {"state": "ended"})
    if rec is None:
        return None, None
    return await _create_series(uow, user_id, rec, due, timezone), 0


def _encode_cursor(sort: TaskSort, key: list[Any]) -> str:
    raw = json.dumps({"s": sort.value, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(
    cursor: str, sort: TaskSort, decode: Callable[[str, list[Any]], list[Any]]
) -> list[Any]:
    bad = ValidationFailed(FieldError("cursor", "invalid cursor; pass next_cursor back as given"))
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort.value:
            raise ValidationFailed.field("cursor", "cursor belongs to another sort order")
        return decode(sort.value, data["k"])
    except ValidationFailed:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad from exc
