"""Taking updates: our own long-polling loop that confirms an update only once handled.

PTB's `Updater` confirms a batch to Telegram before any handler runs, so a crash loses
what was in hand. Here the offset moves past an update only after it has been handled (or
kept as a dead letter), and an update that comes again after a crash is skipped when the
database already holds it. Each `step` is one getUpdates and its batch, run again and again
by the supervisor: a failed step (the database locked, the network down, a proxy answering
HTML) is tried again with back-off from the first update not yet handled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.error import Conflict, RetryAfter
from telegram.ext import Application

from bot.transport.intake import Intake
from bot.transport.request import seconds_of
from bot.transport.supervisor import Fatal

log = logging.getLogger(__name__)


class Poller:
    """Long-polls getUpdates and hands each update to the intake, in order."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        intake: Intake,
        *,
        poll_seconds: int = 10,
    ) -> None:
        self.app = app
        self.intake = intake
        self.poll_seconds = poll_seconds
        self.offset: int | None = None
        self.conflict = False

    async def step(self, stop: asyncio.Event) -> float | None:
        """Fetch one batch (until `stop`) and handle it; raise if an update must wait."""
        fetch = asyncio.ensure_future(
            self.app.bot.get_updates(
                offset=self.offset, timeout=self.poll_seconds, allowed_updates=Update.ALL_TYPES
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if fetch not in done:
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            return None
        try:
            updates = fetch.result()
        except RetryAfter as exc:
            return seconds_of(exc.retry_after)
        except Conflict as exc:
            self.conflict = True
            raise Fatal(
                f"Telegram answered 409 Conflict ({exc.message}): another process is taking "
                "this bot's updates",
                key="runtime.conflict",
            ) from exc
        for update in updates:
            await self.intake.handle(update)
            self.offset = update.update_id + 1
            if stop.is_set():
                break
        return None

    async def confirm(self) -> None:
        """Tell Telegram what was handled, so a restart does not fetch it again."""
        if self.offset is None or self.conflict:
            return  # after a 409 a getUpdates would cut off the other process's poll
        try:
            # Bounded, so that a stop stays within its 10 s when the network is gone.
            await asyncio.wait_for(self.app.bot.get_updates(offset=self.offset, timeout=0), 1.5)
        except Exception as exc:
            log.info("could not confirm the last updates (%s); they are skipped on restart", exc)
