"""The 通报 and the 催办通知: read back with python-docx, checked against `report --json`,
the GB/T 9704 layout, LibreOffice, and the 督办 task that carries the notice to staff."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import docx
import pytest
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Length, Pt
from docx.text.paragraph import Paragraph
from sqlalchemy import func, select
from telegram import Chat, InputFile, Message
from telegram.ext import ExtBot

from bot.clock import FrozenClock
from bot.demo.sample import seed_notice_situation, unit_id_by_name
from bot.errors import NotStaff
from bot.ledger.checklist import set_deadline
from bot.ledger.report import build_report
from bot.reminders import delivery, planner
from bot.services import Services
from bot.staff.documents import notices
from bot.staff.documents.data import OwedItem, UnitOwing
from bot.staff.documents.layout import east_asian_font
from bot.staff.documents.preview import first_page_png, to_pdf
from bot.staff.documents.render import owes_sentence
from bot.transport.outbox import Dispatcher
from bot.transport.pacing import Intervals, Pacer
from messages import join_clauses, kind_name, plain
from storage import repositories as repo
from storage.models import (
    AuditEvent,
    Invite,
    OutboxMessage,
    Person,
    Setting,
    Submission,
    Unit,
)
from tests.support import factories
from tests.support.cli import run_cli
from tests.support.messages import mentions
from tests.support.settings import with_settings

STAFF = 900  # the `services` fixture's STAFF_IDS
SHANGHAI = ZoneInfo("Asia/Shanghai")
ODD_NAME = '市<文旅>&"体育"局/广电'  # characters that XML, HTML and file names each mind
ODD_REASON = "盖章页<不清晰>&缺第2页\x07，请重新扫描"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


async def _submission(services: Services, unit: str, title: str, state: str, note: str) -> None:
    async with services.db.uow() as tx:
        found = await repo.unit_by_name(tx, unit)
        assert found is not None
        item = next(
            i for i in await repo.checklist(tx) if i.title == title and i.kind == found.kind
        )
        now = services.now()
        tx.add(
            Submission(
                unit_id=found.id,
                item_id=item.id,
                state=state,
                answer_kind="text",
                text="材料",
                submitted_by=1,
                created_at=now,
                submitted_at=now,
                reviewed_by=STAFF if state == "returned" else None,
                reviewed_at=now if state == "returned" else None,
                review_note=note if state == "returned" else None,
            )
        )


@dataclass
class Scene:
    returned_unit: str
    returned_title: str
    pending_title: str


async def make_scene(services: Services) -> Scene:
    """The notice's situation (13 without contacts, 25 owing items), one unit with an item
    sent back for a reason and one awaiting review, and a unit whose name needs escaping."""
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    report = await build_report(services=services)
    chosen = next(
        s
        for s in report.units
        if s.kind == "member" and not s.missing_contacts and len(s.missing_items) >= 3
    )
    returned, pending = chosen.missing_items[0], chosen.missing_items[1]
    await _submission(services, chosen.name, returned, "returned", ODD_REASON)
    await _submission(services, chosen.name, pending, "pending", "")
    async with services.db.uow() as tx:
        tx.add(Unit(name=ODD_NAME, kind="member", created_at=services.now()))
    return Scene(chosen.name, returned, pending)


def mm(length: Length | None) -> float:
    """A length as Word stores it (in twips), in millimetres to a tenth."""
    assert length is not None
    return round(float(Length(length).mm), 1)


def rule(line: Paragraph, edge: str) -> Any:
    """The paragraph's border along one edge (a rule across the type area)."""
    ppr = line._p.pPr
    assert ppr is not None
    borders = ppr.find(qn("w:pBdr"))
    assert borders is not None
    found = borders.find(qn(f"w:{edge}"))
    assert found is not None
    return found


def quoted(title: str) -> str:
    """A title as the documents quote it (quotation marks inside become single)."""
    return "“" + title.replace("“", "‘").replace("”", "’") + "”"


def full_text(document: Document) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


def paragraph(document: Document, starts: str) -> Paragraph:
    return next(p for p in document.paragraphs if p.text.startswith(starts))


