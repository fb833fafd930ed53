"""The status workbook (`/export`, `liaison-bot export FILE.xlsx`); the archive of materials is
`bot.staff.archive`.

The numbers come from `bot.ledger.report` — the same as the chat and `report --json`. The
workbook is read in ONE transaction (a snapshot: the report's numbers, the item matrix and the
logs come from the same moment) and written as it is read, in openpyxl's write-only mode: a few
thousand rows at a time, each batch written in a worker thread (`asyncio.to_thread`), so that a
country's 100,000 units never sit in memory as cells. A write-only sheet cannot change its
column widths once rows are written, so each sheet's widths are worked out from its values
first (the logs are read twice for that)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.enums import KIND_ORDER, OPEN, ItemState, UnitKind
from bot.ledger.checklist import overall_deadline
from bot.ledger.report import (
    Totals,
    UnitStatus,
    differ,
    each_kind,
    kind_deadlines,
    report_row,
    the_deadline,
    totals_of,
)
from bot.ledger.status import (
    NOT_APPLICABLE_ACCEPTED,
    ItemStatus,
    UnitObligations,
    checklist,
    deadlines,
    gc_paused,
    load_obligations,
)
from bot.services import Services
from bot.staff.broadcasts import PURPOSE as BROADCAST_PURPOSE
from bot.staff.broadcasts import Progress, audience_name, progress_of
from bot.staff.console import REMINDER_PURPOSES
from bot.staff.outputs import audit_file, stamped_name
from bot.staff.workbook import (
    MAX_WIDTH,
    Widths,
    Writer,
    display_width,
    save,
)
from messages import format_date, format_sheet_day, join_clauses, plain
from storage import repositories as repo
from storage.models import (
    Broadcast,
    BroadcastAck,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
)

# Units whose items are read in detail (dates, drafts) at a time for the matrix: the read
# model binds one parameter per unit up to 1,000.
DETAIL_CHUNK = 1_000
# Rows of the logs fetched and written at a time.
LOG_CHUNK = 5_000
# A unit's own items get a column each up to this many; beyond, they share one column.
OWN_COLUMNS = 20
# The matrix's colours by state as shown (green done, yellow awaiting review, red owed, grey
# excused).
FILLS: dict[str, str] = {
    ItemState.ACCEPTED: "C6EFCE",
    NOT_APPLICABLE_ACCEPTED: "C6EFCE",
    ItemState.PENDING: "FFEB9C",
    ItemState.RETURNED: "FFC7CE",
    ItemState.NOT_APPLICABLE_PENDING: "FFEB9C",
    ItemState.MISSING: "FFC7CE",
    ItemState.EXEMPT: "D9D9D9",
}


class ItemColumn(BaseModel):
    id: int
    kind: str | None
    unit: str | None  # a unit's own addition
    title: str


@dataclass(slots=True)
class UnitRow:
    """One unit of the workbook: what the read model says of it."""

    obligations: UnitObligations

    @property
    def status(self) -> UnitStatus:
        """Its line in the report (made when asked: a country's lines are not kept)."""
        return report_row(self.obligations)

    @property
    def cells(self) -> dict[int, ItemStatus]:
        """Item id → its state (items that do not apply are absent)."""
        return {i.item_id: i for i in self.obligations.every_item}


@dataclass(slots=True)
class Summary:
    """The report's numbers: overall, by kind of unit, and the units no chat reaches."""

    generated_at: datetime
    deadline: date | None
    deadlines: dict[str, date | None]  # each kind's, in UnitKind's order
    totals: Totals
    by_kind: dict[str, Totals]
    unreachable: dict[str | None, int]  # by kind, and None for all


@dataclass(slots=True)
class ExportData:
    """What the workbook shows, besides the logs (read as they are written)."""

    summary: Summary
    units: list[UnitRow]
    items: list[ItemColumn]  # the matrix's columns of one item each
    shared_own: bool  # the units' own items share one column (more than OWN_COLUMNS)
    broadcasts: list[Progress]
    names: dict[int, tuple[str, str]]  # Telegram user id → (name, role), latest holder wins


class ExportOut(BaseModel):
    path: Path
    units: int
    totals: Totals


async def collect(*, services: Services) -> ExportData:
    """The workbook's units, items, numbers and notices, read in ONE transaction."""
    async with services.db.snapshot() as tx:
        return await _collect_in(tx, services)


async def _collect_in(tx: AsyncSession, services: Services) -> ExportData:
    with gc_paused():
        obligations = await load_obligations(tx, detail=False, reminders=True)
        rows = [UnitRow(o) for o in obligations]
    # Counted as the report counts (totals_of), a few thousand lines at a time.
    parts: dict[str, list[Totals]] = defaultdict(list)
    unreachable: dict[str | None, int] = defaultdict(int)
    for kind in UnitKind:
        of_kind = [o for o in obligations if o.kind == kind]
        for start in range(0, len(of_kind), LOG_CHUNK):
            lines = [report_row(o) for o in of_kind[start : start + LOG_CHUNK]]
            parts[kind].append(totals_of(lines))
            unreachable[kind] += sum(1 for line in lines if line.unreachable)
        unreachable[None] += unreachable[kind]
    by_kind = {kind.value: _added(parts[kind]) for kind in UnitKind}
    summary = Summary(
        generated_at=services.now().astimezone(services.settings.tz),
        deadline=overall_deadline(await deadlines(tx)),
        deadlines=kind_deadlines(obligations),
        totals=_added([*by_kind.values()]),
        by_kind=by_kind,
        unreachable=dict(unreachable),
    )
    items = await checklist(tx)
    own = [i for i in items if i.unit_id is not None]
    shared_own = len(own) > OWN_COLUMNS
    unit_names = {o.unit_id: o.name for o in obligations} if own and not shared_own else {}
    columns = [
        ItemColumn(
            id=i.id,
            kind=i.kind,
            unit=unit_names.get(i.unit_id) if i.unit_id else None,
            title=i.title,
        )
        for i in sorted(
            items, key=lambda i: (i.unit_id is not None, KIND_ORDER.get(i.kind or "", 0))
        )
        if i.unit_id is None or not shared_own
    ]
    return ExportData(
        summary=summary,
        units=rows,
        items=columns,
        shared_own=shared_own,
        broadcasts=[
            await progress_of(tx, b)
            for b in (await tx.scalars(select(Broadcast).order_by(Broadcast.id))).all()
        ],
        names=await _names(tx),
    )


def _added(parts: Sequence[Totals]) -> Totals:
    """Totals of several parts of the units, added up."""
    return Totals(
        units=sum(p.units for p in parts),
        missing_contacts=sum(p.missing_contacts for p in parts),
        missing_items=sum(p.missing_items for p in parts),
        pending_review=sum(p.pending_review for p in parts),
    )


async def _names(tx: AsyncSession) -> dict[int, tuple[str, str]]:
    """Telegram user id → (name, role) of whoever held a role with that account (latest wins)."""
    rows = await tx.execute(
        select(Person.telegram_user_id, Person.name, Person.role)
        .where(Person.telegram_user_id.is_not(None))
        .order_by(Person.since, Person.id)
    )
    return {user_id: (name, role) for user_id, name, role in rows.all() if user_id is not None}


async def _drafted_items(tx: AsyncSession, data: ExportData) -> set[int]:
    """Items that some unit still owes with a draft under way (their cells say so)."""
    has_file = exists().where(SubmissionFile.submission_id == Submission.id)
    rows = await tx.execute(
        select(Submission.unit_id, Submission.item_id)
        .where(
            Submission.state == "draft",
            has_file | (func.coalesce(func.length(Submission.text), 0) > 0),
        )
        .distinct()
    )
    drafted = set(rows.all())
    if not drafted:
        return set()
    found = set()
    for unit in data.units:
        for item in unit.obligations.open_items:
            if (unit.obligations.unit_id, item.item_id) in drafted:
                found.add(item.item_id)
    return found


def _deadline_cell(w: Writer, summary: Summary) -> Any:
    """The summary's deadline: a date, or each kind's in words where theirs differ."""
    if differ(summary.deadlines):
        each = each_kind(
            w.lang,
            summary.deadlines,
            dated=lambda kind, due: plain(
                w.lang, "formats.kind_date", kind=kind, date=format_date(due, w.lang)
            ),
            undated=lambda kind: w.h("kind_no_deadline", kind=kind),
        )
        return join_clauses(w.lang, each)
    deadline = the_deadline(summary.deadlines, summary.deadline)
    return w.moment(deadline) if deadline else w.h("no_deadline")


def _summary(w: Writer, data: ExportData) -> None:
    from openpyxl.styles import Alignment, Font

    report = data.summary
    totals = report.totals
    by_kind = report.by_kind
    unreachable = report.unreachable
    headers = [
        w.h(k)
        for k in (
            "col_scope", "col_units", "col_missing_contacts", "col_missing_items",
            "col_pending_review", "col_unreachable_units",
        )
    ]  # fmt: skip
    # The title and the sentence run across the table rather than widening column A.
    widths = [max(display_width(headers[0]), display_width(w.h("generated_at")), 14)]
    # The numbers' columns are narrow, their headers wrapped; B also shows the time.
    widths += [16] + [10] * (len(headers) - 2)
    sheet = w.begin(w.h("sheet_summary"), widths, freeze="A6")
    sheet.row_dimensions[6].height = 30  # the table's header, wrapped on two lines

    def bold(size: int | None = None) -> Callable[[Any], None]:
        def make(cell: Any) -> None:
            cell.font = Font(bold=True, size=size)

        return make

    def heading(cell: Any) -> None:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")

    sheet.append([w.cell(w.h("summary_title"), "title", bold(14))])
    sheet.append([w.h("generated_at"), w.moment(w.local(report.generated_at))])
    sheet.append([w.h("deadline"), _deadline_cell(w, report)])
    sentence = w.h(
        "summary_sentence",
        units=totals.units,
        missing_contacts=totals.missing_contacts,
        missing_items=totals.missing_items,
    )
    sheet.append([sentence])
    sheet.append([])
    sheet.append([w.cell(h, "summary_header", heading) for h in headers])
    for kind, part in by_kind.items():
        sheet.append(
            [
                w.kind(kind),
                part.units,
                part.missing_contacts,
                part.missing_items,
                part.pending_review,
                unreachable[kind],
            ]
        )
    total = [
        w.h("total"),
        totals.units,
        totals.missing_contacts,
        totals.missing_items,
        totals.pending_review,
        unreachable[None],
    ]
    sheet.append([w.cell(v, "bold", bold()) for v in total])


_UNIT_COLUMNS = (
    "col_number", "col_unit", "col_kind",
    "col_liaison", "col_liaison_post", "col_liaison_phone",
    "col_lead", "col_lead_post", "col_lead_phone", "col_lead_linked",
    "col_contacts_complete", "col_deadline", "col_missing_count",
    "col_pending_count", "col_reminders", "col_unreachable", "col_paused_until",
    "col_missing_list",
)  # fmt: skip


def _units_begin(w: Writer, data: ExportData) -> Any:
    """The units sheet, its widths from every unit's values (distinct values measured once).

    A column is its header's key in _UNIT_COLUMNS, its width fitted here by that key, and its
    value in `_units_rows`, at the same place as its key."""
    units = [u.obligations for u in data.units]
    fit = Widths(len(_UNIT_COLUMNS))
    at = {key: index for index, key in enumerate(_UNIT_COLUMNS)}
    fit.see(at["col_number"], len(units))
    fit.see_all(at["col_unit"], (u.name for u in units))
    fit.see_all(at["col_kind"], (w.kind(u.kind) for u in units))
    for role, name, post, phone in (
        ("liaison", "col_liaison", "col_liaison_post", "col_liaison_phone"),
        ("lead", "col_lead", "col_lead_post", "col_lead_phone"),
    ):
        holders = [h for u in units if (h := u.holder(role)) is not None]
        fit.see_all(at[name], (h.name for h in holders))
        fit.see_all(at[post], (h.post for h in holders))
        fit.see_all(at[phone], (h.phone for h in holders))
    for answer in ("col_lead_linked", "col_contacts_complete", "col_unreachable"):
        fit.see_all(at[answer], (w.yes_no(v) for v in (True, False)))
    fit.see_all(at["col_deadline"], (u.deadline for u in units))
    fit.see_all(at["col_missing_count"], (len(u.missing_items) for u in units))
    fit.see_all(at["col_pending_count"], (u.pending_review for u in units))
    fit.see_all(at["col_reminders"], (u.reminders_sent for u in units))
    fit.see_all(at["col_paused_until"], (u.paused_until for u in units))
    # The missing lists are shared by units in the same position: each measured once.
    lists = {id(u.missing_items): u.missing_items for u in units}
    fit.see_all(at["col_missing_list"], (title for titles in lists.values() for title in titles))
    headers = [w.h(k) for k in _UNIT_COLUMNS]
    return w.table(w.h("sheet_units"), headers, fit.widths, len(units))


def _units_rows(w: Writer, sheet: Any, rows: Sequence[UnitRow], first: int) -> None:
    for number, row in enumerate(rows, start=first):
        unit, s = row.obligations, row.status
        liaison, lead = unit.liaison, unit.lead
        sheet.append(
            [
                number,
                unit.name,
                w.kind(unit.kind),
                liaison.name if liaison else None,
                liaison.post if liaison else None,
                liaison.phone if liaison else None,
                lead.name if lead else None,
                lead.post if lead else None,
                lead.phone if lead else None,
                w.yes_no(s.lead_linked),
                w.yes_no(not s.missing_contacts),
                w.moment(unit.deadline),
                len(s.missing_items),
                s.pending_review,
                s.reminders_sent,
                w.yes_no(s.unreachable),
                w.moment(unit.paused_until),
                w.wrapped("\n".join(s.missing_items)) if s.missing_items else None,
            ]
        )


def _cell_label(w: Writer, shown: str, draft: bool) -> str:
    """A cell's words for an item's state as shown (`ItemStatus.shown_state`)."""
    label = w._label(f"unitcard.state_{shown}")
    return label + w._label("unitcard.item_draft") if draft else label


def _own_line(w: Writer, item: ItemStatus) -> str:
    """A unit's own item in the shared column: its title and its state."""
    return w.h("own_item", title=item.title, state=_cell_label(w, item.shown_state, False))


def _matrix_begin(w: Writer, data: ExportData, drafted: set[int]) -> Any:
    """The units × items sheet; each column as wide as its widest label, its colours by state
    as conditional formats over the whole range (one rule per state, not a style per cell)."""
    from openpyxl.formatting.rule import Rule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.styles.differential import DifferentialStyle
    from openpyxl.utils import get_column_letter

    headers = [w.h("col_unit"), w.h("col_kind"), w.h("col_done")]
    for item in data.items:
        scope = item.unit or w.kind(item.kind)
        headers.append(w.h("item_header", title=item.title, scope=scope))
    if data.shared_own:
        headers.append(w.h("col_own_items"))
    units = [u.obligations for u in data.units]
    fit = Widths(len(headers))
    fit.see_all(0, (u.name for u in units))
    fit.see_all(1, (w.kind(u.kind) for u in units))
    fit.see_all(2, (f"{len(u.items)}/{len(u.items)}" for u in units))
    states_of: dict[int, set[str]] = defaultdict(set)
    own_lines: set[str] = set()
    for unit in units:
        for status in unit.every_item:
            states_of[status.item_id].add(status.shown_state)
    for column, item in enumerate(data.items, start=3):
        fit.see(column, w.h("not_applicable"))
        for state in states_of.get(item.id, ()):
            draft = state in OPEN and item.id in drafted
            fit.see(column, _cell_label(w, state, draft))
            if state not in (ItemState.MISSING, ItemState.EXEMPT):
                fit.see(column, "2026-01-01")
    if data.shared_own:
        listed = {item.id for item in data.items}
        for unit in units:
            for status in unit.every_item:
                if status.item_id not in listed:
                    own_lines.add(_own_line(w, status))
        fit.see_all(len(headers) - 1, own_lines)
    # Item titles are long: wrapped in a column of fixed width, the header counting up to 16.
    widths = [
        max(fit.widths[c], min(display_width(h), 16 if c >= 3 else MAX_WIDTH))
        for c, h in enumerate(headers)
    ]
    sheet = w.begin(w.h("sheet_matrix"), widths, freeze="D2")
    sheet.row_dimensions[1].height = 75
    last = f"{get_column_letter(len(headers))}{len(units) + 1}"
    cells = f"D2:{last}"
    for state, color in FILLS.items() if units else ():
        label = w._label(f"unitcard.state_{state}")
        fill = PatternFill("solid", fgColor=color, bgColor=color)
        sheet.conditional_formatting.add(
            cells,
            Rule(
                type="beginsWith",
                operator="beginsWith",
                text=label,
                formula=[f'LEFT(D2,{len(label)})="{label}"'],
                dxf=DifferentialStyle(fill=fill),
            ),
        )
    if units:
        na = w.h("not_applicable")
        grey = DifferentialStyle(font=Font(color="808080"))
        sheet.conditional_formatting.add(
            cells, Rule(type="cellIs", operator="equal", formula=[f'"{na}"'], dxf=grey)
        )
    sheet.append(w.header(headers, centered=True))
    return sheet


def _matrix_rows(
    w: Writer, sheet: Any, data: ExportData, detailed: Sequence[UnitObligations]
) -> None:
    from openpyxl.styles import Alignment

    def centered(cell: Any) -> None:
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")

    na = w.cell(w.h("not_applicable"), "centered", centered)  # greyed by a conditional format
    columns = [item.id for item in data.items]
    listed = set(columns)
    for unit in detailed:
        cells = {i.item_id: i for i in unit.every_item}
        row: list[Any] = [unit.name, w.kind(unit.kind), f"{unit.accepted}/{len(unit.items)}"]
        for item_id in columns:
            item = cells.get(item_id)
            row.append(na if item is None else w.cell(_cell_text(w, item), "centered", centered))
        if data.shared_own:
            own = [_own_line(w, i) for i in unit.every_item if i.item_id not in listed]
            row.append(w.cell("\n".join(own), "centered", centered) if own else None)
        sheet.append(row)


def _cell_text(w: Writer, item: ItemStatus) -> str:
    label = _cell_label(w, item.shown_state, item.has_draft)
    moment = (
        item.reviewed_at
        if item.state in (ItemState.ACCEPTED, ItemState.RETURNED)
        else item.submitted_at
    )
    local = w.local(moment)
    return f"{label}\n{format_sheet_day(local.date(), w.lang)}" if local else label


_REMINDER_COLUMNS = (
    "col_time", "col_unit", "col_recipient", "col_role", "col_purpose", "col_state", "col_note",
)  # fmt: skip
_DELIVERY_COLUMNS = (
    "col_broadcast", "col_unit", "col_recipient", "col_role", "col_state",
    "col_sent_at", "col_acknowledged_at", "col_note",
)  # fmt: skip


def _reminders_query() -> Select[*tuple[Any, ...]]:
    return (
        select(
            OutboxMessage.sent_at,
            OutboxMessage.created_at,
            OutboxMessage.unit_id,
            OutboxMessage.chat_id,
            OutboxMessage.purpose,
            OutboxMessage.state,
            OutboxMessage.error,
        )
        .where(OutboxMessage.purpose.in_(REMINDER_PURPOSES))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )


def _deliveries_query() -> Select[*tuple[Any, ...]]:
    return (
        select(
            OutboxMessage.broadcast_id,
            OutboxMessage.unit_id,
            OutboxMessage.chat_id,
            OutboxMessage.state,
            OutboxMessage.sent_at,
            BroadcastAck.at,
            OutboxMessage.error,
        )
        .outerjoin(
            BroadcastAck,
            (BroadcastAck.broadcast_id == OutboxMessage.broadcast_id)
            & (BroadcastAck.user_id == OutboxMessage.chat_id),
        )
        .where(OutboxMessage.purpose == BROADCAST_PURPOSE)
        .order_by(OutboxMessage.broadcast_id, OutboxMessage.id)
    )


class _Log:
    """The reminder log or the deliveries of notices, as rows of the sheet."""

    def __init__(self, w: Writer, data: ExportData, reminders: bool) -> None:
        self.w = w
        self.reminders = reminders
        self.units = {u.obligations.unit_id: u.obligations.name for u in data.units}
        self.names = data.names
        keys = _REMINDER_COLUMNS if reminders else _DELIVERY_COLUMNS
        self.headers = [w.h(k) for k in keys]
        self.fit = Widths(len(keys))
        self.count = 0

    def person(self, chat_id: int) -> tuple[str, str]:
        found = self.names.get(chat_id)
        return (found[0], self.w.role(found[1])) if found else (str(chat_id), "")

    def values(self, row: Any) -> list[Any]:
        w = self.w
        if self.reminders:
            sent_at, created_at, unit_id, chat_id, purpose, state, error = row
            name, role = self.person(chat_id)
            return [
                w.local(sent_at or created_at),
                self.units.get(unit_id or 0, ""),
                name,
                role,
                w.purpose(purpose),
                w.state(state),
                w.reason(error),
            ]
        broadcast_id, unit_id, chat_id, state, sent_at, acked_at, error = row
        name, role = self.person(chat_id)
        return [
            broadcast_id or 0,
            self.units.get(unit_id or 0, ""),
            name,
            role,
            w.state(state),
            w.local(sent_at),
            w.local(acked_at),
            w.reason(error),
        ]

    def measure(self, rows: Sequence[Any]) -> None:
        """First pass: widths (each distinct value measured once)."""
        self.count += len(rows)
        columns = list(zip(*(self.values(r) for r in rows), strict=True))
        for column, values in enumerate(columns):
            self.fit.see_all(column, values)

    def begin(self) -> Any:
        key = "sheet_reminders" if self.reminders else "sheet_deliveries"
        return self.w.table(self.w.h(key), self.headers, self.fit.widths, self.count)

    def write(self, sheet: Any, rows: Sequence[Any]) -> None:
        w = self.w
        for row in rows:
            values = self.values(row)
            sheet.append([w.moment(v) if isinstance(v, datetime) else v for v in values])


def _broadcasts(w: Writer, data: ExportData) -> None:
    headers = [
        w.h(k)
        for k in (
            "col_broadcast", "col_time", "col_audience", "col_content", "col_recipients",
            "col_delivered", "col_unreachable_count", "col_failed", "col_unknown",
            "col_cancelled", "col_ack_enabled", "col_acknowledged",
        )
    ]  # fmt: skip
    rows = [
        [
            b.id,
            w.local(b.created_at),
            audience_name(b.audience, w.lang),
            b.summary,
            b.total,
            b.delivered,
            b.unreachable,
            b.failed,
            b.unknown,
            b.cancelled,
            w.yes_no(b.ack_enabled),
            b.acknowledged if b.ack_enabled else "",
        ]
        for b in data.broadcasts
    ]
    fit = Widths(len(headers))
    for row in rows:
        for column, value in enumerate(row):
            fit.see(column, value)
    sheet = w.table(w.h("sheet_broadcasts"), headers, fit.widths, len(rows))
    for row in rows:
        sheet.append([w.moment(v) if isinstance(v, datetime) else v for v in row])


async def write_workbook(
    tx: AsyncSession, data: ExportData, path: Path, *, lang: str, tz: Any
) -> None:
    """Write the workbook the office hands over, reading the matrix's detail and the logs in
    the caller's transaction as it goes; the writing runs in a worker thread, a batch at a
    time."""
    w = Writer(lang, tz)
    await asyncio.to_thread(_summary, w, data)
    sheet = await asyncio.to_thread(_units_begin, w, data)
    for start in range(0, len(data.units), LOG_CHUNK):
        part = data.units[start : start + LOG_CHUNK]
        await asyncio.to_thread(_units_rows, w, sheet, part, start + 1)
    drafted = await _drafted_items(tx, data)
    sheet = await asyncio.to_thread(_matrix_begin, w, data, drafted)
    ids = [u.obligations.unit_id for u in data.units]
    chunks = [ids[start : start + DETAIL_CHUNK] for start in range(0, len(ids), DETAIL_CHUNK)]
    writing: asyncio.Future[None] | None = None
    for chunk in chunks:  # each chunk is read while the one before is written
        with gc_paused():
            detailed = {u.unit_id: u for u in await load_obligations(tx, chunk)}
        if writing is not None:
            await writing
        ordered = [detailed[i] for i in chunk]
        writing = asyncio.ensure_future(asyncio.to_thread(_matrix_rows, w, sheet, data, ordered))
    if writing is not None:
        await writing
    for reminders, query in ((True, _reminders_query()), (False, _deliveries_query())):
        log = _Log(w, data, reminders)
        async for rows in repo.in_parts(tx, query, LOG_CHUNK):
            await asyncio.to_thread(log.measure, rows)
        sheet = await asyncio.to_thread(log.begin)
        async for rows in repo.in_parts(tx, query, LOG_CHUNK):
            await asyncio.to_thread(log.write, sheet, rows)
        if reminders:
            await asyncio.to_thread(_broadcasts, w, data)
    await asyncio.to_thread(save, w.book, path)


async def export_workbook(
    *, services: Services, actor_id: int | None, path: Path | None = None, via: str = "chat"
) -> ExportOut:
    """Write the status workbook (to `path`, or under DATA_DIR/exports) and log the export."""
    if actor_id is not None:
        await roster.require_staff(services=services, actor_id=actor_id)
    settings = services.settings
    # 双拥工作联络情况_20261130_0900.xlsx
    target = path or settings.data_dir / "exports" / stamped_name(services, "export.file_name")
    async with services.db.snapshot() as tx:
        data = await _collect_in(tx, services)
        await write_workbook(tx, data, target, lang=settings.language, tz=settings.tz)
    await audit_file(
        services=services,
        actor_id=actor_id,
        action="export",
        what="workbook",
        via=via,
        file=target.name,
        units=data.summary.totals.units,
    )
    return ExportOut(path=target, units=len(data.units), totals=data.summary.totals)
