"""Tag use cases: list with counts, rename (merging into an existing tag), delete."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from domain.errors import NotFound
from domain.events import TaskUpdated
from domain.tasks import normalize_tags
from service.occurrences import operation, recall, remember
from service.schemas import TagCount, TagDeletion, TagRenaming
from store.uow import SqlUnitOfWork


async def list_tags(uow: SqlUnitOfWork, user_id: str) -> list[TagCount]:
    async with uow:
        rows = await uow.conn.execute(
            text(
                "SELECT g.name, count(tt.task_id) AS count FROM tags g "
                "LEFT JOIN task_tags tt ON tt.tag_id = g.id WHERE g.user_id = :u "
                "GROUP BY g.id, g.name ORDER BY lower(g.name)"
            ),
            {"u": user_id},
        )
        return [TagCount(name=r.name, count=r.count) for r in rows]


async def rename_tag(
    uow: SqlUnitOfWork,
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
            await uow.conn.execute(
                text("UPDATE tags SET name = :n WHERE id = :id"), {"n": new_name, "id": source}
            )
            target = source
        else:
            await uow.conn.execute(
                text(
                    "INSERT INTO task_tags (task_id, tag_id) SELECT task_id, :t FROM task_tags "
                    "WHERE tag_id = :s ON CONFLICT DO NOTHING"
                ),
                {"t": target, "s": source},
            )
            await uow.conn.execute(text("DELETE FROM tags WHERE id = :s"), {"s": source})
            await uow.conn.execute(
                text("UPDATE tags SET name = :n WHERE id = :id"), {"n": new_name, "id": target}
            )
        await _record_changed(uow, user_id, target, {"renamed": {"from": name, "to": new_name}})
        count = (
            await uow.conn.execute(
                text("SELECT count(*) FROM task_tags WHERE tag_id = :t"), {"t": target}
            )
        ).scalar_one()
        result = TagRenaming(name=new_name, count=count, merged=merged, dry_run=dry_run)
        if dry_run:
            return result  # leaving the unit of work rolls the change back
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def delete_tag(
    uow: SqlUnitOfWork,
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
            rows = await uow.conn.execute(
                text("SELECT task_id FROM task_tags WHERE tag_id = :t ORDER BY task_id"),
                {"t": tag_id},
            )
            return TagDeletion(name=name, untagged_task_ids=list(rows.scalars()), dry_run=True)
        changed = await _record_changed(uow, user_id, tag_id, {"tag_deleted": name})
        await uow.conn.execute(text("DELETE FROM tags WHERE id = :t"), {"t": tag_id})
        result = TagDeletion(name=name, untagged_task_ids=sorted(changed), dry_run=False)
        await remember(uow, user_id, idempotency_key, op, result)
        await uow.commit()
        return result


async def _find(
    uow: SqlUnitOfWork, user_id: str, name: str, *, missing_ok: bool = False
) -> uuid.UUID | None:
    tag_id = (
        await uow.conn.execute(
            text("SELECT id FROM tags WHERE user_id = :u AND lower(name) = lower(:n)"),
            {"u": user_id, "n": name.strip()},
        )
    ).scalar()
    if tag_id is None and not missing_ok:
        raise NotFound(f"tag {name!r} not found")
    return tag_id


async def _record_changed(
    uow: SqlUnitOfWork, user_id: str, tag_id: uuid.UUID, data: dict
) -> list[uuid.UUID]:
    """Every task carrying the tag changed; bump its version and say so on the change feed."""
    rows = await uow.conn.execute(
        text(
            "UPDATE tasks SET version = version + 1, updated_at = :now WHERE user_id = :u "
            "AND id IN (SELECT task_id FROM task_tags WHERE tag_id = :t) RETURNING id"
        ),
        {"u": user_id, "t": tag_id, "now": uow.now()},
    )
    changed = [task_id for (task_id,) in rows]
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
