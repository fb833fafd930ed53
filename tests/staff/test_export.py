"""The status workbook and the archive of materials, read back and checked against the database."""

from __future__ import annotations

import asyncio
import os
import threading
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.utils import get_column_letter
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine

from bot.demo.sample import seed_notice_situation
from bot.errors import NotStaff
from bot.importing import SAMPLE_ROSTER_PATH
from bot.ledger.checklist import add_item, exempt, set_deadline
from bot.ledger.report import build_report
from bot.roster import import_units
from bot.services import Services
from bot.staff import acks, broadcasts
from bot.staff import export as export_module
from bot.staff.archive import build_archive
from bot.staff.export import collect, export_workbook
from bot.staff.workbook import display_width
from bot.transport.outbox import enqueue, text_payload
from messages import join_clauses, kind_name, plain, t
from storage import repositories as repo
from storage.models import OutboxMessage, Person, Submission, SubmissionFile, Unit
from tests.support.cli import run_cli
from tests.support.messages import label
from tests.support.settings import with_settings

STAFF = 900  # STAFF_IDS of the `services` fixture


def word(key: str, **values: object) -> str:
    """A label of the workbook, as the export writes it (messages/, section export)."""
    return label(f"export.{key}", **values)


MEMBER, COUNTY = label("common.kind_member"), label("common.kind_county")
KINDS = (MEMBER, COUNTY)
SHEETS = [
    word(f"sheet_{name}")
    for name in ("summary", "units", "matrix", "reminders", "broadcasts", "deliveries")
]
YES, NO = label("common.yes"), label("common.no")
ACCEPTED, EXEMPT = label("unitcard.state_accepted"), label("unitcard.state_exempt")
NOT_OWED = word("not_applicable")


@dataclass
class Scene:
    unit: str  # a unit with contacts and items missing, given one item of each state
    pending: str
    returned: str
    exempted: str
    broadcast_id: int


def _submission(unit_id: int, item_id: int, state: str, services: Services) -> Submission:
    now = services.now()
    return Submission(
        unit_id=unit_id,
        item_id=item_id,
        state=state,
        answer_kind="files",
        text=None,
        submitted_by=1,
        created_at=now - timedelta(days=2),
        submitted_at=now - timedelta(days=2),
        reviewed_by=STAFF if state in ("accepted", "returned") else None,
        reviewed_at=now - timedelta(days=1) if state in ("accepted", "returned") else None,
        review_note="盖章页不清晰" if state == "returned" else None,
    )


