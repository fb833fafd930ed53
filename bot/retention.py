"""How long the bot keeps what: pruned hourly by a tick under the supervisor.

- `handled_update`: an update id is kept 48 hours. Telegram keeps an unconfirmed update for
  at most 24 hours, so no update can come again after that; and after a week without updates
  it may restart its ids at random, so an old id must be gone by then, or a new update that
  happens to reuse it would be taken as already handled.
- the outbox: a delivered row (`sent`) is deleted OUTBOX_RETENTION_DAYS after it was sent
  (default one year); the rows that say something went wrong (failed, unknown, unreachable,
  cancelled) are kept, like the audit log, which is never pruned.
- dead letters are kept (bot/deadletters.py); the shared send slots of chats idle for an hour
  are deleted.
- `invite_attempt`: a try of an invite link is kept as long as it counts towards slowing down a
  guesser (FAILURE_WINDOW, an hour), then deleted."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete

from bot.context import Context
from bot.registration.flow import FAILURE_WINDOW
from bot.services import Services
from storage.models import HandledUpdate, InviteAttempt, OutboxMessage, SendSlot

log = logging.getLogger(__name__)

HANDLED_UPDATE_KEPT = timedelta(hours=48)
EVERY = 3600.0


class PruneOut(BaseModel):
    handled_updates: int
    outbox_rows: int
    send_slots: int
    invite_attempts: int


async def prune(*, services: Services) -> PruneOut:
    """Delete what is kept no longer (see the module's docstring)."""
    # Telegram's window is wall-clock time, whatever clock the office's rules run on.
    handled_before = datetime.now(UTC) - HANDLED_UPDATE_KEPT
    sent_before = services.now() - timedelta(days=services.settings.outbox_retention_days)
    async with services.db.uow() as tx:
        handled = await tx.execute(
            delete(HandledUpdate).where(HandledUpdate.handled_at < handled_before)
        )
        sent = await tx.execute(
            delete(OutboxMessage).where(
                OutboxMessage.state == "sent", OutboxMessage.sent_at < sent_before
            )
        )
        slots = await tx.execute(
            delete(SendSlot).where(SendSlot.chat_id != 0, SendSlot.next_at < time.time() - 3600)
        )
        attempts = await tx.execute(
            delete(InviteAttempt).where(InviteAttempt.at <= services.now() - FAILURE_WINDOW)
        )
    out = PruneOut(
        handled_updates=int(handled.rowcount),  # type: ignore[attr-defined]
        outbox_rows=int(sent.rowcount),  # type: ignore[attr-defined]
        send_slots=int(slots.rowcount),  # type: ignore[attr-defined]
        invite_attempts=int(attempts.rowcount),  # type: ignore[attr-defined]
    )
    if out.handled_updates or out.outbox_rows:
        log.info(
            "pruned %d handled update ids and %d delivered outbox rows",
            out.handled_updates,
            out.outbox_rows,
        )
    return out


async def housekeeping_job(context: Context) -> None:
    """The hourly tick: prune."""
    await prune(services=context.bot_data.services)