def named_units(document: Document) -> list[str]:
    """The units section 二 names, in order: table rows and numbered lines."""
    names = []
    texts = [p.text for p in document.paragraphs]
    start, end = texts.index("二、存在的问题"), texts.index("三、下一步工作要求")
    line = re.compile(r"^\d+\.(.+?)：")
    body = document.element.body
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            text = Paragraph(child, document).text
            index = texts.index(text) if text in texts else -1
            found = line.match(text)
            if found and start < index < end:
                names.append(found.group(1))
        elif child.tag == qn("w:tbl"):
            table = next(t for t in document.tables if t._tbl is child)
            names += [row.cells[1].text for row in table.rows[1:]]
    return names


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_quoted_title_quotes_inside_it_with_single_marks(lang: str) -> None:
    """“八一” inside a quoted title reads ‘八一’ in every language, not “…“八一”…”."""
    title = "拥军共建活动开展记录（不限于“八一”前后）"
    unit = UnitOwing(
        unit_id=1,
        name="市民政局",
        kind="member",
        liaison_missing=False,
        lead_missing=False,
        items=[OwedItem(title=title, state="missing")],
        required=2,
    )
    inner = plain(lang, "notice.quoted", title="拥军共建活动开展记录（不限于‘八一’前后）")
    assert owes_sentence(unit, lang) == plain(lang, "notice.owes_items", titles=inner)


