"""The status workbook (`/export`, `liaison-bot export FILE.xlsx`) and the archive of materials.

The numbers come from `bot.reports` — the same as the chat and `report --json`. Reading the
database is one transaction that returns plain pydantic data; writing the workbook or the
archive is CPU and disk work the callers run off the event loop (`asyncio.to_thread`)."""

from __future__ import annotations

import asyncio
import re
import unicodedata
import zipfile
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.enums import KIND_ORDER, UnitKind
from bot.ledger.checklist import overall_deadline
from bot.ledger.report import Report, Totals, UnitStatus, report_row, totals_of
from bot.ledger.status import Holder, checklist, deadlines, load_obligations
from bot.services import Services
from bot.staff.broadcasts import PURPOSE as BROADCAST_PURPOSE
from bot.staff.broadcasts import Progress, audience_name, progress_of
from bot.staff.console import REMINDER_PURPOSES, ItemOut, item_out
from messages import plain
from storage import repositories as repo
from storage.models import (
    Broadcast,
    BroadcastAck,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
)

PART_LIMIT = 45 * 1024 * 1024
MAX_WIDTH = 60


class PersonCell(BaseModel):
    name: str
    post: str
    phone: str
    linked: bool  # has a Telegram account on record


class UnitRow(BaseModel):
    id: int
    name: str
    kind: str
    deadline: date | None
    paused_until: date | None
    liaison: PersonCell | None
    lead: PersonCell | None
    status: UnitStatus
    cells: dict[int, ItemOut]  # item id → state (items that do not apply are absent)


class ItemColumn(BaseModel):
    id: int
    kind: str | None
    unit: str | None  # a unit's own addition
    title: str


class ReminderRow(BaseModel):
    at: datetime
    unit: str
    recipient: str
    role: str
    purpose: str
    state: str
    error: str | None


class DeliveryRow(BaseModel):
    broadcast_id: int
    unit: str
    recipient: str
    role: str
    state: str
    sent_at: datetime | None
    acknowledged_at: datetime | None
    error: str | None


class ExportData(BaseModel):
    report: Report
    units: list[UnitRow]
    items: list[ItemColumn]
    reminders: list[ReminderRow]
    broadcasts: list[Progress]
    deliveries: list[DeliveryRow]


class ExportOut(BaseModel):
    path: Path
    units: int
    totals: Totals


class ArchivePart(BaseModel):
    path: Path
    files: int
    size: int


class ArchiveOut(BaseModel):
    parts: list[ArchivePart]
    files: int
    missing: list[str]


async def collect(*, services: Services) -> ExportData:
    """Everything the workbook shows, read from the database in ONE transaction, so the
    report's numbers and the item matrix come from the same moment (on PostgreSQL the
    transaction is REPEATABLE READ: every query sees the same snapshot)."""
    async with services.db.sessions() as tx, tx.begin():
        if services.db.dialect == "postgresql":
            await tx.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        obligations = await load_obligations(tx, reminders=True)
        statuses = [report_row(o) for o in obligations]
        report = Report(
            generated_at=services.now().astimezone(services.settings.tz),
            deadline=overall_deadline(await deadlines(tx)),
            totals=totals_of(statuses),
            units=statuses,
        )
        items = await checklist(tx)
        unit_names = {o.unit_id: o.name for o in obligations}
        rows = [
            UnitRow(
                id=o.unit_id,
                name=o.name,
                kind=o.kind,
                deadline=o.deadline,
                paused_until=o.paused_until,
                liaison=_person(o.liaison),
                lead=_person(o.lead),
                status=status,
                cells={i.item_id: item_out(i) for i in o.every_item},
            )
            for o, status in zip(obligations, statuses, strict=True)
        ]
        names = await _names(tx)
        return ExportData(
            report=report,
            units=rows,
            items=[
                ItemColumn(
                    id=i.id,
                    kind=i.kind,
                    unit=unit_names.get(i.unit_id) if i.unit_id else None,
                    title=i.title,
                )
                for i in sorted(
                    items, key=lambda i: (i.unit_id is not None, KIND_ORDER.get(i.kind or "", 0))
                )
            ],
            reminders=await _reminders(tx, unit_names, names),
            broadcasts=[
                await progress_of(tx, b)
                for b in (await tx.scalars(select(Broadcast).order_by(Broadcast.id))).all()
            ],
            deliveries=await _deliveries(tx, unit_names, names),
        )


