"""`units`, `checklist`, `deadline`, `staff` on the command line; bad files refused whole."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.importing import SAMPLE_ROSTER_PATH, read_units
from messages import format_date, plain
from tests.support.checklist import titles
from tests.support.cli import run_cli
from tests.support.messages import label, mentions, says


@pytest.fixture(autouse=True)
async def env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> None:
    """A database set up as the README's first step does (only set-up commands make one)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    monkeypatch.delenv("STAFF_IDS", raising=False)
    assert (await run_cli("db", "upgrade")).code == 0


SHANGHAI = ZoneInfo("Asia/Shanghai")


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


async def unit_names() -> list[str]:
    done = await run_cli("units", "list", "--json")
    assert done.code == 0, done.err
    return sorted(u["name"] for u in json.loads(done.out))


async def test_units_import_xlsx_with_chinese_headers(tmp_path: Path) -> None:
    book = write_xlsx(
        tmp_path / "名单.xlsx",
        [["单位名称", "类型"], ["市民政局", "成员单位"], ["西吉县", "县（区）"]],
    )
    done = await run_cli("units", "import", str(book))
    assert done.code == 0, done.err
    assert says(done.out, "cli.units_imported", count=2, added=2, updated=0)
    listed = json.loads((await run_cli("units", "list", "--json")).out)
    assert {(u["name"], u["kind"]) for u in listed} == {
        ("市民政局", "member"),
        ("西吉县", "county"),
    }


async def test_units_import_csv_with_english_headers_then_update(tmp_path: Path) -> None:
    first = tmp_path / "units.csv"
    first.write_text("name,kind\n市税务局,member\n原州区,county\n", encoding="utf-8")
    assert (await run_cli("units", "import", str(first))).code == 0
    second = tmp_path / "units2.csv"
    second.write_text("name,kind\n市税务局,county\n团市委,member\n", encoding="utf-8")
    done = await run_cli("units", "import", str(second))
    assert done.code == 0
    imported, retyped, reordered = done.out.strip().splitlines()
    assert says(imported, "cli.units_imported", count=2, added=1, updated=1)
    assert says(retyped, "cli.units_retyped", count=1, names="市税务局（成员单位→县（区））")
    assert says(reordered, "cli.units_reordered")  # 市税务局 now a county listed before 原州区
    listed = {
        u["name"]: u["kind"] for u in json.loads((await run_cli("units", "list", "--json")).out)
    }
    assert listed == {"市税务局": "county", "原州区": "county", "团市委": "member"}


