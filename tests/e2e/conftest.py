"""Fixtures for end-to-end tests: the emulator in-process, the bot as a separate process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from tests.support.process import STAFF_ID, BotProcess


@pytest.fixture
async def make_bot(
    emulator: Emulator, sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Callable[..., BotProcess]]:
    """Make bot processes on a SQLite database in tmp_path (or the URL given)."""
    made: list[BotProcess] = []

    def make(database_url: str | None = None, **extra_env: str) -> BotProcess:
        bot = BotProcess(
            api_url=emulator.base_url,
            database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            workdir=tmp_path,
            sandbox=sandbox,
            staff_ids=str(STAFF_ID),
            extra_env=extra_env,
        )
        made.append(bot)
        return bot

    yield make
    for bot in made:
        await bot.stop()


@pytest.fixture
async def bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    """One running bot process on SQLite."""
    process = make_bot()
    await process.start()
    yield process
    await process.stop()
