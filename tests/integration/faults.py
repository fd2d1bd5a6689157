"""Faults the saga tests inject on purpose, as PostgreSQL triggers until they are dropped
(`clear`): the next occurrence of a series is refused, or a run's pending row in the read
model (the starter's write, as if the app died right after scheduling)."""

from __future__ import annotations

import asyncpg


async def refuse_next_occurrences(
    conn: asyncpg.Connection, name: str, title: str, message: str
) -> None:
    """Trigger `name` refuses, with `message`, every later occurrence titled `title`."""
    await conn.execute(
        f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
        BEGIN
          IF NEW.title = {_literal(title)} AND NEW.occurrence_index > 0 THEN
            RAISE EXCEPTION {_literal(message)};
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER {name} BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION {name}();
        """
    )


async def refuse_pending_runs(conn: asyncpg.Connection, name: str, task_id: str) -> None:
    """Trigger `name` refuses the starter's pending row for the runs of `task_id`."""
    await conn.execute(
        f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
        BEGIN
          IF NEW.task_id = {_literal(task_id)}::uuid AND NEW.status = 'pending' THEN
            RAISE EXCEPTION 'the starter died before writing its run';
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER {name} BEFORE INSERT ON saga_runs FOR EACH ROW EXECUTE FUNCTION {name}();
        """
    )


async def clear(conn: asyncpg.Connection, name: str, table: str = "tasks") -> None:
    await conn.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
