"""The staff console end to end: the bot as a separate process, over HTTP, against the emulator.

The notice's situation is seeded into the bot's database: 50 units, 13 without contacts, 25
with ledger items missing; the 37 liaisons on record have Telegram accounts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.app import prepare_database
from bot.demo.sample import seed_notice_situation, unit_id_by_name
from bot.demo.simulation import Person
from bot.ledger.report import build_report
from bot.sandbox.client import SandboxClient
from bot.sandbox.models import SentMessage
from bot.services import Services
from storage.db import Database
from storage.models import (
    AuditEvent,
    Broadcast,
    BroadcastAck,
    ConversationStep,
    Exemption,
    OutboxMessage,
    Unit,
)
from storage.models import Person as Holder
from tests.support.process import STAFF_ID, BotProcess
from tests.support.settings import make_settings

pytestmark = pytest.mark.e2e

STAFF_ONLY = "该命令仅限市双拥办工作人员使用。"
OUTSIDER, LEAD = 1004, 1005
STAFF_COMMANDS = (
    "/outstanding", "/outstanding items county", "/unit 民政局", "/invite 市文旅局", "/remind",
    "/broadcast", "/review", "/export", "/export files", "/stats", "/audit", "/rollcall",
)  # fmt: skip
# Staff-only buttons, pressed by someone who is not staff (unit and broadcast id 1 exist).
STAFF_BUTTONS = (
    "st:o:a:a:0", "st:o:c:m:1", "st:u:1", "st:x:1", "st:xi:1:1", "st:n:1", "st:i:1:l", "st:i:1:d",
    "st:p:1:7", "st:r:1", "st:a:1000", "exp:files", "bc:acks:1", "bc:nudge:1:1",
    "bc:stop:1", "bc:send", "bc:ackt", "bc:aud:registered", "bc:drop",
    # other features' staff buttons: review, invite links, a round of reminders
    "rv:ok:1", "rv:back:1", "rv:later:1", "i:lead:1", "i:rv:1", "remind:ok:1", "remind:no:1",
)  # fmt: skip
NOTICE = "关于报送双拥工作资料台账的通知：请各单位于12月5日前报送。"


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    """Wait for something the bot does on its own (delivery is paced); fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not get there in time")
        await asyncio.sleep(0.1)


@dataclass
class Office:
    services: Services
    bot: BotProcess
    sandbox: SandboxClient

    async def person(self, user_id: int, name: str, *, started: bool = True) -> Person:
        await self.sandbox.add_user(
            user_id=user_id, first_name=name, language_code="zh-hans", started=started
        )
        return Person(self.sandbox, user_id, name, timeout=60.0)

    async def liaisons(self) -> list[tuple[int, str]]:
        """(Telegram id, unit) of every liaison on record, in the roster's order."""
        async with self.services.db.sessions() as session:
            rows = await session.execute(
                select(Holder.telegram_user_id, Unit.name)
                .join(Unit, Unit.id == Holder.unit_id)
                .where(Holder.until.is_(None), Holder.role == "liaison")
                .order_by(Holder.telegram_user_id)
            )
            return [(int(user), str(name)) for user, name in rows.all() if user]

    async def count(self, model: type[Any], *where: Any) -> int:
        async with self.services.db.sessions() as session:
            query = select(func.count()).select_from(model)
            for condition in where:
                query = query.where(condition)
            return int(await session.scalar(query) or 0)

    async def outbox_states(self, broadcast_id: int, purpose: str = "broadcast") -> list[str]:
        async with self.services.db.sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage.state).where(
                    OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.purpose == purpose
                )
            )
            return sorted(rows.all())


async def _office(
    make_bot: Callable[..., BotProcess],
    sandbox: SandboxClient,
    tmp_path: Path,
    **env: str,
) -> tuple[Office, Services]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = Services(settings=make_settings(url), db=Database(url))
    await prepare_database(services)
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    await sandbox.configure(callback_timeout=None)
    bot = make_bot(url, **env)
    await bot.start()
    return Office(services=services, bot=bot, sandbox=sandbox), services


@pytest.fixture
async def office(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Office]:
    made, services = await _office(make_bot, sandbox, tmp_path)
    yield made
    await services.close()


def text(message: SentMessage) -> str:
    return message.text or message.caption or ""


# ---- the authorization matrix ---------------------------------------------------------------


