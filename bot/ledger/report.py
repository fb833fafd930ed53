"""Who is outstanding: one computation for the chat, the export and `report --json`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ledger.checklist import deadline_for
from bot.services import Services
from messages import Markup, t
from storage import repositories as repo
from storage.models import ChecklistItem, Person, Unit


class UnitStatus(BaseModel):
    name: str
    kind: str
    liaison_registered: bool
    lead_registered: bool
    lead_linked: bool
    missing_items: list[str]
    pending_review: int
    reminders_sent: int
    unreachable: bool
    deadline: date | None = None

    @property
    def missing_contacts(self) -> bool:
        return not (self.liaison_registered and self.lead_registered)


class Totals(BaseModel):
    units: int
    missing_contacts: int
    missing_items: int
    pending_review: int


class Report(BaseModel):
    generated_at: datetime
    deadline: date | None
    totals: Totals
    units: list[UnitStatus]


def required_items(
    unit: Unit, items: list[ChecklistItem], exempt_ids: set[int]
) -> list[ChecklistItem]:
    """The items a unit owes: those of its kind and its own additions, less its exemptions."""
    return [
        i
        for i in items
        if (i.kind == unit.kind or i.unit_id == unit.id) and i.id not in exempt_ids
    ]


async def unit_statuses(session: AsyncSession) -> list[UnitStatus]:
    """The status of every unit, read in a handful of queries."""
    units = await repo.units(session)
    items = list(await repo.checklist(session))
    exempt: dict[int, set[int]] = defaultdict(set)
    for e in await repo.exemptions(session):
        exempt[e.unit_id].add(e.item_id)
    people: dict[tuple[int, str], Person] = {
        (p.unit_id, p.role): p for p in await repo.current_people(session)
    }
    states: dict[tuple[int, int], str] = {}
    for s in await repo.open_submissions(session):
        # An accepted submission wins over one awaiting review.
        if states.get((s.unit_id, s.item_id)) != "accepted":
            states[(s.unit_id, s.item_id)] = s.state
    sent = await repo.reminders_sent_by_unit(session)
    unreachable = await repo.unreachable_users(session)
    deadlines = await repo.deadlines(session)
    result = []
    for unit in units:
        liaison = people.get((unit.id, "liaison"))
        lead = people.get((unit.id, "lead"))
        owed = required_items(unit, items, exempt[unit.id])
        missing = [i for i in owed if states.get((unit.id, i.id)) != "accepted"]
        pending = sum(1 for i in missing if states.get((unit.id, i.id)) == "pending")
        reach = [p.telegram_user_id for p in (liaison, lead) if p and p.telegram_user_id]
        result.append(
            UnitStatus(
                name=unit.name,
                kind=unit.kind,
                liaison_registered=liaison is not None,
                lead_registered=lead is not None and bool(lead.name and lead.post and lead.phone),
                lead_linked=lead is not None and lead.telegram_user_id is not None,
                missing_items=[i.title for i in missing],
                pending_review=pending,
                reminders_sent=sent.get(unit.id, 0),
                unreachable=any(u in unreachable for u in reach),
                deadline=deadline_for(unit.kind, deadlines),
            )
        )
    return result


async def build_report(*, services: Services) -> Report:
    """The outstanding report, computed from the database now."""
    async with services.db.uow() as tx:
        statuses = await unit_statuses(tx)
        deadlines = await repo.deadlines(tx)
    overall = deadlines.get("all")
    dates = [d.due for d in deadlines.values()]
    return Report(
        generated_at=services.now().astimezone(services.settings.tz),
        deadline=overall.due if overall else (max(dates) if dates else None),
        totals=Totals(
            units=len(statuses),
            missing_contacts=sum(1 for s in statuses if s.missing_contacts),
            missing_items=sum(1 for s in statuses if s.missing_items),
            pending_review=sum(s.pending_review for s in statuses),
        ),
        units=statuses,
    )


def report_json(report: Report) -> str:
    """The JSON of CONTRACT.md (one object; extra keys allowed)."""
    return report.model_dump_json(indent=2)


def render_report(report: Report, lang: str) -> str:
    """The report as a person reads it (HTML, for the chat; `strip_html` for a terminal)."""
    lines = [
        t(lang, "report.title", time=report.generated_at.strftime("%Y-%m-%d %H:%M")),
        t(lang, "report.deadline", date=format_date(report.deadline, lang))
        if report.deadline
        else t(lang, "report.no_deadline"),
        "",
        t(lang, "report.totals", **report.totals.model_dump()),
        "",
        t(lang, "report.section_contacts"),
    ]
    joiner = t(lang, "report.and")
    contacts = [s for s in report.units if s.missing_contacts]
    for s in contacts:
        missing = [
            t(lang, f"common.role_{role}")
            for role, ok in (("liaison", s.liaison_registered), ("lead", s.lead_registered))
            if not ok
        ]
        lines.append(t(lang, "report.contacts_line", name=s.name, missing=joiner.join(missing)))
    if not contacts:
        lines.append(t(lang, "report.none"))
    lines += ["", t(lang, "report.section_items")]
    owing = [s for s in report.units if s.missing_items]
    for s in owing:
        pending = (
            t(lang, "report.items_pending", count=s.pending_review) if s.pending_review else ""
        )
        lines.append(
            t(
                lang,
                "report.items_line",
                name=s.name,
                count=len(s.missing_items),
                pending=Markup(pending),
            )
        )
    if not owing:
        lines.append(t(lang, "report.none"))
    return "\n".join(lines)


def format_date(day: date, lang: str) -> str:
    """A date as the office writes it: 2026年12月31日 / 31 Dec 2026."""
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.strftime("%-d %b %Y")
