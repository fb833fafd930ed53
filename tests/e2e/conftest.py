"""Fixtures for end-to-end tests: the emulator in-process, the bot as a separate process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from tests.support.databases import set_up_sqlite
from tests.support.process import STAFF_ID, BotProcess

# Refusals the bot cannot foresee: a person blocked it or never opened it (403), Telegram's
# rate limit (429), another process polling (409), the menu of a staff member who has not
# opened the bot yet (set at start, "chat not found"). Anything else it was refused (400,
# 401, 404, 501) is a call it should not have made.
UNFORESEEABLE = {403, 409, 429}
UNFORESEEABLE_CALLS = {("setMyCommands", "Bad Request: chat not found")}


@pytest.fixture(autouse=True)
async def no_call_the_emulator_flags(
    request: pytest.FixtureRequest, sandbox: SandboxClient
) -> AsyncIterator[None]:
    """Fail an end-to-end test on any call the emulator refused or warned about, except the
    faults the test injected and the refusals it names with `@pytest.mark.refusals(...)`."""
    yield
    marker = request.node.get_closest_marker("refusals")
    expected = tuple(marker.args) if marker else ()
    refused = [
        f"{call.method} {call.status} {call.description}"
        for call in await sandbox.calls()
        if call.status >= 400
        and call.status not in UNFORESEEABLE
        and call.fault is None
        and (call.method, call.description) not in UNFORESEEABLE_CALLS
        and not any(text in (call.description or "") for text in expected)
    ]
    assert not refused, f"the emulator refused calls: {refused}"
    assert await sandbox.warnings() == []


@pytest.fixture
async def make_bot(
    emulator: Emulator, sandbox: SandboxClient, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[Callable[..., BotProcess]]:
    """Make bot processes on a set-up SQLite database in tmp_path (or the URL given)."""
    made: list[BotProcess] = []
    default = tmp_path / "bot.db"

    def make(database_url: str | None = None, **extra_env: str) -> BotProcess:
        if database_url is None and not default.exists():
            set_up_sqlite(sqlite_template, default)  # `run` makes no database
        bot = BotProcess(
            api_url=emulator.base_url,
            database_url=database_url or f"sqlite+aiosqlite:///{default}",
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