# ---- the 通报 against `report --json` ---------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
async def test_bulletin_quotes_the_report(services: Services, tmp_path: Path) -> None:
    scene = await make_scene(services)
    done = await run_cli("report", "--json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    totals = report["totals"]
    assert (totals["missing_contacts"], totals["missing_items"]) == (14, 26)  # the odd unit

    path = tmp_path / "通报.docx"
    done = await run_cli("notice", "bulletin", str(path), "--number", "8", "--date", "2026-12-04")
    assert done.code == 0, done.err
    assert "14家单位未报送分管领导和联络员" in done.out
    document = docx.Document(str(path))
    text = full_text(document)

    assert "固双拥办发〔2026〕8号" in text
    assert paragraph(document, "关于双拥工作联络员").text == (
        "关于双拥工作联络员和资料台账\n报送情况的通报"
    )
    assert paragraph(document, "各县（区）双拥领导小组").text.endswith("各成员单位：")
    basic = paragraph(document, "本次统计共")
    assert f"共{totals['units']}家单位" in basic.text
    assert f"{totals['missing_contacts']}家单位未报送分管领导和联络员" in basic.text
    assert f"{totals['missing_items']}家单位资料台账未报齐" in basic.text
    assert f"{totals['pending_review']}项资料已报送、正在审核" in basic.text
    assert "本轮报送截止日期为2026年12月31日" in basic.text

    owing = [
        u
        for u in report["units"]
        if u["missing_items"] or not (u["liaison_registered"] and u["lead_registered"])
    ]
    counties = [u["name"] for u in report["units"] if u["kind"] == "county" and u in owing]
    members = [u["name"] for u in report["units"] if u["kind"] == "member" and u in owing]
    # Counties first, then member units, each in the roster's order; nobody complete named.
    assert named_units(document) == counties + members
    for unit in report["units"]:
        if unit not in owing:
            assert unit["name"] not in text
    assert "泾源县" in counties
    # What each owes: the item sent back, with its reason (the bell character dropped).
    assert scene.returned_title in text
    assert "盖章页<不清晰>&缺第2页，请重新扫描" in text
    assert ODD_NAME in text
    assert "三、下一步工作要求" in text
    assert "于2026年12月31日前通过市双拥办联络机器人补报" in text
    assert paragraph(document, "固原市拥军优属拥政爱民工作领导小组办公室").alignment == (
        WD_ALIGN_PARAGRAPH.RIGHT
    )
    assert "2026年12月4日" in [p.text for p in document.paragraphs]
    assert "抄送：自治区双拥领导小组办公室，市双拥领导小组组长、副组长。" in text
    assert "2026年12月4日印发" in text


async def test_bulletin_states_each_kinds_deadline_where_they_differ(
    services: Services, tmp_path: Path
) -> None:
    """Counties due on 20 December, member units on 31 December: the 通报 says both, as the
    催办通知 of a county says the county's."""
    await make_scene(services)
    await set_deadline(services=services, due=date(2026, 12, 20), kind="county")
    path = tmp_path / "通报.docx"
    await notices.write_bulletin(services=services, actor_id=STAFF, path=path)
    text = full_text(docx.Document(str(path)))
    days = (("county", "2026年12月20日"), ("member", "2026年12月31日"))
    stated = join_clauses(
        "zh",
        [
            plain(
                "zh", "notice.bulletin.kind_deadline", kind=kind_name("zh", k, plural=True), date=d
            )
            for k, d in days
        ],
    )
    assert mentions(text, "notice.bulletin.basic_deadlines", dates=stated)
    assert not mentions(text, "notice.bulletin.basic_deadline")
    limits = plain("zh", "notice.bulletin.next_kinds_join").join(
        plain("zh", "notice.bulletin.next_kind_due", kind=kind_name("zh", k, plural=True), date=d)
        for k, d in days
    )
    assert mentions(text, "notice.bulletin.next_1_kinds", dates=limits)
    assert not mentions(text, "notice.bulletin.next_1")


async def test_bulletin_counts_units_the_bot_cannot_reach(
    services: Services, tmp_path: Path
) -> None:
    await make_scene(services)
    path = tmp_path / "通报.docx"
    await notices.write_bulletin(services=services, actor_id=STAFF, path=path)
    assert "无法通过机器人接收提醒" not in full_text(docx.Document(str(path)))

    # Two units' registered liaisons have blocked the bot.
    async with services.db.sessions() as session:
        liaisons = (
            await session.scalars(
                select(Person.telegram_user_id)
                .where(Person.role == "liaison", Person.until.is_(None))
                .where(Person.telegram_user_id.is_not(None))
                .order_by(Person.unit_id)
                .limit(2)
            )
        ).all()
    for user_id in liaisons:
        assert user_id is not None
        await factories.add_account(
            services, user_id, unreachable_reason="Forbidden: bot was blocked by the user"
        )
    await notices.write_bulletin(services=services, actor_id=STAFF, path=path)
    basic = paragraph(docx.Document(str(path)), "本次统计共")
    assert "另有2家单位的联系人无法通过机器人接收提醒。" in basic.text


async def test_bulletin_page_geometry_and_fonts(services: Services, tmp_path: Path) -> None:
    await make_scene(services)
    done = await notices.write_bulletin(
        services=services, actor_id=STAFF, path=tmp_path / "b.docx"
    )
    document = docx.Document(str(done.path))
    section = document.sections[0]
    width, height = mm(section.page_width), mm(section.page_height)
    top, bottom = mm(section.top_margin), mm(section.bottom_margin)
    left, right = mm(section.left_margin), mm(section.right_margin)
    assert (width, height) == (210, 297)  # A4
    assert (top, bottom, left, right) == (37, 35, 28, 26)
    assert (width - left - right, height - top - bottom) == (156, 225)  # the type area

    mark = document.paragraphs[0]
    assert mark.text == "固原市拥军优属拥政爱民领导小组办公室文件"
    assert mark.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert mark.runs[0].font.color.rgb is not None
    assert str(mark.runs[0].font.color.rgb) == "FF0000"
    assert east_asian_font(mark.runs[0]) == "方正小标宋简体"
    number = paragraph(document, "固双拥办发〔2026〕")
    assert rule(number, "bottom").get(qn("w:color")) == "FF0000"

    title = paragraph(document, "关于双拥工作联络员")
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    for run in title.runs:
        assert run.font.size == Pt(22)
        assert east_asian_font(run) == "方正小标宋简体"
    body = paragraph(document, "本次统计共")
    assert body.paragraph_format.line_spacing_rule == WD_LINE_SPACING.EXACTLY
    assert body.paragraph_format.line_spacing == Pt(28)
    assert body.paragraph_format.first_line_indent == Pt(32)  # two characters of 三号
    for run in body.runs:
        assert run.font.size == Pt(16)
        assert east_asian_font(run) == "仿宋_GB2312"
    heading = paragraph(document, "一、基本情况")
    assert east_asian_font(heading.runs[0]) == "黑体"
    sub = paragraph(document, "（一）县（区）层面。")
    assert east_asian_font(sub.runs[0]) == "楷体_GB2312"
    assert east_asian_font(sub.runs[1]) == "仿宋_GB2312"
    table = document.tables[0]
    assert table.rows[0].cells[1].text == "单位"
    assert sum(mm(c.width) for c in table.columns) <= 156

    # Page numbers "— 1 —" in 四号 宋体: odd pages on the right, even pages on the left.
    assert document.settings.odd_and_even_pages_header_footer
    for footer, side in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        [line] = footer.paragraphs
        assert line.alignment == side
        assert line.text.startswith("— ")
        assert line.text.endswith(" —")
        assert "PAGE" in "".join(e.text or "" for e in line._p.iter(qn("w:instrText")))
        assert {r.font.size for r in line.runs} == {Pt(14)}
        assert {east_asian_font(r) for r in line.runs} == {"宋体"}
    # 版记: 抄送 and 印发 between rules.
    copied = paragraph(document, "抄送：")
    assert rule(copied, "top").get(qn("w:val")) == "single"
    printed = paragraph(document, "固原市拥军优属拥政爱民工作领导小组办公室\t")
    assert printed.text.endswith("印发")
    assert rule(printed, "bottom").get(qn("w:val")) == "single"


async def test_settings_change_the_letterhead(services: Services, tmp_path: Path) -> None:
    other = with_settings(
        services,
        notice_office="某市双拥办",
        notice_number_prefix="某双拥发",
        notice_signature="某市双拥工作领导小组办公室",
        notice_copy_to="省双拥办",
    )
    await seed_notice_situation(services=other, deadline=date(2026, 12, 31))
    done = await notices.write_bulletin(
        services=other, actor_id=STAFF, path=tmp_path / "b.docx", number="某双拥发[2026]3号"
    )
    text = full_text(docx.Document(str(done.path)))
    assert "某市双拥办文件" in text
    assert "某双拥发〔2026〕3号" in text
    assert "某市双拥工作领导小组办公室" in text
    assert "抄送：省双拥办。" in text
    for default in ("拥政爱民领导小组办公室文件", "固双拥办发", "自治区双拥领导小组办公室"):
        assert default not in text


# ---- the 催办通知 -----------------------------------------------------------------------------


async def test_an_urging_notice_names_only_its_own_unit(
    services: Services, tmp_path: Path
) -> None:
    scene = await make_scene(services)
    [done] = await notices.write_urges(
        services=services, actor_id=STAFF, unit_names=[scene.returned_unit], target=tmp_path
    )
    assert done.path.parent == tmp_path
    assert done.path.name.startswith(f"催办通知_{scene.returned_unit}_")
    document = docx.Document(str(done.path))
    text = full_text(document)
    assert paragraph(document, f"{scene.returned_unit}：")
    assert "关于抓紧补报双拥工作联络员\n和资料台账的催办通知" in text
    report = await build_report(services=services)
    status = next(s for s in report.units if s.name == scene.returned_unit)
    # Exactly what it owes: every item not accepted; the one sent back with its reason.
    for title in status.missing_items:
        if title != scene.pending_title:
            assert quoted(title) in text
    assert quoted(scene.pending_title) not in text  # awaiting review: only counted
    assert "另有1项资料已报送、正在审核" in text
    assert (
        f"“{scene.returned_title}”：已退回，退回原因：盖章页<不清晰>&缺第2页，请重新扫描" in text
    )
    assert "请于2026年12月31日前报送完毕" in text
    for other in report.units:
        if other.name != scene.returned_unit and other.name not in scene.returned_unit:
            assert other.name not in text, other.name


async def test_an_urging_notice_ends_with_the_offices_contact_line(
    services: Services, tmp_path: Path
) -> None:
    scene = await make_scene(services)
    [plain] = await notices.write_urges(
        services=services, actor_id=STAFF, unit_names=[scene.returned_unit], target=tmp_path
    )
    assert "联系人及电话" not in full_text(docx.Document(str(plain.path)))  # none set

    other = with_settings(services, notice_contact="市双拥办 王明，0954-2033xxx")
    [done] = await notices.write_urges(
        services=other, actor_id=STAFF, unit_names=[scene.returned_unit], target=tmp_path / "c"
    )
    assert paragraph(docx.Document(str(done.path)), "联系人及电话").text == (
        "联系人及电话：市双拥办 王明，0954-2033xxx"
    )


async def test_a_unit_without_liaison_gets_its_own_invite_link(
    services: Services, tmp_path: Path
) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    [without_name] = await notices.write_urges(
        services=services, actor_id=STAFF, unit_names=["泾源县"], target=tmp_path / "a.docx"
    )
    text = full_text(docx.Document(str(without_name.path)))
    assert "贵单位尚未登记联络员，请与市双拥办联系获取登记链接" in text
    async with services.db.uow() as tx:
        tx.add(Setting(key="bot_username", value="liaison_test_bot"))
    [linked] = await notices.write_urges(
        services=services, actor_id=STAFF, unit_names=["泾源县"], target=tmp_path / "b.docx"
    )
    text = full_text(docx.Document(str(linked.path)))
    [link] = re.findall(r"https://t\.me/liaison_test_bot\?start=[\w-]+", text)
    assert "@liaison_test_bot" in text
    async with services.db.sessions() as session:
        unit_id = await unit_id_by_name(services=services, name="泾源县")
        invites = (await session.scalars(select(Invite).where(Invite.unit_id == unit_id))).all()
        assert [(i.role, i.created_by) for i in invites] == [("liaison", STAFF)]
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "notice"))
        ).all()
        assert [(e.details["what"], e.unit_id) for e in events] == [("urge", unit_id)] * 2
    assert link


