"""Two use-case calls whose transactions are open at the same moment, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.services import Services


@contextmanager
def interleaved(services: Services, target: Any, name: str, *, parties: int = 2) -> Iterator[None]:
    """Hold each of the first `parties` calls of `target.name` until all have made it.

    Patch a function the use-case calls inside its transaction, after its first read: on
    PostgreSQL every racer then decides with the others' transactions open (none has
    committed, each has begun). SQLite cannot interleave writers — a transaction takes the
    write lock at BEGIN — so there the calls only start together, and the later ones wait on
    that lock while the first runs; holding them would wait forever.
    """
    if services.db.dialect != "postgresql":
        yield
        return
    original: Callable[..., Awaitable[Any]] = getattr(target, name)
    barrier = asyncio.Barrier(parties)
    arrived = 0

    async def held(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrived
        result = await original(*args, **kwargs)
        if arrived < parties:
            arrived += 1
            await barrier.wait()
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(target, name, held)
        yield
