"""SQLite on the event loop's own thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs each call of a statement (cursor, execute, fetch, close) on a thread of its
own and comes back through the event loop: about 200 µs of CPU a statement on a 2-core
machine, against a few µs for the statement itself on a local file. This driver has the
interface SQLAlchemy's aiosqlite dialect expects (`create_async_engine(...,
async_creator=...)`) and calls `sqlite3` directly instead.

A call that waited for SQLite's lock inside `sqlite3` would stop the event loop, so a process
keeps ONE connection (`pool_size=1`, made in storage/db.py) and its transactions take turns at
the pool, an asyncio wait. Only another process (a command line tool writing) can hold the
lock: SQLite's own busy wait is kept to a few milliseconds (`LOCK_POLL`), and a statement
refused as busy is tried again after an asyncio sleep (5 ms doubling to 100 ms) until the busy
timeout has passed, so the loop serves everything else meanwhile. Long reads (an export) take a
connection of their own on aiosqlite's thread (`Database.snapshot`)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

LOCK_POLL = 0.005  # seconds SQLite itself may wait for a lock, on the loop's thread


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the lock, so that trying again later can succeed.

    Not SQLITE_LOCKED (a conflict inside this connection), not SQLITE_BUSY_SNAPSHOT (this
    transaction's snapshot is stale: only a new transaction helps), and not a COMMIT refused
    while this connection's own statements are still running: waiting mends none of them."""
    code = getattr(error, "sqlite_errorcode", None)
    if code not in (sqlite3.SQLITE_BUSY, 261):  # 261: SQLITE_BUSY_RECOVERY
        return False
    return "statements in progress" not in str(error)


async def _patiently(call: Callable[[], Any], patience: float) -> Any:
    """Run `call`; while SQLite says another process holds the lock, sleep and try again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    pause = 0.005
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _busy(error) or loop.time() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


class Cursor:
    """An aiosqlite-like cursor whose coroutines finish at once, or wait for a lock."""

    def __init__(self, cursor: sqlite3.Cursor, patience: float) -> None:
        self._cursor = cursor
        self._patience = patience

    async def __aenter__(self) -> Cursor:
        # SQLAlchemy enters each cursor it makes and ends it with close(), never __aexit__
        # (its AsyncIODBAPICursor protocol), so this cursor is no async context manager.
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        await _patiently(lambda: self._cursor.execute(sql, parameters), self._patience)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        rows = list(parameters)
        await _patiently(lambda: self._cursor.executemany(sql, rows), self._patience)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Inline:
    """Stands in for aiosqlite's queue to its thread: runs the function at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class Connection:
    """An aiosqlite-like connection over a `sqlite3.Connection` used on the loop's thread."""

    def __init__(self, connection: sqlite3.Connection, patience: float) -> None:
        self._conn = connection
        self._patience = patience
        # SQLAlchemy's adapter reads these two of aiosqlite's attributes.
        self._connection: sqlite3.Connection | None = connection
        self._tx = _Inline()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor(), self._patience)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await _patiently(self._conn.commit, self._patience)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def connector(database: str, *, timeout: float) -> Callable[[], Any]:
    """The `async_creator` of an engine on the SQLite file `database`."""

    async def connect() -> Connection:
        return Connection(
            sqlite3.connect(
                database, timeout=LOCK_POLL, isolation_level=None, check_same_thread=False
            ),
            patience=timeout,
        )

    return connect