async def test_nobody_but_staff_gets_anything(office: Office) -> None:
    """A stranger, a liaison and a lead: every staff command and button is refused, and
    nothing else happens — no other message, no edit, no row, no file."""
    sandbox = office.sandbox
    await sandbox.configure(rate_limits=False)
    liaison_id, liaison_unit = (await office.liaisons())[0]
    unit_id = await unit_id_by_name(services=office.services, name=liaison_unit)
    async with office.services.db.uow() as tx:
        await tx.execute(
            update(Holder)
            .where(Holder.unit_id == unit_id, Holder.role == "lead", Holder.until.is_(None))
            .values(telegram_user_id=LEAD)
        )
    people = [
        await office.person(OUTSIDER, "路人"),
        await office.person(liaison_id, "联络员"),
        await office.person(LEAD, "分管领导"),
    ]
    audit_before = await office.count(AuditEvent)
    for person in people:
        for command in STAFF_COMMANDS:
            [reply] = await person.say(command)
            assert text(reply) == STAFF_ONLY, (person.name, command, text(reply))
            assert reply.reply_markup is None
        refusal = (await sandbox.messages(person.user_id))[-1]
        answered = len(await sandbox.callback_answers())
        for data in STAFF_BUTTONS:
            await sandbox.press(
                person.user_id, message_id=refusal.message_id, data=data, force=True
            )
            answered += 1
            answers = await sandbox.wait_callback_answers(answered)
            assert (answers[-1].data, answers[-1].text) == (data, STAFF_ONLY), person.name
            assert answers[-1].show_alert
        # A sentinel: updates are handled in order, so anything else would have come first.
        [help_text] = await person.say("/help")
        assert "/language" in text(help_text)
        messages = await sandbox.messages(person.user_id)
        assert [text(m) for m in messages] == [STAFF_ONLY] * len(STAFF_COMMANDS) + [
            text(help_text)
        ]
        assert all(m.edits == 0 and m.kind == "text" for m in messages)
        assert "/outstanding" not in text(help_text)
    assert await office.count(AuditEvent) == audit_before
    assert await office.count(Broadcast) == 0
    assert await office.count(ConversationStep) == 0
    assert await office.count(Exemption) == 0
    assert await office.count(Unit, Unit.paused_until.is_not(None)) == 0
    assert await sandbox.warnings() == []


async def test_staff_in_a_group_are_answered_privately(office: Office) -> None:
    sandbox = office.sandbox
    await office.person(STAFF_ID, "市双拥办")
    liaison_id, _ = (await office.liaisons())[0]
    await office.person(liaison_id, "联络员")
    group = await sandbox.add_group("联络员工作群", [STAFF_ID, liaison_id])
    for command in ("/outstanding", "/unit 民政局", "/audit"):
        before = len(await sandbox.messages(STAFF_ID))
        await sandbox.send_text(STAFF_ID, command, chat_id=group.id)
        await until(partial(_more, sandbox, STAFF_ID, before))
        group_messages = await sandbox.messages(group.id)
        assert text(group_messages[-1]) == "相关信息涉及单位和人员情况，已私信发送给您。"
    private = await sandbox.messages(STAFF_ID)
    assert "13家单位未报送分管领导和联络员" in text(private[0])
    assert "<b>" not in text(private[0])
    assert "市民政局" in text(private[1])
    assert "操作记录" in text(private[2])
    assert not [m for m in await sandbox.messages(group.id) if "市民政局" in text(m)]
    # Someone else in the group is told it is for staff, and nothing more.
    await sandbox.send_text(liaison_id, "/outstanding", chat_id=group.id)
    await until(lambda: _ends_with(sandbox, group.id, STAFF_ONLY))
    assert await sandbox.warnings() == []


async def _more(sandbox: SandboxClient, chat_id: int, count: int) -> bool:
    return len(await sandbox.messages(chat_id)) > count


async def _ends_with(sandbox: SandboxClient, chat_id: int, wanted: str) -> bool:
    messages = await sandbox.messages(chat_id)
    return bool(messages) and text(messages[-1]) == wanted


# ---- what staff see ---------------------------------------------------------------------------


