"""Wait for something that happens in another task or process: one polling loop for all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, seconds: float = 30.0, every: float = 0.05
) -> T:
    """Call `check` until it returns a truthy value and return that value.

    A check that raises AssertionError is tried again; any other exception ends the wait at
    once. After `seconds`, fail with the last AssertionError, or say what was last returned.
    """
    deadline = time.monotonic() + seconds
    while True:
        failure: AssertionError | None = None
        try:
            value = await check()
        except AssertionError as exc:
            failure = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            if failure is not None:
                raise failure
            raise AssertionError(f"still {value!r} after {seconds:g}s")
        await asyncio.sleep(every)