async def make_scene(services: Services) -> Scene:
    """The notice's situation, plus one pending, one returned, one excused item, a reminder
    and a broadcast to the counties with one delivery, one blocked recipient and one "收到"."""
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    report = await build_report(services=services)
    chosen = next(s for s in report.units if not s.missing_contacts and len(s.missing_items) >= 4)
    async with services.db.uow() as tx:
        unit = await repo.unit_by_name(tx, chosen.name)
        assert unit is not None
        items = {i.title: i for i in await repo.checklist(tx)}
        pending, returned = chosen.missing_items[0], chosen.missing_items[1]
        tx.add(_submission(unit.id, items[pending].id, "pending", services))
        tx.add(_submission(unit.id, items[returned].id, "returned", services))
        # Sent back, then a new draft started: still 已退回 (as /status says), with a note.
        draft = _submission(unit.id, items[returned].id, "draft", services)
        draft.created_at, draft.submitted_at, draft.text = services.now(), None, "草稿"
        tx.add(draft)
        liaison = await repo.current_holder(tx, unit_id=unit.id, role="liaison")
        assert liaison is not None
        assert liaison.telegram_user_id is not None
        await enqueue(
            tx,
            key=f"reminder:{unit.id}:{liaison.id}:2026-11-27",
            chat_id=liaison.telegram_user_id,
            purpose="reminder",
            payload=text_payload("特此提醒"),
            now=services.now() - timedelta(days=3),
            unit_id=unit.id,
        )
        await tx.execute(
            update(OutboxMessage)
            .where(OutboxMessage.purpose == "reminder")
            .values(state="sent", sent_at=services.now() - timedelta(days=3), message_id=5)
        )
    exempted = chosen.missing_items[2]
    await exempt(
        services=services,
        unit_name=chosen.name,
        title=exempted,
        reason="无优抚职能",
        actor_id=STAFF,
    )
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(
        services=services, actor_id=STAFF, summary="请于12月5日前报送", text="请于12月5日前报送"
    )
    await broadcasts.set_audience(services=services, actor_id=STAFF, audience="county")
    sent = await broadcasts.confirm(
        services=services, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=1
    )
    async with services.db.uow() as tx:
        rows = (
            await tx.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.broadcast_id == sent.id)
                .order_by(OutboxMessage.id)
            )
        ).all()
        assert len(rows) >= 2
        rows[0].state, rows[0].sent_at, rows[0].message_id = "sent", services.now(), 7
        rows[1].state, rows[1].error = "unreachable", "Forbidden: bot was blocked by the user"
        for row in rows[2:]:
            row.state, row.sent_at, row.message_id = "sent", services.now(), 8
        first = rows[0].chat_id
    assert await acks.acknowledge(services=services, broadcast_id=sent.id, user_id=first)
    return Scene(chosen.name, pending, returned, exempted, sent.id)


def _rows(sheet: object) -> list[list[object]]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]  # type: ignore[attr-defined]