async def test_outstanding_unit_audit_stats_and_export(office: Office) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    [summary] = await staff.say("/outstanding")
    assert (
        "共50家单位：13家单位未报送分管领导和联络员；25家单位资料台账未报齐；0项资料待审核。"
        in text(summary)
    )
    assert "未报齐的单位（25家，第1/2页）" in text(summary)
    assert "· 泾源县：缺联络员、分管领导；缺11项资料" in text(summary)
    await staff.press("下一页 ›", expect=0)
    second = await staff.edited(summary.message_id)
    assert "第2/2页" in text(second)
    await staff.press("缺联络员或分管领导", expect=0)
    contacts = await staff.edited(summary.message_id, edits=2)
    assert "未报送分管领导和联络员的单位（13家，第1/1页）" in text(contacts)
    await staff.press("县（区）", expect=0)
    counties = await staff.edited(summary.message_id, edits=3)
    assert "其中县（区）5家：1家未报送分管领导和联络员" in text(counties)
    assert "（1家，第1/1页）" in text(counties)

    [card] = await staff.say("/unit xjx")  # pinyin initials of 西吉县
    assert text(card).startswith("西吉县（县（区））")
    assert "资料台账：应报11项，已通过3项，缺8项（其中0项待审核）" in text(card)
    assert "报送截止日期：2026年12月31日" in text(card)
    assert "联络员：" in text(card)
    assert "免报某项资料" in card.button_texts()
    await staff.press("免报某项资料", expect=0)
    choose = await staff.edited(card.message_id)
    item = choose.button_texts()[-2]  # the last item it owes
    [ask] = await staff.press(item)
    assert f"免报“{item}”的原因" in text(ask)
    [done] = await staff.say("该单位无优抚对象管理职能")
    assert text(done) == f"已免报：西吉县 —— {item}（原因：该单位无优抚对象管理职能）。"
    assert await office.count(Exemption) == 1

    [log] = await staff.say("/audit")
    assert f"免报资料（西吉县） 资料：{item}，原因：该单位无优抚对象管理职能" in text(log)
    assert "=" not in text(log)

    [chart] = await staff.say("/stats")
    assert chart.kind == "photo"
    assert "13家单位未报送分管领导和联络员" in text(chart)
    png = await sandbox.file_bytes(chart.files[-1].file_id)
    assert png.startswith(b"\x89PNG")

    note, workbook = await staff.say("/export", expect=2)
    note = await staff.edited(note.message_id)
    assert text(note) == "Excel 台账已生成，见下方文件。"  # edited once the file was sent
    assert workbook.kind == "document"
    assert workbook.files[0].file_name is not None
    assert workbook.files[0].file_name.startswith("双拥工作联络情况_")
    assert "25家单位资料台账未报齐" in text(workbook)
    data = await sandbox.file_bytes(workbook.files[0].file_id)
    assert data.startswith(b"PK")
    actions = {action for _, action in await sandbox_actions(sandbox)}
    assert {"upload_document", "upload_photo"} <= actions

    packing, part = await staff.press("打包下载已收资料", expect=2)
    assert part.kind == "document"
    assert text(part) == "已收资料（第1/1部分）"
    finished = await staff.edited(packing.message_id)
    assert text(finished).startswith("已收资料共")
    assert await sandbox.warnings() == []


async def test_staff_add_an_item_for_one_unit(office: Office) -> None:
    staff = await office.person(STAFF_ID, "市双拥办")
    [card] = await staff.say("/unit 西吉县")
    assert "资料台账：应报11项，已通过3项，缺8项" in text(card)
    [ask] = await staff.press("增加资料项")
    assert "请输入需为西吉县增加的资料项名称" in text(ask)
    [done] = await staff.say("防汛预案\n2026年度版本")
    assert text(done) == "已为西吉县增加资料项：防汛预案。"
    [again] = await staff.say("/unit 西吉县")
    assert "资料台账：应报12项，已通过3项，缺9项" in text(again)
    report = await build_report(services=office.services)
    [xjx] = [s for s in report.units if s.name == "西吉县"]
    assert "防汛预案" in xjx.missing_items
    assert not [s for s in report.units if s.name != "西吉县" and "防汛预案" in s.missing_items]
    assert await office.count(AuditEvent, AuditEvent.action == "item_add") == 1
    assert await office.count(ConversationStep) == 0


async def sandbox_actions(sandbox: SandboxClient) -> list[tuple[int, str]]:
    calls = await sandbox.calls("sendChatAction")
    return [(int(c.params["chat_id"]), str(c.params["action"])) for c in calls]


# ---- a broadcast end to end -------------------------------------------------------------------


@dataclass
class Audience:
    delivered: list[int]
    never_started: list[int]
    blocked: list[int]
    missing: list[int]  # not known to Telegram at all ("chat not found")
    throttled: list[int]


async def audience(office: Office) -> Audience:
    """The 37 liaisons: 3 never opened the bot, 2 blocked it, 2 are unknown to Telegram, 2 hit
    a 429 on their first try; the rest simply receive it."""
    ids = [user for user, _ in await office.liaisons()]
    assert len(ids) == 37
    never, blocked, missing = ids[:3], ids[3:5], ids[5:7]
    delivered = ids[7:]
    for user in never:
        await office.person(user, f"联络员{user % 100}", started=False)
    for user in blocked + delivered:
        await office.person(user, f"联络员{user % 100}")
    for user in blocked:
        await office.sandbox.block(user)
    throttled = delivered[:2]
    for user in throttled:
        await office.sandbox.inject_fault("sendMessage", 429, chat_id=user, retry_after=1)
    return Audience(delivered, never, blocked, missing, throttled)


