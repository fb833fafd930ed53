"""The database: engine and sessions, the unit of work, and applying migrations."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, func, make_url, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert

from storage import sqlite as inloop
from storage.models import HandledUpdate

MIGRATIONS = Path(__file__).parent / "migrations"

# The update being handled, so that the first write transaction also records it as handled.
current_update: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_update", default=None
)


class UpdateAlreadyHandled(Exception):
    """Another transaction has already applied this update (a redelivery)."""


class WalRefused(Exception):
    """SQLite would not switch to WAL: `key` in messages/ tells whoever runs the bot what to do."""

    key = "cli.no_wal"

    def __init__(self, mode: str) -> None:
        super().__init__(f"SQLite journal mode {mode!r}, not WAL")
        self.values = {"mode": mode}


class DatabaseUnavailable(Exception):
    """The database cannot be opened or reached: `key` in messages/ says where and what to do."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(f"{key} {values}")
        self.key = key
        self.values = values


def make_engine(url: str, *, echo: bool = False, busy_timeout: float = 30.0) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout and immediate transactions,
    on one connection used on the event loop's thread (storage/sqlite.py)."""
    if url.startswith("sqlite"):
        database = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url,
            echo=echo,
            async_creator=inloop.connector(database, timeout=busy_timeout),
            **({"pool_size": 1, "max_overflow": 0} if sqlite_file(url) else {}),
        )
        _tune_sqlite(engine, inloop.LOCK_POLL)  # the driver waits out the rest off the loop
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or SQLite in memory."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database or ":memory:"
    return None if database == ":memory:" or database.startswith("file:") else Path(database)


def _tune_sqlite(engine: AsyncEngine, busy_timeout: float, *, reads_only: bool = False) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        (mode,) = cursor.fetchone() or ("",)
        mode = str(mode).lower()
        if mode not in ("wal", "memory"):
            # Without WAL, readers block writers and a statement refused as busy may have
            # been half applied: better to stop with the reason than to run so.
            cursor.close()
            raise WalRefused(mode)
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if reads_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock at the start, so two writers never deadlock on an upgrade; a
        # long read (an export) asks for a snapshot instead and holds up no writer.
        if reads_only or connection.get_execution_options().get("sqlite_read_snapshot"):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _reads_engine(url: str, *, echo: bool, busy_timeout: float) -> AsyncEngine | None:
    """For a SQLite file, an engine of long reads on aiosqlite's own thread (None otherwise):
    its transactions never take the write lock and leave the loop's one connection free."""
    if sqlite_file(url) is None:
        return None  # PostgreSQL, or SQLite in memory: nothing to share a snapshot with
    engine = create_async_engine(
        make_url(url).set(drivername="sqlite+aiosqlite"),
        echo=echo,
        connect_args={"timeout": busy_timeout},
        pool_size=2,
        max_overflow=0,
    )
    _tune_sqlite(engine, busy_timeout, reads_only=True)
    return engine


@dataclass(frozen=True)
class Migrated:
    """The schema's revision before and after applying migrations (None: no tables yet)."""

    before: str | None
    after: str | None

    @property
    def applied(self) -> bool:
        return self.before != self.after


