"""Use-cases behind the staff console: who is outstanding, one unit's file, the audit log.

Every function checks that the actor is office staff (NotStaff otherwise) and returns
pydantic models. The counting is the report's (`bot/ledger/report.py`) — the same numbers as
the export and `report --json` (13家单位未报送分管领导和联络员, 25家单位资料台账未报齐)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.conversations import end_step, save_step
from bot.enums import ItemState, UnitKind
from bot.errors import ItemGone, UnitGone
from bot.ledger.checklist import add_item, exempt
from bot.ledger.report import (
    Report,
    Totals,
    UnitStatus,
    build_report,
    kind_deadlines,
    report_row,
    totals_of,
)
from bot.ledger.status import ItemStatus, load_unit
from bot.registration.invites import InviteOut
from bot.services import Services
from storage.models import (
    Account,
    AuditEvent,
    ChecklistItem,
    GroupChat,
    OutboxMessage,
    Person,
    Unit,
)

ListName = Literal["all", "contacts", "items", "review", "unreachable"]
KindFilter = str  # "any", or a UnitKind

LISTS: tuple[ListName, ...] = ("all", "contacts", "items", "review", "unreachable")
KINDS: tuple[KindFilter, ...] = ("any", *(kind.value for kind in UnitKind))
PAGE_SIZE = 15
EXEMPT_FLOW = "staff_exempt"
ADD_ITEM_FLOW = "staff_add_item"
AUDIT_PAGE = 15
# Outbox purposes that are reminders to a unit (催报), for the unit's file and the export.
REMINDER_PURPOSES = ("reminder",)

_MATCHES: dict[ListName, Callable[[UnitStatus], bool]] = {
    "all": lambda s: s.missing_contacts or bool(s.missing_items),
    "contacts": lambda s: s.missing_contacts,
    "items": lambda s: bool(s.missing_items),
    "review": lambda s: s.pending_review > 0,
    "unreachable": lambda s: s.unreachable,
}


class OutstandingLine(BaseModel):
    name: str
    kind: str
    missing_roles: list[str]  # "liaison" | "lead"
    missing_items: int
    pending_review: int
    unreachable: bool


class OutstandingView(BaseModel):
    generated_at: datetime
    deadline: date | None
    deadlines: dict[str, date | None]  # each kind's, of the units of the chosen kind
    totals: Totals  # the whole campaign: the numbers the office quotes
    scope: Totals  # the units of the chosen kind
    unreachable_units: int
    list_name: ListName
    kind: KindFilter
    page: int
    pages: int
    count: int  # units in the chosen list
    lines: list[OutstandingLine]


def _line(status: UnitStatus) -> OutstandingLine:
    roles = [
        role
        for role, ok in (("liaison", status.liaison_registered), ("lead", status.lead_registered))
        if not ok
    ]
    return OutstandingLine(
        name=status.name,
        kind=status.kind,
        missing_roles=roles,
        missing_items=len(status.missing_items),
        pending_review=status.pending_review,
        unreachable=status.unreachable,
    )


def outstanding_from(
    report: Report, *, list_name: ListName, kind: KindFilter, page: int
) -> OutstandingView:
    """One page of one list of the report, for units of one kind (or all)."""
    in_scope = [s for s in report.units if kind == "any" or s.kind == kind]
    chosen = [s for s in in_scope if _MATCHES[list_name](s)]
    pages = max(1, math.ceil(len(chosen) / PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    return OutstandingView(
        generated_at=report.generated_at,
        deadline=report.deadline,
        deadlines=kind_deadlines(in_scope),
        totals=report.totals,
        scope=totals_of(in_scope),
        unreachable_units=sum(1 for s in in_scope if s.unreachable),
        list_name=list_name,
        kind=kind,
        page=page,
        pages=pages,
        count=len(chosen),
        lines=[_line(s) for s in chosen[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]],
    )


async def outstanding(
    *,
    services: Services,
    actor_id: int,
    list_name: ListName = "all",
    kind: KindFilter = "any",
    page: int = 0,
) -> OutstandingView:
    """Who is outstanding: the counts, and one page of the chosen list."""
    await roster.require_staff(services=services, actor_id=actor_id)
    report = await build_report(services=services)
    return outstanding_from(report, list_name=list_name, kind=kind, page=page)


class ContactOut(BaseModel):
    # A Person's own fields (read from it by name), then its account's reachability.
    role: str
    name: str
    post: str
    phone: str
    telegram_user_id: int | None
    since: datetime
    until: datetime | None
    unreachable_since: datetime | None = None
    unreachable_reason: str | None = None


class ItemOut(BaseModel):
    # An ItemStatus's fields (read from it by name; the note is its reason).
    model_config = ConfigDict(validate_by_name=True)

    item_id: int
    title: str
    state: ItemState
    # The state as a person reads it (an accepted "not applicable" answer apart).
    shown_state: str
    submitted_at: datetime | None = None
    reviewed_at: datetime | None = None
    # The exemption's reason, the reviewer's reason (returned) or the unit's reason
    # (not applicable, awaiting review or accepted).
    note: str | None = Field(default=None, validation_alias="reason")
    # Still owed, and a draft is in progress (a note, never the state).
    draft: bool = Field(default=False, validation_alias="has_draft")


class ReminderOut(BaseModel):
    at: datetime
    state: str
    recipient: str | None  # the person's name, when known


class UnitCard(BaseModel):
    id: int
    name: str
    former: str | None = None  # the former name staff asked for it by
    kind: str
    deadline: date | None
    paused_until: date | None
    pause_reason: str | None
    status: UnitStatus
    contacts: list[ContactOut]  # current holders
    history: list[ContactOut]  # earlier holders, latest first
    items: list[ItemOut]
    reminders_total: int  # reminders sent, as the report counts them
    reminders: list[ReminderOut]  # the latest few, latest first


async def _unit_by_id(session: AsyncSession, unit_id: int) -> Unit:
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise UnitGone()
    return unit


def item_out(item: ItemStatus) -> ItemOut:
    """One item of a unit's file: its state, dates and reason; a draft is only a note."""
    return ItemOut.model_validate(item, from_attributes=True)


