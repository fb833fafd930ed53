"""Tests for bot/importing.py: reading rosters and checklists from .xlsx and .csv files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

import bot.importing
from bot.importing import (
    DEFAULT_CHECKLIST_PATH,
    REJECT_CODES,
    SAMPLE_ROSTER_PATH,
    ChecklistRow,
    ImportRejected,
    UnitRow,
    normalize_key,
    parse_checklist,
    parse_kind,
    parse_units,
    problems_of,
    read_sheet,
    read_table,
    read_units,
    reason_in,
)
from tests.support.kinds import add_trial, today_s_kinds

FIXTURES = Path(__file__).parent / "fixtures" / "import"

MEMBER_TITLES = [
    "年度工作计划（含双拥工作内容）",
    "党组（党委）会议研究部署双拥工作的记录",
    "国防教育和双拥宣传教育活动记录",
    "与驻地部队签订的结对共建协议",
    "拥军共建活动开展记录（不限于“八一”前后）",
    "拥军优属政策落实台账",
]
COUNTY_TITLES = [
    "政府工作报告中的双拥工作内容",
    "双拥经费纳入本级财政预算的文件",
    "军地合署办公制度及落实情况",
    "全民国防教育年度安排（含双拥宣传教育）",
    "双拥宣传阵地建设与管护记录",
    "社会化拥军组织及科技、教育、文化、法律拥军活动规划",
    "优抚对象帮扶、教育、医疗、住房配套政策及政策落实台账",
    "常态化双拥活动记录",
    "军地基层单位结对共建机制",
    "预防和处理军民纠纷预案",
    "双拥示范点建设资料",
]
COUNTIES = {"原州区", "西吉县", "隆德县", "彭阳县", "泾源县"}
NOTICE_UNITS = {
    "市委组织部",
    "市卫健委",
    "市民政局",
    "市交通运输局",
    "市行政审批局",
    "市税务局",
    "团市委",
    "市总工会",
    "市中级法院",
    "市文旅局",
    "市科技局",
    "市司法局",
    "市人防办",
    "市市场监管局",
}


def write_xlsx(path: Path, cells: dict[tuple[int, int], object]) -> Path:
    """Write cells {(row, column): value} (1-based, as Excel numbers them) to a workbook."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=column, value=value)
    workbook.save(path)
    return path


def rows_to_cells(rows: list[list[object]], first_row: int = 1) -> dict[tuple[int, int], object]:
    return {
        (first_row + r, c + 1): value
        for r, row in enumerate(rows)
        for c, value in enumerate(row)
        if value is not None
    }


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rejected(path: Path, parse: object = parse_units) -> ImportRejected:
    assert callable(parse)
    with pytest.raises(ImportRejected) as info:
        parse(path)
    return info.value


# --- good files ---------------------------------------------------------------------------


def test_units_xlsx_with_chinese_headers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "名单.xlsx",
        rows_to_cells(
            [
                [" 单位 名称 ", "类型", "备注"],
                ["市民政局", "成员单位", "note"],
                ["  西吉县　", "县（区）", None],
                [None, None, None],
                ["原州区", "县(区)", None],
                ["市总工会", "Member", None],
            ],
            first_row=2,  # a title row left empty above the header
        ),
    )
    assert parse_units(path) == [
        UnitRow(name="市民政局", kind="member"),
        UnitRow(name="西吉县", kind="county"),
        UnitRow(name="原州区", kind="county"),
        UnitRow(name="市总工会", kind="member"),
    ]
    assert [number for number, _ in read_table(path)] == [3, 4, 6, 7]


def test_units_csv_with_english_headers() -> None:
    units = parse_units(FIXTURES / "units_en.csv")
    assert [(unit.name, unit.kind) for unit in units] == [
        ("市民政局", "member"),
        ("西吉县", "county"),
        ("市总工会", "member"),
        ("隆德县", "county"),
    ]


