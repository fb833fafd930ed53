"""Registration end to end: the bot as a separate process, over HTTP, against the emulator.

The notice's situation is seeded into the bot's database (13 units without contacts); the
office makes invite links the way `liaison-bot invite` does; simulated people do the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import roster
from bot.app import prepare_database
from bot.clock import FrozenClock
from bot.demo.sample import seed_notice_situation, unit_id_by_name
from bot.demo.simulation import Person
from bot.ledger.report import build_report
from bot.registration import invites
from bot.sandbox.client import SandboxClient, SandboxError
from bot.sandbox.models import SentMessage
from bot.services import Services
from storage import repositories as repo
from storage.db import Database
from storage.models import ConversationStep, Invite
from storage.models import Person as Holder
from tests.support.cli import run_cli
from tests.support.process import STAFF_ID, BotProcess
from tests.support.settings import make_settings

pytestmark = pytest.mark.e2e

UNIT = "市文旅局"  # one of the 13 units without contacts
OTHER_UNIT = "市民政局"  # has a liaison and a lead on record
LIAISON, LEAD, NEWCOMER, STRANGER = 1001, 1002, 1003, 1004
CONFIRM, DECLINE = "是本人，继续登记", "不是本人"
SUBMIT = "确认提交"
ASK_NAME = "请输入您的姓名："
ASK_POST = "请输入您的职务（例如：办公室主任）："
ASK_PHONE = "请提供您的手机号：点击下方“发送本机号码”按钮，或直接输入11位手机号。"
ASK_LEAD_POST = "请输入分管领导职务（例如：副局长）："
ASK_LEAD_PHONE = "请输入分管领导的11位手机号："
LINK = re.compile(r"https://t\.me/liaison_test_bot\?start=([A-Za-z0-9_-]+)")


def text_of(message: SentMessage) -> str:
    return message.text or ""


@dataclass
class Office:
    """The bot's database as the test sees it, the bot process, and the people."""

    services: Services
    bot: BotProcess
    sandbox: SandboxClient

    async def invite(self, unit: str = UNIT, role: invites.Role = "liaison") -> str:
        [made] = await invites.create_invites(services=self.services, units=[unit], role=role)
        return made.token

    async def person(self, user_id: int, name: str) -> Person:
        """A simulated person who has opened the bot; only new messages count as replies."""
        try:
            await self.sandbox.add_user(
                user_id=user_id, first_name=name, language_code="zh-hans", started=True
            )
        except SandboxError as exc:
            if exc.status != 409:  # 409: the person exists already
                raise
        seen = len(await self.sandbox.messages(user_id))
        return Person(self.sandbox, user_id, name, seen=seen)

    async def holders(self, unit: str = UNIT) -> dict[str, Holder]:
        unit_id = await unit_id_by_name(services=self.services, name=unit)
        async with self.services.db.sessions() as session:
            found = {}
            for role in ("liaison", "lead"):
                person = await repo.current_holder(session, unit_id=unit_id, role=role)
                if person is not None:
                    found[role] = person
            return found

    async def snapshot(self, unit: str) -> dict[str, tuple[object, ...]]:
        """Who holds each role of a unit, as plain values."""
        return {
            role: (p.id, p.name, p.post, p.phone, p.telegram_user_id, p.until)
            for role, p in (await self.holders(unit)).items()
        }

    async def steps(self) -> list[ConversationStep]:
        async with self.services.db.sessions() as session:
            return list((await session.scalars(select(ConversationStep))).all())

    async def invite_rows(self) -> list[tuple[object, ...]]:
        async with self.services.db.sessions() as session:
            rows = (await session.scalars(select(Invite).order_by(Invite.id))).all()
            return [(r.id, r.used_at, r.used_by, r.revoked_at) for r in rows]


@pytest.fixture
async def office(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Office]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = Services(settings=make_settings(url), db=Database(url))
    await prepare_database(services)
    await seed_notice_situation(services=services)
    # A simulated person types far faster than Telegram lets a bot answer one chat;
    # the flood limits are not what these tests are about.
    await sandbox.configure(rate_limits=False, callback_timeout=None)
    await sandbox.add_user(
        user_id=STAFF_ID, first_name="市双拥办", language_code="zh-hans", started=True
    )
    bot = make_bot(url)
    await bot.start()  # remembers the bot's @username for the links
    yield Office(services=services, bot=bot, sandbox=sandbox)
    await services.close()