async def test_workbook_matches_the_database(services: Services, tmp_path: Path) -> None:
    scene = await make_scene(services)
    path = tmp_path / "status.xlsx"
    done = await export_workbook(services=services, actor_id=STAFF, path=path)
    report = await build_report(services=services)
    assert done.totals == report.totals
    assert report.totals.missing_contacts == 13
    assert report.totals.pending_review == 1

    book = load_workbook(path)
    assert book.sheetnames == SHEETS

    summary = _rows(book[word("sheet_summary")])
    missing_items = report.totals.missing_items
    # Golden text: the export quotes the notice's numbers as the chat and the report do.
    sentence = f"共50家单位，13家单位未报送分管领导和联络员，{missing_items}家单位资料台账未报齐。"
    assert [sentence] == [r[0] for r in summary if r[0] == sentence]
    total_row = next(r for r in summary if r[0] == word("total"))
    assert total_row[1:5] == [
        report.totals.units,
        report.totals.missing_contacts,
        report.totals.missing_items,
        report.totals.pending_review,
    ]
    kinds = {str(r[0]): [int(str(v)) for v in r[1:6]] for r in summary if r[0] in KINDS}
    assert kinds[MEMBER][0] + kinds[COUNTY][0] == 50
    assert kinds[MEMBER][1] + kinds[COUNTY][1] == 13

    units = _rows(book[word("sheet_units")])
    header, body = units[0], units[1:]
    assert header[:4] == [word(k) for k in ("col_number", "col_unit", "col_kind", "col_liaison")]
    assert len(body) == 50
    column = {name: index for index, name in enumerate(header)}
    statuses = {s.name: s for s in report.units}
    async with services.db.sessions() as session:
        people = {
            (p.unit_id, p.role): p
            for p in (await session.scalars(select(Person).where(Person.until.is_(None)))).all()
        }
        unit_ids = {u.name: u.id for u in (await session.scalars(select(Unit))).all()}
    complete, missing = word("col_contacts_complete"), word("col_missing_count")
    for row in body:
        name = str(row[column[word("col_unit")]])
        liaison = people.get((unit_ids[name], "liaison"))
        assert (row[column[word("col_liaison")]] or None) == (liaison.name if liaison else None)
        phone = row[column[word("col_liaison_phone")]] or None
        assert phone == (liaison.phone if liaison else None)
        assert row[column[missing]] == len(statuses[name].missing_items)
        assert row[column[word("col_pending_count")]] == statuses[name].pending_review
        assert row[column[complete]] == (NO if statuses[name].missing_contacts else YES)
    assert sum(1 for r in body if r[column[complete]] == NO) == 13
    assert sum(1 for r in body if r[column[missing]]) == report.totals.missing_items

    matrix = _rows(book[word("sheet_matrix")])
    titles = [str(h).split("\n")[0] for h in matrix[0][3:]]
    cells = {str(r[0]): dict(zip(titles, r[3:], strict=True)) for r in matrix[1:]}
    mine = cells[scene.unit]
    pending = label("unitcard.state_pending")
    assert str(mine[scene.pending]) == f"{pending}\n2026-11-28"
    returned = label("unitcard.state_returned") + label("unitcard.item_draft")
    assert str(mine[scene.returned]) == f"{returned}\n2026-11-29"
    assert mine[scene.exempted] == EXEMPT
    for name, status in statuses.items():
        states = [str(v) for v in cells[name].values() if v != NOT_OWED]
        accepted = sum(1 for v in states if v.startswith(ACCEPTED))
        owed = sum(1 for v in states if v != EXEMPT)
        assert owed - accepted == len(status.missing_items), name
        assert cells[name]["年度工作计划（含双拥工作内容）"] == (
            NOT_OWED if status.kind == "county" else cells[name]["年度工作计划（含双拥工作内容）"]
        )
    incomplete = [n for n, row in cells.items() if any(_owing(v) for v in row.values())]
    assert len(incomplete) == report.totals.missing_items

    reminders = _rows(book[word("sheet_reminders")])
    assert len(reminders) == 2
    assert reminders[1][1] == scene.unit
    assert reminders[1][5] == word("state_sent")

    notices = _rows(book[word("sheet_broadcasts")])
    assert len(notices) == 2
    notice = dict(zip(notices[0], notices[1], strict=True))
    recipients = word("col_recipients")
    assert notice[word("col_broadcast")] == scene.broadcast_id
    assert notice[word("col_audience")] == label("broadcast.audience_county")
    assert notice[word("col_unreachable_count")] == 1
    assert notice[word("col_acknowledged")] == 1
    assert notice[word("col_delivered")] == int(str(notice[recipients])) - 1

    deliveries = _rows(book[word("sheet_deliveries")])
    assert len(deliveries) - 1 == notice[recipients]
    states = sorted(str(r[4]) for r in deliveries[1:])
    assert states.count(word("state_unreachable")) == 1
    assert sum(1 for r in deliveries[1:] if r[6] is not None) == 1
    # Why it did not arrive, in the office's words (it read "Forbidden: bot was blocked …").
    [why] = [r[7] for r in deliveries[1:] if r[4] == word("state_unreachable")]
    assert why == word("reason_blocked")

    expected_panes = {word("sheet_summary"): "A6", word("sheet_matrix"): "D2"}
    for sheet in book.worksheets:
        assert sheet.freeze_panes == expected_panes.get(sheet.title, "B2"), sheet.title
        if sheet.title in expected_panes:
            continue
        for index, cells in enumerate(sheet.iter_cols(), start=1):
            wanted = max(display_width(_shown(c)) for c in cells if c.value is not None)
            width = sheet.column_dimensions[get_column_letter(index)].width
            assert width >= min(wanted + 2, 60), (sheet.title, index)


