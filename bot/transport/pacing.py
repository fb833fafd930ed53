"""The dispatcher's own limiter: overall, per private chat, per group; pausable on 429.

`Pacer` keeps the limits in the process (SQLite: one process). `SharedPacer` keeps them in
the database, so that several dispatchers on one PostgreSQL database share Telegram's limits:
each send reserves the next slot of its chat and of the whole bot in one transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Protocol

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import SendSlot

# The slot of the whole bot in `send_slot` (no chat has id 0).
OVERALL = 0
# Chats the in-process pacer remembers before it first forgets those whose slot has passed.
FORGET_FROM = 256


class Pacing(Protocol):
    """What the dispatcher asks of a limiter."""

    async def wait(self, chat_id: int) -> None:
        """Sleep until a message to `chat_id` may go, and take that slot."""

    async def hold(self, seconds: float) -> None:
        """Hold every send for `seconds` (Telegram said 429)."""


@dataclass(frozen=True, slots=True)
class Intervals:
    """Telegram's limits as the least time between two sends: of the whole bot, to one private
    chat, to one group."""

    overall: float
    private: float
    group: float

    @classmethod
    def of(
        cls, *, per_second: float, private_per_second: float, group_per_minute: int
    ) -> Intervals:
        """The intervals of these rates."""
        return cls(1.0 / per_second, 1.0 / private_per_second, 60.0 / group_per_minute)

    def to(self, chat_id: int) -> float:
        """The least time between two sends to this chat (a group's id is negative)."""
        return self.group if chat_id < 0 else self.private


@dataclass(eq=False)
class Pacer:
    """The dispatcher's own limiter: overall, per private chat, per group; pausable on 429."""

    intervals: Intervals
    _: KW_ONLY
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _next_global: float = field(default=0.0, init=False)
    # The chats whose next slot may still hold a send back; the others are forgotten (see
    # `_forget_past`), so the table is as big as the last few seconds' chats, not all ever.
    _next_chat: dict[int, float] = field(default_factory=dict, init=False)
    _forget_at: int = field(default=FORGET_FROM, init=False)
    _paused_until: float = field(default=0.0, init=False)

    def ready_at(self, chat_id: int) -> float:
        """The monotonic time at which a message to this chat may go."""
        return max(self._next_global, self._next_chat.get(chat_id, 0.0), self._paused_until)

    async def wait(self, chat_id: int) -> None:
        """Sleep until a message to `chat_id` may go, then take the slot."""
        while True:
            delay = self.ready_at(chat_id) - self.monotonic()
            if delay <= 0:
                break
            await self.sleep(delay)
        now = self.monotonic()
        slot = now
        late = now - self._next_global
        if 0 < late < self.intervals.overall and self._next_global >= self._next_chat.get(
            chat_id, 0.0
        ):
            # Waiting for the overall pace, the slots keep it through a late wake-up or the
            # claim of the next batch: a send less than a slot late pushes no later one back.
            slot = max(self._next_global, self._paused_until)
        self._next_global = slot + self.intervals.overall
        self._next_chat[chat_id] = now + self.intervals.to(chat_id)
        if len(self._next_chat) >= self._forget_at:
            self._forget_past(now)

    def _forget_past(self, now: float) -> None:
        """Drop the chats whose next slot passed over a slot ago: `wait` treats them as never
        sent to. Done when the table has doubled since, so each send pays O(1) for it."""
        horizon = now - self.intervals.overall
        self._next_chat = {chat: at for chat, at in self._next_chat.items() if at > horizon}
        self._forget_at = max(FORGET_FROM, 2 * len(self._next_chat))

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (Telegram said 429)."""
        self._paused_until = max(self._paused_until, self.monotonic() + seconds)

    async def hold(self, seconds: float) -> None:
        self.pause(seconds)


@dataclass(eq=False)
class SharedPacer:
    """The same limits, kept in the database for every dispatcher that uses it."""

    db: Database
    intervals: Intervals
    _: KW_ONLY
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def wait(self, chat_id: int) -> None:
        """Reserve this chat's next slot and the bot's, then sleep until the later one."""
        interval = self.intervals.to(chat_id)
        async with self.db.uow() as tx:
            now = self.clock()
            chat_free = await self._reserve(tx, chat_id, earliest=now, interval=0.0)
            slot = await self._reserve(
                tx, OVERALL, earliest=chat_free, interval=self.intervals.overall
            )
            await tx.execute(
                update(SendSlot).where(SendSlot.chat_id == chat_id).values(next_at=slot + interval)
            )
        delay = slot - self.clock()
        if delay > 0:
            await self.sleep(delay)

    async def hold(self, seconds: float) -> None:
        """Hold every dispatcher's sends for `seconds` (Telegram said 429)."""
        async with self.db.uow() as tx:
            await self._reserve(tx, OVERALL, earliest=self.clock() + seconds, interval=0.0)

    async def _reserve(
        self, tx: AsyncSession, chat_id: int, *, earliest: float, interval: float
    ) -> float:
        """Take the first free moment of a slot at or after `earliest` (row-locked until
        commit) and move the slot `interval` past it; return that moment."""
        if self.db.dialect == "postgresql":
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
