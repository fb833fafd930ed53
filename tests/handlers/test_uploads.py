"""A roster, checklist or holiday file sent to the bot by staff: checked, previewed, imported.

The real handlers run through `Application.process_update` with a recording request in
place of Telegram (which also serves the files people send), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

import handlers.uploads
from bot import roster
from bot.clock import FrozenClock
from bot.holidays import load_calendar
from bot.ledger.checklist import ChecklistPlan
from bot.reminders.planner import plan_tick
from bot.services import Services
from bot.staff.uploads import UploadOut
from handlers.uploads import checklist_text
from messages import t
from storage import repositories as repo
from storage.db import Database
from storage.models import AuditEvent, OutboxMessage, Person, StaffUpload, Unit
from tests.support.application import BotHarness, running_bot
from tests.support.factories import add_submission, items_for
from tests.support.kinds import add_trial, today_s_kinds
from tests.support.messages import label, mentions
from tests.support.request import RecordingRequest

STAFF = 900  # in STAFF_IDS of the `services` fixture
LIAISON = 5001
STRANGER = 5002
FIXTURES = Path(__file__).parents[1] / "fixtures" / "import"


def xlsx(rows: list[list[str]]) -> bytes:
    """An Excel workbook with these rows on its first sheet."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """A sent message's inline buttons: label → callback data."""
    markup = message.get("reply_markup")
    if not markup:
        return {}
    rows = json.loads(markup) if isinstance(markup, str) else markup
    return {b["text"]: b["callback_data"] for row in rows["inline_keyboard"] for b in row}


@dataclass
class Office:
    """Staff and liaisons sending files and pressing buttons; the bot's answers as Telegram
    was asked to send them (text as sent, with its buttons)."""

    services: Services
    bot: BotHarness

    @property
    def request(self) -> RecordingRequest:
        return self.bot.request

    def _answers(self, user_id: int, since: int) -> list[dict[str, Any]]:
        return [
            {"text": m.html, "reply_markup": m.reply_markup}
            for m in self.request.sent(user_id, since=since)
        ]

    async def document(self, user_id: int, name: str, data: bytes) -> list[dict[str, Any]]:
        """A person sends a file; the bot's answers to them."""
        since = self.request.mark()
        await self.bot.send_document(user_id, name, data, mime_type=None)
        return self._answers(user_id, since)

    async def press(self, user_id: int, data: str) -> list[dict[str, Any]]:
        """A person presses an inline button under a bot message; the bot's answers."""
        since = self.request.mark()
        await self.bot.press(user_id, data=data)
        return self._answers(user_id, since)

    async def units(self) -> dict[str, tuple[int, str]]:
        async with self.services.db.sessions() as session:
            return {u.name: (u.id, u.kind) for u in await repo.units(session)}


@pytest.fixture
async def office(services: Services) -> AsyncIterator[Office]:
    async with running_bot(services) as bot:
        yield Office(services=services, bot=bot)


async def roster_of(office: Office, csv: str) -> None:
    """The roster on record before the test (as `units import` loads it)."""
    path = office.services.settings.data_dir.parent / "before.csv"
    path.write_text(csv, encoding="utf-8")
    await roster.import_units(services=office.services, path=path, actor="test")


BEFORE = (
    "单位名称,类型\n市民政局,成员单位\n市卫健委,成员单位\n西吉县,成员单位\n市人防办,成员单位\n"
)
NEW_ROSTER = (
    "单位名称,类型,原单位名称\n"
    "市民政局,成员单位,\n"
    "市卫生健康委员会,成员单位,市卫健委\n"
    "西吉县,县（区）,\n"
    "市退役军人事务局,成员单位,\n"
)


