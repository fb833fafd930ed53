"""How often each unit was reminded, and since when, as the outbox remembers it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ledger.status import UnitObligations
from bot.reminders.policy import _HAPPENED, REMINDER
from bot.settings import Settings
from storage.models import OutboxMessage


@dataclass
class History:
    """A unit's reminders as the outbox remembers them."""

    last_day: date | None = None  # office date of the latest reminder that happened
    sent_by_chat: dict[int, int] = field(default_factory=dict)  # since the unit last moved

    @property
    def silent(self) -> int:
        """Reminders sent to the unit's people since its last registration or submission."""
        return sum(self.sent_by_chat.values())


async def load_history(
    session: AsyncSession, settings: Settings, dues: Sequence[UnitObligations]
) -> dict[int, History]:
    """Per unit: when it was last reminded, and how often since it last moved."""
    activity = {d.unit_id: d.last_activity for d in dues}
    query = select(
        OutboxMessage.unit_id,
        OutboxMessage.chat_id,
        OutboxMessage.state,
        OutboxMessage.created_at,
        OutboxMessage.sent_at,
    ).where(
        OutboxMessage.purpose == REMINDER,
        OutboxMessage.unit_id.is_not(None),
        OutboxMessage.state.in_(_HAPPENED),
    )
    history: dict[int, History] = defaultdict(History)
    tz = settings.tz
    for unit_id, chat_id, state, created_at, sent_at in (await session.execute(query)).all():
        if unit_id not in activity:
            continue
        h = history[unit_id]
        day = created_at.astimezone(tz).date()
        if h.last_day is None or day > h.last_day:
            h.last_day = day
        moved = activity[unit_id]
        if state == "sent" and sent_at is not None and (moved is None or sent_at > moved):
            h.sent_by_chat[chat_id] = h.sent_by_chat.get(chat_id, 0) + 1
    return dict(history)
