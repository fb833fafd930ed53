"""The intake's counts of failed tries: gone with the update, however its handling ends."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from telegram import Update

from bot.services import Services
from bot.transport import intake as intake_module
from bot.transport.intake import Intake, UpdateFailed


async def test_an_update_failed_here_then_handled_elsewhere_leaves_no_count_behind(
    services: Services,
) -> None:
    """Updates that failed here and were then applied by another process (webhooks) ended as
    "skipped", and their counts stayed for the life of the process."""
    errors: list[BaseException] = [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),  # transient
        ValueError("a bug"),
    ]

    async def failing(update: Update) -> None:
        intake_module.record_failure(errors[update.update_id % 2])

    app = SimpleNamespace(bot_data=SimpleNamespace(services=services), process_update=failing)
    intake = Intake(cast(Any, app), look_up_every=True)
    for update_id in range(1, 201):
        with pytest.raises(UpdateFailed):
            await intake.handle(Update(update_id))
        await services.db.mark_handled_many([update_id], datetime.now(UTC))  # by another
        assert await intake.handle(Update(update_id)) == "skipped"
    assert (intake.attempts, intake.tries, intake.failing_since, intake.alone_since) == (
        {}, {}, {}, {},
    )  # fmt: skip
