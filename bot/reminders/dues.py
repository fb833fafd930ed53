"""What each unit owes and who holds its roles, as the reminders need them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ledger.checklist import deadline_for
from bot.ledger.report import required_items
from bot.reminders.policy import _HAPPENED, REMINDER, Role
from bot.settings import Settings
from storage import repositories as repo
from storage.models import (
    Account,
    Deadline,
    Exemption,
    OutboxMessage,
    Person,
    Submission,
    Unit,
)


@dataclass(frozen=True)
class Contact:
    """A person holding a role in a unit now, as reminders need them."""

    person_id: int
    role: Role
    name: str
    post: str
    phone: str
    user_id: int | None
    reachable: bool
    language: str | None

    @property
    def chat(self) -> int | None:
        """The chat a reminder can go to: linked and not known to be unreachable."""
        return self.user_id if self.user_id is not None and self.reachable else None


@dataclass(frozen=True)
class OwedItem:
    title: str
    returned: bool
    note: str | None = None


@dataclass
class UnitDues:
    """What one unit still owes: contacts, and items missing or sent back (never pending)."""

    unit_id: int
    name: str
    kind: str
    liaison: Contact | None
    lead: Contact | None
    items: list[OwedItem]
    pending: int
    deadline: date | None
    paused_until: date | None
    pause_reason: str | None
    last_activity: datetime | None = None

    @property
    def liaison_missing(self) -> bool:
        return self.liaison is None

    @property
    def lead_missing(self) -> bool:
        lead = self.lead
        return lead is None or not (lead.name and lead.post and lead.phone)

    @property
    def owes(self) -> bool:
        return bool(self.items) or self.liaison_missing or self.lead_missing

    @property
    def unregistered(self) -> bool:
        return self.liaison is None and self.lead is None

    def paused_on(self, day: date) -> bool:
        return self.paused_until is not None and day <= self.paused_until

    def contact(self, role: str) -> Contact | None:
        return self.lead if role == "lead" else self.liaison


async def _cached_checklist(session: AsyncSession) -> list[Any]:
    """The active checklist, read once per transaction (the dispatcher checks many rows)."""
    cached = session.info.get("reminders.checklist")
    if cached is None:
        cached = list(await repo.checklist(session))
        session.info["reminders.checklist"] = cached
    return list(cached)


async def _cached_deadlines(session: AsyncSession) -> dict[str, Deadline]:
    cached = session.info.get("reminders.deadlines")
    if cached is None:
        cached = await repo.deadlines(session)
        session.info["reminders.deadlines"] = cached
    return dict(cached)


async def load_dues(
    session: AsyncSession,
    unit_ids: Collection[int] | None = None,
    *,
    with_activity: bool = False,
) -> list[UnitDues]:
    """What every unit (or the units given) owes, in a handful of queries.

    An item's state follows the report's precedence: accepted wins over awaiting review,
    which wins over sent back; a draft is still missing.
    """
    units_query = select(Unit).order_by(Unit.kind, Unit.name)
    ids = list(unit_ids) if unit_ids is not None else None
    if ids is not None:
        units_query = units_query.where(Unit.id.in_(ids))
    units = (await session.scalars(units_query)).all()
    if not units:
        return []
    items = await _cached_checklist(session)
    deadlines = await _cached_deadlines(session)
    exemptions = select(Exemption)
    people = select(Person).where(Person.until.is_(None))
    submissions = (
        select(Submission)
        .where(Submission.state.in_(("pending", "accepted", "returned")))
        .order_by(Submission.id)
    )
    if ids is not None:
        exemptions = exemptions.where(Exemption.unit_id.in_(ids))
        people = people.where(Person.unit_id.in_(ids))
        submissions = submissions.where(Submission.unit_id.in_(ids))
    exempt: dict[int, set[int]] = defaultdict(set)
    for e in (await session.scalars(exemptions)).all():
        exempt[e.unit_id].add(e.item_id)
    holders = (await session.scalars(people)).all()
    states: dict[tuple[int, int], tuple[str, str | None]] = {}
    rank = {"returned": 0, "pending": 1, "accepted": 2}
    for s in (await session.scalars(submissions)).all():
        key = (s.unit_id, s.item_id)
        known = states.get(key)
        if known is None or rank[s.state] >= rank[known[0]]:
            states[key] = (s.state, s.review_note if s.state == "returned" else None)
    accounts = await _accounts(session, [p.telegram_user_id for p in holders], ids is None)
    contacts: dict[tuple[int, str], Contact] = {}
    for p in holders:
        account = accounts.get(p.telegram_user_id) if p.telegram_user_id else None
        contacts[(p.unit_id, p.role)] = Contact(
            person_id=p.id,
            role="lead" if p.role == "lead" else "liaison",
            name=p.name,
            post=p.post,
            phone=p.phone,
            user_id=p.telegram_user_id,
            reachable=account is None or account.unreachable_since is None,
            language=account.language if account else None,
        )
    activity = await _activity(session, ids) if with_activity else {}
    result = []
    for unit in units:
        owed: list[OwedItem] = []
        pending = 0
        for item in required_items(unit, items, exempt[unit.id]):
            state, note = states.get((unit.id, item.id), ("missing", None))
            if state == "accepted":
                continue
            if state == "pending":
                pending += 1
            else:
                owed.append(OwedItem(item.title, state == "returned", note))
        result.append(
            UnitDues(
                unit_id=unit.id,
                name=unit.name,
                kind=unit.kind,
                liaison=contacts.get((unit.id, "liaison")),
                lead=contacts.get((unit.id, "lead")),
                items=owed,
                pending=pending,
                deadline=deadline_for(unit.kind, deadlines),
                paused_until=unit.paused_until,
                pause_reason=unit.pause_reason,
                last_activity=activity.get(unit.id),
            )
        )
    return result


async def _accounts(
    session: AsyncSession, user_ids: Iterable[int | None], everyone: bool
) -> dict[int, Account]:
    """The accounts that matter to reminders (unreachable, or with a chosen language)."""
    query = select(Account).where(
        Account.unreachable_since.is_not(None) | Account.language.is_not(None)
    )
    if not everyone:
        wanted = [u for u in user_ids if u is not None]
        if not wanted:
            return {}
        query = select(Account).where(Account.user_id.in_(wanted))
    return {a.user_id: a for a in (await session.scalars(query)).all()}


async def _activity(session: AsyncSession, ids: list[int] | None) -> dict[int, datetime]:
    """Per unit, the latest registration (anyone taking a role) or submission."""
    registered = select(Person.unit_id, func.max(Person.since)).group_by(Person.unit_id)
    submitted = (
        select(Submission.unit_id, func.max(Submission.submitted_at))
        .where(Submission.submitted_at.is_not(None))
        .group_by(Submission.unit_id)
    )
    if ids is not None:
        registered = registered.where(Person.unit_id.in_(ids))
        submitted = submitted.where(Submission.unit_id.in_(ids))
    latest: dict[int, datetime] = {}
    for query in (registered, submitted):
        for unit_id, at in (await session.execute(query)).all():
            if at is not None and (unit_id not in latest or at > latest[unit_id]):
                latest[unit_id] = at
    return latest


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
    session: AsyncSession, settings: Settings, dues: Sequence[UnitDues]
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
