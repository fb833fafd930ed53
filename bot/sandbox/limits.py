"""Telegram's flood limits as rolling windows: overall, per private chat, per group."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel, Field

from bot.sandbox.errors import too_many_requests


class Limits(BaseModel):
    """Rate limit settings; `enabled=False` switches every limit off."""

    enabled: bool = True
    global_per_second: int = Field(30, ge=1)
    private_limit: int = Field(10, ge=1)
    private_window: float = Field(10.0, gt=0)
    group_limit: int = Field(20, ge=1)
    group_window: float = Field(60.0, gt=0)
    count_edits: bool = False


class _Window:
    """Timestamps of recent sends inside one rolling window."""

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()

    def wait(self, now: float, limit: int, window: float) -> float:
        """Seconds until one more send fits (0 if it fits now)."""
        while self.stamps and self.stamps[0] <= now - window:
            self.stamps.popleft()
        if len(self.stamps) < limit:
            return 0.0
        return self.stamps[len(self.stamps) - limit] + window - now


class RateLimiter:
    """Counts sends and refuses with 429 once a window is full."""

    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] | None = None):
        self.limits = limits or Limits()
        self._clock = clock or time.monotonic
        self._global = _Window()
        self._chats: dict[int, _Window] = {}

    def reset(self) -> None:
        """Forget every recorded send."""
        self._global = _Window()
        self._chats.clear()

    def acquire(self, chat_id: int, *, group: bool, count: int = 1, edit: bool = False) -> None:
        """Record `count` sends to a chat, or raise 429 with the seconds until a slot frees."""
        limits = self.limits
        if not limits.enabled or (edit and not limits.count_edits):
            return
        now = self._clock()
        chat = self._chats.setdefault(chat_id, _Window())
        chat_limit, chat_window = (
            (limits.group_limit, limits.group_window)
            if group
            else (limits.private_limit, limits.private_window)
        )
        waits = [chat.wait(now, chat_limit, chat_window)]
        if not edit:
            waits.append(self._global.wait(now, limits.global_per_second, 1.0))
        longest = max(waits)
        if longest > 0:
            raise too_many_requests(max(1, math.ceil(longest)))
        for _ in range(count):
            chat.stamps.append(now)
            if not edit:
                self._global.stamps.append(now)
