"""The dispatcher's own limiter: overall, per private chat, per group; pausable on 429.

`Pacer` keeps the limits in the process (SQLite: one process). `SharedPacer` keeps them in
the database, so that several dispatchers on one PostgreSQL database share Telegram's limits:
each send reserves the next slot of its chat and of the whole bot in one transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import SendSlot

# The slot of the whole bot in `send_slot` (no chat has id 0).
OVERALL = 0


class Pacing(Protocol):
    """What the dispatcher asks of a limiter."""

    async def wait(self, chat_id: int) -> None:
        """Sleep until a message to `chat_id` may go, and take that slot."""

    async def hold(self, seconds: float) -> None:
        """Hold every send for `seconds` (Telegram said 429)."""


class Pacer:
    """The dispatcher's own limiter: overall, per private chat, per group; pausable on 429."""

    def __init__(
        self,
        *,
        per_second: float,
        private_per_second: float,
        group_per_minute: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._global_interval = 1.0 / per_second
        self._private_interval = 1.0 / private_per_second
        self._group_interval = 60.0 / group_per_minute
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_global = 0.0
        self._next_chat: dict[int, float] = {}
        self._paused_until = 0.0

    def ready_at(self, chat_id: int) -> float:
        """The monotonic time at which a message to this chat may go."""
        return max(self._next_global, self._next_chat.get(chat_id, 0.0), self._paused_until)

    async def wait(self, chat_id: int) -> None:
        """Sleep until a message to `chat_id` may go, then take the slot."""
        while True:
            delay = self.ready_at(chat_id) - self._monotonic()
            if delay <= 0:
                break
            await self._sleep(delay)
        now = self._monotonic()
        slot = now
        late = now - self._next_global
        if 0 < late < self._global_interval and self._next_global >= self._next_chat.get(
            chat_id, 0.0
        ):
            # Waiting for the overall pace, the slots keep it through a late wake-up or the
            # claim of the next batch: a send less than a slot late pushes no later one back.
            slot = max(self._next_global, self._paused_until)
        self._next_global = slot + self._global_interval
        interval = self._group_interval if chat_id < 0 else self._private_interval
        self._next_chat[chat_id] = now + interval

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (Telegram said 429)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    async def hold(self, seconds: float) -> None:
        self.pause(seconds)


class SharedPacer:
    """The same limits, kept in the database for every dispatcher that uses it."""

    def __init__(
        self,
        db: Database,
        *,
        per_second: float,
        private_per_second: float,
        group_per_minute: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = db
        self._global_interval = 1.0 / per_second
        self._private_interval = 1.0 / private_per_second
        self._group_interval = 60.0 / group_per_minute
        self._clock = clock
        self._sleep = sleep

    async def wait(self, chat_id: int) -> None:
        """Reserve this chat's next slot and the bot's, then sleep until the later one."""
        interval = self._group_interval if chat_id < 0 else self._private_interval
        async with self._db.uow() as tx:
            now = self._clock()
            chat_free = await self._reserve(tx, chat_id, earliest=now, interval=0.0)
            slot = await self._reserve(
                tx, OVERALL, earliest=chat_free, interval=self._global_interval
            )
            await tx.execute(
                update(SendSlot).where(SendSlot.chat_id == chat_id).values(next_at=slot + interval)
            )
        delay = slot - self._clock()
        if delay > 0:
            await self._sleep(delay)

    async def hold(self, seconds: float) -> None:
        """Hold every dispatcher's sends for `seconds` (Telegram said 429)."""
        async with self._db.uow() as tx:
            await self._reserve(tx, OVERALL, earliest=self._clock() + seconds, interval=0.0)

    async def _reserve(
        self, tx: AsyncSession, chat_id: int, *, earliest: float, interval: float
    ) -> float:
        """Take the first free moment of a slot at or after `earliest` (row-locked until
        commit) and move the slot `interval` past it; return that moment."""
        if self._db.dialect == "postgresql":
            pg = postgresql.insert(SendSlot).values(chat_id=chat_id, next_at=earliest + interval)
            statement = pg.on_conflict_do_update(
                index_elements=[SendSlot.chat_id],
                set_={"next_at": func.greatest(SendSlot.next_at, earliest) + interval},
            ).returning(SendSlot.next_at)
        else:
            lite = sqlite.insert(SendSlot).values(chat_id=chat_id, next_at=earliest + interval)
            statement = lite.on_conflict_do_update(
                index_elements=[SendSlot.chat_id],
                set_={"next_at": func.max(SendSlot.next_at, earliest) + interval},
            ).returning(SendSlot.next_at)
        moved = float((await tx.execute(statement)).scalar_one())
        return moved - interval
