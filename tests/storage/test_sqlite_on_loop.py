"""SQLite on the event loop's thread: a lock held by another process never stops the loop;
long reads go to a read-only connection of their own (an export holding up no writer is
tests/test_scale.py::test_an_export_holds_up_no_writer)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from storage.db import Database
from storage.models import Unit
from storage.sqlite import _busy


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Path:
    """A migrated SQLite file (the driver under test is SQLite's)."""
    path = tmp_path / "bot.db"
    shutil.copyfile(sqlite_template, path)
    return path


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _units(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count(Unit.id))) or 0)


async def _add_unit(db: Database, name: str) -> None:
    async with db.uow() as tx:
        tx.add(Unit(name=name, kind="member", created_at=datetime.now(UTC)))


async def test_a_write_waiting_for_another_process_lock_leaves_the_loop_serving(
    sqlite_db: Path,
) -> None:
    db = Database(_url(sqlite_db), busy_timeout=30)
    other = sqlite3.connect(sqlite_db, isolation_level=None)
    try:
        before = await _units(db)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        writing = asyncio.create_task(_add_unit(db, "等锁的单位"))
        for _ in range(20):  # the loop runs other work while the write waits
            await asyncio.sleep(0.01)
        # Still waiting, not failed: a write that held the loop's thread would have come back
        # only at the busy timeout, failed, before the loop could get here.
        assert not writing.done()
        other.execute("COMMIT")
        await writing
        assert await _units(db) == before + 1
    finally:
        other.close()
        await db.dispose()


async def test_a_write_gives_up_after_the_busy_timeout_with_sqlites_own_error(
    sqlite_db: Path,
) -> None:
    db = Database(_url(sqlite_db), busy_timeout=0.2)
    other = sqlite3.connect(sqlite_db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            await _add_unit(db, "等不到锁")
        other.execute("ROLLBACK")
        await _add_unit(db, "锁放开以后")  # the one connection is usable again
    finally:
        other.close()
        await db.dispose()


async def test_a_long_read_on_sqlite_cannot_write(sqlite_db: Path) -> None:
    db = Database(_url(sqlite_db))
    try:
        async with db.snapshot() as reading:
            with pytest.raises(OperationalError, match="readonly"):
                await reading.execute(text("DELETE FROM unit"))
    finally:
        await db.dispose()


def _error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("error", "waits"),
    [
        (_error("database is locked", sqlite3.SQLITE_BUSY), True),  # another process writes
        (_error("database is locked", 261), True),  # SQLITE_BUSY_RECOVERY
        # Waiting mends none of these: they fail at once instead of after the busy timeout.
        (_error("database table is locked", sqlite3.SQLITE_LOCKED), False),
        (_error("database is locked", 517), False),  # SQLITE_BUSY_SNAPSHOT
        (
            _error("cannot commit transaction - SQL statements in progress", 5),
            False,
        ),
        (_error("no such table: unit", sqlite3.SQLITE_ERROR), False),
    ],
    ids=["busy", "recovery", "locked_here", "stale_snapshot", "own_statements", "other"],
)
def test_only_another_connections_lock_is_waited_for(
    error: sqlite3.OperationalError, waits: bool
) -> None:
    assert _busy(error) is waits
