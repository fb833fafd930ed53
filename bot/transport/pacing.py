"""The dispatcher's own limiter: overall, per private chat, per group; pausable on 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


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
        self._next_global = now + self._global_interval
        interval = self._group_interval if chat_id < 0 else self._private_interval
        self._next_chat[chat_id] = now + interval

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (Telegram said 429)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)
