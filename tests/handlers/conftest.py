"""The application with a recording request, on the `services` fixture's database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.services import Services
from tests.support.application import BotHarness, running_bot


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[BotHarness]:
    """The bot, initialized offline, taking updates through `process_update`."""
    async with running_bot(services) as harness:
        yield harness
