"""Task rules and value types. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from domain.errors import FieldError, ValidationFailed

TITLE_MAX = 200
DESCRIPTION_MAX = 4000
TAGS_MAX = 20
TAG_MAX = 40


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return PriorityRank[self.name].value

    @classmethod
    def from_rank(cls, rank: int) -> Priority:
        return _BY_RANK[rank]  # a tuple index: every listed task asks (two Enum lookups cost 3%)


class PriorityRank(IntEnum):
    """Stored form of Priority, so that sorting by priority is a plain integer sort."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    URGENT = 3


_BY_RANK = tuple(Priority[r.name] for r in sorted(PriorityRank))


class Status(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    SKIPPED = "skipped"


class DeleteScope(StrEnum):
    OCCURRENCE = "occurrence"
    SERIES = "series"


def check_title(title: str, field: str = "title") -> str:
    title = title.strip()
    if not 1 <= len(title) <= TITLE_MAX:
        raise ValidationFailed.field(field, f"must be 1 to {TITLE_MAX} characters (not blank)")
    return title


def check_description(description: str, field: str = "description") -> str:
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed.field(field, f"must be at most {DESCRIPTION_MAX} characters")
    return description


def normalize_tags(tags: Iterable[str], field: str = "tags") -> list[str]:
    """Trim tags and drop case-insensitive repeats, keeping the first spelling and the order."""
    seen: set[str] = set()
    result: list[str] = []
    errors: list[FieldError] = []
    for i, raw in enumerate(tags):
        tag = raw.strip()
        if not 1 <= len(tag) <= TAG_MAX:
            errors.append(FieldError(f"{field}.{i}", f"must be 1 to {TAG_MAX} characters"))
            continue
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            result.append(tag)
    if len(result) > TAGS_MAX:
        errors.append(FieldError(field, f"at most {TAGS_MAX} tags per task"))
    if errors:
        raise ValidationFailed(errors)
    return result


def occurrence_id(series_id: uuid.UUID, index: int) -> uuid.UUID:
    """The task id of a series' occurrence `index` (after the first): derived, so the series
    actor knows its open occurrence's id before the saga creates it, and any re-run of that
    step creates the same row."""
    return uuid.uuid5(series_id, f"occurrence/{index}")


@dataclass
class TaskFilter:
    """What a task listing selects (every given criterion must hold)."""

    status: str | None = None
    priorities: list[int] = field(default_factory=list)
    tag_ids: list[uuid.UUID] = field(default_factory=list)  # every one must match
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    recurring: bool | None = None
    q: str | None = None
    now: datetime | None = None
