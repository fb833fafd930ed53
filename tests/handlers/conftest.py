"""The application with a recording request, on the `services` fixture's database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.demo.sample import seed_notice_situation
from bot.services import Services
from tests.support.application import BotHarness, running_bot
from tests.support.registration import Harness


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[BotHarness]:
    """The bot, initialized offline, taking updates through `process_update`."""
    async with running_bot(services) as harness:
        yield harness


@pytest.fixture
async def harness(services: Services) -> AsyncIterator[Harness]:
    """The notice's situation (sample roster), and one person at a time driven through it."""
    await seed_notice_situation(services=services)
    async with running_bot(services) as bot:
        yield Harness(bot)
