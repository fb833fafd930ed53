"""Migration 0004: a database loaded with the old shipped title gets “八一” in Chinese quotes."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Database, alembic_config

OLD = '拥军共建活动开展记录（不限于"八一"前后）'
NEW = "拥军共建活动开展记录（不限于“八一”前后）"


async def test_the_old_title_is_renamed_and_a_units_own_item_is_left(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.engine.begin() as connection:

            def to_0001(sync: Connection) -> None:
                command.upgrade(alembic_config(sync), "0001")

            await connection.run_sync(to_0001)
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
        async with db.engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT kind, unit_id, title FROM checklist_item ORDER BY id")
                )
            ).all()
        assert [tuple(r) for r in rows] == [("member", None, NEW), (None, 1, OLD)]
    finally:
        await db.dispose()