async def test_a_good_roster_is_previewed_then_applied(office: Office) -> None:
    await roster_of(office, BEFORE)
    before = await office.units()

    [answer] = await office.document(STAFF, "新名单.csv", NEW_ROSTER.encode())

    text = answer["text"]
    assert "单位名单预览" in text
    assert "新增1家：市退役军人事务局" in text
    assert "更名1家：市卫健委→市卫生健康委员会" in text
    assert "类型变更1家：西吉县（成员单位→县（区））" in text
    assert "文件未列出的现有单位1家：市人防办" in text
    labels = buttons(answer)
    assert set(labels) == {"确认导入", "导入并移出1家单位", "取消"}
    assert await office.units() == before  # nothing changes before the confirmation

    [done] = await office.press(STAFF, labels["确认导入"])

    assert done["text"].startswith(
        "已导入单位名单《新名单.csv》：新增1家，更名1家，类型变更1家，移出0家。"
    )
    after = await office.units()
    assert after["市卫生健康委员会"] == (before["市卫健委"][0], "member")  # the same unit
    assert "市卫健委" not in after
    assert after["西吉县"] == (before["西吉县"][0], "county")
    assert after["市退役军人事务局"][1] == "member"
    assert "市人防办" in after  # left out of the file, kept
    async with office.services.db.sessions() as session:
        [event] = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "units_import")
                .order_by(AuditEvent.id.desc())
            )
        ).all()[:1]
    assert event.actor_id == STAFF
    assert event.details == {
        "file": "新名单.csv",
        "via": "chat",
        "added": 1,
        "renamed": 1,
        "updated": 1,
        "removed": 0,
    }
    assert event.at == office.services.now()


async def test_a_roster_sent_as_an_excel_workbook_is_previewed_then_applied(
    office: Office,
) -> None:
    """The office keeps its roster in Excel: the same preview and import as a CSV."""
    await roster_of(office, BEFORE)
    before = await office.units()
    workbook = xlsx([row.split(",") for row in NEW_ROSTER.splitlines()])

    [answer] = await office.document(STAFF, "新名单.xlsx", workbook)

    assert "单位名单预览" in answer["text"]
    assert "新增1家：市退役军人事务局" in answer["text"]
    assert await office.units() == before
    [done] = await office.press(STAFF, buttons(answer)["确认导入"])
    assert done["text"].startswith("已导入单位名单《新名单.xlsx》：新增1家，更名1家")
    after = await office.units()
    assert after["市卫生健康委员会"] == (before["市卫健委"][0], "member")
    assert "市退役军人事务局" in after


async def test_removing_the_units_left_out_takes_their_people_and_reminders(
    office: Office,
) -> None:
    await roster_of(office, BEFORE)
    units = await office.units()
    now = office.services.now()
    async with office.services.db.uow() as tx:
        tx.add(
            Person(
                unit_id=units["市人防办"][0], role="liaison", name="赵敏", post="科员",
                phone="13700000000", telegram_user_id=LIAISON, since=now, until=None,
            )
        )  # fmt: skip
        tx.add(
            OutboxMessage(
                dedupe_key="reminder:test", chat_id=LIAISON, purpose="reminder",
                payload={"text": "x"}, unit_id=units["市人防办"][0], state="pending",
                due_at=now, created_at=now,
            )
        )  # fmt: skip

    [answer] = await office.document(STAFF, "新名单.csv", NEW_ROSTER.encode())
    left_out = t(
        "zh", "uploads.units_absent_history", name="市人防办", people=1, accepted=0, pending=0
    )
    assert left_out in answer["text"]
    [done] = await office.press(STAFF, buttons(answer)["导入并移出1家单位"])

    assert "移出1家" in done["text"]
    assert "市人防办" not in await office.units()
    async with office.services.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
        row = await session.scalar(select(OutboxMessage))
        assert row is not None
        assert row.state == "cancelled"
    menus = [c.params for c in office.request.calls_to("setMyCommands")]
    assert any(p["scope"]["chat_id"] == LIAISON for p in menus)


