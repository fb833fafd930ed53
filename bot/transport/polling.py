"""Taking updates: our own long-polling loop that confirms an update only once handled.

PTB's `Updater` confirms a batch to Telegram before any handler runs, so a crash loses
what was in hand. Here the offset moves past an update only after it has been handled, and
an update that comes again after a crash is skipped when the database already holds it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.error import Conflict, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.services import Services
from bot.transport.request import seconds_of
from storage.db import current_update

log = logging.getLogger(__name__)


async def handle_update(app: Application[Any, Any, Any, Any, Any, Any], update: Update) -> bool:
    """Apply one update unless it was applied before; tell whether it was new."""
    services: Services = app.bot_data.services
    if await services.db.is_handled(update.update_id):
        log.info("update %s was handled before; skipped", update.update_id)
        services.metrics.count_update(update.update_id, duplicate=True)
        return False
    token = current_update.set(update.update_id)
    try:
        await app.process_update(update)
    finally:
        current_update.reset(token)
    # Handling that wrote nothing (a /help) is recorded here; a write recorded it already.
    await services.db.mark_handled(update.update_id, services.now())
    services.metrics.count_update(update.update_id)
    return True


async def poll_forever(
    app: Application[Any, Any, Any, Any, Any, Any],
    stop: asyncio.Event,
    *,
    poll_seconds: int = 10,
) -> None:
    """Long-poll getUpdates until `stop` is set, handling each update in order."""
    offset: int | None = None
    backoff = 1.0
    while not stop.is_set():
        fetch = asyncio.ensure_future(
            app.bot.get_updates(
                offset=offset, timeout=poll_seconds, allowed_updates=Update.ALL_TYPES
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if fetch not in done:
            fetch.cancel()
            break
        try:
            updates = fetch.result()
        except RetryAfter as exc:
            await asyncio.sleep(seconds_of(exc.retry_after))
            continue
        except Conflict:
            log.error("another process is taking this bot's updates; waiting")
            await asyncio.sleep(5)
            continue
        except (TimedOut, NetworkError) as exc:
            log.warning("getUpdates failed: %s; trying again in %.0fs", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        backoff = 1.0
        for update in updates:
            await handle_update(app, update)
            offset = update.update_id + 1
            if stop.is_set():
                break
    if offset is not None:
        # Confirm what was handled, so a restart does not fetch it again.
        try:
            await app.bot.get_updates(offset=offset, timeout=0)
        except Exception:
            log.info("could not confirm the last updates; they will be skipped on restart")