def test_units_csv_saved_by_excel_in_gb18030(tmp_path: Path) -> None:
    text = "单位名称,类型\r\n市民政局,成员单位\r\n彭阳县,县（区）\r\n"
    path = write_csv(tmp_path / "units.csv", text, "gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    assert parse_units(path) == [
        UnitRow(name="市民政局", kind="member"),
        UnitRow(name="彭阳县", kind="county"),
    ]


def test_units_csv_with_utf8_bom(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "units.csv", "name,kind\n泾源县,县\n", "utf-8-sig")
    assert parse_units(path) == [UnitRow(name="泾源县", kind="county")]


def test_checklist_xlsx_with_chinese_headers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "清单.xlsx",
        rows_to_cells(
            [
                ["类型", "资料名称", "说明", "序号"],
                ["成员单位", "与驻地部队签订的结对共建协议", "请上传共建协议扫描件。", 1],
                ["县（区）", "双拥示范点建设资料", None, 2],
                # the same title for the other kind is a different item
                ["县区", "与驻地部队签订的结对共建协议", "  ", 3],
            ]
        ),
    )
    assert parse_checklist(path) == [
        ChecklistRow(
            kind="member",
            title="与驻地部队签订的结对共建协议",
            description="请上传共建协议扫描件。",
        ),
        ChecklistRow(kind="county", title="双拥示范点建设资料"),
        ChecklistRow(kind="county", title="与驻地部队签订的结对共建协议"),
    ]


def test_checklist_csv_with_english_headers() -> None:
    items = parse_checklist(FIXTURES / "checklist_en.csv")
    assert [(item.kind, item.title) for item in items] == [
        ("member", "年度工作计划（含双拥工作内容）"),
        ("member", '拥军共建活动开展记录（不限于"八一"前后）'),
        ("county", "双拥示范点建设资料"),
        ("county", "预防和处理军民纠纷预案"),
    ]
    assert items[1].description == ""
    assert items[2].description == "请上传双拥示范点名单\n及现场照片。"


def test_checklist_without_description_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", "类型,资料名称\n成员,常态化双拥活动记录\n")
    assert parse_checklist(path) == [ChecklistRow(kind="member", title="常态化双拥活动记录")]


def test_read_table_normalises_headers_and_counts_rows_as_excel_does(tmp_path: Path) -> None:
    text = '\n,,\nName ,类 型,（备注）\n"市民政局",member,"two\nlines"\n\n西吉县,county,\n'
    path = write_csv(tmp_path / "t.csv", text)
    table = read_sheet(path)
    assert table.header_row == 3
    assert table.columns == ("name", "类型", "(备注)")
    assert table.rows == [
        (4, {"name": "市民政局", "类型": "member", "(备注)": "two\nlines"}),
        (6, {"name": "西吉县", "类型": "county", "(备注)": ""}),
    ]


def test_xlsx_cells_that_are_not_text(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "t.xlsx",
        rows_to_cells([["a", "b", "c"], [12, 1.5, datetime(2027, 1, 1)], [True, None, 7.0]]),
    )
    assert read_table(path) == [
        (2, {"a": "12", "b": "1.5", "c": "2027-01-01"}),
        (3, {"a": "True", "b": "", "c": "7"}),
    ]


@pytest.mark.parametrize(
    ("spelling", "kind"),
    [
        ("member", "member"),
        ("MEMBER", "member"),
        (" 成员单位 ", "member"),
        ("成员", "member"),
        ("county", "county"),
        ("County", "county"),
        ("县（区）", "county"),
        ("县(区)", "county"),
        ("县 ( 区 )", "county"),
        ("县区", "county"),
        ("县", "county"),
        ("区", "county"),
    ],
)
def test_kind_spellings(spelling: str, kind: str) -> None:
    assert parse_kind(spelling) == kind
    assert UnitRow.model_validate({"name": "x", "kind": spelling}).kind == kind


@pytest.mark.parametrize("spelling", ["部门", "members", "市", ""])
def test_unknown_kind_spellings(spelling: str) -> None:
    assert parse_kind(spelling) is None