async def _card(session: AsyncSession, unit: Unit) -> UnitCard:
    obligations = await load_unit(session, unit.id, reminders=True)
    people = (
        await session.scalars(
            select(Person).where(Person.unit_id == unit.id).order_by(Person.since.desc())
        )
    ).all()
    ids = [p.telegram_user_id for p in people if p.telegram_user_id]
    accounts = {
        a.user_id: a
        for a in (await session.scalars(select(Account).where(Account.user_id.in_(ids)))).all()
    }

    def contact(p: Person) -> ContactOut:
        out = ContactOut.model_validate(p, from_attributes=True)
        account = accounts.get(p.telegram_user_id or 0)
        if account is not None:
            out.unreachable_since = account.unreachable_since
            out.unreachable_reason = account.unreachable_reason
        return out

    current = sorted(
        (contact(p) for p in people if p.until is None), key=lambda c: c.role != "liaison"
    )
    recent = (
        await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.unit_id == unit.id,
                OutboxMessage.purpose.in_(REMINDER_PURPOSES),
            )
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(5)
        )
    ).all()
    names = {p.telegram_user_id: p.name for p in people if p.telegram_user_id}
    return UnitCard(
        id=unit.id,
        name=unit.name,
        kind=unit.kind,
        deadline=obligations.deadline,
        paused_until=unit.paused_until,
        pause_reason=unit.pause_reason,
        status=report_row(obligations),
        contacts=current,
        history=[contact(p) for p in people if p.until is not None],
        items=[item_out(i) for i in obligations.every_item],
        reminders_total=obligations.reminders_sent,
        reminders=[
            ReminderOut(
                at=r.sent_at or r.created_at, state=r.state, recipient=names.get(r.chat_id)
            )
            for r in recent
        ],
    )


