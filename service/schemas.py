"""The request and response shapes every adapter shares (HTTP API v1, MCP, actors, workflows).

They are the contract: unknown fields are rejected, and the field names are the ones that
problem+json errors point at.
"""

from __future__ import annotations

import uuid
from datetime import date as date_type
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.recurrence import CatchUp, RecurrenceMode
from domain.reminders import MAX_BEFORE_MINUTES, MAX_REMINDERS_PER_TASK
from domain.tasks import (
    DESCRIPTION_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    DeleteScope,
    Priority,
    Status,
)

__all__ = ["DeleteScope", "Priority", "Status"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Tag = Annotated[str, Field(min_length=1, max_length=TAG_MAX, examples=["work"])]
# RFC 3339, or a phrase read in the task's zone (domain.due_phrases); the task comes back
# with the time it resolved to
DueIn = datetime | Annotated[str, Field(min_length=1, max_length=100)]
DUE_DESCRIPTION = (
    "RFC 3339 (without an offset: wall clock in `timezone`) or a phrase such as "
    "'tomorrow 5pm', 'next Monday', 'in 3 days', 'Friday at noon', 'end of month'"
)


class RecurrenceIn(Strict):
    rrule: str = Field(
        min_length=1,
        max_length=1000,
        description="RFC 5545 RRULE value, anchored at the task's due_at",
        examples=["FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=MONTHLY;BYDAY=-1FR;COUNT=6"],
    )
    mode: RecurrenceMode = Field(
        RecurrenceMode.SCHEDULE,
        description="schedule: next rule instance; after_completion: restart from completion",
    )
    catch_up: CatchUp = Field(
        CatchUp.SKIP_MISSED,
        description="skip_missed: next instance after now; every_occurrence: never skip one",
    )


class ReminderIn(Strict):
    before_minutes: int | None = Field(
        None, ge=0, le=MAX_BEFORE_MINUTES, description="minutes before the due time"
    )
    at: datetime | None = Field(
        None, description="absolute time; without an offset it is wall-clock in the task's zone"
    )

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        if (self.before_minutes is None) == (self.at is None):
            raise ValueError("give exactly one of before_minutes or at")
        return self


class TaskCreate(Strict):
    title: str = Field(min_length=1, max_length=TITLE_MAX, examples=["Pay rent"])
    description: str = Field("", max_length=DESCRIPTION_MAX)
    priority: Priority = Priority.MEDIUM
    tags: list[Tag] = Field(default_factory=list, max_length=TAGS_MAX)
    due_at: DueIn | None = Field(None, union_mode="left_to_right", description=DUE_DESCRIPTION)
    timezone: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/London"])
    recurrence: RecurrenceIn | None = None
    reminders: list[ReminderIn] = Field(default_factory=list, max_length=MAX_REMINDERS_PER_TASK)


class TaskUpdate(Strict):
    """Partial update: omitted fields are kept. `null` clears due_at, recurrence."""

    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    priority: Priority | None = None
    tags: list[Tag] | None = Field(None, max_length=TAGS_MAX)
    due_at: DueIn | None = Field(None, union_mode="left_to_right", description=DUE_DESCRIPTION)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    recurrence: RecurrenceIn | None = None
    reminders: list[ReminderIn] | None = Field(None, max_length=MAX_REMINDERS_PER_TASK)

    @field_validator("title", "description", "priority", "tags", "timezone", "reminders")
    @classmethod
    def not_null(cls, value: object) -> object:
        # runs only for fields present in the body: omitting keeps, null is not allowed
        if value is None:
            raise ValueError("cannot be null; omit the field to keep it")
        return value


class RecurrenceOut(BaseModel):
    rrule: str
    mode: RecurrenceMode
    catch_up: CatchUp
    summary: str


class ReminderOut(BaseModel):
    id: uuid.UUID
    before_minutes: int | None
    at: AwareDatetime | None
    fire_at: AwareDatetime
    state: str


class TaskPublic(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    priority: Priority
    tags: list[str]
    status: Status
    due_at: AwareDatetime | None
    timezone: str
    recurrence: RecurrenceOut | None
    series_id: uuid.UUID | None
    occurrence_index: int | None
    reminders: list[ReminderOut]
    completed_at: AwareDatetime | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int


BRIEF_FIELDS = frozenset(
    {"id", "title", "status", "due_at", "timezone", "priority", "tags", "series_id"}
)


class TaskBrief(BaseModel):
    """A task as lists show it to an agent; `detail: full` adds every field of TaskPublic."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
    title: str
    status: Status
    due_at: AwareDatetime | None
    timezone: str
    priority: Priority
    tags: list[str]
    series_id: uuid.UUID | None


class TaskPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None


class Completion(BaseModel):
    task: TaskPublic
    next: TaskPublic | None


class Deletion(BaseModel):
    deleted: list[uuid.UUID]
    scope: DeleteScope
    dry_run: bool


class OccurrencePreview(BaseModel):
    rrule: str
    summary: str
    occurrences: list[AwareDatetime]


class TaskSort(StrEnum):
    DUE_AT = "due_at"
    DUE_AT_DESC = "-due_at"
    PRIORITY = "priority"
    PRIORITY_DESC = "-priority"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    TITLE = "title"
    RELEVANCE = "relevance"


class TaskQuery(Strict):
    status: Status | None = None
    priority: list[Priority] = Field(default_factory=list)
    tag: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    recurring: bool | None = None
    q: str | None = Field(None, min_length=1, max_length=200)
    sort: TaskSort | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=1000)


class TagCount(BaseModel):
    name: str
    count: int


class TagRename(Strict):
    name: Tag


class UpcomingReminder(BaseModel):
    reminder: ReminderOut
    task_id: uuid.UUID
    task_title: str
    task_due_at: AwareDatetime | None


class UpcomingReminders(BaseModel):
    items: list[UpcomingReminder]


class ReminderSnooze(Strict):
    """Exactly one of the two."""

    minutes: int | None = Field(
        None, ge=1, le=525_600, description="fire again this many minutes from now"
    )
    until: datetime | None = Field(
        None, description="or fire again at this time (wall clock in the task's zone)"
    )


class ReminderExplanationOut(BaseModel):
    reminder_id: uuid.UUID
    task_id: uuid.UUID
    anchor: str
    due_at: AwareDatetime | None
    offset_minutes: int | None
    timezone: str
    fire_at_utc: AwareDatetime
    fire_at_local: datetime
    state: str
    why: str


class RecurrencePreview(BaseModel):
    """A rule (RRULE or plain phrase) checked and expanded without creating anything."""

    rrule: str = Field(description="normalised RFC 5545 RRULE value, ready for add_task")
    parsed_from: str = Field(description="`rrule` or `phrase`: how the input was read")
    summary: str = Field(description="the rule in plain language")
    timezone: str
    start: AwareDatetime = Field(description="DTSTART: the first occurrence, in `timezone`")
    occurrences: list[AwareDatetime] = Field(description="the next dates, in `timezone`")
    warnings: list[str] = Field(description="valid but surprising: DST gaps, skipped months...")


class TagDeletion(BaseModel):
    name: str
    untagged_task_ids: list[uuid.UUID]
    dry_run: bool


class TagRenaming(BaseModel):
    name: str = Field(description="the tag's name now (or after a dry run)")
    count: int = Field(description="tasks carrying it")
    merged: bool = Field(description="true when the new name existed and the two were merged")
    dry_run: bool


class SeriesView(BaseModel):
    """A recurring series: its rule, where it stands, and what comes next."""

    series_id: uuid.UUID
    rrule: str
    summary: str
    timezone: str
    mode: RecurrenceMode
    state: Literal["active", "paused", "ended"]
    exdates: list[datetime] = Field(description="skipped instances, wall clock in the zone")
    open_task_id: uuid.UUID | None
    open_due_at: AwareDatetime | None
    next_dates: list[AwareDatetime] = Field(description="the instances after the open one")


class SeriesSkip(Strict):
    date: date_type = Field(description="the local date of a future instance to skip")