def test_normalize_key_folds_width_spaces_and_case() -> None:
    assert normalize_key(" 县（区） ") == normalize_key("县(区)") == "县(区)"
    assert normalize_key("Title\u3000") == "title"


# --- bad files ----------------------------------------------------------------------------

LONG_NAME = "单" * 101


@pytest.mark.parametrize(
    ("text", "row", "code", "details"),
    [
        ("name,type\n市民政局,member\n", 1, "missing_column", {"column": "kind"}),
        ("\n\n类型\n成员\n", 3, "missing_column", {"column": "单位名称", "field": "name"}),
        ("name,单位名称,kind\nA,B,member\n", 1, "duplicate_column", {"column": "单位名称"}),
        ("name,kind,name\nA,member,B\n", 1, "duplicate_column", {"column": "name"}),
        ("name,kind\n市民政局,member\n　,member\n", 3, "empty_value", {"column": "name"}),
        ("name,kind\n市民政局,\n", 2, "empty_value", {"column": "kind"}),
        ("单位,类型\n市民政局,部门\n", 2, "bad_kind", {"column": "类型", "value": "部门"}),
        (
            f"name,kind\n市民政局,member\n{LONG_NAME},member\n",
            3,
            "too_long",
            {"column": "name", "max_length": "100"},
        ),
        (
            "name,kind\n市民政局,member\n西吉县,county\n市民政局 ,county\n",
            4,
            "duplicate",
            {"column": "name", "value": "市民政局", "first_row": "2"},
        ),
        ("name,kind\n", None, "empty_file", {}),
        ("name,kind\n,\n , \n", None, "empty_file", {}),
        ("", None, "empty_file", {}),
        ("\n,,\n\n", None, "empty_file", {}),
    ],
)
def test_bad_units_csv(
    tmp_path: Path, text: str, row: int | None, code: str, details: dict[str, str]
) -> None:
    error = rejected(write_csv(tmp_path / "units.csv", text))
    assert (error.row, error.code) == (row, code)
    assert details.items() <= error.details.items()


def test_an_unknown_kind_is_answered_with_every_kind_a_file_may_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reason(lang: str) -> str:
        return reason_in(lang, "bad_kind", {"value": "部门"}, fallback="")

    today_s_kinds(monkeypatch, bot.importing)
    assert reason("zh") == "类型“部门”无法识别，应为“成员单位”或“县（区）”"
    assert reason("en") == "the type “部门” is unknown; use member or county"
    add_trial(monkeypatch, bot.importing)
    assert reason("zh") == "类型“部门”无法识别，应为“成员单位”、“县（区）”或“试点单位”"
    assert reason("en") == "the type “部门” is unknown; use member, county or trial"


def test_bad_row_number_in_xlsx_counts_blank_rows(tmp_path: Path) -> None:
    cells = rows_to_cells([["名称", "x"]], first_row=1)  # a title line above the table
    cells |= rows_to_cells([["单位名称", "类型"], ["市民政局", "成员单位"]], first_row=3)
    cells |= rows_to_cells([["西吉县", "乡镇"]], first_row=7)
    error = rejected(write_xlsx(tmp_path / "units.xlsx", cells))
    assert (error.row, error.code) == (7, "bad_kind")
    assert error.details == {"column": "类型", "field": "kind", "value": "乡镇"}


def test_the_header_is_looked_for_below_a_title(tmp_path: Path) -> None:
    """Office sheets often have a title (merged cells) and notes above the table."""
    cells = rows_to_cells(
        [
            ["固原市双拥工作领导小组成员单位名单"],
            ["（2026年12月）", "类型"],  # not the header: no name column
            ["序号", "单位名称", "类型"],
            [1, "市民政局", "成员单位"],
        ]
    )
    path = write_xlsx(tmp_path / "units.xlsx", cells)
    assert parse_units(path) == [UnitRow(name="市民政局", kind="member")]
    assert read_sheet(path).header_row == 1  # without the columns wanted: the first row
    table = read_units(path)
    assert table.rows == [(4, UnitRow(name="市民政局", kind="member"))]