def _person(p: Holder | None) -> PersonCell | None:
    if p is None:
        return None
    return PersonCell(name=p.name, post=p.post, phone=p.phone, linked=p.user_id is not None)


async def _names(tx: AsyncSession) -> dict[int, tuple[str, str]]:
    """Telegram user id → (name, role) of whoever held a role with that account (latest wins)."""
    people = (
        await tx.scalars(
            select(Person).where(Person.telegram_user_id.is_not(None)).order_by(Person.since)
        )
    ).all()
    return {p.telegram_user_id: (p.name, p.role) for p in people if p.telegram_user_id}


async def _reminders(
    tx: AsyncSession, units: dict[int, str], names: dict[int, tuple[str, str]]
) -> list[ReminderRow]:
    rows = (
        await tx.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.purpose.in_(REMINDER_PURPOSES))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    ).all()
    return [
        ReminderRow(
            at=r.sent_at or r.created_at,
            unit=units.get(r.unit_id or 0, ""),
            recipient=names.get(r.chat_id, (str(r.chat_id), ""))[0],
            role=names.get(r.chat_id, ("", ""))[1],
            purpose=r.purpose,
            state=r.state,
            error=r.error,
        )
        for r in rows
    ]


async def _deliveries(
    tx: AsyncSession, units: dict[int, str], names: dict[int, tuple[str, str]]
) -> list[DeliveryRow]:
    acks = {
        (a.broadcast_id, a.user_id): a.at for a in (await tx.scalars(select(BroadcastAck))).all()
    }
    rows = (
        await tx.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == BROADCAST_PURPOSE)
            .order_by(OutboxMessage.broadcast_id, OutboxMessage.id)
        )
    ).all()
    return [
        DeliveryRow(
            broadcast_id=r.broadcast_id or 0,
            unit=units.get(r.unit_id or 0, ""),
            recipient=names.get(r.chat_id, (str(r.chat_id), ""))[0],
            role=names.get(r.chat_id, ("", ""))[1],
            state=r.state,
            sent_at=r.sent_at,
            acknowledged_at=acks.get((r.broadcast_id or 0, r.chat_id)),
            error=r.error,
        )
        for r in rows
    ]


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet cell (CJK characters take two)."""
    longest = 0
    for line in str(text).split("\n"):
        width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)
        longest = max(longest, width)
    return longest


def write_workbook(data: ExportData, path: Path, *, lang: str, tz: Any) -> None:
    """Write the workbook the office hands over as it is (runs in a worker thread)."""
    from openpyxl import Workbook

    book = Workbook()
    w = _Writer(lang, tz)
    w.summary(book.active, data)
    w.units(book.create_sheet(), data)
    w.matrix(book.create_sheet(), data)
    w.reminders(book.create_sheet(), data)
    w.broadcasts(book.create_sheet(), data)
    w.deliveries(book.create_sheet(), data)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


class _Writer:
    """Sheets of the workbook, with the office's headers, frozen header rows and fitted widths."""

    FILLS = {  # noqa: RUF012
        "accepted": "C6EFCE",
        "pending": "FFEB9C",
        "returned": "FFC7CE",
        "not_applicable_pending": "FFEB9C",
        "missing": "FFC7CE",
        "exempt": "D9D9D9",
    }

    def __init__(self, lang: str, tz: Any) -> None:
        self.lang = lang
        self.tz = tz

    def h(self, key: str, /, **values: object) -> str:
        return plain(self.lang, f"export.{key}", **values)

    def local(self, moment: datetime | None) -> datetime | None:
        """An aware moment as the office's wall-clock time (Excel has no time zones)."""
        if moment is None:
            return None
        return moment.astimezone(self.tz).replace(tzinfo=None, microsecond=0)

    def yes_no(self, value: bool) -> str:
        return plain(self.lang, "common.yes" if value else "common.no")

    def kind(self, kind: str | None) -> str:
        return plain(self.lang, f"common.kind_{kind}") if kind else ""

    def role(self, role: str) -> str:
        return plain(self.lang, f"common.role_{role}") if role else ""

    def table(self, sheet: Any, title: str, headers: list[str], rows: list[list[Any]]) -> None:
        """A plain table: bold header row, frozen, filtered, widths fitted to the contents."""
        from openpyxl.styles import Alignment, Font, PatternFill

        sheet.title = title
        sheet.append(headers)
        for row in rows:
            sheet.append(row)
        header_fill = PatternFill("solid", fgColor="DDEBF7")
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(cell.value, str) and "\n" in cell.value:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "B2" if len(headers) > 6 else "A2"
        if rows:
            sheet.auto_filter.ref = sheet.dimensions
        self.fit(sheet)

    def fit(self, sheet: Any, *, header_cap: int = MAX_WIDTH) -> None:
        from openpyxl.utils import get_column_letter

        widths: dict[int, int] = defaultdict(int)
        for row_index, row in enumerate(sheet.iter_rows(), start=1):
            for cell in row:
                if cell.value is None:
                    continue
                value = cell.value
                if isinstance(value, datetime):
                    width = 16
                elif isinstance(value, date):
                    width = 10
                else:
                    width = display_width(str(value))
                if row_index == 1:
                    width = min(width, header_cap)
                widths[cell.column] = max(widths[cell.column], width)
        for column, width in widths.items():
            sheet.column_dimensions[get_column_letter(column)].width = min(width + 2, MAX_WIDTH)

    # -- sheets --

    def summary(self, sheet: Any, data: ExportData) -> None:
        from openpyxl.styles import Alignment, Font

        report = data.report
        totals = report.totals
        by_kind = {
            kind: totals_of([s for s in report.units if s.kind == kind]) for kind in UnitKind
        }
        unreachable = sum(1 for s in report.units if s.unreachable)
        sheet.title = self.h("sheet_summary")
        sheet.append([self.h("summary_title")])
        sheet.append([self.h("generated_at"), self.local(report.generated_at)])
        deadline = report.deadline
        sheet.append([self.h("deadline"), deadline if deadline else self.h("no_deadline")])
        sheet.append(
            [
                self.h(
                    "summary_sentence",
                    units=totals.units,
                    missing_contacts=totals.missing_contacts,
                    missing_items=totals.missing_items,
                )
            ]
        )
        sheet.append([])
        header_row = sheet.max_row + 1
        sheet.append(
            [
                self.h("col_scope"),
                self.h("col_units"),
                self.h("col_missing_contacts"),
                self.h("col_missing_items"),
                self.h("col_pending_review"),
                self.h("col_unreachable_units"),
            ]
        )
        for kind, part in by_kind.items():
            sheet.append(
                [
                    self.kind(kind),
                    part.units,
                    part.missing_contacts,
                    part.missing_items,
                    part.pending_review,
                    sum(1 for s in report.units if s.kind == kind and s.unreachable),
                ]
            )
        sheet.append(
            [
                self.h("total"),
                totals.units,
                totals.missing_contacts,
                totals.missing_items,
                totals.pending_review,
                unreachable,
            ]
        )
        sheet["A1"].font = Font(bold=True, size=14)
        sheet["B2"].number_format = "yyyy-mm-dd hh:mm"
        sheet["B3"].number_format = "yyyy-mm-dd"
        for cell in sheet[header_row]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = f"A{header_row + 1}"
        self.fit(sheet)
        # The title and the sentence run across the table rather than widening column A.
        from openpyxl.utils import get_column_letter

        sheet.column_dimensions["A"].width = (
            max(display_width(self.h("col_scope")), display_width(self.h("generated_at")), 14) + 2
        )
        for column in range(2, 7):
            letter = get_column_letter(column)
            sheet.column_dimensions[letter].width = max(
                display_width(str(sheet.cell(header_row, column).value)) + 2, 12
            )

    def units(self, sheet: Any, data: ExportData) -> None:
        headers = [
            self.h(k)
            for k in (
                "col_number", "col_unit", "col_kind",
                "col_liaison", "col_liaison_post", "col_liaison_phone",
                "col_lead", "col_lead_post", "col_lead_phone", "col_lead_linked",
                "col_contacts_complete", "col_deadline", "col_missing_count",
                "col_pending_count", "col_reminders", "col_unreachable", "col_paused_until",
                "col_missing_list",
            )
        ]  # fmt: skip
        rows = []
        for number, unit in enumerate(data.units, start=1):
            s = unit.status
            rows.append(
                [
                    number,
                    unit.name,
                    self.kind(unit.kind),
                    unit.liaison.name if unit.liaison else "",
                    unit.liaison.post if unit.liaison else "",
                    unit.liaison.phone if unit.liaison else "",
                    unit.lead.name if unit.lead else "",
                    unit.lead.post if unit.lead else "",
                    unit.lead.phone if unit.lead else "",
                    self.yes_no(s.lead_linked),
                    self.yes_no(not s.missing_contacts),
                    unit.deadline,
                    len(s.missing_items),
                    s.pending_review,
                    s.reminders_sent,
                    self.yes_no(s.unreachable),
                    unit.paused_until,
                    "\n".join(s.missing_items),
                ]
            )
        self.table(sheet, self.h("sheet_units"), headers, rows)

    def cell_text(self, cell: ItemOut | None) -> str:
        if cell is None:
            return self.h("not_applicable")
        label = plain(self.lang, f"unitcard.state_{cell.state}")
        moment = cell.reviewed_at if cell.state in ("accepted", "returned") else cell.submitted_at
        if cell.draft:
            label += plain(self.lang, "unitcard.item_draft")
        local = self.local(moment)
        return f"{label}\n{local:%Y-%m-%d}" if local else label

    def matrix(self, sheet: Any, data: ExportData) -> None:
        from openpyxl.styles import Alignment, Font, PatternFill

        headers = [self.h("col_unit"), self.h("col_kind"), self.h("col_done")]
        for item in data.items:
            scope = item.unit or self.kind(item.kind)
            headers.append(f"{item.title}\n（{scope}）")
        rows = []
        for unit in data.units:
            owed = [c for c in unit.cells.values() if c.state != "exempt"]
            accepted = sum(1 for c in owed if c.state == "accepted")
            rows.append(
                [unit.name, self.kind(unit.kind), f"{accepted}/{len(owed)}"]
                + [self.cell_text(unit.cells.get(item.id)) for item in data.items]
            )
        sheet.title = self.h("sheet_matrix")
        sheet.append(headers)
        for row in rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        sheet.row_dimensions[1].height = 75
        for unit, row in zip(data.units, sheet.iter_rows(min_row=2), strict=True):
            for item, cell in zip(data.items, row[3:], strict=True):
                state = unit.cells[item.id].state if item.id in unit.cells else None
                cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
                if state is not None:
                    cell.fill = PatternFill("solid", fgColor=self.FILLS[state])
                else:
                    cell.font = Font(color="808080")
        sheet.freeze_panes = "D2"
        # Item titles are long: wrap them in a column of fixed width instead.
        self.fit(sheet, header_cap=16)

    def reminders(self, sheet: Any, data: ExportData) -> None:
        headers = [
            self.h(k)
            for k in (
                "col_time", "col_unit", "col_recipient", "col_role", "col_purpose",
                "col_state", "col_note",
            )
        ]  # fmt: skip
        rows = [
            [
                self.local(r.at),
                r.unit,
                r.recipient,
                self.role(r.role),
                self.purpose(r.purpose),
                self.state(r.state),
                r.error or "",
            ]
            for r in data.reminders
        ]
        self.table(sheet, self.h("sheet_reminders"), headers, rows)

    def purpose(self, purpose: str) -> str:
        key = f"export.purpose_{purpose}"
        try:
            return plain(self.lang, key)
        except KeyError:
            return purpose

    def state(self, state: str) -> str:
        try:
            return plain(self.lang, f"export.state_{state}")
        except KeyError:
            return state

    def broadcasts(self, sheet: Any, data: ExportData) -> None:
        headers = [
            self.h(k)
            for k in (
                "col_broadcast", "col_time", "col_audience", "col_content", "col_recipients",
                "col_delivered", "col_unreachable_count", "col_failed", "col_unknown",
                "col_cancelled", "col_ack_enabled", "col_acknowledged",
            )
        ]  # fmt: skip
        rows = [
            [
                b.id,
                self.local(b.created_at),
                audience_name(b.audience, self.lang),
                b.summary,
                b.total,
                b.delivered,
                b.unreachable,
                b.failed,
                b.unknown,
                b.cancelled,
                self.yes_no(b.ack_enabled),
                b.acknowledged if b.ack_enabled else "",
            ]
            for b in data.broadcasts
        ]
        self.table(sheet, self.h("sheet_broadcasts"), headers, rows)

    def deliveries(self, sheet: Any, data: ExportData) -> None:
        headers = [
            self.h(k)
            for k in (
                "col_broadcast", "col_unit", "col_recipient", "col_role", "col_state",
                "col_sent_at", "col_acknowledged_at", "col_note",
            )
        ]  # fmt: skip
        rows = [
            [
                d.broadcast_id,
                d.unit,
                d.recipient,
                self.role(d.role),
                self.state(d.state),
                self.local(d.sent_at),
                self.local(d.acknowledged_at),
                d.error or "",
            ]
            for d in data.deliveries
        ]
        self.table(sheet, self.h("sheet_deliveries"), headers, rows)