async def unit_card(
    *, services: Services, actor_id: int, name: str | None = None, unit_id: int | None = None
) -> UnitCard:
    """One unit's file: contacts and their history, each item's state, reminders, flags."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.sessions() as session:
        if unit_id is not None:
            return await _card(session, await _unit_by_id(session, unit_id))
        found = await roster.lookup_unit(session, name or "")
        card = await _card(session, found.unit)
        card.former = found.former
        return card


class ItemChoice(BaseModel):
    item_id: int
    title: str


class ExemptChoices(BaseModel):
    unit_id: int
    unit: str
    items: list[ItemChoice]


async def exempt_choices(*, services: Services, actor_id: int, unit_id: int) -> ExemptChoices:
    """The items a unit still owes, any of which staff may excuse it from."""
    card = await unit_card(services=services, actor_id=actor_id, unit_id=unit_id)
    owed = [i for i in card.items if i.state not in ("accepted", "exempt")]
    return ExemptChoices(
        unit_id=card.id,
        unit=card.name,
        items=[ItemChoice(item_id=i.item_id, title=i.title) for i in owed],
    )


class ExemptAsk(BaseModel):
    unit: str
    title: str


class ExemptDone(BaseModel):
    unit: str
    title: str
    reason: str


async def _unit_item(
    session: AsyncSession, unit_id: int, item_id: int
) -> tuple[Unit, ChecklistItem]:
    unit = await _unit_by_id(session, unit_id)
    item = await session.get(ChecklistItem, item_id)
    if item is None or not (item.kind == unit.kind or item.unit_id == unit.id):
        raise ItemGone()
    return unit, item


async def ask_exempt_reason(
    *, services: Services, actor_id: int, unit_id: int, item_id: int
) -> ExemptAsk:
    """Remember which item staff are excusing a unit from; the reason comes next."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        unit, item = await _unit_item(tx, unit_id, item_id)
        await save_step(
            tx,
            user_id=actor_id,
            flow=EXEMPT_FLOW,
            step="reason",
            data={"unit_id": unit_id, "item_id": item_id},
            now=services.now(),
        )
        return ExemptAsk(unit=unit.name, title=item.title)


async def excuse(
    *, services: Services, actor_id: int, unit_id: int, item_id: int, reason: str
) -> ExemptDone:
    """Excuse a unit from one item (bot.checklist.exempt, which writes the audit entry)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    reason = reason.strip()[:500]
    async with services.db.sessions() as session:
        unit, item = await _unit_item(session, unit_id, item_id)
        unit_name, title = unit.name, item.title
    unit_name, title = await exempt(
        services=services, unit_name=unit_name, title=title, reason=reason, actor_id=actor_id
    )
    async with services.db.uow() as tx:
        await end_step(tx, actor_id)
    return ExemptDone(unit=unit_name, title=title, reason=reason)


class AddItemAsk(BaseModel):
    unit: str


class AddItemDone(BaseModel):
    unit: str
    title: str
    added: bool  # False: the unit already owed an item of that title; nothing changed


async def ask_item_title(*, services: Services, actor_id: int, unit_id: int) -> AddItemAsk:
    """Remember which unit staff are adding an item for; the title comes next."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        unit = await _unit_by_id(tx, unit_id)
        await save_step(
            tx,
            user_id=actor_id,
            flow=ADD_ITEM_FLOW,
            step="title",
            data={"unit_id": unit_id},
            now=services.now(),
        )
        return AddItemAsk(unit=unit.name)


def split_item_text(text: str) -> tuple[str, str]:
    """The first line (or what comes before "：") is the title, the rest the description."""
    first, _, rest = text.strip().partition("\n")
    if not rest and "：" in first:
        first, _, rest = first.partition("：")
    return first.strip()[:200], rest.strip()[:2000]


async def add_unit_item(
    *, services: Services, actor_id: int, unit_id: int, text: str
) -> AddItemDone:
    """Make one unit owe one more item (bot.checklist.add_item, which writes the audit entry)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    title, description = split_item_text(text)
    unit_name = await _unit_name(services, unit_id)
    added = await add_item(
        services=services,
        unit_name=unit_name,
        title=title,
        description=description,
        actor_id=actor_id,
    )
    async with services.db.uow() as tx:
        await end_step(tx, actor_id)
    return AddItemDone(unit=added.unit, title=added.title, added=added.added)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str | None  # the person on the roster, or the staff member, by name
    actor_staff: bool
    action: str
    unit: str | None
    details: dict[str, Any]


# Details that name a person on the roster by id: shown as the person's name.
_PERSON_KEYS = {
    "person_id": "person",
    "old_person_id": "old_person",
    "new_person_id": "new_person",
    "replaced_person_id": "replaced_person",
}
# Details that are internal references, never shown to a person.
_HIDDEN_KEYS = {"submission_id", "invite_id", "before", "size"}


def readable_details(
    details: dict[str, Any], people: dict[int, str], groups: dict[int, str]
) -> dict[str, Any]:
    """An audit entry's details with ids replaced by what they name (a person, a group) and
    internal references left out; the words for each key are the handler's."""
    result: dict[str, Any] = {}
    for key, value in details.items():
        if value is None or value == "" or key in _HIDDEN_KEYS:
            continue
        if key in _PERSON_KEYS:
            if isinstance(value, int) and value in people:
                result[_PERSON_KEYS[key]] = people[value]
            continue
        if key == "chat_id":
            result["group"] = groups.get(int(value), "") if isinstance(value, int) else ""
            continue
        result[key] = value
    return result


