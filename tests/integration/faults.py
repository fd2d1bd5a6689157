"""A fault the saga tests inject on purpose: PostgreSQL refuses the next occurrence of the
series whose tasks carry `title`, until the trigger is dropped (`clear`)."""

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


async def clear(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute(f"DROP TRIGGER IF EXISTS {name} ON tasks")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