def export_file_name(services: Services) -> str:
    """双拥工作联络情况_20261130_0900.xlsx (the office's time)."""
    local = services.now().astimezone(services.settings.tz)
    return plain(services.settings.language, "export.file_name", stamp=f"{local:%Y%m%d_%H%M}")


async def export_workbook(
    *, services: Services, actor_id: int | None, path: Path | None = None, via: str = "chat"
) -> ExportOut:
    """Write the status workbook (to `path`, or under DATA_DIR/exports) and log the export."""
    if actor_id is not None:
        await roster.require_staff(services=services, actor_id=actor_id)
    data = await collect(services=services)
    target = path or services.settings.data_dir / "exports" / export_file_name(services)
    await asyncio.to_thread(
        write_workbook, data, target, lang=services.settings.language, tz=services.settings.tz
    )
    async with services.db.uow() as tx:
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "export",
            what="workbook",
            via=via,
            file=target.name,
            units=data.report.totals.units,
        )
    return ExportOut(path=target, units=len(data.units), totals=data.report.totals)


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_name(name: str) -> str:
    """A file or folder name that is valid on Windows and cannot climb out of its folder."""
    cleaned = _UNSAFE.sub("_", name).strip().strip(".")
    return cleaned[:120] or "_"


class _Entry(BaseModel):
    arcname: str
    source: Path | None = None
    text: str | None = None
    size: int