async def test_every_outstanding_unit_gets_one_notice(services: Services, tmp_path: Path) -> None:
    await make_scene(services)
    written = await notices.write_urges(
        services=services, actor_id=None, all_outstanding=True, target=tmp_path / "催办"
    )
    report = await build_report(services=services)
    owing = [s.name for s in report.units if s.missing_contacts or s.missing_items]
    assert [w.unit for w in written] == owing
    assert len({w.path for w in written}) == len(owing)
    assert all(w.path.parent == tmp_path / "催办" for w in written)
    culture = full_text(docx.Document(str(next(w for w in written if w.unit == "市文旅局").path)))
    assert "6.“拥军共建活动开展记录（不限于‘八一’前后）”：尚未报送。" in culture
    odd = next(w for w in written if w.unit == ODD_NAME)
    assert "/" not in odd.path.name.removeprefix("催办通知_")
    assert ODD_NAME in full_text(docx.Document(str(odd.path)))


async def test_only_staff_and_not_for_a_complete_unit(services: Services, tmp_path: Path) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    with pytest.raises(NotStaff):
        await notices.write_bulletin(services=services, actor_id=1, path=tmp_path / "b.docx")
    with pytest.raises(NotStaff):
        await notices.write_urges(services=services, actor_id=1, unit_names=["泾源县"])
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.docx")))
    report = await build_report(services=services)
    complete = next(s.name for s in report.units if not s.missing_items)
    with pytest.raises(notices.NothingOwed):
        await notices.write_urges(services=services, actor_id=STAFF, unit_names=[complete])