async def test_an_item_agreed_not_to_apply_reads_so_in_the_matrix(
    services: Services, tmp_path: Path
) -> None:
    """Accepted as "not applicable": its own words and colour, not 已通过; counted as done."""
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    report = await build_report(services=services)
    chosen = next(s for s in report.units if len(s.missing_items) >= 2)
    title = chosen.missing_items[0]
    async with services.db.uow() as tx:
        unit = await repo.unit_by_name(tx, chosen.name)
        assert unit is not None
        items = {i.title: i for i in await repo.checklist(tx)}
        agreed = _submission(unit.id, items[title].id, "accepted", services)
        agreed.answer_kind, agreed.text = "not_applicable", "本单位无此项职能"
        tx.add(agreed)
    path = tmp_path / "status.xlsx"
    await export_workbook(services=services, actor_id=STAFF, path=path)
    book = load_workbook(path)
    sheet = book[word("sheet_matrix")]
    matrix = _rows(sheet)
    titles = [str(h).split("\n")[0] for h in matrix[0][3:]]
    [row] = [r for r in matrix[1:] if r[0] == chosen.name]
    cells = dict(zip(titles, row[3:], strict=True))
    wording = label("unitcard.state_not_applicable_accepted")
    assert str(cells[title]) == f"{wording}\n2026-11-29"
    assert not str(cells[title]).startswith(ACCEPTED)
    required = sum(1 for v in cells.values() if v not in (NOT_OWED, EXEMPT))
    still = len(chosen.missing_items) - 1
    assert row[2] == f"{required - still}/{required}"
    # Green as accepted material is: a conditional format begins with its words.
    rules = [
        rule
        for ranges in sheet.conditional_formatting
        for rule in ranges.rules
        if rule.text == wording
    ]
    assert [r.dxf.fill.fgColor.rgb[-6:] for r in rules] == ["C6EFCE"]


async def test_the_summary_states_each_kinds_deadline_where_they_differ(
    services: Services, tmp_path: Path
) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    path = tmp_path / "status.xlsx"
    await export_workbook(services=services, actor_id=STAFF, path=path)
    [row] = [
        r for r in _rows(load_workbook(path)[word("sheet_summary")]) if r[0] == word("deadline")
    ]
    assert row[1] == datetime(2026, 12, 31)

    await set_deadline(services=services, due=date(2026, 12, 20), kind="county")
    await export_workbook(services=services, actor_id=STAFF, path=path)
    [row] = [
        r for r in _rows(load_workbook(path)[word("sheet_summary")]) if r[0] == word("deadline")
    ]
    each = [
        plain("zh", "formats.kind_date", kind=kind_name("zh", kind, plural=True), date=day)
        for kind, day in (("county", "2026年12月20日"), ("member", "2026年12月31日"))
    ]
    assert row[1] == join_clauses("zh", each)


async def test_export_reads_one_moment(services: Services, tmp_path: Path) -> None:
    """The report's numbers and the item matrix are read in one transaction."""
    await make_scene(services)
    begun: list[object] = []

    def on_begin(connection: object) -> None:
        begun.append(connection)

    event.listen(Engine, "begin", on_begin)  # every engine's (SQLite reads on one of their own)
    try:
        data = await collect(services=services)
    finally:
        event.remove(Engine, "begin", on_begin)
    assert len(begun) == 1
    for unit in data.units:
        owed = [c for c in unit.cells.values() if c.state != "exempt"]
        assert sum(1 for c in owed if c.state != "accepted") == len(unit.status.missing_items)
        assert (
            sum(1 for c in owed if c.state in ("pending", "not_applicable_pending"))
            == unit.status.pending_review
        )


def _shown(cell: Cell | MergedCell) -> str:
    """A cell's text as the spreadsheet shows it."""
    if isinstance(cell.value, datetime):
        pattern = "%Y-%m-%d %H:%M" if "hh" in cell.number_format else "%Y-%m-%d"
        return cell.value.strftime(pattern)
    return str(cell.value)


def _owing(value: object) -> bool:
    text = str(value)
    return not (text.startswith(ACCEPTED) or text in (EXEMPT, NOT_OWED))