async def test_a_bad_roster_lists_every_bad_row_and_changes_nothing(office: Office) -> None:
    await roster_of(office, BEFORE)
    before = await office.units()
    bad = (
        "单位名称,类型,原单位名称\n"
        "市民政局,局,\n"  # row 2: kind
        ",成员单位,\n"  # row 3: no name
        "市公安局,成员单位,\n"
        "市公安局,成员单位,\n"  # row 5: twice
        "市新局,成员单位,市旧局\n"  # row 6: renames a unit that is not on record
    )

    answers = await office.document(STAFF, "名单.csv", bad.encode())

    text = "\n".join(a["text"] for a in answers)
    assert "共有4处问题，未导入任何内容" in text
    assert "第2行：类型“局”无法识别" in text
    assert "第3行：“单位名称”为空" in text
    assert "第5行：“市公安局”与第4行重复" in text
    assert "第6行：原单位名称“市旧局”不在现有名单中" in text
    assert all(not buttons(a) for a in answers)
    assert await office.units() == before
    async with office.services.db.sessions() as session:
        assert (await session.scalars(select(StaffUpload.state))).all() == ["rejected"]


def test_the_checklist_preview_counts_the_items_of_every_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def count_line(lang: str, **by_kind: int) -> str:
        plan = ChecklistPlan(
            count=sum(by_kind.values()), by_kind=by_kind, added=[], retired=[], changed=0
        )
        out = UploadOut(
            upload_id=1, file_name="f.csv", kind="checklist", state="previewed", checklist=plan
        )
        return checklist_text(lang, "f.csv", out).splitlines()[1]

    today_s_kinds(monkeypatch, handlers.uploads)
    assert count_line("zh", county=6, member=3) == "文件共9项：成员单位3项，县（区）6项。确认后："
    assert count_line("en", county=6, member=3) == (
        "Items in the file: 9 (3 for member units, 6 for counties). Once confirmed:"
    )
    add_trial(monkeypatch, handlers.uploads)
    assert count_line("zh", county=6, member=3, trial=2) == (
        "文件共11项：成员单位3项，县（区）6项，试点单位2项。确认后："
    )
    assert count_line("en", county=6, member=3, trial=0) == (
        "Items in the file: 9 (3 for member units, 6 for counties, 0 for pilot units)."
        " Once confirmed:"
    )


async def test_a_checklist_is_previewed_then_applied(office: Office) -> None:
    async with office.services.db.sessions() as session:
        before = [(i.kind, i.title) for i in await repo.checklist(session)]
    kept = [title for kind, title in before if kind == "member"][:5]
    rows = "".join(f"成员单位,{title},\n" for title in kept)
    file = f"类型,资料名称,说明\n{rows}成员单位,双拥工作总结,请上传本年度双拥工作总结。\n"

    [answer] = await office.document(STAFF, "资料清单.csv", file.encode())

    text = answer["text"]
    assert "资料清单预览" in text
    assert "文件共6项：成员单位6项，县（区）0项" in text
    assert "新增1项：\n· 成员单位：双拥工作总结" in text
    dropped = [title for kind, title in before if kind == "member"][len(kept) :]
    assert dropped
    for title in dropped:
        assert f"· 成员单位：{title}" in text
    retired = len(before) - len(kept)  # the member items left out and every county item
    assert f"停用{retired}项" in text
    async with office.services.db.sessions() as session:
        assert [(i.kind, i.title) for i in await repo.checklist(session)] == before

    [done] = await office.press(STAFF, buttons(answer)["确认导入"])

    assert done["text"].startswith(f"已导入资料清单《资料清单.csv》：新增1项，停用{retired}项")
    async with office.services.db.sessions() as session:
        now = [(i.kind, i.title) for i in await repo.checklist(session)]
    assert now == [("member", title) for title in [*kept, "双拥工作总结"]]
    async with office.services.db.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "checklist_import")
        )
    assert event is not None
    assert event.actor_id == STAFF
    assert event.details["file"] == "资料清单.csv"
    assert event.details["via"] == "chat"


