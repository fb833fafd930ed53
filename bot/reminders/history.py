"""How often each unit was reminded, and since when, as the outbox remembers it.

The outbox keeps reminder rows for good (bot/retention.py), so the counts hold however
long the bot runs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.reminders.policy import _HAPPENED, REMINDER
from bot.settings import Settings
from storage.models import Deadline, OutboxMessage, Person, Submission, Unit


@dataclass
class History:
    """A unit's reminders as the outbox remembers them."""

    last_day: date | None = None  # office date of the latest reminder that happened
    # since the unit last moved, or its deadline was set, whichever came later
    sent_by_chat: dict[int, int] = field(default_factory=dict)

    @property
    def silent(self) -> int:
        """Reminders sent to the unit's people since it last moved or its deadline was set."""
        return sum(self.sent_by_chat.values())


async def load_history(session: AsyncSession, settings: Settings) -> dict[int, History]:
    """Per unit: when it was last reminded, and how often each chat was since the unit last
    moved (a registration or a submission) or its current deadline was set (a new deadline
    is a new campaign: the count and the cap start again), counted by the database in one
    pass."""
    own, every = aliased(Deadline), aliased(Deadline)
    moves = union_all(
        select(Person.unit_id.label("unit_id"), Person.since.label("at")),
        select(Submission.unit_id, Submission.submitted_at).where(
            Submission.submitted_at.is_not(None)
        ),
        # the unit's deadline: its kind's, else all units' (as deadline_for chooses)
        select(Unit.id, func.coalesce(own.set_at, every.set_at))
        .outerjoin(own, own.scope == Unit.kind)
        .outerjoin(every, every.scope == literal("all"))
        .where(or_(own.scope.is_not(None), every.scope.is_not(None))),
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