def test_a_header_below_the_first_ten_rows_is_not_looked_for(tmp_path: Path) -> None:
    notes: list[list[object]] = [[f"说明{n}"] for n in range(10)]
    cells = rows_to_cells([*notes, ["单位名称", "类型"], ["市民政局", "成员单位"]])
    error = rejected(write_xlsx(tmp_path / "units.xlsx", cells))
    assert (error.row, error.code) == (1, "missing_column")
    assert error.details["column"] == "单位名称"


@pytest.mark.parametrize(
    ("header", "column"),
    [
        (["单位名称", "备注"], "类型"),
        (["类型", "备注"], "单位名称"),
        (["name", "note"], "kind"),
        (["Kind"], "name"),
    ],
)
def test_a_missing_column_is_named_in_the_words_of_the_file(
    tmp_path: Path, header: list[str], column: str
) -> None:
    error = rejected(write_xlsx(tmp_path / "units.xlsx", rows_to_cells([[*header], ["a", "b"]])))
    assert (error.row, error.code) == (1, "missing_column")
    assert error.details["column"] == column


def test_a_bad_cell_names_its_column_as_the_file_writes_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "units.csv", " 单位 名称 ,Kind\n市民政局,部门\n,member\n")
    error = rejected(path)
    assert [(p.row, p.code, p.details["column"]) for p in problems_of(error)] == [
        (2, "bad_kind", "Kind"),
        (3, "empty_value", "单位 名称"),
    ]


def test_a_name_or_title_that_is_a_date_or_number_is_refused(tmp_path: Path) -> None:
    cells = rows_to_cells(
        [
            ["单位名称", "类型"],
            [datetime(2026, 1, 1), "成员单位"],
            [12345, "成员单位"],
            [1.5, "部门"],
            ["市民政局", "成员单位"],
        ]
    )
    error = rejected(write_xlsx(tmp_path / "units.xlsx", cells))
    assert [(p.row, p.code, p.details.get("value")) for p in problems_of(error)] == [
        (2, "not_text", "2026-01-01"),
        (3, "not_text", "12345"),
        (4, "not_text", "1.5"),
        (4, "bad_kind", "部门"),
    ]
    assert error.details == {"column": "单位名称", "field": "name", "value": "2026-01-01"}
    cells = rows_to_cells([["类型", "资料名称", "说明"], ["成员单位", 2026, 12]])
    error = rejected(write_xlsx(tmp_path / "checklist.xlsx", cells), parse_checklist)
    assert [(p.row, p.code, p.details["column"]) for p in problems_of(error)] == [
        (2, "not_text", "资料名称")
    ]  # a number in the description is text enough (说明 “12”)


@pytest.mark.parametrize(
    ("text", "row", "code", "details"),
    [
        ("kind,description\nmember,说明\n", 1, "missing_column", {"column": "title"}),
        ("title\n标题\n", 1, "missing_column", {"column": "kind"}),
        ("kind,title\nmember,\n", 2, "empty_value", {"column": "title"}),
        ("kind,title\nbranch,标题\n", 2, "bad_kind", {"value": "branch"}),
        (f"kind,title\nmember,{'题' * 201}\n", 2, "too_long", {"max_length": "200"}),
        (f"kind,title\nmember,{'题' * 200}\n", None, None, {}),
        (
            f"kind,title,description\nmember,标题,{'说' * 1001}\n",
            2,
            "too_long",
            {"column": "description", "max_length": "1000"},
        ),
        (
            "kind,title\nmember,年度工作计划（含双拥工作内容）\n"
            "county,年度工作计划（含双拥工作内容）\n"
            "成员单位,年度工作计划(含双拥工作内容)\n",
            4,
            "duplicate",
            {"first_row": "2"},
        ),
        ("类型,资料名称,说明\n", None, "empty_file", {}),
    ],
)
def test_bad_checklist_csv(
    tmp_path: Path, text: str, row: int | None, code: str | None, details: dict[str, str]
) -> None:
    path = write_csv(tmp_path / "checklist.csv", text)
    if code is None:
        assert len(parse_checklist(path)) == 1
        return
    error = rejected(path, parse_checklist)
    assert (error.row, error.code) == (row, code)
    assert details.items() <= error.details.items()


