"""Migrations from empty on SQLite and PostgreSQL, and the SQLite connection's set-up."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from messages import LANGUAGES, plain
from storage import sqlite as inloop
from storage.db import Database
from storage.models import Base
from storage.sqlite import LOCK_POLL
from tests.support.cli import run_cli


async def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
    finally:
        await db.dispose()


async def test_upgrade_twice_is_harmless_and_models_match_migrations(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.upgrade()
        await db.upgrade()

        def diff(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with db.engine.connect() as connection:
            differences = await connection.run_sync(diff)
        assert differences == []
    finally:
        await db.dispose()


async def test_sqlite_uses_wal_and_a_busy_timeout(sqlite_url: str) -> None:
    """SQLite itself waits a few milliseconds for a lock on the loop's thread; the driver
    waits out the rest of the busy timeout off it (tests/storage/test_sqlite_on_loop.py)."""
    db = Database(sqlite_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
            keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
        assert mode == "wal"
        assert timeout == int(LOCK_POLL * 1000)
        assert keys == 1
    finally:
        await db.dispose()


async def test_one_current_holder_per_unit_and_role(db_url: str) -> None:
    """The partial unique index keeps history but allows only one current liaison."""
    from datetime import UTC, datetime

    import pytest
    from sqlalchemy.exc import IntegrityError

    from storage.models import Person, Unit

    db = Database(db_url)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        await db.upgrade()
        async with db.uow() as tx:
            unit = Unit(name="市民政局", kind="member", created_at=now)
            tx.add(unit)
            await tx.flush()
            unit_id = unit.id
            old = {
                "unit_id": unit_id,
                "role": "liaison",
                "post": "科员",
                "phone": "13800000000",
                "since": now,
            }
            tx.add(Person(name="甲", until=now, **old))
            tx.add(Person(name="乙", until=None, **old))
        with pytest.raises(IntegrityError):
            async with db.uow() as tx:
                tx.add(Person(name="丙", until=None, **old))
    finally:
        await db.dispose()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_sqlite_without_wal_stops_and_says_why_in_the_office_language(
    lang: str, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without shared memory (SQLite's unix-none VFS) keeps SQLite out of WAL."""

    def without_shared_memory(database: str, *, timeout: float) -> Callable[[], Awaitable[object]]:
        async def connect() -> inloop.Connection:
            raw = sqlite3.connect(
                f"file:{database}?vfs=unix-none",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            return inloop.Connection(raw, patience=timeout)

        return connect

    monkeypatch.setattr(inloop, "connector", without_shared_memory)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LANGUAGE", lang)
    done = await run_cli("db", "upgrade")
    assert (done.code, done.out) == (1, "")
    assert done.err == plain(lang, "cli.no_wal", mode="delete") + "\n"
