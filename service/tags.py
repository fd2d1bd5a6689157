"""Tag use cases: list with counts, rename (merging into an existing tag), delete."""

from __future__ import annotations

import uuid

from domain.errors import NotFound
from domain.events import TaskUpdated
from domain.tasks import normalize_tags
from service.occurrences import operation, recall, remember
from service.schemas import TagCount, TagDeletion, TagRenaming
from service.unit_of_work import UnitOfWork


async def list_tags(uow: UnitOfWork, user_id: str) -> list[TagCount]:
    async with uow.reading():
        rows = await uow.tags.counts(user_id)
        return [TagCount(name=r["name"], count=r["count"]) for r in rows]


async def rename_tag(
    uow: UnitOfWork,
    user_id: str,
    name: str,
    new_name: str,
    *,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> TagRenaming:
    """Rename `name`; if `new_name` already exists (in any case), merge the two.
    `dry_run` makes the change in the transaction, reports it and rolls it back."""
    (new_name,) = normalize_tags([new_name], field="name")
    op = operation("rename_tag", name.strip().lower(), new_name, dry_run)
    async with uow:
        if replay := await recall(uow, user_id, idempotency_key, op, TagRenaming):
            return replay
        source = await _find(uow, user_id, name)
        target = await _find(uow, user_id, new_name, missing_ok=True)
        merged = target is not None and target != source
        if not merged:
            target = source
        else:
            await uow.tags.merge(source, target)
        await uow.tags.rename(target, new_name)
        await _record_changed(uow, user_id, target, {"renamed": {"from": name, "to": new_name}})
        count = await uow.tags.count_tasks(target)
        result = TagRenaming(name=new_name, count=count, merged=merged, dry_run=dry_run)
        if dry_run:
            return result  # leaving the unit of work rolls the change back
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def delete_tag(
    uow: UnitOfWork,
    user_id: str,
    name: str,
    *,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> TagDeletion:
    """Remove the tag from every task and delete it; `dry_run` only reports the tasks."""
    op = operation("delete_tag", name.strip().lower(), dry_run)
    async with uow:
        if replay := await recall(uow, user_id, idempotency_key, op, TagDeletion):
            return replay
        tag_id = await _find(uow, user_id, name)
        if dry_run:
            task_ids = await uow.tags.task_ids(tag_id)
            return TagDeletion(name=name, untagged_task_ids=task_ids, dry_run=True)
        changed = await _record_changed(uow, user_id, tag_id, {"tag_deleted": name})
        await uow.tags.delete(tag_id)
        result = TagDeletion(name=name, untagged_task_ids=sorted(changed), dry_run=False)
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def _find(
    uow: UnitOfWork, user_id: str, name: str, *, missing_ok: bool = False
) -> uuid.UUID | None:
    tag_id = await uow.tags.find(user_id, name.strip())
    if tag_id is None and not missing_ok:
        raise NotFound(f"tag {name!r} not found")
    return tag_id


async def _record_changed(
    uow: UnitOfWork, user_id: str, tag_id: uuid.UUID, data: dict
) -> list[uuid.UUID]:
    """Every task carrying the tag changed; bump its version and say so on the change feed."""
    changed = await uow.tags.touch_tasks(user_id, tag_id, uow.now())
    for task_id in changed:
        uow.record(
            TaskUpdated(
                occurred_at=uow.now(),
                user_id=user_id,
                task_id=task_id,
                data={"changed": ["tags"], **data},
            )
        )
    return changed
