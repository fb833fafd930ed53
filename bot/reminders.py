"""Reminders (催报): chase every outstanding unit until it owes nothing, and never after.

The policy comes from settings (REMINDER_TIME, QUIET_HOURS, REMINDER_EVERY_WORKDAYS,
REMINDER_DAILY_LAST_WORKDAYS, REMINDER_CAP, ESCALATE_LEAD_AFTER,
ESCALATE_OFFICE_AFTER_WORKDAYS, HOLIDAY_FILE, SCHEDULED_REMINDERS):

- A **scheduled round** is planned once per working day (Chinese calendar: holidays off,
  make-up weekends on; a holiday file wins; a year neither knows is Monday–Friday, with a
  warning to staff), at the reminder time or as soon after it as a planner runs, never in
  the quiet hours. A unit is due every N working days after its last reminder, daily in the
  last K working days up to the deadline and daily after it; a unit that owes nothing, or
  whose reminders are paused, is never due.
- **Who hears of it** (the ladder): the liaison; after ESCALATE_LEAD_AFTER reminders with no
  registration or submission from the unit since the first of them, or from the deadline
  on, the lead as well — in their own chat if linked, else as a task for staff naming the
  lead and mobile; after the deadline plus ESCALATE_OFFICE_AFTER_WORKDAYS working days, a
  督办 task for staff. Units with nobody registered are listed in a daily staff digest with
  a fresh invite link each. A recipient found unreachable (403) is skipped afterwards and
  the next person on the ladder is told instead. REMINDER_CAP bounds the reminders one
  person receives without the unit moving; after that the unit is the office's to call.
- **Everything is derived from the database**: what a unit owes from Person and Submission
  rows, how often it was reminded and since when from the outbox. No reminder state of its
  own: the planner is a stateless tick; each intended message is an outbox row with a
  unique dedupe key (`reminder:{unit}:{person}:{office date}`; `round:{id}:{chat}:{unit}`
  for a round a person asked for), so restarts and extra planners never double one.
- **At claim time** the dispatcher asks :class:`ReminderDelivery` whether each message is
  still wanted and re-renders it with what the unit owes at that moment, so a reminder that
  became moot while waiting is cancelled, and none names an item that was just submitted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import roster
from bot.checklist import deadline_for
from bot.context import Context
from bot.delivery import StillWanted, enqueue, text_payload
from bot.errors import BadInput, DomainError, NotStaff
from bot.reports import format_date, required_items
from bot.services import Services
from bot.settings import Settings, in_quiet_hours, parse_quiet_hours
from bot.workdays import WorkCalendar, load_holiday_file
from messages import Markup, t
from storage import repositories as repo
from storage.db import insert_ignore
from storage.models import (
    Account,
    AuditEvent,
    Deadline,
    Exemption,
    GroupChat,
    OutboxMessage,
    Person,
    Setting,
    Submission,
    Unit,
)

log = logging.getLogger(__name__)

# Outbox purposes. "reminder" rows are addressed to a unit's own people (the report counts
# them as `reminders_sent`); the others go to staff or to a group.
REMINDER = "reminder"
TASK = "reminder_task"
DIGEST = "reminder_digest"
ROLLCALL = "rollcall"
WARNING = "calendar_warning"

# The button every reminder carries when items are owed: handlers/ledger.py answers
# `sub:start:<unit>` by starting /submit for that unit.
SUBMIT_CALLBACK = "sub:start:{unit_id}"
# Telegram allows 4096 characters a message; digests and roll calls are split below this.
PART_LIMIT = 3500
# A daily digest lists at most this many units per section (and says how many more).
DIGEST_LIMIT = 50
# A /remind preview can be confirmed for this long.
PREVIEW_VALID = timedelta(hours=24)
# States of an outbox row that mean "this reminder happened, or may have".
_HAPPENED = ("pending", "claimed", "sending", "sent", "unknown", "unreachable")

Role = Literal["liaison", "lead"]
Why = Literal["count", "deadline", "liaison_unreachable", "no_liaison"]


class StaleRound(DomainError):
    """The preview a button refers to is gone, or was not a preview."""

    key = "reminders.round.stale"


# ---- policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """The reminder settings, with the rules that use them."""

    reminder_time: time
    quiet_start: time
    quiet_end: time
    every: int
    daily_last: int
    cap: int
    lead_after: int
    office_after: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        start, end = parse_quiet_hours(settings.quiet_hours)
        return cls(
            reminder_time=settings.reminder_time,
            quiet_start=start,
            quiet_end=end,
            every=settings.reminder_every_workdays,
            daily_last=settings.reminder_daily_last_workdays,
            cap=settings.reminder_cap,
            lead_after=settings.escalate_lead_after,
            office_after=settings.escalate_office_after_workdays,
        )

    def quiet(self, local: datetime) -> bool:
        """Whether an office-time moment falls in the quiet hours."""
        return in_quiet_hours(local.time().replace(tzinfo=None), self.quiet_start, self.quiet_end)

    def round_time(self, local: datetime) -> bool:
        """Whether a scheduled round may be planned at this office-time moment."""
        return local.time().replace(tzinfo=None) >= self.reminder_time and not self.quiet(local)

    def phase(
        self, cal: WorkCalendar, today: date, deadline: date | None
    ) -> Literal["regular", "final", "overdue"]:
        """Regular cadence, the last working days up to the deadline, or past it."""
        if deadline is None:
            return "regular"
        if today > deadline:
            return "overdue"
        if cal.workdays_between(today, deadline) < self.daily_last:
            return "final"
        return "regular"

    def due(
        self, cal: WorkCalendar, today: date, deadline: date | None, last: date | None
    ) -> bool:
        """Whether a unit last reminded on `last` is due again today (a working day)."""
        if last is None:
            return True
        gap = self.every if self.phase(cal, today, deadline) == "regular" else 1
        return cal.workdays_between(last, today) >= gap

    def supervised(self, cal: WorkCalendar, today: date, deadline: date | None) -> bool:
        """督办: the deadline plus ESCALATE_OFFICE_AFTER_WORKDAYS working days have passed."""
        return (
            deadline is not None
            and today > deadline
            and cal.workdays_between(deadline, today) > self.office_after
        )


_calendars: dict[tuple[str, float], WorkCalendar] = {}


def work_calendar(settings: Settings) -> WorkCalendar:
    """The working-day calendar: HOLIDAY_FILE (re-read when it changes) over the package."""
    path = settings.holiday_file
    if path is None:
        return _calendars.setdefault(("", 0.0), WorkCalendar())
    resolved = Path(path).resolve()
    key = (str(resolved), resolved.stat().st_mtime)
    if key not in _calendars:
        _calendars[key] = WorkCalendar([load_holiday_file(resolved)])
    return _calendars[key]


def office_now(services: Services) -> datetime:
    return services.now().astimezone(services.settings.tz)


# ---- what each unit owes, read from the database --------------------------------------------


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


# ---- deciding who is told what ------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    contact: Contact
    why: Why | None  # why a lead hears of it


CallReason = Literal["escalated", "no_lead", "no_chat", "capped"]


@dataclass
class Decision:
    """What one unit gets today: reminders to its people, and what staff should know."""

    dues: UnitDues
    silent: int = 0
    reminders: list[Recipient] = field(default_factory=list)
    call: CallReason | None = None  # staff should phone the unit
    supervise: bool = False  # 督办
    unregistered: bool = False  # nobody on record: staff send an invite link


def decide(
    dues: UnitDues,
    history: History,
    *,
    today: date,
    policy: Policy,
    cal: WorkCalendar,
    scheduled: bool,
) -> Decision:
    """Walk the ladder for one unit (a scheduled round, or a round asked for)."""
    out = Decision(dues=dues, silent=history.silent)
    if not dues.owes or dues.paused_on(today):
        return out
    if dues.unregistered:
        out.unregistered = True
        return out
    liaison = dues.liaison if dues.liaison and dues.liaison.chat else None
    lead = dues.lead if dues.lead and dues.lead.chat else None
    escalated = history.silent >= policy.lead_after or (
        dues.deadline is not None and today >= dues.deadline
    )
    out.supervise = policy.supervised(cal, today, dues.deadline)
    primary = liaison or lead

    def capped(contact: Contact) -> bool:
        return scheduled and history.sent_by_chat.get(contact.chat or 0, 0) >= policy.cap

    due = not scheduled or policy.due(cal, today, dues.deadline, history.last_day)
    if primary is not None and due and not capped(primary):
        why: Why | None = None
        if primary is lead:
            why = "no_liaison" if dues.liaison is None else "liaison_unreachable"
        out.reminders.append(Recipient(primary, why))
        if escalated and primary is liaison and lead is not None and not capped(lead):
            lead_why: Why = "count" if history.silent >= policy.lead_after else "deadline"
            out.reminders.append(Recipient(lead, lead_why))
    if primary is None:
        out.call = "no_chat"
    elif capped(primary):
        out.call = "capped"
    elif escalated and not (primary is liaison and lead is not None):
        out.call = "no_lead" if dues.lead_missing else "escalated"
    return out


# ---- words ---------------------------------------------------------------------------------


def short_date(day: date, today: date, lang: str) -> str:
    """12月31日 (the year only when it is not this year's) / 31 Dec."""
    if day.year != today.year:
        return format_date(day, lang)
    if lang == "zh":
        return f"{day.month}月{day.day}日"
    return day.strftime("%-d %b")


def _owed_lines(dues: UnitDues, lang: str, role: str) -> list[str]:
    lines = []
    if dues.liaison_missing:
        lines.append(t(lang, "reminders.liaison_missing"))
    if dues.lead_missing:
        lines.append(t(lang, "reminders.lead_missing"))
    for item in dues.items:
        if item.returned and item.note:
            note = item.note if len(item.note) <= 100 else item.note[:99] + "…"
            lines.append(t(lang, "reminders.item_returned", title=item.title, note=note))
        elif item.returned:
            lines.append(t(lang, "reminders.item_returned_plain", title=item.title))
        else:
            lines.append(t(lang, "reminders.item_missing", title=item.title))
    return lines


def deadline_line(deadline: date | None, today: date, lang: str) -> str:
    if deadline is None:
        return t(lang, "reminders.no_deadline")
    when = short_date(deadline, today, lang)
    if today > deadline:
        return t(lang, "reminders.overdue", date=when)
    return t(lang, "reminders.due_by", date=when)


def submit_keyboard(lang: str, unit_id: int) -> InlineKeyboardMarkup:
    """The one button of a reminder: it starts /submit for the unit (the ledger's handler)."""
    button = InlineKeyboardButton(
        t(lang, "reminders.button_submit"), callback_data=SUBMIT_CALLBACK.format(unit_id=unit_id)
    )
    return InlineKeyboardMarkup([[button]])


def render_reminder(
    dues: UnitDues,
    *,
    role: str,
    lang: str,
    today: date,
    why: str | None = None,
    count: int = 0,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A reminder to the unit's liaison or lead: the unit, exactly what it owes, by when."""
    when = short_date(today, today, lang)
    lines = [t(lang, "reminders.heading")]
    lead = dues.lead
    if role == "lead" and lead is not None:
        lines.append(
            t(
                lang,
                "reminders.owed_lead",
                name=lead.name,
                post=lead.post,
                unit=dues.name,
                today=when,
            )
        )
    else:
        lines.append(t(lang, "reminders.owed_liaison", unit=dues.name, today=when))
    lines += _owed_lines(dues, lang, role)
    if dues.pending:
        lines.append(t(lang, "reminders.pending", count=dues.pending))
    if why is not None:
        liaison = dues.liaison.name if dues.liaison else ""
        lines.append(t(lang, f"reminders.why_{why}", count=count, name=liaison))
    lines.append(deadline_line(dues.deadline, today, lang))
    if dues.items:
        lines.append(t(lang, "reminders.how_lead" if role == "lead" else "reminders.how_submit"))
        return "\n".join(lines), submit_keyboard(lang, dues.unit_id)
    lines.append(t(lang, "reminders.how_contacts"))
    return "\n".join(lines), None


def _contact_text(contact: Contact | None, lang: str) -> str:
    if contact is None:
        return ""
    return t(
        lang,
        "reminders.contact",
        role=t(lang, f"common.role_{contact.role}"),
        name=contact.name,
        post=contact.post,
        phone=contact.phone,
    )


def _numbers(dues: UnitDues, lang: str) -> str:
    parts = [_contact_text(c, lang) for c in (dues.lead, dues.liaison) if c is not None]
    return t(lang, "reminders.and").join(parts) or t(lang, "reminders.no_numbers")


def owed_summary(dues: UnitDues, lang: str) -> str:
    """缺3项资料、分管领导信息 — what a unit owes, in a few words for staff."""
    parts = []
    if dues.items:
        parts.append(t(lang, "reminders.summary_items", count=len(dues.items)))
    if dues.liaison_missing:
        parts.append(t(lang, "reminders.summary_liaison"))
    if dues.lead_missing:
        parts.append(t(lang, "reminders.summary_lead"))
    return t(lang, "reminders.and").join(parts)


def render_task(dues: UnitDues, *, failed: Contact | None, lang: str) -> str:
    """A task for staff when a reminder could not reach anyone by chat."""
    lines = [t(lang, "reminders.task.heading")]
    if failed is not None:
        role = t(lang, f"common.role_{failed.role}")
        lines.append(
            t(lang, "reminders.task.unreachable", unit=dues.name, role=role, name=failed.name)
        )
    lines.append(t(lang, "reminders.task.call", numbers=_numbers(dues, lang)))
    lines.append(t(lang, "reminders.task.owed", owed=owed_summary(dues, lang)))
    return "\n".join(lines)


def _wrap(line: str, limit: int) -> list[str]:
    """An over-long line (a roll call of many units) cut after a list separator."""
    pieces = []
    while len(line) > limit:
        cut = max(line.rfind("、", 0, limit), line.rfind(", ", 0, limit - 1) + 1)
        cut = cut + 1 if cut > 0 else limit
        pieces.append(line[:cut])
        line = line[cut:].lstrip()
    return [*pieces, line]


def split_parts(lines: Sequence[str], lang: str, limit: int = PART_LIMIT) -> list[str]:
    """Lines joined into messages no longer than `limit` characters each."""
    pieces = [piece for line in lines for piece in _wrap(line, limit)]
    parts: list[list[str]] = [[]]
    size = 0
    for line in pieces:
        if parts[-1] and size + len(line) + 1 > limit:
            parts.append([t(lang, "reminders.continued")])
            size = len(parts[-1][0])
        parts[-1].append(line)
        size += len(line) + 1
    return ["\n".join(p) for p in parts if p]


def render_digest(
    *,
    today: date,
    decisions: Sequence[Decision],
    links: dict[int, str],
    lang: str,
) -> list[str]:
    """The daily staff digest: units to invite, to phone, and to supervise (督办)."""
    unregistered = [d for d in decisions if d.unregistered]
    supervise = [d for d in decisions if d.supervise and not d.unregistered]
    call = [d for d in decisions if d.call and not d.supervise]
    if not (unregistered or supervise or call):
        return []
    lines = [t(lang, "reminders.digest.heading", date=format_date(today, lang))]
    if unregistered:
        lines += ["", t(lang, "reminders.digest.unregistered", count=len(unregistered))]
        for d in unregistered[:DIGEST_LIMIT]:
            link = links.get(d.dues.unit_id)
            if link:
                lines.append(t(lang, "reminders.digest.invite_line", unit=d.dues.name, link=link))
            else:
                lines.append(t(lang, "reminders.digest.unit_line", unit=d.dues.name))
    if len(unregistered) > DIGEST_LIMIT:
        lines.append(t(lang, "reminders.digest.more", count=len(unregistered) - DIGEST_LIMIT))
    if call:
        lines += ["", t(lang, "reminders.digest.call", count=len(call))]
        for d in call[:DIGEST_LIMIT]:
            reason = t(lang, f"reminders.digest.reason_{d.call}", count=d.silent)
            lines.append(
                t(
                    lang,
                    "reminders.digest.call_line",
                    unit=d.dues.name,
                    reason=reason,
                    owed=owed_summary(d.dues, lang),
                    numbers=_numbers(d.dues, lang),
                )
            )
    if len(call) > DIGEST_LIMIT:
        lines.append(t(lang, "reminders.digest.more", count=len(call) - DIGEST_LIMIT))
    if supervise:
        lines += ["", t(lang, "reminders.digest.supervise", count=len(supervise))]
        for d in supervise[:DIGEST_LIMIT]:
            assert d.dues.deadline is not None
            lines.append(
                t(
                    lang,
                    "reminders.digest.supervise_line",
                    unit=d.dues.name,
                    deadline=short_date(d.dues.deadline, today, lang),
                    owed=owed_summary(d.dues, lang),
                    numbers=_numbers(d.dues, lang),
                )
            )
    if len(supervise) > DIGEST_LIMIT:
        lines.append(t(lang, "reminders.digest.more", count=len(supervise) - DIGEST_LIMIT))
    lines += ["", t(lang, "reminders.digest.footer")]
    return split_parts(lines, lang)


def render_rollcall(
    dues: Sequence[UnitDues], *, today: date, deadline: date | None, lang: str
) -> list[str]:
    """点名通报 for the liaisons' group: the units still outstanding now, by name.

    Counted exactly as `bot.reports` counts (paused units and units whose remaining items
    all await review included), so the group, /outstanding, the export and `report --json`
    quote the same numbers.
    """
    contacts = [d for d in dues if d.liaison_missing or d.lead_missing]
    items = [d for d in dues if d.items or d.pending]
    when = short_date(today, today, lang)
    if not contacts and not items:
        return [t(lang, "reminders.rollcall.all_done", date=when)]
    joiner = t(lang, "reminders.and")
    lines = [t(lang, "reminders.rollcall.heading", date=when)]
    if contacts:
        names = joiner.join(d.name for d in contacts)
        lines.append(t(lang, "reminders.rollcall.contacts", count=len(contacts), units=names))
    if items:
        names = joiner.join(
            t(lang, "reminders.rollcall.item_unit", unit=d.name, count=len(d.items) + d.pending)
            if not d.pending
            else t(
                lang,
                "reminders.rollcall.item_unit_pending",
                unit=d.name,
                count=len(d.items) + d.pending,
                pending=d.pending,
            )
            for d in items
        )
        lines.append(t(lang, "reminders.rollcall.items", count=len(items), units=Markup(names)))
        waiting = sum(1 for d in items if d.pending)
        if waiting:
            lines.append(t(lang, "reminders.rollcall.items_pending", count=waiting))
    if deadline is None:
        lines.append(t(lang, "reminders.rollcall.closing_plain"))
    elif today > deadline:
        lines.append(
            t(lang, "reminders.rollcall.closing_overdue", date=short_date(deadline, today, lang))
        )
    else:
        lines.append(t(lang, "reminders.rollcall.closing", date=short_date(deadline, today, lang)))
    return split_parts(lines, lang)


# ---- who the staff are -----------------------------------------------------------------------


@dataclass(frozen=True)
class StaffChat:
    user_id: int
    language: str


async def staff_chats(session: AsyncSession, settings: Settings) -> list[StaffChat]:
    """Office staff the bot can write to (those found unreachable are skipped)."""
    ids = list(
        dict.fromkeys(
            [*settings.staff_ids, *(s.user_id for s in await repo.staff_members(session))]
        )
    )
    if not ids:
        return []
    accounts = {
        a.user_id: a
        for a in (await session.scalars(select(Account).where(Account.user_id.in_(ids)))).all()
    }
    result = []
    for user_id in ids:
        account = accounts.get(user_id)
        if account is not None and account.unreachable_since is not None:
            continue
        lang = account.language if account and account.language else settings.language
        result.append(StaffChat(user_id, lang))
    return result


# ---- the planner -------------------------------------------------------------------------------


class TickOut(BaseModel):
    """What one planner tick did."""

    day: date
    planned: bool
    reason: Literal["planned", "off", "not_workday", "not_yet", "quiet", "done"]
    reminders: int = 0
    tasks: int = 0
    digests: int = 0
    rollcalls: int = 0
    warnings: int = 0


def _payload(
    text: str, markup: InlineKeyboardMarkup | None, meta: dict[str, Any]
) -> dict[str, Any]:
    """An outbox payload with our own `meta` (the dispatcher sends only text and markup)."""
    return {**text_payload(text, markup), "meta": meta}


def _lang(contact: Contact, settings: Settings) -> str:
    return contact.language or settings.language


def _overall_deadline(deadlines: dict[str, Deadline]) -> date | None:
    """The deadline named to a whole group: the one for all units, else the latest."""
    overall = deadlines.get("all")
    dates = [d.due for d in deadlines.values()]
    return overall.due if overall else (max(dates) if dates else None)


async def plan_tick(*, services: Services) -> TickOut:
    """Plan today's scheduled round once: reminders, staff digest, roll calls, warnings.

    Stateless and safe to run from any number of processes: the day is claimed with a
    unique marker in the same transaction that enqueues the round, and every message has
    its dedupe key.
    """
    settings = services.settings
    policy = Policy.of(settings)
    now = services.now()
    local = now.astimezone(settings.tz)
    today = local.date()
    if not settings.scheduled_reminders:
        return TickOut(day=today, planned=False, reason="off")
    cal = work_calendar(settings)
    if not cal.is_workday(today):
        return TickOut(day=today, planned=False, reason="not_workday")
    if policy.quiet(local):
        return TickOut(day=today, planned=False, reason="quiet")
    if not policy.round_time(local):
        return TickOut(day=today, planned=False, reason="not_yet")
    async with services.db.uow() as tx:
        marker = insert_ignore(services.db.dialect, Setting).values(
            key=f"reminders_planned:{today.isoformat()}", value=now.isoformat()
        )
        if not (await tx.execute(marker)).rowcount:  # type: ignore[attr-defined]
            return TickOut(day=today, planned=False, reason="done")
        out = await _plan_day(tx, services, today=today, now=now, policy=policy, cal=cal)
        repo.audit(
            tx,
            at=now,
            actor_id=None,
            action="reminders_planned",
            day=today.isoformat(),
            reminders=out.reminders,
            digests=out.digests,
            rollcalls=out.rollcalls,
        )
    if out.reminders or out.digests:
        log.info("reminders for %s: %s", today, out.model_dump(exclude={"day"}))
    return out


async def _plan_day(
    tx: AsyncSession,
    services: Services,
    *,
    today: date,
    now: datetime,
    policy: Policy,
    cal: WorkCalendar,
) -> TickOut:
    settings = services.settings
    out = TickOut(day=today, planned=True, reason="planned")
    dues = await load_dues(tx, with_activity=True)
    history = await load_history(tx, settings, dues)
    decisions = [
        decide(
            d,
            history.get(d.unit_id, History()),
            today=today,
            policy=policy,
            cal=cal,
            scheduled=True,
        )
        for d in dues
    ]
    day = today.isoformat()
    for decision in decisions:
        unit = decision.dues
        for r in decision.reminders:
            chat = r.contact.chat
            assert chat is not None
            meta = {
                "kind": "scheduled",
                "day": day,
                "unit": unit.unit_id,
                "person": r.contact.person_id,
                "role": r.contact.role,
                "why": r.why,
                "count": decision.silent,
            }
            text, markup = render_reminder(
                unit,
                role=r.contact.role,
                lang=_lang(r.contact, settings),
                today=today,
                why=r.why,
                count=decision.silent,
            )
            out.reminders += await enqueue(
                tx,
                key=f"reminder:{unit.unit_id}:{r.contact.person_id}:{day}",
                chat_id=chat,
                purpose=REMINDER,
                payload=_payload(text, markup, meta),
                now=now,
                unit_id=unit.unit_id,
            )
    staff = await staff_chats(tx, settings)
    unregistered = [d.dues for d in decisions if d.unregistered][:DIGEST_LIMIT]
    links = await _invite_links(tx, services, unregistered) if staff else {}
    for member in staff:
        parts = render_digest(today=today, decisions=decisions, links=links, lang=member.language)
        for index, text in enumerate(parts, start=1):
            out.digests += await enqueue(
                tx,
                key=f"digest:{day}:{member.user_id}:{index}",
                chat_id=member.user_id,
                purpose=DIGEST,
                payload=_payload(text, None, {"kind": "digest", "day": day}),
                now=now,
            )
    deadlines = await _cached_deadlines(tx)
    latest = max([d.due for d in deadlines.values()], default=today)
    unknown = cal.unknown_years(today, max(today, latest))
    if unknown:
        years = t(settings.language, "reminders.and").join(str(y) for y in unknown)
        for member in staff:
            out.warnings += await enqueue(
                tx,
                key=f"calendar:{day}:{member.user_id}",
                chat_id=member.user_id,
                purpose=WARNING,
                payload=text_payload(
                    t(member.language, "reminders.calendar_unknown", years=years)
                ),
                now=now,
            )
    out.rollcalls = await _plan_rollcalls(
        tx, services, dues=dues, today=today, now=now, policy=policy, cal=cal
    )
    return out


async def _plan_rollcalls(
    tx: AsyncSession,
    services: Services,
    *,
    dues: Sequence[UnitDues],
    today: date,
    now: datetime,
    policy: Policy,
    cal: WorkCalendar,
) -> int:
    """The group roll calls switched on with `/rollcall on`, on the reminder cadence."""
    groups = (
        await tx.scalars(select(GroupChat).where(GroupChat.rollcall_enabled.is_(True)))
    ).all()
    if not groups or not any(d.owes and not d.paused_on(today) for d in dues):
        return 0
    deadline = _overall_deadline(await _cached_deadlines(tx))
    last_posts = dict(
        (
            await tx.execute(
                select(OutboxMessage.chat_id, func.max(OutboxMessage.created_at))
                .where(
                    OutboxMessage.purpose == ROLLCALL,
                    OutboxMessage.chat_id.in_([g.chat_id for g in groups]),
                    OutboxMessage.state.in_(_HAPPENED),
                )
                .group_by(OutboxMessage.chat_id)
            )
        ).all()
    )
    count = 0
    tz = services.settings.tz
    for group in groups:
        last = last_posts.get(group.chat_id)
        last_day = last.astimezone(tz).date() if last else None
        if not policy.due(cal, today, deadline, last_day):
            continue
        lang = services.settings.language
        parts = render_rollcall(dues, today=today, deadline=deadline, lang=lang)
        for index, text in enumerate(parts, start=1):
            meta = {
                "kind": "scheduled",
                "day": today.isoformat(),
                "part": index,
                "parts": len(parts),
            }
            count += await enqueue(
                tx,
                key=f"rollcall:{group.chat_id}:{today.isoformat()}:{index}",
                chat_id=group.chat_id,
                purpose=ROLLCALL,
                payload=_payload(text, None, meta),
                now=now,
            )
    return count


async def _invite_links(
    tx: AsyncSession, services: Services, units: Sequence[UnitDues]
) -> dict[int, str]:
    """A fresh liaison invite link per unit with nobody registered (old links stay valid)."""
    if not units:
        return {}
    try:
        from bot import invites
    except ImportError:  # registration not installed: the digest lists the units only
        return {}
    try:
        username = await invites.bot_username(tx, services)
    except DomainError:
        log.warning("no bot username known yet: the digest lists units without invite links")
        return {}
    links = {}
    for dues in units:
        unit = await tx.get(Unit, dues.unit_id)
        if unit is None:
            continue
        made = await invites.issue(
            tx, services=services, unit=unit, role="liaison", actor_id=None, username=username
        )
        links[dues.unit_id] = made.link
    return links


# ---- a round asked for by a person ---------------------------------------------------------


class RoundLine(BaseModel):
    unit: str
    role: Role
    name: str
    chat_id: int
    items: list[str]
    contacts_missing: list[Role]


class RoundOut(BaseModel):
    """A round of reminders: who gets what, and the units no chat reaches."""

    round_id: int | None
    dry_run: bool
    queued: int = 0
    already: bool = False
    reminders: list[RoundLine]
    no_chat: list[str]
    paused: list[str]


@dataclass
class _Round:
    out: RoundOut
    messages: list[tuple[Decision, Recipient]]


async def _compose_round(
    tx: AsyncSession,
    services: Services,
    *,
    dry_run: bool,
    unit_ids: Collection[int] | None = None,
) -> _Round:
    """The round now for every outstanding unit, or only for the units given."""
    today = services.today()
    policy = Policy.of(services.settings)
    cal = work_calendar(services.settings)
    dues = await load_dues(tx, unit_ids, with_activity=True)
    history = await load_history(tx, services.settings, dues)
    lines: list[RoundLine] = []
    messages: list[tuple[Decision, Recipient]] = []
    no_chat: list[str] = []
    paused: list[str] = []
    for d in dues:
        if not d.owes:
            continue
        if d.paused_on(today):
            paused.append(d.name)
            continue
        decision = decide(
            d,
            history.get(d.unit_id, History()),
            today=today,
            policy=policy,
            cal=cal,
            scheduled=False,
        )
        if not decision.reminders:
            no_chat.append(d.name)
        for r in decision.reminders:
            assert r.contact.chat is not None
            messages.append((decision, r))
            missing: list[Role] = []
            if d.liaison_missing:
                missing.append("liaison")
            if d.lead_missing:
                missing.append("lead")
            lines.append(
                RoundLine(
                    unit=d.name,
                    role=r.contact.role,
                    name=r.contact.name,
                    chat_id=r.contact.chat,
                    items=[i.title for i in d.items],
                    contacts_missing=missing,
                )
            )
    out = RoundOut(round_id=None, dry_run=dry_run, reminders=lines, no_chat=no_chat, paused=paused)
    return _Round(out, messages)


async def _require_staff(services: Services, actor_id: int | None) -> None:
    """The command line (actor None) is trusted; a chat user must be staff."""
    if actor_id is not None and not await roster.is_staff(services=services, user_id=actor_id):
        raise NotStaff()


async def _enqueue_round(
    tx: AsyncSession, services: Services, plan: _Round, round_id: int, now: datetime
) -> int:
    today = services.today()
    queued = 0
    for decision, r in plan.messages:
        chat = r.contact.chat
        assert chat is not None
        unit = decision.dues
        meta = {
            "kind": "round",
            "round": round_id,
            "unit": unit.unit_id,
            "person": r.contact.person_id,
            "role": r.contact.role,
            "why": r.why,
            "count": decision.silent,
        }
        lang = _lang(r.contact, services.settings)
        text, markup = render_reminder(
            unit, role=r.contact.role, lang=lang, today=today, why=r.why, count=decision.silent
        )
        queued += await enqueue(
            tx,
            key=f"round:{round_id}:{chat}:{unit.unit_id}",
            chat_id=chat,
            purpose=REMINDER,
            payload=_payload(text, markup, meta),
            now=now,
            unit_id=unit.unit_id,
        )
    return queued


async def preview_round(
    *, services: Services, actor_id: int | None, unit_ids: Collection[int] | None = None
) -> RoundOut:
    """Who a round asked for now would reach, with what; recorded so it can be confirmed.

    With `unit_ids`, the round is for those units only (the "remind now" button of a unit's
    file); the confirmation sends to exactly the units the preview was for.
    """
    await _require_staff(services, actor_id)
    now = services.now()
    ids = sorted(set(unit_ids)) if unit_ids is not None else None
    async with services.db.uow() as tx:
        plan = await _compose_round(tx, services, dry_run=True, unit_ids=ids)
        details: dict[str, Any] = {
            "reminders": len(plan.out.reminders),
            "no_chat": len(plan.out.no_chat),
        }
        if ids is not None:
            details["unit_ids"] = ids
        event = AuditEvent(
            at=now,
            actor_id=actor_id,
            action="remind_preview",
            unit_id=ids[0] if ids is not None and len(ids) == 1 else None,
            details=details,
        )
        tx.add(event)
        await tx.flush()
        plan.out.round_id = event.id
    return plan.out


async def confirm_round(*, services: Services, actor_id: int, preview_id: int) -> RoundOut:
    """Queue the round a preview showed (at once: not held for hours or working days).

    The round's keys carry the preview's id, so pressing confirm twice sends nothing twice.
    """
    await _require_staff(services, actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        preview = await tx.get(AuditEvent, preview_id)
        if (
            preview is None
            or preview.action != "remind_preview"
            or now - preview.at > PREVIEW_VALID
        ):
            raise StaleRound()
        chosen = (preview.details or {}).get("unit_ids")
        ids = [int(i) for i in chosen] if isinstance(chosen, list) else None
        plan = await _compose_round(tx, services, dry_run=False, unit_ids=ids)
        plan.out.round_id = preview_id
        plan.out.queued = await _enqueue_round(tx, services, plan, preview_id, now)
        plan.out.already = bool(plan.messages) and plan.out.queued == 0
        repo.audit(
            tx,
            at=now,
            actor_id=actor_id,
            action="remind_round",
            unit_id=preview.unit_id,
            round=preview_id,
            queued=plan.out.queued,
        )
    return plan.out


async def queue_round(
    *, services: Services, actor_id: int | None = None, dry_run: bool = False
) -> RoundOut:
    """A round now for every outstanding unit (`liaison-bot remind`); `dry_run` only lists it."""
    await _require_staff(services, actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        plan = await _compose_round(tx, services, dry_run=dry_run)
        if dry_run:
            return plan.out
        event = AuditEvent(
            at=now,
            actor_id=actor_id,
            action="remind_round",
            unit_id=None,
            details={"reminders": len(plan.out.reminders)},
        )
        tx.add(event)
        await tx.flush()
        plan.out.round_id = event.id
        plan.out.queued = await _enqueue_round(tx, services, plan, event.id, now)
        event.details = {**event.details, "queued": plan.out.queued}
    return plan.out


def _names(names: Sequence[str], lang: str, limit: int = 30) -> str:
    """市民政局、市卫健委 … 等45家 — a list of units that stays short."""
    shown = t(lang, "reminders.and").join(names[:limit])
    if len(names) <= limit:
        return shown
    return t(lang, "reminders.more_units", units=shown, count=len(names))


def render_round(out: RoundOut, lang: str, *, limit: int = 40) -> str:
    """A round as staff read it: a summary, then who gets what (the first `limit` lines)."""
    if not out.reminders and not out.no_chat:
        return t(lang, "reminders.round.nothing")
    units = len({line.unit for line in out.reminders})
    lines = [t(lang, "reminders.round.heading")]
    lines.append(t(lang, "reminders.round.summary", count=len(out.reminders), units=units))
    joiner = t(lang, "reminders.and")
    for line in out.reminders[:limit]:
        parts = []
        if line.items:
            parts.append(t(lang, "reminders.summary_items", count=len(line.items)))
        parts += [t(lang, f"reminders.summary_{role}") for role in line.contacts_missing]
        lines.append(
            t(
                lang,
                "reminders.round.line",
                unit=line.unit,
                role=t(lang, f"common.role_{line.role}"),
                name=line.name,
                owed=joiner.join(parts),
            )
        )
    if len(out.reminders) > limit:
        lines.append(t(lang, "reminders.round.more", count=len(out.reminders) - limit))
    if out.no_chat:
        lines.append(
            t(
                lang,
                "reminders.round.no_chat",
                count=len(out.no_chat),
                units=_names(out.no_chat, lang),
            )
        )
    if out.paused:
        lines.append(t(lang, "reminders.round.paused", units=_names(out.paused, lang)))
    return "\n".join(lines)


# ---- group roll call (点名通报) ---------------------------------------------------------------


async def _group(tx: AsyncSession, chat_id: int, title: str, now: datetime) -> GroupChat:
    group = await tx.get(GroupChat, chat_id)
    if group is None:
        group = GroupChat(chat_id=chat_id, title=title[:255], rollcall_enabled=False, added_at=now)
        tx.add(group)
    elif title and group.title != title:
        group.title = title[:255]
    return group


async def rollcall_now(
    *, services: Services, actor_id: int, chat_id: int, title: str, request_id: int
) -> bool:
    """Post the units still outstanding in a group now (through the outbox: 20/min a group)."""
    await _require_staff(services, actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        await _group(tx, chat_id, title, now)
        dues = await load_dues(tx)
        deadline = _overall_deadline(await _cached_deadlines(tx))
        today = services.today()
        parts = render_rollcall(
            dues, today=today, deadline=deadline, lang=services.settings.language
        )
        queued = 0
        for index, text in enumerate(parts, start=1):
            queued += await enqueue(
                tx,
                key=f"rollcall:{chat_id}:ask:{request_id}:{index}",
                chat_id=chat_id,
                purpose=ROLLCALL,
                payload=_payload(
                    text, None, {"kind": "asked", "part": index, "parts": len(parts)}
                ),
                now=now,
            )
        repo.audit(tx, at=now, actor_id=actor_id, action="rollcall", chat_id=chat_id)
    return bool(queued)


async def set_rollcall(
    *, services: Services, actor_id: int, chat_id: int, title: str, enabled: bool
) -> bool:
    """Switch the scheduled roll call of a group on or off; tell whether it changed."""
    await _require_staff(services, actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        group = await _group(tx, chat_id, title, now)
        changed = group.rollcall_enabled != enabled
        group.rollcall_enabled = enabled
        repo.audit(
            tx,
            at=now,
            actor_id=actor_id,
            action="rollcall_on" if enabled else "rollcall_off",
            chat_id=chat_id,
        )
    return changed


# ---- pause and resume ---------------------------------------------------------------------


class PauseOut(BaseModel):
    unit: str
    paused_until: date | None
    reason: str | None
    changed: bool


async def pause_unit(
    *,
    services: Services,
    unit_name: str,
    until: date,
    reason: str | None = None,
    actor_id: int | None = None,
) -> PauseOut:
    """Hold a unit's reminders through `until` (inclusive): its liaison is on leave, say."""
    await _require_staff(services, actor_id)
    today = services.today()
    if until < today:
        raise BadInput("reminders.cli.pause_past", today=today.isoformat())
    reason = (reason or "").strip()[:200] or None
    async with services.db.uow() as tx:
        unit = await roster.find_unit(tx, unit_name)
        unit.paused_until, unit.pause_reason = until, reason
        repo.audit(
            tx,
            at=services.now(),
            actor_id=actor_id,
            action="reminders_paused",
            unit_id=unit.id,
            until=until.isoformat(),
            reason=reason,
        )
        return PauseOut(unit=unit.name, paused_until=until, reason=reason, changed=True)


async def resume_unit(
    *, services: Services, unit_name: str, actor_id: int | None = None
) -> PauseOut:
    """Lift a pause: the unit is reminded again at the next round it is due."""
    await _require_staff(services, actor_id)
    async with services.db.uow() as tx:
        unit = await roster.find_unit(tx, unit_name)
        changed = unit.paused_until is not None and unit.paused_until >= services.today()
        unit.paused_until, unit.pause_reason = None, None
        repo.audit(
            tx, at=services.now(), actor_id=actor_id, action="reminders_resumed", unit_id=unit.id
        )
        return PauseOut(unit=unit.name, paused_until=None, reason=None, changed=changed)


# ---- at delivery: still wanted? and who is next when a chat is unreachable -----------------


class ReminderDelivery:
    """The dispatcher's side of reminders: `checks` and the `on_unreachable` hook."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def checks(self) -> dict[str, StillWanted]:
        return {
            REMINDER: self.reminder_wanted,
            TASK: self.task_wanted,
            DIGEST: self.digest_wanted,
            ROLLCALL: self.rollcall_wanted,
        }

    def _held(self, meta: dict[str, Any]) -> bool:
        """A scheduled message waits for nothing: after its day or in quiet hours it is moot."""
        if meta.get("kind") != "scheduled":
            return False
        local = office_now(self.services)
        return meta.get("day") != local.date().isoformat() or Policy.of(
            self.services.settings
        ).quiet(local)

    async def _dues(self, tx: AsyncSession, unit_id: int | None) -> UnitDues | None:
        if unit_id is None:
            return None
        found = await load_dues(tx, [unit_id])
        return found[0] if found else None

    async def reminder_wanted(self, tx: AsyncSession, row: OutboxMessage) -> bool:
        """Send only if the unit still owes something, to whoever still holds the role;
        re-render it so it names exactly what is owed now."""
        meta = row.payload.get("meta")
        if not isinstance(meta, dict):
            return True  # not one of ours
        if self._held(meta):
            return False
        today = self.services.today()
        dues = await self._dues(tx, row.unit_id)
        if dues is None or not dues.owes or dues.paused_on(today):
            return False
        contact = dues.contact(str(meta.get("role")))
        if (
            contact is None
            or contact.person_id != meta.get("person")
            or contact.user_id != row.chat_id
        ):
            return False
        text, markup = render_reminder(
            dues,
            role=contact.role,
            lang=_lang(contact, self.services.settings),
            today=today,
            why=meta.get("why"),
            count=int(meta.get("count") or 0),
        )
        row.payload = _payload(text, markup, meta)
        return True

    async def task_wanted(self, tx: AsyncSession, row: OutboxMessage) -> bool:
        meta = row.payload.get("meta")
        if not isinstance(meta, dict):
            return True
        if self._held(meta):
            return False
        dues = await self._dues(tx, row.unit_id)
        return dues is not None and dues.owes and not dues.paused_on(self.services.today())

    async def digest_wanted(self, tx: AsyncSession, row: OutboxMessage) -> bool:
        meta = row.payload.get("meta")
        return not isinstance(meta, dict) or meta.get("day") == self.services.today().isoformat()

    async def rollcall_wanted(self, tx: AsyncSession, row: OutboxMessage) -> bool:
        """A roll call names the units outstanding when it is posted, not when it was asked."""
        meta = row.payload.get("meta")
        if not isinstance(meta, dict):
            return True
        if self._held(meta):
            return False
        today = self.services.today()
        dues = await load_dues(tx)
        if meta.get("kind") == "scheduled" and not any(
            d.owes and not d.paused_on(today) for d in dues
        ):
            return False
        if int(meta.get("parts") or 1) > 1:
            return True  # a long roll call in parts is sent as it was cut
        deadline = _overall_deadline(await _cached_deadlines(tx))
        parts = render_rollcall(
            dues, today=today, deadline=deadline, lang=self.services.settings.language
        )
        if len(parts) == 1:
            row.payload = _payload(parts[0], None, meta)
        return True

    async def on_unreachable(self, tx: AsyncSession, row: OutboxMessage, now: datetime) -> None:
        """A 403: tell the next person on the ladder instead (lead's chat, else staff)."""
        if row.purpose == ROLLCALL:
            group = await tx.get(GroupChat, row.chat_id)
            if group is not None and group.rollcall_enabled:
                group.rollcall_enabled = False  # the bot was removed from the group
            return
        meta = row.payload.get("meta")
        if row.purpose != REMINDER or not isinstance(meta, dict):
            return
        dues = await self._dues(tx, row.unit_id)
        if dues is None or not dues.owes:
            return
        failed = dues.contact(str(meta.get("role")))
        lead = dues.lead
        settings = self.services.settings
        if (
            meta.get("role") == "liaison"
            and lead is not None
            and lead.chat
            and lead.chat != row.chat_id
        ):
            day = self.services.today().isoformat()
            own = await tx.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.dedupe_key == f"reminder:{dues.unit_id}:{lead.person_id}:{day}"
                )
            )
            if own is not None:
                return  # the lead has their own reminder today: one message a day, not two
            why: Why = "liaison_unreachable"
            text, markup = render_reminder(
                dues, role="lead", lang=_lang(lead, settings), today=self.services.today(), why=why
            )
            fallback = {
                **meta,
                "kind": meta.get("kind"),
                "person": lead.person_id,
                "role": "lead",
                "why": why,
            }
            await enqueue(
                tx,
                key=f"fallback:{row.id}:{lead.chat}",
                chat_id=lead.chat,
                purpose=REMINDER,
                payload=_payload(text, markup, fallback),
                now=now,
                unit_id=dues.unit_id,
            )
            return
        for member in await staff_chats(tx, settings):
            if member.user_id == row.chat_id:
                continue
            text = render_task(dues, failed=failed, lang=member.language)
            await enqueue(
                tx,
                key=f"fallback:{row.id}:{member.user_id}",
                chat_id=member.user_id,
                purpose=TASK,
                payload=_payload(text, None, {**meta, "failed": row.chat_id}),
                now=now,
                unit_id=dues.unit_id,
            )


# ---- the job ------------------------------------------------------------------------------


async def planner_job(context: Context) -> None:
    """PTB job: tick the planner and wake the dispatcher when something was queued."""
    try:
        out = await plan_tick(services=context.bot_data.services)
    except Exception:
        log.exception("planning reminders failed; the next tick tries again")
        return
    dispatcher = context.bot_data.dispatcher
    if out.planned and dispatcher is not None:
        dispatcher.wake()
