"""Settings and fixed values the tests share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services
from bot.settings import Settings

# The bot token the emulator accepts in tests.
TEST_TOKEN = "4242424:E2E-TEST-TOKEN-abcdefghijklmnop"
# 2026-11-30 is a Monday; 09:00 in Shanghai.
START = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
# The office staff member of the `services` fixture (its STAFF_IDS).
STAFF = 900


def make_settings(database_url: str, **values: Any) -> Settings:
    """Settings for a test: no .env, a fake token, the given values."""
    values.setdefault("bot_token", "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz")
    return Settings(_env_file=None, database_url=database_url, **values)


def emulated_settings(database_url: str, api_url: str, data_dir: Path, **values: Any) -> Settings:
    """Settings for a bot served by the emulator at `api_url`, with the token it accepts."""
    return make_settings(
        database_url, telegram_api_url=api_url, bot_token=TEST_TOKEN, data_dir=data_dir, **values
    )


def run_against_emulator(
    monkeypatch: pytest.MonkeyPatch, api_url: str, folder: Path, **more: str
) -> None:
    """The environment of `liaison-bot run` against the emulator at `api_url`, its database and
    DATA_DIR in `folder` (more variables by name)."""
    for variable, value in {
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bot.db'}",
        "DATA_DIR": str(folder / "data"),
        "BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_URL": api_url,
        "LANGUAGE": "zh",
        **more,
    }.items():
        monkeypatch.setenv(variable, value)


def with_settings(services: Services, **values: Any) -> Services:
    """The same database and clock, with some settings changed."""
    settings = services.settings.model_copy(update=values)
    return Services(settings=settings, db=services.db, clock=services.clock)


async def staff_on_both_lists(services: Services) -> Services:
    """Staff 900 and 902 in STAFF_IDS, 900 and 901 added on the command line (900 is on both):
    the staff, as one list in order of id, are 900, 901, 902."""
    from bot import roster

    services = with_settings(services, staff_ids=(902, STAFF))
    for user_id in (STAFF, 901):
        await roster.add_staff(services=services, user_id=user_id)
    return services