async def test_a_holiday_file_moves_the_reminders_working_days(
    office: Office, clock: FrozenClock
) -> None:
    services = office.services
    tz = services.settings.tz
    new_year = date(2027, 1, 1)  # a Friday; chinese-calendar 1.11 does not know 2027
    makeup = date(2027, 2, 13)  # a Saturday, a working day in the file
    clock.set(datetime.combine(new_year, time(9, 30), tzinfo=tz))
    assert (await plan_tick(services=services)).reason == "planned"

    [answer] = await office.document(
        STAFF, "2027年节假日.csv", (FIXTURES / "holidays_2027.csv").read_bytes()
    )
    text = answer["text"]
    assert "节假日安排预览" in text
    assert "2027年：放假8天，调休上班2天。" in text
    assert "放假：1月1日、2月5日至2月11日" in text
    assert "调休上班：2月13日（周六）、2月20日（周六）" in text
    assert "目前2027年按周一至周五计算工作日" in text
    await office.press(STAFF, buttons(answer)["确认导入"])

    assert (await plan_tick(services=services)).reason == "not_workday"
    clock.set(datetime.combine(makeup, time(9, 30), tzinfo=tz))
    assert (await plan_tick(services=services)).reason == "planned"
    # Another process on the same database (a `run --no-updates`) decides the same.
    other = Services(settings=services.settings, db=Database(services.settings.database_url))
    try:
        calendar = await load_calendar(services=other)
    finally:
        await other.close()
    assert not calendar.is_workday(new_year)
    assert calendar.is_workday(makeup)
    async with services.db.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "holidays_import")
        )
    assert event is not None
    assert event.actor_id == STAFF
    assert event.details["year"] == 2027
    assert event.details["file"] == "2027年节假日.csv"

    [again] = await office.document(
        STAFF, "2027年节假日.csv", (FIXTURES / "holidays_2027.csv").read_bytes()
    )
    assert again["text"] == t(
        "zh", "uploads.unchanged_holidays", file="2027年节假日.csv", year=2027
    )


async def test_non_staff_files_are_handled_as_before(office: Office) -> None:
    await roster_of(office, BEFORE)
    units = await office.units()
    async with office.services.db.uow() as tx:
        tx.add(
            Person(
                unit_id=units["市民政局"][0], role="liaison", name="赵敏", post="科员",
                phone="13700000000", telegram_user_id=LIAISON, since=office.services.now(),
                until=None,
            )
        )  # fmt: skip

    workbook = xlsx([row.split(",") for row in NEW_ROSTER.splitlines()])
    [material] = await office.document(LIAISON, "名单.xlsx", workbook)
    [refused] = await office.document(STRANGER, "名单.xlsx", workbook)

    assert "名单.xlsx" in material["text"]
    assert "单位名单预览" not in material["text"]
    assert buttons(material)  # which item it belongs to, as for any file outside /submit
    assert refused["text"] == t("zh", "ledger.not_member")
    assert await office.units() == units
    async with office.services.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StaffUpload)) == 0


async def test_a_liaison_on_the_staff_sending_a_file_of_no_known_kind_gets_the_ledger(
    office: Office,
) -> None:
    """Staff who also keep a unit's ledger: a workbook that is no roster, checklist or
    holiday file is taken as the unit's material, and no import is left waiting."""
    await roster_of(office, BEFORE)
    units = await office.units()
    async with office.services.db.uow() as tx:
        tx.add(
            Person(
                unit_id=units["市民政局"][0], role="liaison", name="钱进", post="科员",
                phone="13700000001", telegram_user_id=STAFF, since=office.services.now(),
                until=None,
            )
        )  # fmt: skip
    workbook = xlsx([["会议名称", "日期"], ["第一次联席会议", "2026-03-01"]])

    [answer] = await office.document(STAFF, "会议记录.xlsx", workbook)

    assert "会议记录.xlsx" in answer["text"]
    assert "无法从列名判断" not in answer["text"]
    assert buttons(answer)  # which item it belongs to, as for any file outside /submit
    async with office.services.db.sessions() as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(StaffUpload)
            .where(StaffUpload.state.in_(("received", "previewed")))
        )
    assert waiting == 0