@pytest.mark.parametrize(
    ("content", "row", "reason"),
    [
        ("name,kind\n市民政局,member\n,member\n", 3, "import_reason.empty_value"),
        ("name,kind\n市民政局,member\n市科技局,部门\n", 3, "import_reason.bad_kind"),
        ("name,kind\n市民政局,member\n市民政局,member\n", 3, "import_reason.duplicate"),
        ("name\n市民政局\n", 1, "import_reason.missing_column"),
        ("name,kind\n" + "长" * 101 + ",member\n", 2, "import_reason.too_long"),
        ("name,kind\n", None, "import_reason.empty_file"),
    ],
)
async def test_bad_units_file_is_refused_whole(
    tmp_path: Path, content: str, row: int | None, reason: str
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("name,kind\n市司法局,member\n", encoding="utf-8")
    assert (await run_cli("units", "import", str(good))).code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    done = await run_cli("units", "import", str(bad))
    assert done.code == 2
    lines = done.err.strip().splitlines()
    assert len(lines) == 1
    if row is not None:
        assert says(lines[0], "cli.import_rejected_row", row=row)
    else:
        assert says(lines[0], "cli.import_rejected")
    assert mentions(lines[0], reason)
    assert await unit_names() == ["市司法局"]


async def test_unsupported_format_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "units.txt"
    bad.write_text("市民政局", encoding="utf-8")
    done = await run_cli("units", "import", str(bad))
    assert done.code == 2
    assert ".xlsx" in done.err


async def test_sample_roster_imports_fifty_units() -> None:
    done = await run_cli("units", "import", str(SAMPLE_ROSTER_PATH))
    assert done.code == 0, done.err
    names = await unit_names()
    assert len(names) == 50
    assert {"原州区", "西吉县", "隆德县", "彭阳县", "泾源县", "市民政局", "团市委"} <= set(names)


async def test_the_sample_roster_is_listed_in_its_files_order() -> None:
    """Counties first, then member units, each as the file lists them (not by name)."""
    assert (await run_cli("units", "import", str(SAMPLE_ROSTER_PATH))).code == 0
    rows = [row for _, row in read_units(SAMPLE_ROSTER_PATH).rows]

    listed = json.loads((await run_cli("units", "list", "--json")).out)

    in_file = [r.name for r in rows if r.kind == "county"] + [
        r.name for r in rows if r.kind == "member"
    ]
    assert [unit["name"] for unit in listed] == in_file


async def test_units_import_again_in_another_order_says_so_and_lists_them_so(
    tmp_path: Path,
) -> None:
    first = tmp_path / "units.csv"
    first.write_text("name,kind\n市委组织部,member\n市民政局,member\n团市委,member\n")
    done = await run_cli("units", "import", str(first))
    assert done.out.strip().splitlines()[1:] == []  # nothing on record was listed before
    again = await run_cli("units", "import", str(first))
    assert again.out.strip().splitlines()[1:] == []  # the same order: nothing to say
    second = tmp_path / "units2.csv"
    second.write_text("name,kind\n团市委,member\n市委组织部,member\n市民政局,member\n")

    done = await run_cli("units", "import", str(second))

    imported, reordered = done.out.strip().splitlines()
    assert says(imported, "cli.units_imported", count=3, added=0, updated=0)
    assert says(reordered, "cli.units_reordered")
    listed = json.loads((await run_cli("units", "list", "--json")).out)
    assert [unit["name"] for unit in listed] == ["团市委", "市委组织部", "市民政局"]


async def test_default_checklist_is_loaded_on_first_start() -> None:
    done = await run_cli("checklist", "list", "--json")
    items = json.loads(done.out)
    for kind in ("member", "county"):
        assert [i["title"] for i in items if i["kind"] == kind] == titles(kind)
    assert "与驻地部队签订的结对共建协议" in {i["title"] for i in items}


async def test_checklist_import_in_both_formats_and_languages(tmp_path: Path) -> None:
    book = write_xlsx(
        tmp_path / "清单.xlsx",
        [
            ["类型", "资料名称", "说明"],
            ["成员单位", "年度工作计划", "请上传计划"],
            ["县（区）", "预案", ""],
        ],
    )
    assert (await run_cli("checklist", "import", str(book))).code == 0
    items = json.loads((await run_cli("checklist", "list", "--json")).out)
    assert [(i["kind"], i["title"]) for i in items] == [
        ("member", "年度工作计划"),
        ("county", "预案"),
    ]
    csv_file = tmp_path / "checklist.csv"
    csv_file.write_text("kind,title,description\nmember,共建协议,签字页\n", encoding="utf-8")
    assert (await run_cli("checklist", "import", str(csv_file))).code == 0
    items = json.loads((await run_cli("checklist", "list", "--json")).out)
    assert [(i["title"], i["description"]) for i in items] == [("共建协议", "签字页")]


async def test_bad_checklist_file_changes_nothing(tmp_path: Path) -> None:
    before = (await run_cli("checklist", "list", "--json")).out
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,title\nmember,计划\nmember,\n", encoding="utf-8")
    done = await run_cli("checklist", "import", str(bad))
    assert done.code == 2
    assert "第3行" in done.err
    assert (await run_cli("checklist", "list", "--json")).out == before


async def test_exempt_add_and_deadline(tmp_path: Path) -> None:
    roster = tmp_path / "units.csv"
    roster.write_text("name,kind\n市民政局,member\n市科技局,member\n", encoding="utf-8")
    assert (await run_cli("units", "import", str(roster))).code == 0
    done = await run_cli(
        "checklist", "exempt", "科技局", "拥军优属政策落实台账", "--reason", "无相关职能"
    )
    assert done.code == 0, done.err
    assert "市科技局" in done.out
    done = await run_cli(
        "checklist", "add", "市民政局", "退役军人服务站台账", "--description", "照片"
    )
    assert done.code == 0, done.err
    assert (await run_cli("checklist", "exempt", "市农业局", "计划", "--reason", "x")).code == 2
    everyone_due = datetime.now(SHANGHAI).date() + timedelta(days=26)
    counties_due = everyone_due + timedelta(days=15)
    done = await run_cli("deadline", "set", everyone_due.isoformat())
    assert done.code == 0
    assert format_date(everyone_due, "zh") in done.out
    assert (await run_cli("deadline", "set", "31/12/2026")).code == 2
    done = await run_cli("deadline", "set", counties_due.isoformat(), "--kind", "county")
    assert done.code == 0
    shown = (await run_cli("deadline", "show")).out
    everyone, counties = label("cli.deadline_scope_all"), label("common.kind_county")
    assert mentions(
        shown, "cli.deadline_line", scope=everyone, date=format_date(everyone_due, "zh")
    )
    assert mentions(
        shown, "cli.deadline_line", scope=counties, date=format_date(counties_due, "zh")
    )
    report = json.loads((await run_cli("report", "--json")).out)
    by_name = {u["name"]: u for u in report["units"]}
    assert "拥军优属政策落实台账" not in by_name["市科技局"]["missing_items"]
    assert "退役军人服务站台账" in by_name["市民政局"]["missing_items"]
    assert by_name["市民政局"]["missing_items"] == [*titles("member"), "退役军人服务站台账"]
    assert report["deadline"] == everyone_due.isoformat()


async def test_a_deadline_before_today_is_refused() -> None:
    today = datetime.now(SHANGHAI).date()
    for kind in ([], ["--kind", "county"]):
        past = await run_cli("deadline", "set", (today - timedelta(days=1)).isoformat(), *kind)
        assert past.code == 2
        assert says(past.err, "cli.deadline_past", today=format_date(today, "zh"))
    assert says((await run_cli("deadline", "show")).out, "cli.deadline_none")
    assert (await run_cli("deadline", "set", today.isoformat())).code == 0


async def test_a_deadline_for_all_units_replaces_the_kinds_own() -> None:
    """“全部单位” means every unit: a kind's own deadline set earlier gives way to it."""
    today = datetime.now(SHANGHAI).date()
    first, counties_due, later = (today + timedelta(days=n) for n in (26, 15, 41))
    everyone, counties = label("cli.deadline_scope_all"), label("common.kinds_county")
    assert (await run_cli("deadline", "set", first.isoformat())).code == 0
    assert (
        await run_cli("deadline", "set", counties_due.isoformat(), "--kind", "county")
    ).code == 0
    done = await run_cli("deadline", "set", later.isoformat())
    assert done.code == 0, done.err
    assert mentions(done.out, "cli.deadline_set", date=format_date(later, "zh"), scope=everyone)
    assert mentions(done.out, "cli.deadline_kinds_replaced", kinds=counties)
    shown = await run_cli("deadline", "show")
    assert says(shown.out, "cli.deadline_line", scope=everyone, date=format_date(later, "zh"))

    # A kind's own deadline can be set again, and taken away again.
    assert (
        await run_cli("deadline", "set", counties_due.isoformat(), "--kind", "county")
    ).code == 0
    cleared = await run_cli("deadline", "clear", "--kind", "county")
    assert cleared.code == 0, cleared.err
    assert says(cleared.out, "cli.deadline_cleared", scope=counties, date=format_date(later, "zh"))
    shown = await run_cli("deadline", "show")
    assert says(shown.out, "cli.deadline_line", scope=everyone, date=format_date(later, "zh"))
    again = await run_cli("deadline", "clear", "--kind", "county")
    assert again.code == 0
    assert says(again.out, "cli.deadline_not_own", scope=counties)
    assert (await run_cli("deadline", "clear")).code == 2  # which kind's, it must say


async def test_checklist_add_twice_adds_the_item_once(tmp_path: Path) -> None:
    roster = tmp_path / "units.csv"
    roster.write_text("name,kind\n市民政局,member\n", encoding="utf-8")
    assert (await run_cli("units", "import", str(roster))).code == 0
    first = await run_cli("checklist", "add", "市民政局", "退役军人服务站台账")
    assert first.code == 0, first.err
    assert says(first.out, "cli.item_added", unit="市民政局", title="退役军人服务站台账")
    again = await run_cli("checklist", "add", "市民政局", "退役军人服务站台账")
    assert again.code == 0, again.err
    assert says(again.out, "checklist_cli.item_exists", unit="市民政局")
    listed = json.loads((await run_cli("checklist", "list", "--json")).out)
    assert [i["title"] for i in listed].count("退役军人服务站台账") == 1
    report = json.loads((await run_cli("report", "--json")).out)
    [unit] = report["units"]
    assert unit["missing_items"].count("退役军人服务站台账") == 1
    assert len(unit["missing_items"]) == len(titles("member")) + 1


async def test_staff_add_list_remove(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_IDS", "7")
    assert (await run_cli("staff", "add", "42")).code == 0
    listed = (await run_cli("staff", "list")).out
    assert "7" in listed
    assert "42" in listed
    assert (await run_cli("staff", "remove", "42")).code == 0
    assert "42" not in (await run_cli("staff", "list")).out
    assert (await run_cli("staff", "remove", "42")).code == 2


async def test_staff_list_names_everyone_once_in_order_of_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAFF_IDS", "42,7")
    for user_id in ("42", "3"):
        assert (await run_cli("staff", "add", user_id)).code == 0
    env, db = plain("zh", "cli.staff_source_env"), plain("zh", "cli.staff_source_db")
    assert (await run_cli("staff", "list")).out.splitlines() == [
        plain("zh", "cli.staff_line", user_id=user_id, source=source)
        for user_id, source in ((3, db), (7, env), (42, env))
    ]


async def test_command_line_changes_are_in_the_audit_log(db_url: str, tmp_path: Path) -> None:
    """Deadline, staff, exemption, additions, pause and resume leave an audit entry each."""
    from sqlalchemy import select

    from storage.db import Database
    from storage.models import AuditEvent

    roster = tmp_path / "units.csv"
    roster.write_text("name,kind\n市民政局,member\n", encoding="utf-8")
    steps = [
        ("units", "import", str(roster)),
        ("deadline", "set", "2026-12-31"),
        ("staff", "add", "42"),
        ("staff", "remove", "42"),
        ("checklist", "exempt", "市民政局", "拥军优属政策落实台账", "--reason", "无此职能"),
        ("checklist", "add", "市民政局", "退役军人服务站台账"),
        ("pause", "市民政局", "--until", "2026-12-10", "--reason", "联络员休假"),
        ("resume", "市民政局"),
    ]
    for step in steps:
        done = await run_cli(*step)
        assert done.code == 0, (step, done.err)
    db = Database(db_url)
    try:
        async with db.sessions() as session:
            actions = list(
                (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
            )
    finally:
        await db.dispose()
    assert actions[-8:] == [
        "units_import", "deadline_set", "staff_add", "staff_remove", "exempt", "item_add",
        "reminders_paused", "reminders_resumed",
    ]  # fmt: skip


async def test_a_name_that_excel_holds_as_a_date_or_number_is_refused(tmp_path: Path) -> None:
    book = write_xlsx(
        tmp_path / "名单.xlsx",
        [["单位名称", "类型"], [datetime(2026, 1, 1), "成员单位"], [12345, "成员单位"]],
    )
    done = await run_cli("units", "import", str(book))
    assert done.code == 2
    assert says(done.err.strip(), "cli.import_rejected_row", row=2)
    assert mentions(done.err, "import_reason.not_text", column="单位名称", value="2026-01-01")
    assert await unit_names() == []


async def test_units_whose_kind_or_name_changes_are_named(tmp_path: Path) -> None:
    first = write_xlsx(
        tmp_path / "名单.xlsx",
        [["单位名称", "类型"], ["市民政局", "成员单位"], ["市卫健委", "成员单位"]],
    )
    assert (await run_cli("units", "import", str(first))).code == 0
    second = write_xlsx(
        tmp_path / "名单2.xlsx",
        [
            ["单位名称", "类型", "原单位名称"],
            ["市民政局", "县（区）", None],
            ["市卫生健康委员会", "成员单位", "市卫健委"],
        ],
    )
    done = await run_cli("units", "import", str(second))
    assert done.code == 0, done.err
    assert mentions(done.out, "cli.units_imported", count=2, added=0, updated=2)
    assert mentions(done.out, "cli.units_renamed", count=1, names="市卫健委→市卫生健康委员会")
    assert mentions(done.out, "cli.units_retyped", count=1, names="市民政局（成员单位→县（区））")


async def test_a_missing_column_is_named_as_the_office_writes_it(tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "名单.xlsx", [["单位名称", "备注"], ["市民政局", "x"]])
    done = await run_cli("units", "import", str(book))
    assert done.code == 2
    assert mentions(done.err, "import_reason.missing_column", column="类型")


async def test_a_title_row_above_the_header_is_passed_over(tmp_path: Path) -> None:
    book = write_xlsx(
        tmp_path / "名单.xlsx",
        [
            ["固原市双拥工作领导小组成员单位名单"],
            ["序号", "单位名称", "类型"],
            [1, "市民政局", "成员单位"],
            [2, "西吉县", "县（区）"],
        ],
    )
    done = await run_cli("units", "import", str(book))
    assert done.code == 0, done.err
    assert await unit_names() == ["市民政局", "西吉县"]


async def test_a_file_that_is_not_there_is_said_to_be_not_found(tmp_path: Path) -> None:
    done = await run_cli("units", "import", str(tmp_path / "名单.xlsx"))
    assert done.code == 2
    assert says(done.err.strip(), "cli.import_not_found", file=str(tmp_path / "名单.xlsx"))