async def _entries(services: Services) -> tuple[list[_Entry], list[str]]:
    data_dir = services.settings.data_dir
    entries: list[_Entry] = []
    missing: list[str] = []
    taken: set[str] = set()

    def unique(arcname: str) -> str:
        base, dot, ext = arcname.rpartition(".")
        if not dot or "/" in ext:
            base, ext = arcname, ""
        candidate, n = arcname, 2
        while candidate in taken:
            candidate = f"{base} ({n}).{ext}" if ext else f"{base} ({n})"
            n += 1
        taken.add(candidate)
        return candidate

    async with services.db.sessions() as tx:
        units = {u.id: u.name for u in await repo.units(tx)}
        titles = {i.id: i.title for i in await repo.checklist(tx)}
        submissions = (
            await tx.scalars(
                select(Submission)
                .where(Submission.state.in_(("pending", "accepted")))
                .order_by(Submission.unit_id, Submission.item_id, Submission.id)
            )
        ).all()
        files = (
            await tx.scalars(
                select(SubmissionFile)
                .where(SubmissionFile.submission_id.in_([s.id for s in submissions]))
                .order_by(SubmissionFile.id)
            )
        ).all()
    by_submission: dict[int, list[SubmissionFile]] = defaultdict(list)
    for f in files:
        by_submission[f.submission_id].append(f)
    for s in submissions:
        folder = (
            f"{safe_name(units.get(s.unit_id, str(s.unit_id)))}/"
            f"{safe_name(titles.get(s.item_id, str(s.item_id)))}"
        )
        if s.text:
            body = s.text.encode("utf-8")
            name = plain(services.settings.language, "export.text_answer")
            entries.append(
                _Entry(arcname=unique(f"{folder}/{name}.txt"), text=s.text, size=len(body))
            )
        for f in by_submission[s.id]:
            source = Path(f.path) if f.path else None
            if source is not None and not source.is_absolute():
                source = data_dir / source
            arcname = unique(f"{folder}/{safe_name(f.file_name)}")
            if source is None or not source.is_file():
                missing.append(arcname)
                continue
            entries.append(_Entry(arcname=arcname, source=source, size=source.stat().st_size))
    return entries, missing