async def test_an_old_confirm_button_after_the_data_changed_applies_nothing(
    office: Office,
) -> None:
    await roster_of(office, BEFORE)
    [first] = await office.document(STAFF, "新名单.csv", NEW_ROSTER.encode())
    old = buttons(first)["确认导入"]
    # Meanwhile the roster changes on the command line: one more unit.
    await roster_of(office, "单位名称,类型\n市审计局,成员单位\n")
    before = await office.units()

    [answer] = await office.press(STAFF, old)

    assert answer["text"].startswith(t("zh", "uploads.outdated"))
    # In the order they are listed in: the one-line roster put 市审计局 first.
    assert "文件未列出的现有单位2家：市审计局、市人防办" in answer["text"]
    assert await office.units() == before
    fresh = buttons(answer)["确认导入"]
    assert fresh != old
    [again] = await office.press(STAFF, old)
    assert again["text"] == t("zh", "uploads.decided_outdated")
    [done] = await office.press(STAFF, fresh)
    assert done["text"].startswith("已导入单位名单")
    [twice] = await office.press(STAFF, fresh)
    assert twice["text"] == t("zh", "uploads.decided_applied")
    assert "市退役军人事务局" in await office.units()


async def test_a_file_whose_kind_cannot_be_told_is_asked_about(office: Office) -> None:
    file = "单位名称,类型,日期\n市民政局,成员单位,2027-01-01\n"

    [asked] = await office.document(STAFF, "表格.csv", file.encode())

    assert "无法从列名判断文件《表格.csv》的内容" in asked["text"]
    labels = buttons(asked)
    assert set(labels) == {"单位名单", "资料清单", "节假日安排", "取消"}
    [checked] = await office.press(STAFF, labels["资料清单"])
    assert "第1行：缺少“资料名称”列" in checked["text"]  # as a Chinese sheet heads it
    [again] = await office.document(STAFF, "表格.csv", file.encode())
    [preview] = await office.press(STAFF, buttons(again)["单位名单"])
    assert "新增1家：市民政局" in preview["text"]
    [done] = await office.press(STAFF, buttons(preview)["确认导入"])
    assert done["text"].startswith("已导入单位名单")
    assert await office.units() == {"市民政局": ((await office.units())["市民政局"][0], "member")}


async def test_only_staff_may_press_the_import_buttons(office: Office) -> None:
    await roster_of(office, BEFORE)
    [answer] = await office.document(STAFF, "新名单.csv", NEW_ROSTER.encode())
    before = await office.units()

    await office.press(STRANGER, buttons(answer)["确认导入"])

    alerts = office.request.answers()
    assert alerts[-1]["text"] == t("zh", "common.staff_only")
    assert await office.units() == before


async def test_units_import_renames_by_former_name_and_keeps_the_rest(office: Office) -> None:
    """The command line reads the same file: it renames, adds, changes kinds, removes nothing."""
    await roster_of(office, BEFORE)
    before = await office.units()

    await roster_of(office, NEW_ROSTER)

    after = await office.units()
    assert after["市卫生健康委员会"] == (before["市卫健委"][0], "member")
    assert after["西吉县"][1] == "county"
    assert set(after) == {"市民政局", "市卫生健康委员会", "西吉县", "市退役军人事务局", "市人防办"}


async def test_an_older_roster_naming_a_renamed_unit_adds_it_no_second_time(
    office: Office,
) -> None:
    """Last year's file lists 市卫健委, since renamed: the preview says it is taken as
    市卫生健康委员会, and importing it adds no unit and renames none back."""
    await roster_of(office, BEFORE)
    await roster_of(office, NEW_ROSTER)
    before = await office.units()

    [answer] = await office.document(STAFF, "旧名单.csv", BEFORE.encode())

    text = answer["text"]
    assert mentions(
        text, "uploads.units_by_former", count=1, names="市卫健委（现名市卫生健康委员会）"
    )
    assert not mentions(text, "uploads.units_added")
    [done] = await office.press(STAFF, buttons(answer)["确认导入"])
    assert mentions(done["text"], "uploads.units_applied", added=0, renamed=0, removed=0)
    assert await office.units() == {**before, "西吉县": (before["西吉县"][0], "member")}


async def test_a_roster_the_same_but_for_a_former_name_says_how_it_read_it(
    office: Office,
) -> None:
    await roster_of(office, BEFORE)
    await roster_of(office, NEW_ROSTER)
    before = await office.units()
    same = NEW_ROSTER.replace("市卫生健康委员会,成员单位,市卫健委", "市卫健委,成员单位,")
    same += "市人防办,成员单位,\n"

    [answer] = await office.document(STAFF, "名单.csv", same.encode())

    assert mentions(answer["text"], "uploads.unchanged_units", file="名单.csv")
    assert mentions(
        answer["text"], "uploads.units_by_former", names="市卫健委（现名市卫生健康委员会）"
    )
    assert await office.units() == before