@pytest.mark.usefixtures("cli_env")
async def test_the_command_line_refuses_bad_input(services: Services, tmp_path: Path) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    cases = [
        (("notice", "bulletin", "通报.pdf"), "应以 .docx 结尾"),
        (("notice", "bulletin", "nowhere/通报.docx"), "文件夹 nowhere 不存在"),
        (("notice", "bulletin", "通报.docx", "--date", "12/04"), "日期格式应为 YYYY-MM-DD"),
        (("notice", "bulletin", "通报.docx", "--number", "八号"), "文号应为数字"),
        (("notice", "bulletin", "通报.docx", "--number", "0"), "文号应为数字"),
        (
            ("notice", "bulletin", "通报.docx", "--number", "固双拥办发〔2026〕00号"),
            "文号应为数字",
        ),
        (("notice", "urge", "市民政局", "泾源县", "两家.docx"), "请给出保存的文件夹"),
        (("notice", "urge", "市民政局"), "请写出单位名称和保存位置"),
        (("notice", "urge", "市民政局", "--all-outstanding", "out"), "只能选其一"),
        (("notice", "urge", "不存在的单位", "x.docx"), "未找到单位“不存在的单位”"),
        (("notice", "urge", "市民政局", "x.docx"), "市民政局已报齐分管领导、联络员和资料台账"),
    ]
    for args, said in cases:
        done = await run_cli(*args)
        assert done.code == 2, args
        assert said in done.err, (args, done.err)
        assert done.err.count("\n") == 1, done.err
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("*.docx")))
    done = await run_cli("notice", "urge", "市文旅局", "泾源县", "催办")
    assert done.code == 0, done.err
    written = await asyncio.to_thread(lambda: sorted((tmp_path / "催办").iterdir()))
    assert sorted(p.name.split("_")[1] for p in written) == ["市文旅局", "泾源县"]