class Database:
    """Owns the engine and hands out units of work (one transaction each)."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, busy_timeout=busy_timeout)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reads = _reads_engine(url, echo=echo, busy_timeout=busy_timeout)
        self._read_sessions = (
            async_sessionmaker(self._reads, expire_on_commit=False) if self._reads else None
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def uow(self, *, bookkeeping: bool = False) -> AsyncIterator[AsyncSession]:
        """Open one transaction; commit on success, roll back on error.

        Inside an update's handling, the transaction also records the update as handled,
        so a redelivered update is never applied twice. A `bookkeeping` transaction (a note
        about the person acting, the same when written twice) leaves that to the update's
        own: recorded by it, a kill -9 before the reply would lose the answer on restart.
        """
        async with self.sessions() as session, session.begin():
            update_id = None if bookkeeping else current_update.get()
            if update_id is not None:
                if await session.get(HandledUpdate, update_id) is not None:
                    raise UpdateAlreadyHandled(update_id)
                session.add(HandledUpdate(update_id=update_id, handled_at=_utcnow()))
                current_update.set(None)
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """One read transaction that sees one moment and holds up no one (an export, an
        archive): REPEATABLE READ on PostgreSQL; on SQLite a deferred transaction (WAL keeps its
        snapshot, no write lock) on a connection of its own, so the updates, the dispatcher and
        the loop go on while it reads."""
        if self._read_sessions is not None:
            async with self._read_sessions() as tx, tx.begin():
                yield tx
            return
        async with self.sessions() as tx, tx.begin():
            if self.dialect == "postgresql":
                await tx.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            else:
                await tx.connection(execution_options={"sqlite_read_snapshot": True})
            yield tx

    async def is_handled(self, update_id: int) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(HandledUpdate.update_id).where(HandledUpdate.update_id == update_id)
            )
            return found is not None

    async def highest_handled(self) -> int:
        """The highest update id recorded as handled (0 when none is)."""
        async with self.sessions() as session:
            found = await session.scalar(select(func.max(HandledUpdate.update_id)))
            return int(found or 0)

    async def mark_handled_many(self, update_ids: list[int], at: datetime) -> None:
        """Record updates whose handling wrote nothing as handled, in one transaction."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                insert_ignore(self.dialect, HandledUpdate),
                [{"update_id": u, "handled_at": at} for u in update_ids],
            )

    async def reach(self) -> None:
        """Open one connection; raise DatabaseUnavailable saying why the database is out of reach.

        A SQLite file that is not there yet is not made here: the set-up commands make it, and
        every other command says that it is missing (bot/cli/main.py)."""
        path = sqlite_file(self.url)
        if path is not None:
            if not path.parent.is_dir():
                raise DatabaseUnavailable(
                    "cli.database_no_folder", path=path, folder=path.parent.absolute()
                )
            if not path.exists():
                return
        try:
            async with self.engine.connect():
                pass
        except WalRefused:
            raise
        except Exception as exc:
            reason = _driver_says(exc)
            if path is not None:
                raise DatabaseUnavailable(
                    "cli.database_unopenable", path=path, reason=reason
                ) from exc
            raise DatabaseUnavailable(
                "cli.database_unreachable", url=self.shown(), reason=reason
            ) from exc

    async def revision(self) -> str | None:
        """The schema's revision; None when the database is not set up: a SQLite file that is
        not there (not made here) or a database without the bot's tables (alembic_version)."""
        path = sqlite_file(self.url)
        if path is not None and not path.exists():
            return None
        async with self.engine.connect() as connection:
            await connection.execution_options(sqlite_read_snapshot=True)  # no write lock
            return await connection.run_sync(_revision)

    def shown(self) -> str:
        """The database as a line names it: a SQLite file's path, else the URL, password
        hidden."""
        path = sqlite_file(self.url)
        if path is not None:
            return str(path.absolute())
        return make_url(self.url).render_as_string(hide_password=True)

    async def upgrade(self) -> Migrated:
        """Apply every pending migration; return the revision before and after."""
        async with self.engine.begin() as connection:
            return await connection.run_sync(_upgrade)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reads is not None:
            await self._reads.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> Migrated:
    before = _revision(connection)
    command.upgrade(alembic_config(connection), "head")
    return Migrated(before, _revision(connection))


def _driver_says(error: Exception) -> str:
    """The driver's own words for a failure, on one short line."""
    shown = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = " ".join(str(shown).split()) or type(shown).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def insert_ignore(dialect: str, model: Any) -> Insert:
    """An INSERT that does nothing when a unique key already exists."""
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


def _utcnow() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
