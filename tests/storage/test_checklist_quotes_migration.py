"""Migration 0004: a database loaded with the old shipped title gets “八一” in Chinese quotes,
and its downgrade gives the old title back."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import Database
from tests.support.migrations import database_at, downgrade_to

OLD = '拥军共建活动开展记录（不限于"八一"前后）'
NEW = "拥军共建活动开展记录（不限于“八一”前后）"


async def titles(db: Database) -> list[tuple[object, ...]]:
    """Read every checklist item's kind, unit and title in the order they were written."""
    async with db.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT kind, unit_id, title FROM checklist_item ORDER BY id")
        )
    return [tuple(row) for row in found]


async def test_the_old_title_is_renamed_both_ways_and_a_units_own_item_is_left(
    db_url: str,
) -> None:
    async with database_at(db_url, "0001") as db:
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO unit (id, name, kind, created_at) "
                    "VALUES (1, '市民政局', 'member', CURRENT_TIMESTAMP)"
                )
            )
            insert = text(
                "INSERT INTO checklist_item (kind, unit_id, title, description, position, active)"
                " VALUES (:kind, :unit, :title, '', 0, true)"
            )
            await connection.execute(insert, {"kind": "member", "unit": None, "title": OLD})
            await connection.execute(insert, {"kind": None, "unit": 1, "title": OLD})
        await db.upgrade()
        assert await titles(db) == [("member", None, NEW), (None, 1, OLD)]

        async with db.engine.begin() as connection:
            await downgrade_to(connection, "0003")
        assert await titles(db) == [("member", None, OLD), (None, 1, OLD)]
