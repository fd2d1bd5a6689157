"""Dead letters' persistence: kept once per CloudEvent id, paged newest first, settled once.

Operator data: no statement here filters by user, and none should; the routes that reach
it admit operators only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from store.tables import DeadLetter

KEPT, REDRIVEN, DISCARDED = "kept", "redriven", "discarded"

_dead = DeadLetter.__table__


async def keep(
    conn: AsyncConnection,
    *,
    event_id: str,
    topic: str | None,
    event: dict[str, Any],
    reason: str,
    now: datetime,
) -> int:
    """Store one arrival of a dead letter; the attempts it has now been seen.

    A second arrival of an event id adds to the first row. One that was redriven and came
    back has failed again, so it is kept again; one that was discarded stays discarded (only
    a duplicate delivery of the dead letter can bring it back: discard republishes nothing).
    """
    statement = insert(_dead).values(
        id=uuid.uuid4(),
        event_id=event_id,
        topic=topic,
        event=event,
        reason=reason,
        first_seen=now,
        last_seen=now,
        attempts=1,
        state=KEPT,
    )
    again = statement.excluded
    kept_again = _dead.c.state == REDRIVEN
    statement = statement.on_conflict_do_update(
        index_elements=["event_id"],
        set_={
            "attempts": _dead.c.attempts + 1,
            "last_seen": again.last_seen,
            "event": again.event,
            "reason": again.reason,
            "topic": case((again.topic.is_(None), _dead.c.topic), else_=again.topic),
            "state": case((kept_again, KEPT), else_=_dead.c.state),
            "settled_by": case((kept_again, None), else_=_dead.c.settled_by),
            "settled_at": case((kept_again, None), else_=_dead.c.settled_at),
        },
    ).returning(_dead.c.attempts)
    return int((await conn.execute(statement)).scalar_one())


async def page(
    conn: AsyncConnection,
    *,
    state: str | None,
    topic: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[RowMapping]:
    """Newest first (by first seen, then id), after the keyset `after`; `limit` rows."""
    statement = select(_dead)
    if state is not None:
        statement = statement.where(_dead.c.state == state)
    if topic is not None:
        statement = statement.where(_dead.c.topic == topic)
    if after is not None:
        seen, last_id = after
        statement = statement.where(
            or_(
                _dead.c.first_seen < seen,
                and_(_dead.c.first_seen == seen, _dead.c.id < last_id),
            )
        )
    statement = statement.order_by(_dead.c.first_seen.desc(), _dead.c.id.desc()).limit(limit)
    return (await conn.execute(statement)).mappings().all()


async def get(
    conn: AsyncConnection, dead_letter_id: uuid.UUID, *, for_update: bool = False
) -> RowMapping | None:
    """One dead letter; `for_update` locks it until the transaction ends, so two operators
    settling it at once settle it once."""
    statement = select(_dead).where(_dead.c.id == dead_letter_id)
    if for_update:
        statement = statement.with_for_update()
    return (await conn.execute(statement)).mappings().first()


async def settle(
    conn: AsyncConnection, dead_letter_id: uuid.UUID, *, state: str, by: str, at: datetime
) -> RowMapping:
    statement = (
        update(_dead)
        .where(_dead.c.id == dead_letter_id)
        .values(state=state, settled_by=by, settled_at=at)
        .returning(*_dead.c)
    )
    return (await conn.execute(statement)).mappings().one()


async def count(conn: AsyncConnection, *, state: str | None, topic: str | None) -> int:
    statement = select(func.count()).select_from(_dead)
    if state is not None:
        statement = statement.where(_dead.c.state == state)
    if topic is not None:
        statement = statement.where(_dead.c.topic == topic)
    return int((await conn.execute(statement)).scalar_one())


class SqlDeadLetters:
    """The statements above, bound to a unit of work's connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def keep(
        self,
        *,
        event_id: str,
        topic: str | None,
        event: dict[str, Any],
        reason: str,
        now: datetime,
    ) -> int:
        return await keep(
            self._conn, event_id=event_id, topic=topic, event=event, reason=reason, now=now
        )

    async def count(self, *, state: str | None, topic: str | None) -> int:
        return await count(self._conn, state=state, topic=topic)

    async def page(
        self,
        *,
        state: str | None,
        topic: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[RowMapping]:
        return await page(self._conn, state=state, topic=topic, after=after, limit=limit)

    async def get(
        self, dead_letter_id: uuid.UUID, *, for_update: bool = False
    ) -> RowMapping | None:
        return await get(self._conn, dead_letter_id, for_update=for_update)

    async def settle(
        self, dead_letter_id: uuid.UUID, *, state: str, by: str, at: datetime
    ) -> RowMapping:
        return await settle(self._conn, dead_letter_id, state=state, by=by, at=at)
