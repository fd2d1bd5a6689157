"""What a unit of work costs the app per transaction: the Core connection it holds, against
the ORM session it used to hold (SQLModel's AsyncSession), on the same pool and server.

    .venv/bin/python -m bench.unit_of_work [--transactions 3000]

Each transaction runs two one-row statements and commits, the shape of most use cases;
the two kinds alternate in rounds so that machine noise hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from bench._common import bench_database, machine
from store.database import create_engine

QUERY = text("SELECT 1 WHERE :x = 1")


async def run(transactions: int, rounds: int) -> dict[str, list[float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-uow-")) / "pg"
    url = await bench_database(data_dir, "bench_uow", fresh=True, migrated=False)
    engine = create_engine(url, pool_size=4)

    async def transaction(open_unit) -> None:
        unit = await open_unit()
        try:
            await unit.execute(QUERY, {"x": 1})
            await unit.execute(QUERY, {"x": 1})
            await unit.commit()
        finally:
            await unit.close()

    async def session() -> AsyncSession:
        return AsyncSession(engine, expire_on_commit=False)

    kinds = {"ORM session": session, "Core connection": engine.connect}
    per_round: dict[str, list[float]] = {name: [] for name in kinds}
    try:
        for _ in range(rounds):
            for name, open_unit in kinds.items():
                began = time.perf_counter()
                for _ in range(transactions // rounds):
                    await transaction(open_unit)
                elapsed = time.perf_counter() - began
                per_round[name].append(elapsed / (transactions // rounds) * 1e6)
    finally:
        await engine.dispose()
    return per_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    per_round = asyncio.run(run(args.transactions, args.rounds))
    print(f"### Unit of work, per transaction ({date.today().isoformat()})\n")
    print(f"- command: `.venv/bin/python bench/unit_of_work.py --transactions {args.transactions}`")
    print(f"- machine: {machine()}")
    for name, values in per_round.items():
        print(
            f"- {name}: median {statistics.median(values):.0f} µs (rounds: "
            + ", ".join(f"{v:.0f}" for v in values)
            + ")"
        )


if __name__ == "__main__":
    main()
