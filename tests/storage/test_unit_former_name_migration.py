"""Migration 0011: a table of the names units had before a rename, added beside `unit` (never
by copying it, which on SQLite deletes every row referring to a unit); its downgrade drops
that table alone, and both keep every unit and its people. A former name goes with its unit."""

from __future__ import annotations

from sqlalchemy import inspect, text

from storage.db import Database
from tests.support.migrations import database_at, downgrade_to

UNITS = [("市卫生健康委员会", "member"), ("西吉县", "county")]


async def counts(db: Database) -> tuple[int, int]:
    """The units and the people on record."""
    async with db.engine.connect() as connection:
        units = await connection.scalar(text("SELECT COUNT(*) FROM unit"))
        people = await connection.scalar(text("SELECT COUNT(*) FROM person"))
        return int(units or 0), int(people or 0)


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_the_table_of_former_names_comes_and_goes_and_units_keep_their_people(
    db_url: str,
) -> None:
    async with database_at(db_url, "0010") as db:
        async with db.engine.begin() as connection:
            for n, (name, kind) in enumerate(UNITS, 1):
                await connection.execute(
                    text(
                        "INSERT INTO unit (name, kind, position, created_at) "
                        "VALUES (:name, :kind, :n, CURRENT_TIMESTAMP)"
                    ),
                    {"name": name, "kind": kind, "n": n},
                )
            await connection.execute(
                text(
                    "INSERT INTO person (unit_id, role, name, post, phone, since) "
                    "SELECT id, 'liaison', '张伟', '科员', '13800000001', CURRENT_TIMESTAMP "
                    "FROM unit"
                )
            )
        assert "unit_former_name" not in await tables(db)

        await db.upgrade()

        assert "unit_former_name" in await tables(db)
        assert await counts(db) == (2, 2)
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO unit_former_name (unit_id, name, renamed_at) "
                    "SELECT id, '市卫健委', CURRENT_TIMESTAMP FROM unit "
                    "WHERE name = '市卫生健康委员会'"
                )
            )
            await connection.execute(text("DELETE FROM unit WHERE name = '市卫生健康委员会'"))
            left = await connection.scalar(text("SELECT COUNT(*) FROM unit_former_name"))
            assert left == 0  # the former name went with its unit
        assert await counts(db) == (1, 1)

        async with db.engine.begin() as connection:
            await downgrade_to(connection, "0010")
        assert "unit_former_name" not in await tables(db)
        assert await counts(db) == (1, 1)