async def compose_and_send(staff: Person, notice: str) -> tuple[SentMessage, SentMessage]:
    """/broadcast → text → everyone registered → preview → send; the preview message."""
    [prompt] = await staff.say("/broadcast")
    assert "请发送通知内容" in text(prompt)
    [choose] = await staff.say(notice)
    assert text(choose) == "请选择发送对象："
    await staff.press("全部已登记人员", expect=0)
    preview = await staff.edited(choose.message_id)
    assert "接收人：37人" in text(preview)
    assert "另有13家单位尚无已登记人员" in text(preview)
    assert "确认发送（37人）" in preview.button_texts()
    await staff.press("确认发送（37人）", expect=0)
    return choose, preview


async def test_broadcast_end_to_end(office: Office) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    who = await audience(office)
    progress, _ = await compose_and_send(staff, NOTICE)

    [report] = await staff.wait(1)  # the final report, once nothing is left to send
    assert text(report).startswith("第1号通知发送结果（发送对象：全部已登记人员）")
    assert "接收人共37人：" in text(report)
    assert "送达30人；" in text(report)
    assert "无法送达5人（尚未开启机器人3人，已屏蔽机器人2人，其他0人）；" in text(report)
    assert "发送失败2人。" in text(report)

    # One progress message, edited (never sent again), ending at 37/37.
    await until(lambda: _progress_done(sandbox, progress.message_id))
    messages = await sandbox.messages(STAFF_ID)
    shown = [m for m in messages if "已发送" in text(m)]
    assert [m.message_id for m in shown] == [progress.message_id]
    assert "第1号通知发送完毕：已发送 37/37（送达30人，无法送达5人，失败2人）" in text(shown[0])
    assert shown[0].edits >= 3  # preview, "0/37", …, the final count
    assert shown[0].reply_markup is None

    # Nothing lost, nothing twice.
    assert await office.outbox_states(1) == sorted(
        ["sent"] * 30 + ["unreachable"] * 5 + ["failed"] * 2
    )
    for user in who.delivered:
        received = await sandbox.messages(user)
        assert [text(m) for m in received] == [NOTICE], user
        assert received[0].button_texts() == ["收到"]
    for user in who.never_started + who.blocked:
        assert await sandbox.messages(user) == []
    calls = await sandbox.calls("sendMessage")
    for user in who.throttled:
        tries = [c.status for c in calls if c.params.get("chat_id") == user]
        assert tries == [429, 200]

    # Acknowledgements.
    acked = who.delivered[:10]
    for user in acked:
        await sandbox.press(user, button_text="收到")
    answers = await sandbox.wait_callback_answers(len(acked) + 2)
    assert [a.text for a in answers if a.user_id in acked] == ["已确认收到，谢谢。"] * 10
    [notice] = await sandbox.messages(acked[0])
    await sandbox.press(acked[0], message_id=notice.message_id, data="ack:1", force=True)
    answers = await sandbox.wait_callback_answers(len(acked) + 3)
    assert answers[-1].text == "您已确认收到该通知。"
    assert await office.count(BroadcastAck) == 10
    assert (await sandbox.messages(acked[0]))[0].reply_markup is None

    [status] = await staff.press("查看确认情况")
    assert "送达30人，已确认收到10人，未确认20人。" in text(status)
    assert "未能送达（共7人，请电话联系）：" in text(status)
    [nudge_button] = [b for b in status.button_texts() if b.startswith("提醒未确认人员")]
    assert nudge_button == "提醒未确认人员（20人）"
    await staff.press(nudge_button, expect=0)
    waiting = who.delivered[10:]
    for user in waiting:
        await sandbox.wait_messages(user, 2, timeout=60)
    await until(lambda: _settled(office, "broadcast_nudge", 20))
    for user in waiting:
        reminder = (await sandbox.messages(user))[1]
        assert "您尚未确认收到" in text(reminder)
        assert reminder.button_texts() == ["收到"]
    for user in acked:
        assert len(await sandbox.messages(user)) == 1
    # The same reminder pressed again sends nothing more.
    await sandbox.press(STAFF_ID, message_id=status.message_id, data="bc:nudge:1:1", force=True)
    answers = await sandbox.wait_callback_answers(len(acked) + 6)
    assert answers[-1].text == "已向0名未确认人员发送提醒。"
    assert await office.count(OutboxMessage, OutboxMessage.purpose == "broadcast_nudge") == 20

    # Acknowledging from the reminder counts too.
    await sandbox.press(waiting[0], button_text="收到")
    await until(lambda: _acks(office, 11))
    [status] = await staff.press("刷新")
    assert "已确认收到11人，未确认19人" in text(status)
    assert await sandbox.warnings() == []