async def test_a_roster_of_some_units_on_record_says_what_it_leaves_out(office: Office) -> None:
    """Two units of 44 on record, unchanged: the preview does not claim every unit is in the
    file, and the list of the others is cut short in units (家), not items."""
    others = "".join(f"测试单位{n:02d},成员单位\n" for n in range(42))
    await roster_of(office, BEFORE.replace("西吉县,成员单位\n市人防办,成员单位\n", others))

    [answer] = await office.document(
        STAFF, "名单.csv", "单位名称,类型\n市民政局,成员单位\n市卫健委,成员单位\n".encode()
    )

    text = answer["text"]
    assert mentions(text, "uploads.units_same")
    assert mentions(text, "uploads.units_absent", count=42)
    assert mentions(text, "uploads.more_units", count=2)
    assert "现有单位均在文件中" not in text  # golden text: the sentence that was untrue
    assert "……另有2家" in text  # golden text: units are counted in 家, the rest as the rest


async def test_a_unit_left_out_counts_the_items_it_has_submitted_as_its_card_does(
    office: Office,
) -> None:
    """Sent back and unfinished materials are not counted; an item accepted counts once."""
    await roster_of(office, BEFORE)
    async with office.services.db.sessions() as session:
        unit = await session.scalar(select(Unit).where(Unit.name == "市人防办"))
    assert unit is not None
    items = await items_for(office.services, unit)
    for item, state in [
        (items[0], "returned"),
        (items[0], "accepted"),  # sent back, then accepted: one item
        (items[1], "accepted"),
        (items[2], "pending"),
        (items[3], "returned"),
        (items[4], "draft"),
    ]:
        await add_submission(office.services, unit, item, state)  # type: ignore[arg-type]

    [answer] = await office.document(STAFF, "新名单.csv", NEW_ROSTER.encode())

    assert mentions(
        answer["text"],
        "uploads.units_absent_history",
        name="市人防办",
        people=0,
        accepted=2,
        pending=1,
    )


async def test_a_roster_under_a_title_row_is_told_and_previewed(office: Office) -> None:
    """Office sheets put the list's title (merged cells) above the column headers."""
    await roster_of(office, BEFORE)
    workbook = xlsx(
        [
            ["固原市双拥工作领导小组成员单位名单"],
            ["序号", "单位名称", "类型"],
            ["1", "市民政局", "成员单位"],
            ["2", "市退役军人事务局", "成员单位"],
        ]
    )

    [answer] = await office.document(STAFF, "名单.xlsx", workbook)

    assert mentions(answer["text"], "uploads.units_added", count=1, names="市退役军人事务局")


async def test_a_roster_listing_the_same_units_in_another_order_reorders_them(
    office: Office,
) -> None:
    """The office's roster gives the order units are listed in: the same units in another
    order are a change to preview and import, not a file that matches the roster."""
    await roster_of(office, BEFORE)
    listed = (
        "单位名称,类型\n市人防办,成员单位\n西吉县,成员单位\n市民政局,成员单位\n市卫健委,成员单位\n"
    )

    [answer] = await office.document(STAFF, "新顺序.csv", listed.encode())

    assert mentions(answer["text"], "uploads.units_reordered")
    assert not mentions(answer["text"], "uploads.unchanged_units", file="新顺序.csv")
    assert list(await office.units()) == ["市民政局", "市卫健委", "西吉县", "市人防办"]
    [done] = await office.press(STAFF, buttons(answer)[label("uploads.button_apply")])

    applied = {"added": 0, "renamed": 0, "retyped": 0, "removed": 0}
    assert mentions(done["text"], "uploads.units_applied", file="新顺序.csv", **applied)
    assert list(await office.units()) == ["市人防办", "西吉县", "市民政局", "市卫健委"]
    [again] = await office.document(STAFF, "新顺序.csv", listed.encode())
    assert mentions(again["text"], "uploads.unchanged_units", file="新顺序.csv")