# ---- LibreOffice ------------------------------------------------------------------------------


@pytest.mark.libreoffice
async def test_libreoffice_prints_both(services: Services, tmp_path: Path) -> None:
    """The office's own software opens both documents: the PDF holds the unit names."""
    scene = await make_scene(services)
    bulletin = await notices.write_bulletin(
        services=services, actor_id=STAFF, path=tmp_path / "通报.docx"
    )
    [urge] = await notices.write_urges(
        services=services, actor_id=STAFF, unit_names=["泾源县"], target=tmp_path / "催办.docx"
    )
    for document, names in (
        (bulletin.path, ["泾源县", scene.returned_unit, ODD_NAME]),
        (urge.path, ["泾源县"]),
    ):
        pdf = await to_pdf(document, tmp_path / "pdf")
        process = await asyncio.create_subprocess_exec(
            "pdftotext", "-raw", str(pdf), "-", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        text = re.sub(r"\s+", "", out.decode())
        for name in names:
            assert name in text, (document.name, name)
    assert scene.returned_unit not in re.sub(r"\s+", "", out.decode())
    png = await first_page_png(bulletin.path)
    assert png is not None
    assert png.startswith(b"\x89PNG")


# ---- 督办: the staff task carries the notice --------------------------------------------------


@dataclass
class Recorder:
    """Stands in for Telegram: keeps each message and each document sent."""

    clock: FrozenClock
    texts: list[tuple[int, str]] = field(default_factory=list)
    documents: list[tuple[int, str, bytes, str]] = field(default_factory=list)

    def _message(self, chat_id: int) -> Message:
        chat = Chat(id=chat_id, type=Chat.PRIVATE)
        count = len(self.texts) + len(self.documents)
        return Message(message_id=count, date=self.clock.now(), chat=chat)

    async def send_message(self, chat_id: int, text: str, **_: Any) -> Message:
        self.texts.append((chat_id, text))
        return self._message(chat_id)

    async def send_document(
        self, chat_id: int, document: InputFile, caption: str | None = None, **_: Any
    ) -> Message:
        assert isinstance(document, InputFile)
        content = document.input_file_content
        assert isinstance(content, bytes)
        self.documents.append((chat_id, document.filename or "", content, caption or ""))
        return self._message(chat_id)


async def test_the_supervision_task_carries_the_urging_notice(services: Services) -> None:
    clock = services.clock
    assert isinstance(clock, FrozenClock)
    recorder = Recorder(clock)
    checks = delivery.ReminderDelivery(services)
    dispatcher = Dispatcher(
        services=services,
        bot=cast(ExtBot[Any], recorder),
        worker_id="test",
        checks=checks.checks(),
        on_unreachable=[checks.on_unreachable],
    )
    dispatcher.pacer = Pacer(
        Intervals.of(per_second=10_000, private_per_second=1_000, group_per_minute=60_000)
    )
    await seed_notice_situation(services=services)
    clock.set(datetime.combine(date(2026, 10, 12), time(9, 30), tzinfo=SHANGHAI))
    await set_deadline(services=services, due=date(2026, 10, 16))

    async def day(when: date) -> None:
        clock.set(datetime.combine(when, time(9, 30), tzinfo=SHANGHAI))
        await planner.plan_tick(services=services)
        while await dispatcher.run_once():
            pass

    await day(date(2026, 10, 19))  # 1 working day after the deadline: not yet 督办
    assert recorder.documents == []
    await day(date(2026, 10, 21))  # 3 working days after: ESCALATE_OFFICE_AFTER_WORKDAYS=2
    report = await build_report(services=services)
    # Units with somebody on record who still owe items are supervised (the 13 go to invites).
    supervised = {s.name for s in report.units if s.missing_items and not s.missing_contacts}
    assert len(supervised) == 12
    by_unit: dict[str, bytes] = {}
    for chat_id, name, content, caption in recorder.documents:
        assert chat_id == STAFF
        assert name.startswith("催办通知_")
        assert name.endswith(".docx")
        assert "督办" in caption
        unit = name.split("_")[1]
        assert unit in caption
        by_unit[unit] = content
    assert set(by_unit) == supervised
    assert len(recorder.documents) == len(supervised)
    one = next(iter(sorted(supervised)))
    text = full_text(docx.Document(io.BytesIO(by_unit[one])))
    assert f"{one}：" in text
    assert "报送截止日期2026年10月16日已过，请接到本通知后立即补报" in text
    for other in supervised - {one}:
        assert other not in text
    # The digest still names them every day; the notice comes once per deadline.
    await day(date(2026, 10, 22))
    assert len(recorder.documents) == len(supervised)
    assert any("督办" in text for chat, text in recorder.texts if chat == STAFF)
    async with services.db.sessions() as session:
        tasks = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like("supervise:%"), OutboxMessage.state == "sent")
        )
    assert tasks == len(supervised)


