"""What the intake asks the database per update: the already-handled floor is read once."""

from __future__ import annotations

import asyncio

import pytest

from bot.services import Services
from bot.transport.intake import Intake
from tests.support.application import BotHarness, running_bot
from tests.support.updates import make_message_update


async def test_the_first_batch_reads_the_handled_floor_once_and_answers_everyone(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty people's updates handled at once, as the first batch after a start: one look-up
    of the highest handled id for all of them, not one each."""
    reads = 0
    highest = services.db.highest_handled

    async def counted() -> int:
        nonlocal reads
        reads += 1
        return await highest()

    monkeypatch.setattr(services.db, "highest_handled", counted)
    async with running_bot(services) as bot:
        await _first_batch(bot)
    assert reads == 1


async def _first_batch(bot: BotHarness) -> None:
    intake = Intake(bot.app)
    people = range(5001, 5041)
    since = bot.request.mark()
    updates = [make_message_update(bot.app.bot, user, text="/help") for user in people]

    outcomes = await asyncio.gather(*(intake.handle(u) for u in updates))

    assert outcomes == ["handled"] * len(updates)
    for user in people:
        assert len(bot.request.sent(user, since=since)) == 1
