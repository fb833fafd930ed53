"""The mark every `run` process holds on its database while it runs, so that `restore` can
refuse to replace the data under a running bot.

The mark is a lock the operating system or PostgreSQL drops the moment its holder is gone (a
`kill -9` included), so it is never stale: on SQLite a shared `flock` of the file beside the
database (`liaison-bot.db.lock`), on PostgreSQL a shared advisory lock on a connection each
process keeps open (taken again at once when that connection is lost). A restore takes the
same lock exclusively for its whole length: it is refused while any process holds the mark,
and a process that starts meanwhile waits for the restore to end. A process whose PostgreSQL
connection was lost and finds the mark taken by a restore when it takes it again stops (Fatal):
the data under it is being replaced."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bot.errors import DomainError
from bot.transport.supervisor import Fatal
from storage.db import Database, sqlite_file

log = logging.getLogger(__name__)

# The advisory lock's key: "liaison" in ASCII, as a bigint.
ADVISORY_KEY = 0x6C696169736F6E
CHECK_EVERY = 10.0  # seconds between looks at the PostgreSQL connection that holds the mark


class BotRunning(DomainError):
    """A bot process runs on this database: `restore` must wait until it is stopped."""

    key = "ops.bot_running"


def lock_file(db: Database, suffix: str = ".lock") -> Path | None:
    """The file beside a SQLite database whose lock is the mark, or another lock's (`suffix`)
    (None: in memory or PG)."""
    path = sqlite_file(db.url) if db.dialect == "sqlite" else None
    return path.with_name(path.name + suffix) if path is not None else None


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Read-only: flock needs no more, and a lock file a restore run as root made stays usable.
    return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)


class RunningMark:
    """The mark of one `run` process: taken at start, kept, dropped at the end."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._fd: int | None = None
        self._connection: AsyncConnection | None = None

    async def hold(self) -> None:
        """Take the mark; wait while a restore holds it."""
        path = lock_file(self.db)
        if path is not None:
            fd = await asyncio.to_thread(_open, path)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("a restore is in progress on this database; waiting for it to end")
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_SH)
            self._fd = fd
        elif self.db.dialect == "postgresql":
            await self._take_advisory()

    async def _take_advisory(self, *, wait: bool = True) -> bool:
        """Take the shared advisory lock on a connection of its own; without `wait`, False
        when a restore holds it."""
        connection = await self.db.engine.connect()
        try:
            query = "pg_advisory_lock_shared" if wait else "pg_try_advisory_lock_shared"
            taken = await connection.scalar(text(f"SELECT {query}(:key)"), {"key": ADVISORY_KEY})
            await connection.commit()  # the lock is the session's: it outlives the transaction
        except BaseException:
            await connection.close()
            raise
        if wait or taken is not False:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def step(self, stop: asyncio.Event) -> float:
        """Keep the PostgreSQL mark: look at its connection, take it again if it was lost."""
        if self.db.dialect != "postgresql":
            return 3600.0
        if self._connection is None:
            # Not waited for: a restore that took the mark while it was lost is replacing the
            # data under this process, which must stop (its service starts it again, and the
            # new process waits for the restore to end).
            if not await self._take_advisory(wait=False):
                raise Fatal("a restore took the database", key="ops.restore_under_bot")
            log.info("the running mark is held again")
            return CHECK_EVERY
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            await self._drop_connection()
            raise
        return CHECK_EVERY

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def release(self) -> None:
        """Drop the mark (the end of the process drops it too)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        await self._drop_connection()


@contextlib.asynccontextmanager
async def no_bot_running(db: Database) -> AsyncIterator[None]:
    """Hold the mark exclusively for a restore; BotRunning if a process holds it."""
    async with sole(db, ".lock", ADVISORY_KEY) as taken:
        if not taken:
            raise BotRunning()
        yield


@contextlib.asynccontextmanager
async def sole(db: Database, suffix: str, key: int) -> AsyncIterator[bool]:
    """Hold a lock exclusively while the block runs, without waiting for it: False when
    another holder has it. On SQLite a `flock` of the file beside the database named with
    `suffix`, on PostgreSQL the advisory lock `key`; either ends with its holder."""
    path = lock_file(db, suffix)
    if path is not None:
        fd = await asyncio.to_thread(_open, path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # (which drops the lock)
        return
    if db.dialect != "postgresql":  # SQLite in memory: no other process to keep out
        yield True
        return
    # A connection of its own: a restore disposes of the database's pool on the way.
    engine = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
            )
            await connection.commit()
            yield bool(taken)  # closing the connection ends the lock
    finally:
        await engine.dispose()