class AuditPage(BaseModel):
    entries: list[AuditEntry]  # latest first
    older: int | None  # pass as `before` for the next page


async def audit_log(
    *, services: Services, actor_id: int, before: int | None = None, limit: int = AUDIT_PAGE
) -> AuditPage:
    """The latest audit entries (before entry `before`, for paging back)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    staff = {s.user_id for s in await roster.list_staff(services=services)}
    async with services.db.sessions() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        events = list((await session.scalars(query)).all())
        shown = events[:limit]
        unit_ids = {e.unit_id for e in shown if e.unit_id}
        actor_ids = {e.actor_id for e in shown if e.actor_id}
        staff_named = await roster.staff_names(session, sorted(actor_ids & staff))
        units = {
            u.id: u.name
            for u in (await session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))).all()
        }
        people = (
            await session.scalars(
                select(Person).where(Person.telegram_user_id.in_(actor_ids)).order_by(Person.since)
            )
        ).all()
        person_ids = {
            int(v)
            for e in shown
            for k, v in (e.details or {}).items()
            if k in _PERSON_KEYS and isinstance(v, int)
        }
        chat_ids = {
            int(v) for e in shown for k, v in (e.details or {}).items() if k == "chat_id" and v
        }
        people_by_id = {
            p.id: p.name
            for p in (await session.scalars(select(Person).where(Person.id.in_(person_ids)))).all()
        }
        groups = {
            g.chat_id: g.title
            for g in (
                await session.scalars(select(GroupChat).where(GroupChat.chat_id.in_(chat_ids)))
            ).all()
        }
    names = {p.telegram_user_id: p.name for p in people}
    return AuditPage(
        entries=[
            AuditEntry(
                id=e.id,
                at=e.at,
                actor_id=e.actor_id,
                actor_name=(staff_named if e.actor_id in staff else names).get(e.actor_id)
                if e.actor_id
                else None,
                actor_staff=e.actor_id in staff,
                action=e.action,
                unit=units.get(e.unit_id) if e.unit_id else None,
                details=readable_details(dict(e.details or {}), people_by_id, groups),
            )
            for e in shown
        ],
        older=shown[-1].id if len(events) > limit else None,
    )


class PausedOut(BaseModel):
    unit: str
    until: date | None


async def new_invite(
    *, services: Services, actor_id: int, unit_id: int, role: str, username: str | None
) -> InviteOut:
    """A new invite link for the unit's liaison or lead (bot.invites)."""
    from bot.registration.invites import create_unit_invite

    made = await create_unit_invite(
        services=services,
        unit_id=unit_id,
        role="lead" if role == "lead" else "liaison",
        actor_id=actor_id,
        username=username or None,
    )
    if made is None:
        raise UnitGone()
    return made


async def _unit_name(services: Services, unit_id: int) -> str:
    async with services.db.sessions() as session:
        return (await _unit_by_id(session, unit_id)).name


async def pause_reminders(
    *, services: Services, actor_id: int, unit_id: int, days: int
) -> PausedOut:
    """Hold the unit's reminders for some days (bot.reminders, which writes the audit entry)."""
    from bot.reminders.pause import pause_unit

    await roster.require_staff(services=services, actor_id=actor_id)
    name = await _unit_name(services, unit_id)
    until = services.today() + timedelta(days=days)
    done = await pause_unit(services=services, unit_name=name, until=until, actor_id=actor_id)
    return PausedOut(unit=done.unit, until=done.paused_until)


async def resume_reminders(*, services: Services, actor_id: int, unit_id: int) -> PausedOut:
    """Lift the pause on the unit's reminders (bot.reminders)."""
    from bot.reminders.pause import resume_unit

    await roster.require_staff(services=services, actor_id=actor_id)
    name = await _unit_name(services, unit_id)
    done = await resume_unit(services=services, unit_name=name, actor_id=actor_id)
    return PausedOut(unit=done.unit, until=None)