async def _progress_done(sandbox: SandboxClient, message_id: int) -> bool:
    for message in await sandbox.messages(STAFF_ID):
        if message.message_id == message_id:
            return "发送完毕" in text(message)
    return False


async def _settled(office: Office, purpose: str, count: int) -> bool:
    async with office.services.db.sessions() as session:
        states = (
            await session.scalars(
                select(OutboxMessage.state).where(OutboxMessage.purpose == purpose)
            )
        ).all()
    return len(states) == count and all(s == "sent" for s in states)


async def _acks(office: Office, count: int) -> bool:
    return await office.count(BroadcastAck) == count


async def test_a_document_to_chosen_units_is_copied(office: Office) -> None:
    """A notice as a document, to units named by staff: copied with its caption and button."""
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    liaisons = {unit: user for user, unit in await office.liaisons()}
    for unit in ("市民政局", "西吉县"):
        await office.person(liaisons[unit], unit)
    await staff.say("/broadcast")
    await sandbox.send_document(
        STAFF_ID, file_name="通知.pdf", data=b"%PDF-1.4 notice", caption="固双拥办发〔2023〕7号"
    )
    [choose] = await staff.wait(1)
    await staff.press("指定单位", expect=0)
    ask = await staff.edited(choose.message_id)
    assert "请发送单位名称" in text(ask)
    [unknown] = await staff.say("民政局 火星局")
    assert text(unknown).startswith("未找到单位“火星局”")
    [preview] = await staff.say("民政局、xjx")  # a part of the name, and pinyin initials
    assert "发送对象：指定的2家单位（2家单位）" in text(preview)
    assert "内容：转发上方消息（[文件] 通知.pdf 固双拥办发〔2023〕7号）" in text(preview)
    await staff.press("不附“收到”按钮", expect=0)
    toggled = await staff.edited(preview.message_id)
    assert "不附“收到”按钮。" in text(toggled)
    await staff.press("确认发送（2人）", expect=0)
    [report] = await staff.wait(1)
    assert "送达2人；" in text(report)
    for unit in ("市民政局", "西吉县"):
        [copy] = await sandbox.messages(liaisons[unit])
        assert copy.kind == "document"
        assert copy.method == "copyMessage"
        assert copy.caption == "固双拥办发〔2023〕7号"
        assert copy.reply_markup is None
    assert await sandbox.warnings() == []


async def test_a_broadcast_survives_kill_9(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> None:
    """Killed in the middle of a broadcast and started again: every reachable liaison gets the
    notice once; a copy whose sending was cut off is reported as unknown, never sent twice."""
    office, services = await _office(
        make_bot, sandbox, tmp_path, SEND_RATE_GLOBAL="4", OUTBOX_LEASE_SECONDS="5"
    )
    try:
        staff = await office.person(STAFF_ID, "市双拥办")
        ids = [user for user, _ in await office.liaisons()]
        for user in ids:
            await office.person(user, f"联络员{user % 100}")
        progress, _ = await compose_and_send(staff, NOTICE)
        await until(lambda: _received(sandbox, ids, 8))
        await office.bot.kill()
        await office.bot.start()
        await staff.wait(1)  # the final report
        await until(lambda: _progress_done(sandbox, progress.message_id))
        async with services.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.purpose == "broadcast")
                )
            ).all()
        states = {row.chat_id: row.state for row in rows}
        assert len(states) == len(rows) == 37
        assert set(states.values()) <= {"sent", "unknown"}
        for user in ids:
            got = len(await sandbox.messages(user))
            if states[user] == "sent":
                assert got == 1, user
            else:
                assert got <= 1, user
        final = next(
            m for m in await sandbox.messages(STAFF_ID) if m.message_id == progress.message_id
        )
        delivered = sum(1 for s in states.values() if s == "sent")
        assert f"送达{delivered}人" in text(final)
        assert await sandbox.warnings() == []
    finally:
        await services.close()


async def _received(sandbox: SandboxClient, ids: list[int], count: int) -> bool:
    got = 0
    for user in ids:
        got += len(await sandbox.messages(user))
    return got >= count