def _cost(size: int, arcname: str) -> int:
    """Bytes an entry may take in a zip: data (deflate never grows it by much), two headers."""
    return size + size // 1000 + 2 * len(arcname.encode("utf-8")) + 200


def _write_parts(
    entries: list[_Entry], missing: list[str], out_dir: Path, stem: str, limit: int, lang: str
) -> list[ArchivePart]:
    """Zip the entries into parts no bigger than `limit` (each file whole, in one part).

    The list of files that could not be found goes into the first part.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    listing_name = plain(lang, "export.missing_list") + ".txt"
    listing = "\n".join(missing) + "\n" if missing else ""
    used = _cost(len(listing.encode("utf-8")), listing_name) + 100 if missing else 100
    groups: list[list[_Entry]] = [[]]
    for entry in entries:
        cost = _cost(entry.size, entry.arcname)
        if groups[-1] and used + cost > limit:
            groups.append([])
            used = 100
        groups[-1].append(entry)
        used += cost
    parts: list[ArchivePart] = []
    for number, group in enumerate(groups, start=1):
        suffix = "" if len(groups) == 1 else plain(lang, "export.part_suffix", number=number)
        path = out_dir / f"{stem}{suffix}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            if missing and number == 1:
                archive.writestr(listing_name, listing)
            for entry in group:
                if entry.source is not None:
                    archive.write(entry.source, entry.arcname)
                else:
                    archive.writestr(entry.arcname, entry.text or "")
        parts.append(ArchivePart(path=path, files=len(group), size=path.stat().st_size))
    return parts


async def build_archive(
    *,
    services: Services,
    actor_id: int | None,
    out_dir: Path | None = None,
    limit: int = PART_LIMIT,
    via: str = "chat",
) -> ArchiveOut:
    """The collected materials in folders 单位/资料项/文件, zipped in parts under `limit`."""
    if actor_id is not None:
        await roster.require_staff(services=services, actor_id=actor_id)
    entries, missing = await _entries(services)
    lang = services.settings.language
    local = services.now().astimezone(services.settings.tz)
    stem = plain(lang, "export.archive_name", stamp=f"{local:%Y%m%d_%H%M}")
    target = out_dir or services.settings.data_dir / "exports"
    parts = await asyncio.to_thread(_write_parts, entries, missing, target, stem, limit, lang)
    async with services.db.uow() as tx:
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "export",
            what="archive",
            via=via,
            files=len(entries),
            parts=len(parts),
            missing=len(missing),
        )
    return ArchiveOut(parts=parts, files=len(entries), missing=missing)