async def test_a_supervision_notice_is_not_sent_once_the_unit_has_reported(
    services: Services,
) -> None:
    """The task is re-checked when it goes out: a unit that completed meanwhile is dropped."""
    clock = services.clock
    assert isinstance(clock, FrozenClock)
    await seed_notice_situation(services=services)
    clock.set(datetime.combine(date(2026, 10, 12), time(9, 30), tzinfo=SHANGHAI))
    await set_deadline(services=services, due=date(2026, 10, 16))
    clock.set(datetime.combine(date(2026, 10, 21), time(9, 30), tzinfo=SHANGHAI))
    await planner.plan_tick(services=services)
    async with services.db.uow() as tx:
        [row] = (
            await tx.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.like("supervise:%")).limit(1)
            )
        ).all()
        unit_id = row.unit_id
        assert unit_id is not None
        items = await repo.checklist(tx)
        unit = await tx.get(Unit, unit_id)
        assert unit is not None
        for item in items:
            if item.kind == unit.kind:
                tx.add(
                    Submission(
                        unit_id=unit_id,
                        item_id=item.id,
                        state="accepted",
                        answer_kind="text",
                        text="材料",
                        submitted_by=1,
                        created_at=clock.now(),
                        submitted_at=clock.now(),
                    )
                )
    recorder = Recorder(clock)
    checks = delivery.ReminderDelivery(services)
    dispatcher = Dispatcher(
        services=services,
        bot=cast(ExtBot[Any], recorder),
        worker_id="test",
        checks=checks.checks(),
    )
    dispatcher.pacer = Pacer(
        Intervals.of(per_second=10_000, private_per_second=1_000, group_per_minute=60_000)
    )
    for _ in range(50):  # one message a chat at a time: a second on, until nothing is left
        await dispatcher.run_once()
        clock.advance(timedelta(seconds=1))
    async with services.db.sessions() as session:
        unit_row = await session.get(Unit, unit_id)
        assert unit_row is not None
        done = await session.get(OutboxMessage, row.id)
        assert done is not None
        assert done.state == "cancelled"
    assert all(unit_row.name not in caption for _, _, _, caption in recorder.documents)
    assert recorder.documents  # the other supervised units' notices went out
