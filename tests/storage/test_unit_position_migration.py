"""Migration 0010: units numbered in the order they were listed until then (kind, then name,
in the database's own collation), so that no list changes until a roster is imported again;
its downgrade gives the table back without the position; both keep every unit's people."""

from __future__ import annotations

from sqlalchemy import select, text

from storage.db import Database
from storage.models import UNIT_ORDER, Unit
from tests.support.migrations import database_at, downgrade_to

# Written in an order that is neither the order of names nor of kinds.
UNITS = [
    ("市民政局", "member"),
    ("西吉县", "county"),
    ("团市委", "member"),
    ("原州区", "county"),
    ("市卫健委", "member"),
    ("隆德县", "county"),
]


async def listed(db: Database) -> list[str]:
    """The units' names in the order they are listed in."""
    async with db.engine.connect() as connection:
        return list((await connection.scalars(select(Unit.name).order_by(*UNIT_ORDER))).all())


async def people(db: Database) -> int:
    """The people on record (a copy of the unit table in SQLite's batch mode deletes them)."""
    async with db.engine.connect() as connection:
        return int(await connection.scalar(text("SELECT COUNT(*) FROM person")) or 0)


async def test_units_keep_the_order_they_were_listed_in_and_the_downgrade_drops_it(
    db_url: str,
) -> None:
    async with database_at(db_url, "0009") as db:
        async with db.engine.begin() as connection:
            for name, kind in UNITS:
                await connection.execute(
                    text(
                        "INSERT INTO unit (name, kind, created_at) "
                        "VALUES (:name, :kind, CURRENT_TIMESTAMP)"
                    ),
                    {"name": name, "kind": kind},
                )
            await connection.execute(
                text(
                    "INSERT INTO person (unit_id, role, name, post, phone, since) "
                    "SELECT id, 'liaison', '张伟', '科员', '13800000001', CURRENT_TIMESTAMP "
                    "FROM unit"
                )
            )
        async with db.engine.connect() as connection:
            before = list(
                (await connection.scalars(text("SELECT name FROM unit ORDER BY kind, name"))).all()
            )
        assert before != [name for name, _ in UNITS]

        await db.upgrade()

        assert await listed(db) == before
        async with db.engine.connect() as connection:
            positions = (await connection.scalars(select(Unit.position))).all()
        assert sorted(positions) == list(range(1, len(UNITS) + 1))
        assert await people(db) == len(UNITS)  # the unit table altered in place, not copied

        async with db.engine.begin() as connection:
            await downgrade_to(connection, "0009")
            left = await connection.scalars(text("SELECT name FROM unit ORDER BY kind, name"))
            assert list(left.all()) == before
        assert await people(db) == len(UNITS)
