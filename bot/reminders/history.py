"""How often each unit was reminded, and since when, as the outbox remembers it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reminders.policy import _HAPPENED, REMINDER
from bot.settings import Settings
from storage.models import OutboxMessage, Person, Submission


@dataclass
class History:
    """A unit's reminders as the outbox remembers them."""

    last_day: date | None = None  # office date of the latest reminder that happened
    sent_by_chat: dict[int, int] = field(default_factory=dict)  # since the unit last moved

    @property
    def silent(self) -> int:
        """Reminders sent to the unit's people since its last registration or submission."""
        return sum(self.sent_by_chat.values())


async def load_history(session: AsyncSession, settings: Settings) -> dict[int, History]:
    """Per unit: when it was last reminded, and how often each chat was since the unit last
    moved (a registration or a submission), counted by the database in one pass."""
    moves = union_all(
        select(Person.unit_id.label("unit_id"), Person.since.label("at")),
        select(Submission.unit_id, Submission.submitted_at).where(
            Submission.submitted_at.is_not(None)
        ),
    ).subquery()
    moved = (
        select(moves.c.unit_id, func.max(moves.c.at).label("at"))
        .group_by(moves.c.unit_id)
        .subquery()
    )
    since_moved = case(
        (
            and_(
                OutboxMessage.state == "sent",
                OutboxMessage.sent_at.is_not(None),
                or_(moved.c.at.is_(None), OutboxMessage.sent_at > moved.c.at),
            ),
            1,
        ),
        else_=0,
    )
    query = (
        select(
            OutboxMessage.unit_id,
            OutboxMessage.chat_id,
            func.max(OutboxMessage.created_at),
            func.sum(since_moved),
        )
        .outerjoin(moved, moved.c.unit_id == OutboxMessage.unit_id)
        .where(
            OutboxMessage.purpose == REMINDER,
            OutboxMessage.unit_id.is_not(None),
            OutboxMessage.state.in_(_HAPPENED),
        )
        .group_by(OutboxMessage.unit_id, OutboxMessage.chat_id)
    )
    history: dict[int, History] = defaultdict(History)
    tz = settings.tz
    for unit_id, chat_id, latest, sent in (await session.execute(query)).all():
        h = history[unit_id]
        day = latest.astimezone(tz).date()
        if h.last_day is None or day > h.last_day:
            h.last_day = day
        if sent:
            h.sent_by_chat[chat_id] = int(sent)
    return dict(history)
