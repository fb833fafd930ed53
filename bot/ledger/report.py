"""Who is outstanding: one computation for the chat, the export and `report --json`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Protocol

from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from bot.enums import KIND_ORDER
from bot.ledger.checklist import overall_deadline
from bot.ledger.status import UnitObligations, deadlines, gc_paused, load_obligations
from bot.services import Services
from messages import (
    Markup,
    format_date,
    format_time,
    join_and,
    join_clauses,
    kind_name,
    role_name,
    t,
)


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


# Every field is set, so one set serves every line (setting a field adds nothing to it).
_ROW_FIELDS = set(UnitStatus.model_fields)
_new_row = UnitStatus.__new__
_set = object.__setattr__


def report_row(unit: UnitObligations) -> UnitStatus:
    """A unit's line in the report (built from the read model as it is: no validation).

    What `model_construct` does, without its per-field look-ups: a country's report makes
    100,000 of these.
    """
    row = _new_row(UnitStatus)
    _set(
        row,
        "__dict__",
        {
            "name": unit.name,
            "kind": unit.kind,
            "liaison_registered": unit.liaison is not None,
            "lead_registered": unit.lead_registered,
            "lead_linked": unit.lead_linked,
            "missing_items": unit.missing_items,
            "pending_review": unit.pending_review,
            "reminders_sent": unit.reminders_sent,
            "unreachable": unit.unreachable,
            "deadline": unit.deadline,
        },
    )
    _set(row, "__pydantic_fields_set__", _ROW_FIELDS)
    _set(row, "__pydantic_extra__", None)
    _set(row, "__pydantic_private__", None)
    return row


def totals_of(statuses: list[UnitStatus]) -> Totals:
    """The report's totals over some units (the same counting everywhere)."""
    return Totals(
        units=len(statuses),
        missing_contacts=sum(1 for s in statuses if s.missing_contacts),
        missing_items=sum(1 for s in statuses if s.missing_items),
        pending_review=sum(s.pending_review for s in statuses),
    )


async def unit_statuses(session: AsyncSession) -> list[UnitStatus]:
    """The report's line of every unit, counties first."""
    with gc_paused():
        units = await load_obligations(session, detail=False, reminders=True)
        # Each unit is let go once its line is made, so the two lists never peak together.
        units.reverse()
        lines = []
        while units:
            lines.append(report_row(units.pop()))
        return lines


async def build_report(*, services: Services) -> Report:
    """The outstanding report, computed from the database now."""
    async with services.db.snapshot() as session:
        return await report_in(session, services)


async def report_in(session: AsyncSession, services: Services) -> Report:
    """The outstanding report, read in the caller's transaction."""
    statuses = await unit_statuses(session)
    return Report(
        generated_at=services.now().astimezone(services.settings.tz),
        deadline=overall_deadline(await deadlines(session)),
        totals=totals_of(statuses),
        units=statuses,
    )


def report_json(report: Report) -> str:
    """The JSON of `report --json` (one object; docs/reference.md describes it)."""
    return report.model_dump_json(indent=2)


_LINES = TypeAdapter(list[UnitStatus])
_CHUNK = 2_000


class Writable(Protocol):
    def write(self, text: str, /) -> int: ...


def write_report_json(report: Report, out: Writable) -> None:
    """`report_json` written a few thousand units at a time, never the whole text at once."""
    head = report.model_dump_json(indent=2, exclude={"units"})
    out.write(head[: head.rindex("}")].rstrip() + ',\n  "units": [')
    for start in range(0, len(report.units), _CHUNK):
        chunk = _LINES.dump_json(report.units[start : start + _CHUNK], indent=2).decode()
        body = chunk[1:-1].strip("\n").replace("\n", "\n  ")
        out.write(("," if start else "") + "\n  " + body)
    out.write("\n  ]\n}\n" if report.units else "]\n}\n")


def deadline_line(deadline: date | None, lang: str) -> str:
    """The line 报送截止日期：… (the date, or 尚未设置) that heads a report of the units."""
    if deadline is None:
        return t(lang, "report.no_deadline")
    return t(lang, "report.deadline", date=format_date(deadline, lang))


class KindDated(Protocol):
    """A unit as any layer holds it, with its kind and the deadline that follows from it."""

    @property
    def kind(self) -> str: ...

    @property
    def deadline(self) -> date | None: ...


def kind_deadlines(units: Iterable[KindDated]) -> dict[str, date | None]:
    """Map each kind among the units to its deadline, in UnitKind's order."""
    found: dict[str, date | None] = {}
    for unit in units:
        found.setdefault(unit.kind, unit.deadline)
    return dict(sorted(found.items(), key=lambda kv: KIND_ORDER.get(kv[0], len(KIND_ORDER))))


def differ(deadlines: Mapping[str, date | None]) -> bool:
    """Tell whether the kinds' deadlines are not all one date."""
    return len(set(deadlines.values())) > 1


def the_deadline(deadlines: Mapping[str, date | None], otherwise: date | None) -> date | None:
    """Give the one date the kinds share (`otherwise` when there are no units)."""
    return next(iter(deadlines.values())) if deadlines else otherwise


def each_kind(
    lang: str,
    deadlines: Mapping[str, date | None],
    *,
    dated: Callable[[str, date], str],
    undated: Callable[[str], str],
) -> list[str]:
    """Say each kind's deadline: `dated(kind's name, date)`, else `undated(kind's name)`."""
    return [
        dated(kind_name(lang, kind, plural=True), due)
        if due
        else undated(kind_name(lang, kind, plural=True))
        for kind, due in deadlines.items()
    ]


def deadlines_line(deadlines: Mapping[str, date | None], otherwise: date | None, lang: str) -> str:
    """The line 报送截止日期：… of some units: one date, or each kind's where they differ."""
    if not differ(deadlines):
        return deadline_line(the_deadline(deadlines, otherwise), lang)
    each = each_kind(
        lang,
        deadlines,
        dated=lambda kind, due: t(
            lang, "formats.kind_date", kind=kind, date=format_date(due, lang)
        ),
        undated=lambda kind: t(lang, "report.kind_no_deadline", kind=kind),
    )
    return t(lang, "report.deadlines", dates=Markup(join_clauses(lang, each)))


def render_report(report: Report, lang: str) -> str:
    """The report as a person reads it (HTML, for the chat; `strip_html` for a terminal)."""
    lines = [
        t(lang, "report.title", time=format_time(report.generated_at, lang)),
        deadlines_line(kind_deadlines(report.units), report.deadline, lang),
        "",
        t(lang, "report.totals", **report.totals.model_dump()),
        "",
        t(lang, "report.section_contacts"),
    ]
    contacts = [s for s in report.units if s.missing_contacts]
    for s in contacts:
        missing = [
            role_name(lang, role)
            for role, ok in (("liaison", s.liaison_registered), ("lead", s.lead_registered))
            if not ok
        ]
        lines.append(t(lang, "report.contacts_line", name=s.name, missing=join_and(lang, missing)))
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