@pytest.mark.libreoffice
async def test_libreoffice_opens_the_workbook(services: Services, tmp_path: Path) -> None:
    """The office opens the file as it is: LibreOffice converts it to PDF without error."""
    await make_scene(services)
    path = tmp_path / "双拥工作联络情况.xlsx"
    await export_workbook(services=services, actor_id=STAFF, path=path)
    process = await asyncio.create_subprocess_exec(
        "soffice",
        "--headless",
        f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
        "--convert-to",
        "pdf",
        "--outdir",
        str(tmp_path / "pdf"),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, output.decode(errors="replace")
    pdf = tmp_path / "pdf" / "双拥工作联络情况.pdf"
    assert pdf.read_bytes().startswith(b"%PDF"), output.decode(errors="replace")


async def test_only_staff_may_export(services: Services, tmp_path: Path) -> None:
    with pytest.raises(NotStaff):
        await export_workbook(services=services, actor_id=12345, path=tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


async def test_export_is_in_the_audit_log(services: Services, tmp_path: Path) -> None:
    await export_workbook(services=services, actor_id=STAFF, path=tmp_path / "x.xlsx")
    async with services.db.sessions() as session:
        from storage.models import AuditEvent

        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
        ).all()
    assert [(e.actor_id, e.details["what"], e.details["file"]) for e in events] == [
        (STAFF, "workbook", "x.xlsx")
    ]


async def _stored_files(services: Services, sizes: list[int]) -> list[tuple[str, str, bytes]]:
    """Accepted submissions with files under DATA_DIR (one missing on disk)."""
    report = await build_report(services=services)
    unit_name = report.units[0].name
    stored: list[tuple[str, str, bytes]] = []
    async with services.db.uow() as tx:
        unit = await repo.unit_by_name(tx, unit_name)
        assert unit is not None
        items = [i for i in await repo.checklist(tx) if i.kind == unit.kind]
        for number, size in enumerate(sizes):
            item = items[number % len(items)]
            submission = _submission(unit.id, item.id, "accepted", services)
            if number == 0:
                submission.text = "本单位该项工作纳入年度计划。"
            tx.add(submission)
            await tx.flush()
            name = f"第{number}份/材料.pdf"  # a slash in a file name must not make a folder
            relative = f"files/{unit.id}/{number}.pdf"
            data = os.urandom(size)
            if size:
                target = services.settings.data_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            tx.add(
                SubmissionFile(
                    submission_id=submission.id,
                    unit_id=unit.id,
                    item_id=item.id,
                    file_id=f"F{number}",
                    file_unique_id=f"U{number}",
                    file_name=name,
                    mime_type="application/pdf",
                    size=size,
                    sha256=None,
                    path=relative,
                    created_at=services.now(),
                )
            )
            stored.append((unit.name, item.title, data))
    return stored


async def test_archive_in_parts_under_the_limit(services: Services, tmp_path: Path) -> None:
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    stored = await _stored_files(services, [1500, 1500, 1500, 1500, 1500, 0])
    limit = 4096
    archive = await build_archive(
        services=services, actor_id=STAFF, out_dir=tmp_path / "out", limit=limit
    )
    assert archive.files == 6  # five files and one text answer
    assert len(archive.missing) == 1
    assert len(archive.parts) >= 3
    found: dict[str, bytes] = {}
    for part in archive.parts:
        assert part.path.stat().st_size <= limit
        with zipfile.ZipFile(part.path) as zipped:
            for info in zipped.infolist():
                found[info.filename] = zipped.read(info)
    listing = found.pop(f"{word('missing_list')}.txt").decode()
    assert listing.count("\n") == 1
    unit, title, _ = stored[0]
    folder = title.replace('"', "_")
    answer = found.pop(f"{unit}/{folder}/{word('text_answer')}.txt")
    assert answer.decode() == "本单位该项工作纳入年度计划。"
    # Folders 单位/资料项/文件, with the bytes as stored.
    for unit, title, data in stored[:5]:
        matches = [n for n, content in found.items() if content == data]
        assert len(matches) == 1
        folder_unit, folder_item, file_name = matches[0].split("/")
        assert folder_unit == unit
        assert folder_item == title.replace('"', "_")
        assert file_name.endswith(".pdf")
    assert len(found) == 5


async def test_archive_looks_at_the_stored_files_off_the_event_loop(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of stored files are looked up in a worker thread: the bot keeps answering."""
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    await _stored_files(services, [100, 100, 0])
    files = str(services.settings.data_dir) + os.sep
    looked_from: list[int] = []
    real_is_file, real_stat = Path.is_file, Path.stat

    def watched_is_file(path: Path, **kwargs: Any) -> bool:
        if str(path).startswith(files):
            looked_from.append(threading.get_ident())
        return real_is_file(path, **kwargs)

    def watched_stat(path: Path, **kwargs: Any) -> Any:
        if str(path).startswith(files):
            looked_from.append(threading.get_ident())
        return real_stat(path, **kwargs)

    monkeypatch.setattr(Path, "is_file", watched_is_file)
    monkeypatch.setattr(Path, "stat", watched_stat)
    archive = await build_archive(services=services, actor_id=None, out_dir=tmp_path / "out")
    assert archive.files == 3  # two files and one text answer
    assert looked_from  # the stored files were looked at
    assert threading.get_ident() not in looked_from


async def test_archive_parts_respect_the_upload_limit_by_default(
    services: Services, tmp_path: Path
) -> None:
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    await _stored_files(services, [2_000_000, 2_000_000])
    archive = await build_archive(services=services, actor_id=None, out_dir=tmp_path)
    assert len(archive.parts) == 1
    assert archive.parts[0].size < 50 * 1024 * 1024
    assert archive.parts[0].path.name.startswith(word("archive_name", stamp="20261130_0900"))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("cli_env")
async def test_export_on_the_command_line(tmp_path: Path) -> None:
    assert (await run_cli("db", "upgrade")).code == 0
    done = await run_cli("export", "status.xlsx")
    assert done.code == 0, done.err
    assert "status.xlsx" in done.out
    book = load_workbook(tmp_path / "status.xlsx")
    assert book.sheetnames == SHEETS
    bad = await run_cli("export", "status.csv")
    assert bad.code == 2
    assert ".xlsx" in bad.err
    missing = await run_cli("export", "nowhere/status.xlsx")
    assert missing.code == 2
    assert "nowhere" in missing.err


@pytest.mark.parametrize(
    ("lang", "header", "own_line"),
    [
        ("zh", "{title}\n（{scope}）", "{title}：{state}"),
        ("en", "{title}\n({scope})", "{title}: {state}"),
    ],
)
async def test_item_headers_and_own_items_are_written_in_the_workbooks_language(
    services: Services, tmp_path: Path, lang: str, header: str, own_line: str
) -> None:
    """A matrix column names whom its item is asked of, and the shared column of units' own
    items gives each item's state, in the punctuation of the workbook's language."""
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    async with services.db.uow() as tx:
        names = list((await tx.scalars(select(Unit.name).order_by(Unit.id))).all())
    own = names[: export_module.OWN_COLUMNS + 1]  # more than fit a column each: one column
    for name in own:
        await add_item(services=services, unit_name=name, title=f"增列{name}")
    items = (await collect(services=services)).items
    path = tmp_path / "status.xlsx"
    await export_workbook(
        services=with_settings(services, language=lang), actor_id=None, path=path
    )

    matrix = _rows(load_workbook(path)[t(lang, "export.sheet_matrix")])
    assert matrix[0][3:-1] == [
        header.format(title=item.title, scope=t(lang, f"common.kind_{item.kind}"))
        for item in items
    ]
    assert matrix[0][-1] == t(lang, "export.col_own_items")
    missing = t(lang, "unitcard.state_missing")
    shown_own = sorted(str(r[-1]) for r in matrix[1:] if r[-1])
    assert shown_own == sorted(own_line.format(title=f"增列{n}", state=missing) for n in own)