async def register_liaison(
    office: Office, person: Person, token: str, *, name: str = "张伟", post: str = "办公室主任"
) -> SentMessage:
    """Through the liaison's conversation up to the lead's first question."""
    [confirm] = await person.start(token)
    assert CONFIRM in confirm.button_texts()
    assert (await person.press(CONFIRM))[0].text == ASK_NAME
    assert (await person.say(name))[0].text == ASK_POST
    assert (await person.say(post))[0].text == ASK_PHONE
    await office.sandbox.share_contact(person.user_id, "8613912345678")
    saved, summary = await person.wait(2)
    assert saved.reply_markup == {"remove_keyboard": True}
    assert SUBMIT in summary.button_texts()
    [done] = await person.press(SUBMIT)
    return done


async def report_of(monkeypatch: pytest.MonkeyPatch, office: Office) -> dict[str, object]:
    monkeypatch.setenv("DATABASE_URL", office.services.db.url)
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("report", "--json")
    assert done.code == 0, done.err
    report: dict[str, object] = json.loads(done.out)
    return report


def unit_in(report: dict[str, object], name: str = UNIT) -> dict[str, object]:
    units = report["units"]
    assert isinstance(units, list)
    found: dict[str, object] = next(u for u in units if u["name"] == name)
    return found


async def test_the_liaison_and_the_lead_register(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = await office.person(STAFF_ID, "市双拥办")
    liaison = await office.person(LIAISON, "张伟")
    token = await office.invite()

    [confirm] = await liaison.start(token)
    assert text_of(confirm) == "您好。这是市文旅局联络员的登记链接。\n请确认您是该单位的联络员。"
    assert confirm.button_texts() == [CONFIRM, DECLINE]
    [ask_name] = await liaison.press(CONFIRM)
    assert ask_name.text == ASK_NAME
    assert (await liaison.latest()).text == ASK_NAME
    assert (await office.sandbox.messages(LIAISON))[0].reply_markup is None  # buttons taken off
    await liaison.say("张伟")
    [ask_phone] = await liaison.say("办公室主任")
    assert ask_phone.reply_markup == {
        "keyboard": [[{"text": "发送本机号码", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    await office.sandbox.share_contact(LIAISON, "8613912345678")
    saved, summary = await liaison.wait(2)
    assert saved.text == "手机号已记录。"
    assert "单位：市文旅局\n身份：联络员\n姓名：张伟\n职务：办公室主任\n手机号：139 1234 5678" in (
        text_of(summary)
    )
    assert summary.button_texts() == [SUBMIT, "修改姓名", "修改职务", "修改手机号"]
    [done] = await liaison.press(SUBMIT)
    assert text_of(done).startswith("登记完成。您已登记为市文旅局联络员")
    assert "接下来请登记本单位分管领导。" in text_of(done)
    assert done.button_texts() == ["暂不登记"]
    [notice] = await staff.wait()
    assert notice.text == "【登记】市文旅局联络员：张伟（办公室主任），手机号 139 1234 5678。"
    report = await report_of(monkeypatch, office)
    assert unit_in(report)["liaison_registered"] is True
    assert unit_in(report)["lead_registered"] is False

    assert (await liaison.say("王强"))[0].text == ASK_LEAD_POST
    assert (await liaison.say("副局长"))[0].text == ASK_LEAD_PHONE
    [lead_summary] = await liaison.say("138-1234-5678")
    assert "分管领导：王强\n职务：副局长\n手机号：138 1234 5678" in text_of(lead_summary)
    [link_message] = await liaison.press(SUBMIT)
    assert "已登记市文旅局分管领导：王强（副局长）。" in text_of(link_message)
    assert "请将以下链接转发给王强本人" in text_of(link_message)
    found = LINK.search(text_of(link_message))
    assert found is not None
    await staff.wait()
    report = await report_of(monkeypatch, office)
    assert (unit_in(report)["lead_registered"], unit_in(report)["lead_linked"]) == (True, False)
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["missing_contacts"] == 12

    lead = await office.person(LEAD, "王强")
    [confirm] = await lead.start(found[1])
    assert "这是市文旅局分管领导的登记链接" in text_of(confirm)
    [prefilled] = await lead.press(CONFIRM)
    assert text_of(prefilled).startswith("以下是本单位联络员登记的分管领导信息，请您核对：")
    assert "姓名：王强\n职务：副局长\n手机号：138 1234 5678" in text_of(prefilled)
    [linked] = await lead.press(SUBMIT)
    assert text_of(linked).startswith("登记完成。您已登记为市文旅局分管领导")
    [notice] = await staff.wait()
    assert "【关联】市文旅局分管领导王强（副局长）已通过登记链接关联本人账号" in text_of(notice)
    report = await report_of(monkeypatch, office)
    assert unit_in(report)["lead_linked"] is True
    assert await office.steps() == []

    menus = {
        c.scope.get("chat_id"): [x["command"] for x in c.commands]
        for c in await office.sandbox.commands()
    }
    assert "contacts" in menus[LIAISON]
    assert "contacts" in menus[LEAD]
    assert "invite" not in menus[LIAISON]
    assert "invite" in menus[STAFF_ID]
    assert await office.sandbox.warnings() == []


async def test_a_correction_from_the_summary(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await liaison.start(await office.invite())
    await liaison.press(CONFIRM)
    await liaison.say("张伟")
    await liaison.say("科员")
    saved, summary = await liaison.say("13912345678", expect=2)
    assert saved.reply_markup == {"remove_keyboard": True}
    assert "职务：科员" in text_of(summary)
    [ask_post] = await liaison.press("修改职务")
    assert ask_post.text == ASK_POST
    [summary] = await liaison.say("办公室主任")
    assert "姓名：张伟\n职务：办公室主任\n手机号：139 1234 5678" in text_of(summary)
    [ask_name] = await liaison.press("修改姓名")
    assert ask_name.text == ASK_NAME
    [summary] = await liaison.say("张 伟")
    assert "姓名：张 伟\n职务：办公室主任" in text_of(summary)
    await liaison.press(SUBMIT)
    held = (await office.holders())["liaison"]
    assert (held.name, held.post, held.phone) == ("张 伟", "办公室主任", "13912345678")
    assert await office.sandbox.warnings() == []


async def test_handover_tells_the_old_liaison_and_keeps_the_history(office: Office) -> None:
    before = await office.holders(OTHER_UNIT)
    old = before["liaison"]
    assert old.telegram_user_id is not None
    previous = await office.person(old.telegram_user_id, old.name)
    staff = await office.person(STAFF_ID, "市双拥办")
    newcomer = await office.person(NEWCOMER, "李娜")
    done = await register_liaison(office, newcomer, await office.invite(OTHER_UNIT), name="李娜")
    assert f"原联络员{old.name}的登记已同时解除。" in text_of(done)
    assert f"本单位已登记的分管领导：{before['lead'].name}" in text_of(done)
    assert done.button_texts() == ["信息准确", "重新登记分管领导"]
    [told] = await previous.wait()
    assert told.text == (
        f"您好。{OTHER_UNIT}联络员已由李娜接任，您将不再收到本单位的提醒。如有疑问，请与市双拥办联系。"
    )
    [changed] = await staff.wait()
    assert text_of(changed).startswith(f"【变更】{OTHER_UNIT}联络员由{old.name}变更为李娜")
    [kept] = await newcomer.press("信息准确")
    assert text_of(kept).startswith("分管领导信息保持不变。")
    [contacts] = await staff.say(f"/contacts {OTHER_UNIT}")
    history = text_of(contacts)
    assert "联络员：李娜（办公室主任），手机号 139 1234 5678" in history
    assert "登记记录：" in history
    assert re.search(rf"· 联络员 {old.name}（科员）\d{{4}}年\d+月\d+日至\d{{4}}年", history)
    assert re.search(r"· 联络员 李娜（办公室主任）\d{4}年\d+月\d+日起", history)
    [theirs] = await previous.say("/contacts")
    assert "您尚未登记为任何单位的联络员或分管领导" in text_of(theirs)
    menus = {
        c.scope.get("chat_id"): [x["command"] for x in c.commands]
        for c in await office.sandbox.commands()
    }
    assert "contacts" in menus[NEWCOMER]
    assert "contacts" not in menus[old.telegram_user_id]
    assert await office.sandbox.warnings() == []


async def test_every_bad_token_is_refused_and_nothing_changes(office: Office) -> None:
    used = await office.invite()
    first = await office.person(LIAISON, "张伟")
    await register_liaison(office, first, used)
    revoked = await office.invite("市科技局")
    await invites.revoke_invites(services=office.services, units=["市科技局"])
    past = Services(
        settings=office.services.settings,
        db=office.services.db,
        clock=FrozenClock(office.services.now() - timedelta(days=15)),
    )
    [expired_invite] = await invites.create_invites(services=past, units=["市司法局"])
    before = await office.invite_rows()

    stranger = await office.person(STRANGER, "路人")
    for token, reply in (
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "该登记链接无效。请核对链接是否完整，或向市双拥办索取新的链接。",
        ),
        (expired_invite.token, "该登记链接已过期。请向市双拥办索取新的链接。"),
        (used, "该登记链接已被使用，每个链接只能使用一次。请向市双拥办索取新的链接。"),
        (revoked, "该登记链接已被市双拥办撤销。请向市双拥办索取新的链接。"),
    ):
        [refused] = await stranger.start(token)
        assert refused.text == reply
    assert await office.invite_rows() == before
    assert [s.user_id for s in await office.steps()] == [LIAISON]  # the liaison's lead step
    [answer] = await stranger.say("张伟")
    assert "/help" in text_of(answer)  # no conversation was started
    for unit in ("市科技局", "市司法局"):
        assert await office.holders(unit) == {}
    assert await office.sandbox.warnings() == []


async def test_six_bad_tokens_in_a_row_are_slowed_down(office: Office) -> None:
    guesser = await office.person(STRANGER, "路人")
    for n in range(5):
        [refused] = await guesser.start(f"guess{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        assert text_of(refused).startswith("该登记链接无效")
    [held] = await guesser.start("guess5AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert text_of(held).startswith("登记链接尝试次数过多，请于")
    assert "后再试" in text_of(held)
    [still] = await guesser.start(await office.invite())  # even a good link waits
    assert text_of(still).startswith("登记链接尝试次数过多")
    assert await office.steps() == []
    assert "further tries refused" in office.bot.logs()
    other = await office.person(LIAISON, "张伟")
    [confirm] = await other.start(await office.invite())
    assert CONFIRM in confirm.button_texts()


async def test_an_invalid_name_or_number_is_explained_and_asked_again(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await liaison.start(await office.invite())
    await liaison.press(CONFIRM)
    for typed, why in (
        ("张伟2", "姓名不能包含数字。"),
        ("张", "姓名应至少有2个字。"),
        ("张" * 31, "姓名不能超过30个字。"),
        ("<b>张伟</b>", "姓名只能包含汉字、字母或间隔号“·”。"),
    ):
        [again] = await liaison.say(typed)
        assert again.text == f"{why}\n\n{ASK_NAME}"
    await liaison.say("张伟")
    [again] = await liaison.say("123")
    assert again.text == f"职务应为文字，例如：办公室主任。\n\n{ASK_POST}"
    await liaison.say("办公室主任")
    for typed in ("12345", "0954-5012345", "139123456789"):
        [again] = await liaison.say(typed)
        assert again.text == f"手机号应为11位中国大陆手机号，例如 13912345678。\n\n{ASK_PHONE}"
        assert again.button_texts() == ["发送本机号码"]
    await office.sandbox.share_contact(LIAISON, "13812345678", own=False, contact_user_id=5)
    [again] = await liaison.wait()
    assert text_of(again).startswith("请分享您本人的号码，或直接输入11位手机号。")
    await office.sandbox.share_contact(LIAISON, "12025550123")
    [again] = await liaison.wait()
    assert text_of(again).startswith("该号码不是中国大陆手机号，请直接输入11位手机号。")
    [saved, summary] = await liaison.say("+86 139 1234 5678", expect=2)
    assert saved.text == "手机号已记录。"
    assert "姓名：张伟\n职务：办公室主任\n手机号：139 1234 5678" in text_of(summary)
    await liaison.press(SUBMIT)
    [again] = await liaison.say("王强5")
    assert again.text.startswith("姓名不能包含数字。")  # type: ignore[union-attr]
    assert await office.holders() != {}
    assert await office.sandbox.warnings() == []


async def unexpected_everything(office: Office, person: Person, question: str) -> None:
    """A sticker, a location, a voice note, another flow's command, an old button: re-asked."""
    sandbox, uid = office.sandbox, person.user_id
    await sandbox.send_sticker(uid)
    [reply] = await person.wait()
    assert text_of(reply).endswith(question), text_of(reply)
    await sandbox.send_location(uid, 36.0, 106.2)
    [reply] = await person.wait()
    assert text_of(reply).endswith(question)
    await sandbox.send_voice(uid)
    [reply] = await person.wait()
    assert text_of(reply).startswith("当前正在登记，暂不能处理这类消息。")
    assert text_of(reply).endswith(question)
    [reply] = await person.say("/status")
    assert "请先完成登记；如需使用其他命令，请先发送 /cancel 取消。" in text_of(reply)
    assert text_of(reply).endswith(question)
    first = (await sandbox.messages(uid))[0]
    answers = len(await sandbox.callback_answers())
    await sandbox.press(uid, message_id=first.message_id, data="r:1:yes", force=True)
    [reply] = await person.wait()
    assert text_of(reply).startswith("该按钮已失效，请按以下提示继续。")
    assert text_of(reply).endswith(question)
    stale = (await sandbox.wait_callback_answers(answers + 1))[-1]
    assert stale.text == "该按钮已失效，请重新发送命令。"


async def test_unexpected_content_in_every_step_is_met_with_a_polite_reask(
    office: Office,
) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await liaison.start(await office.invite())
    await unexpected_everything(office, liaison, "请确认您是该单位的联络员。")
    [reply] = await liaison.say("是的")
    assert text_of(reply).startswith("请点击下方按钮作答。")
    await liaison.press(CONFIRM)
    await unexpected_everything(office, liaison, ASK_NAME)
    await liaison.say("张伟")
    await unexpected_everything(office, liaison, ASK_POST)
    await liaison.say("办公室主任")
    await unexpected_everything(office, liaison, ASK_PHONE)
    await liaison.say("13912345678", expect=2)
    await unexpected_everything(office, liaison, "如需修改，请点击相应按钮。")
    await liaison.press(SUBMIT)
    await unexpected_everything(office, liaison, "之后可发送 /contacts 补充。")
    await liaison.say("王强")
    await unexpected_everything(office, liaison, ASK_LEAD_POST)
    await liaison.say("副局长")
    await unexpected_everything(office, liaison, ASK_LEAD_PHONE)
    await liaison.say("13812345678")
    await unexpected_everything(office, liaison, "如需修改，请点击相应按钮。")
    [link] = await liaison.press(SUBMIT)
    assert LINK.search(text_of(link))
    lead = (await office.holders())["lead"]
    assert (lead.name, lead.post, lead.phone) == ("王强", "副局长", "13812345678")
    assert "Traceback" not in office.bot.logs()
    assert await office.sandbox.warnings() == []


async def test_cancel_leaves_any_step(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    token = await office.invite()
    await liaison.start(token)
    await liaison.press(CONFIRM)
    await liaison.say("张伟")
    [cancelled] = await liaison.say("/cancel")
    assert cancelled.text == "已取消当前操作。"
    [reply] = await liaison.say("办公室主任")
    assert "/help" in text_of(reply)
    assert await office.steps() == []
    # The person who opened the link may open it again.
    [confirm] = await liaison.start(token)
    assert CONFIRM in confirm.button_texts()
    [declined] = await liaison.press(DECLINE)
    assert text_of(declined).startswith("已取消登记。")
    await register_liaison(office, liaison, token)
    [cancelled] = await liaison.say("/cancel")
    assert cancelled.text == "已取消当前操作。"
    assert (await office.holders())["liaison"].name == "张伟"
    assert await office.sandbox.warnings() == []


async def test_kill_9_in_every_step_loses_nothing(office: Office) -> None:
    sandbox, bot = office.sandbox, office.bot
    liaison = await office.person(LIAISON, "张伟")
    token = await office.invite()

    async def while_down(
        act: Callable[[], Awaitable[object]], expect: int = 1
    ) -> list[SentMessage]:
        """kill -9, the person acts while the bot is down, the bot starts again and answers."""
        await bot.kill()
        await act()
        await bot.start()
        return await liaison.wait(expect)

    [confirm] = await while_down(lambda: sandbox.start(LIAISON, token))
    assert CONFIRM in confirm.button_texts()
    [asked] = await while_down(lambda: sandbox.press(LIAISON, button_text=CONFIRM))
    assert asked.text == ASK_NAME
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "张伟"))
    assert asked.text == ASK_POST
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "办公室主任"))
    assert asked.text == ASK_PHONE
    _, summary = await while_down(lambda: sandbox.share_contact(LIAISON, "8613912345678"), 2)
    assert "姓名：张伟\n职务：办公室主任\n手机号：139 1234 5678" in text_of(summary)
    [done] = await while_down(lambda: sandbox.press(LIAISON, button_text=SUBMIT))
    assert text_of(done).startswith("登记完成。")
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "王强"))
    assert asked.text == ASK_LEAD_POST
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "副局长"))
    assert asked.text == ASK_LEAD_PHONE
    [summary] = await while_down(lambda: sandbox.send_text(LIAISON, "13812345678"))
    assert "分管领导：王强\n职务：副局长\n手机号：138 1234 5678" in text_of(summary)
    [link] = await while_down(lambda: sandbox.press(LIAISON, button_text=SUBMIT))
    assert LINK.search(text_of(link))
    held = await office.holders()
    assert (held["liaison"].name, held["liaison"].post, held["liaison"].phone) == (
        "张伟", "办公室主任", "13912345678",
    )  # fmt: skip
    assert (held["lead"].name, held["lead"].post, held["lead"].phone) == (
        "王强", "副局长", "13812345678",
    )  # fmt: skip
    # Every answer came exactly once.
    texts = [text_of(m) for m in await sandbox.messages(LIAISON)]
    assert texts.count(ASK_NAME) == 1
    assert texts.count(ASK_LEAD_POST) == 1
    assert await office.sandbox.warnings() == []


async def test_a_liaison_cannot_see_or_change_another_unit(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await register_liaison(office, liaison, await office.invite())
    await liaison.press("暂不登记")
    other_unit_id = await unit_id_by_name(services=office.services, name=OTHER_UNIT)
    other_before = await office.snapshot(OTHER_UNIT)
    await office.invite(OTHER_UNIT)
    invites_before = await office.invite_rows()

    for command in ("/contacts", f"/contacts {OTHER_UNIT}"):
        [contacts] = await liaison.say(command)
        assert text_of(contacts).startswith("市文旅局联络员和分管领导：")
        assert OTHER_UNIT not in text_of(contacts)
        assert str(other_before["liaison"][1]) not in text_of(contacts)
    [refused] = await liaison.say(f"/invite {OTHER_UNIT}")
    assert refused.text == "该命令仅限市双拥办工作人员使用。"
    message_id = (await liaison.latest()).message_id
    answers = len(await office.sandbox.callback_answers())
    for data in (f"i:rv:{other_unit_id}", f"i:lead:{other_unit_id}"):
        await office.sandbox.press(LIAISON, message_id=message_id, data=data, force=True)
    replies = await office.sandbox.wait_callback_answers(answers + 2)
    assert [a.text for a in replies[-2:]] == ["该命令仅限市双拥办工作人员使用。"] * 2
    [refused] = await liaison.start(await office.invite(OTHER_UNIT))
    assert text_of(refused).startswith("您已登记为市文旅局联络员，不能再登记其他单位。")
    assert await office.snapshot(OTHER_UNIT) == other_before
    rows = await office.invite_rows()
    assert rows[: len(invites_before)] == invites_before  # nothing revoked or used
    # "Change my details" works on the liaison's own unit only.
    [contacts] = await liaison.say("/contacts")
    [summary] = await liaison.press("修改我的信息")
    assert "单位：市文旅局\n身份：联络员" in text_of(summary)
    assert contacts.button_texts() == ["修改我的信息", "登记分管领导", "生成分管领导登记链接"]
    assert await office.sandbox.warnings() == []


async def test_contacts_corrects_my_details_and_gives_a_lead_link(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await register_liaison(office, liaison, await office.invite())
    [skipped] = await liaison.press("暂不登记")
    assert skipped.text == (
        "已跳过分管领导登记，可稍后通过 /contacts 补充。分管领导登记前，本单位仍计入未报送。"
    )
    [contacts] = await liaison.say("/contacts")
    assert text_of(contacts) == (
        "市文旅局联络员和分管领导：\n联络员：张伟（办公室主任），手机号 139 1234 5678\n"
        "分管领导：尚未登记"
    )
    await liaison.press("修改我的信息")
    [ask] = await liaison.press("修改手机号")
    assert ask.text == ASK_PHONE
    _, summary = await liaison.say("13700001111", expect=2)
    assert "手机号：137 0000 1111" in text_of(summary)
    [updated] = await liaison.press(SUBMIT)
    assert updated.text == "已更新您的信息。"
    assert (await office.holders())["liaison"].phone == "13700001111"
    await liaison.say("/contacts")
    [link] = await liaison.press("生成分管领导登记链接")
    found = LINK.search(text_of(link))
    assert found is not None
    lead = await office.person(LEAD, "王强")
    await lead.start(found[1])
    [ask_name] = await lead.press(CONFIRM)
    assert ask_name.text == ASK_NAME  # nothing on record to prefill
    await lead.say("王强")
    await lead.say("副局长")
    await lead.say("13812345678", expect=2)
    await lead.press(SUBMIT)
    report = await build_report(services=office.services)
    status = next(u for u in report.units if u.name == UNIT)
    assert (status.lead_registered, status.lead_linked) == (True, True)
    [contacts] = await lead.say("/contacts")
    assert contacts.button_texts() == ["修改我的信息"]
    assert await office.sandbox.warnings() == []


async def test_staff_make_and_revoke_links_in_the_chat(office: Office) -> None:
    staff = await office.person(STAFF_ID, "市双拥办")
    [usage] = await staff.say("/invite")
    assert text_of(usage).startswith("请在命令后写单位名称")
    [missing] = await staff.say("/invite 不存在的单位")
    assert missing.text == "未找到单位“不存在的单位”。请写出花名册中的单位全称。"
    [made] = await staff.say("/invite 文旅")
    assert text_of(made).startswith("市文旅局联络员登记链接（")
    assert made.button_texts() == ["生成分管领导登记链接", "撤销该单位未使用的链接"]
    first = LINK.search(text_of(made))
    [lead_link] = await staff.press("生成分管领导登记链接")
    assert text_of(lead_link).startswith("市文旅局分管领导登记链接（")
    [revoked] = await staff.press("撤销该单位未使用的链接")
    assert revoked.text == "已撤销市文旅局未使用的登记链接2个。"
    assert first is not None
    liaison = await office.person(LIAISON, "张伟")
    [refused] = await liaison.start(first[1])
    assert text_of(refused).startswith("该登记链接已被市双拥办撤销。")
    assert await office.sandbox.warnings() == []


async def test_invite_asked_in_a_group_goes_to_the_staff_members_private_chat(
    office: Office,
) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    await office.person(LIAISON, "张伟")
    group = await sandbox.add_group("联络员工作群", [STAFF_ID, LIAISON])
    await sandbox.send_text(STAFF_ID, "/invite 文旅", chat_id=group.id)
    [link] = await staff.wait(1)
    assert text_of(link).startswith("市文旅局联络员登记链接（")
    assert LINK.search(text_of(link)) is not None
    assert link.button_texts() == ["生成分管领导登记链接", "撤销该单位未使用的链接"]
    [note] = await sandbox.wait_messages(group.id, 1)
    assert note.text == "登记链接仅可使用一次，不宜在群内发送，已私信发送给您。"
    made = await office.invite_rows()
    assert len(made) == 1

    # A staff member who never opened the private chat: told so in the group, no link anywhere.
    newcomer = 900002
    await roster.add_staff(services=office.services, user_id=newcomer)
    await sandbox.add_user(user_id=newcomer, first_name="新同事", language_code="zh-hans")
    other_group = await sandbox.add_group("另一工作群", [newcomer, LIAISON])
    await sandbox.send_text(newcomer, "/invite 文旅", chat_id=other_group.id)
    [refused] = await sandbox.wait_messages(other_group.id, 1)
    assert refused.text == (
        "登记链接仅可使用一次，只能私信发送。请先私聊机器人并发送 /start，再重新发送该命令。"
    )
    assert await sandbox.messages(newcomer) == []
    assert await office.invite_rows() == made  # no link was made that nobody can see
    for chat_id in (group.id, other_group.id):
        assert not [m for m in await sandbox.messages(chat_id) if LINK.search(text_of(m))]
    assert await sandbox.warnings() == []