@pytest.mark.parametrize("name", ["units.xls", "units.txt", "units", "units.xlsx.bak"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = write_csv(tmp_path / name, "name,kind\nA,member\n")
    error = rejected(path)
    assert (error.row, error.code) == (None, "unsupported_format")
    error = rejected(path, read_table)
    assert error.code == "unsupported_format"


def test_upper_case_extension_is_accepted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "UNITS.CSV", "name,kind\nA,member\n")
    assert parse_units(path) == [UnitRow(name="A", kind="member")]


def test_unreadable_files(tmp_path: Path) -> None:
    missing = rejected(tmp_path / "missing.csv")
    assert (missing.code, missing.details) == (
        "not_found",
        {"file": str(tmp_path / "missing.csv")},
    )
    assert rejected(tmp_path / "missing.xlsx").code == "not_found"
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert rejected(folder).code == "unreadable"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"this is not a zip file")
    assert rejected(broken).code == "unreadable"
    neither = write_csv(tmp_path / "bytes.csv", "name,kind\n", "ascii")
    neither.write_bytes(neither.read_bytes() + b"\xff\xfe\xff\n")
    error = rejected(neither)
    assert (error.row, error.code) == (None, "unreadable")
    assert error.details["error"]


def test_empty_workbook(tmp_path: Path) -> None:
    error = rejected(write_xlsx(tmp_path / "empty.xlsx", {}))
    assert (error.row, error.code) == (None, "empty_file")


def test_nothing_is_returned_when_a_later_row_is_bad(tmp_path: Path) -> None:
    rows = "".join(f"单位{i},member\n" for i in range(30))
    error = rejected(write_csv(tmp_path / "units.csv", f"name,kind\n{rows}单位5,county\n"))
    assert (error.row, error.code, error.details["first_row"]) == (32, "duplicate", "7")


def test_long_values_are_shortened_in_details(tmp_path: Path) -> None:
    error = rejected(write_csv(tmp_path / "units.csv", f"name,kind\n{'长' * 500},member\n"))
    assert error.code == "too_long"
    assert len(error.details["value"]) <= 50


def test_rejection_has_an_english_fallback_for_every_code() -> None:
    for code in REJECT_CODES:
        error = ImportRejected(3, code, {"column": "kind", "value": "x"})  # type: ignore[arg-type]
        assert error.reason
        assert error.reason != code
        assert str(error) == f"row 3: {error.reason}"
    error = ImportRejected(None, "empty_file")
    assert str(error) == "the file has no data rows"
    assert error.details == {}


# --- the files shipped with the package --------------------------------------------------


def test_default_checklist_is_the_domain_checklist() -> None:
    items = parse_checklist(DEFAULT_CHECKLIST_PATH)
    assert [item.title for item in items if item.kind == "member"] == MEMBER_TITLES
    assert [item.title for item in items if item.kind == "county"] == COUNTY_TITLES
    for item in items:
        assert item.description.startswith("请")
        assert item.description.endswith("。")
        assert "！" not in item.description
        assert "!" not in item.description
    assert DEFAULT_CHECKLIST_PATH.read_text(encoding="utf-8").startswith(
        "kind,title,description\n"
    )


def test_sample_roster() -> None:
    units = parse_units(SAMPLE_ROSTER_PATH)
    assert len(units) == 50
    assert {unit.name for unit in units if unit.kind == "county"} == COUNTIES
    members = [unit.name for unit in units if unit.kind == "member"]
    assert len(members) == len(set(members)) == 45
    assert set(members) >= NOTICE_UNITS
    assert SAMPLE_ROSTER_PATH.read_text(encoding="utf-8").startswith("name,kind\n")
