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
from bot.clock import FrozenClock
from bot.demo.sample import seed_notice_situation, unit_id_by_name
from bot.demo.simulation import Person
from bot.ledger.checklist import prepare_database
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
from tests.support.messages import label, mentions, says
from tests.support.process import STAFF_ID, BotProcess
from tests.support.settings import make_settings

pytestmark = pytest.mark.e2e

UNIT = "市文旅局"  # one of the 13 units without contacts
OTHER_UNIT = "市民政局"  # has a liaison and a lead on record
LIAISON, LEAD, NEWCOMER, STRANGER = 1001, 1002, 1003, 1004
CONFIRM, DECLINE = label("registration.button_confirm"), label("registration.button_decline")
SUBMIT = label("registration.button_ok")
SKIP = label("registration.button_skip")
ME = label("contacts.button_me")
LEAD_LINK = label("contacts.button_link")
ROLE = {"liaison": label("common.role_liaison"), "lead": label("common.role_lead")}
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
    assert says((await person.press(CONFIRM))[0].text, "registration.ask_name")
    assert says((await person.say(name))[0].text, "registration.ask_post")
    assert says((await person.say(post))[0].text, "registration.ask_phone")
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
    assert says(confirm.text, "registration.confirm_liaison", unit=UNIT)
    assert confirm.button_texts() == [CONFIRM, DECLINE]
    [ask_name] = await liaison.press(CONFIRM)
    assert says(ask_name.text, "registration.ask_name")
    assert says((await liaison.latest()).text, "registration.ask_name")
    assert (await office.sandbox.messages(LIAISON))[0].reply_markup is None  # buttons taken off
    await liaison.say("张伟")
    [ask_phone] = await liaison.say("办公室主任")
    assert ask_phone.reply_markup == {
        "keyboard": [[{"text": label("registration.button_share"), "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    await office.sandbox.share_contact(LIAISON, "8613912345678")
    saved, summary = await liaison.wait(2)
    assert says(saved.text, "registration.phone_saved")
    assert mentions(
        summary.text,
        "registration.summary",
        unit=UNIT, role=ROLE["liaison"], name="张伟", post="办公室主任", phone="139 1234 5678",
    )  # fmt: skip
    assert summary.button_texts() == [
        SUBMIT,
        label("registration.button_edit_name"),
        label("registration.button_edit_post"),
        label("registration.button_edit_phone"),
    ]
    [done] = await liaison.press(SUBMIT)
    assert mentions(done.text, "registration.registered_liaison", unit=UNIT)
    assert mentions(done.text, "registration.ask_lead_name")
    assert done.button_texts() == [SKIP]
    [notice] = await staff.wait()
    assert says(
        notice.text,
        "registration.staff_registered",
        unit=UNIT, role=ROLE["liaison"], name="张伟", post="办公室主任", phone="139 1234 5678",
    )  # fmt: skip
    report = await report_of(monkeypatch, office)
    assert unit_in(report)["liaison_registered"] is True
    assert unit_in(report)["lead_registered"] is False

    assert says((await liaison.say("王强"))[0].text, "registration.ask_lead_post")
    assert says((await liaison.say("副局长"))[0].text, "registration.ask_lead_phone")
    [lead_summary] = await liaison.say("138-1234-5678")
    assert mentions(
        lead_summary.text, "registration.lead_summary", name="王强", post="副局长",
        phone="138 1234 5678",
    )  # fmt: skip
    [link_message] = await liaison.press(SUBMIT)
    assert mentions(
        link_message.text, "registration.lead_saved", unit=UNIT, name="王强", post="副局长"
    )
    assert mentions(link_message.text, "registration.lead_link", name="王强")
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
    assert says(confirm.text, "registration.confirm_lead", unit=UNIT)
    [prefilled] = await lead.press(CONFIRM)
    assert mentions(prefilled.text, "registration.summary_heading_prefilled")
    assert mentions(
        prefilled.text, "registration.summary", name="王强", post="副局长", phone="138 1234 5678"
    )
    [linked] = await lead.press(SUBMIT)
    assert mentions(linked.text, "registration.registered_lead", unit=UNIT)
    [notice] = await staff.wait()
    assert says(
        notice.text, "registration.staff_linked", unit=UNIT, role=ROLE["lead"], name="王强"
    )
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
    assert mentions(summary.text, "registration.summary", post="科员")
    [ask_post] = await liaison.press(label("registration.button_edit_post"))
    assert says(ask_post.text, "registration.ask_post")
    [summary] = await liaison.say("办公室主任")
    assert mentions(
        summary.text, "registration.summary", name="张伟", post="办公室主任", phone="139 1234 5678"
    )
    [ask_name] = await liaison.press(label("registration.button_edit_name"))
    assert says(ask_name.text, "registration.ask_name")
    [summary] = await liaison.say("张 伟")
    assert mentions(summary.text, "registration.summary", name="张 伟", post="办公室主任")
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
    assert mentions(
        done.text, "registration.registered_replaced", role=ROLE["liaison"], name=old.name
    )
    assert mentions(done.text, "registration.lead_offer", name=before["lead"].name)
    assert done.button_texts() == [
        label("registration.button_keep"),
        label("registration.button_redo"),
    ]
    [told] = await previous.wait()
    assert says(
        told.text, "registration.old_holder", unit=OTHER_UNIT, role=ROLE["liaison"], name="李娜"
    )
    [changed] = await staff.wait()
    assert says(
        changed.text,
        "registration.staff_handover",
        unit=OTHER_UNIT, role=ROLE["liaison"], old=old.name, name="李娜",
    )  # fmt: skip
    [kept] = await newcomer.press(label("registration.button_keep"))
    assert mentions(kept.text, "registration.lead_kept")
    [contacts] = await staff.say(f"/contacts {OTHER_UNIT}")
    history = text_of(contacts)
    assert mentions(
        history, "contacts.liaison", name="李娜", post="办公室主任", phone="139 1234 5678"
    )
    assert mentions(history, "contacts.history_title")
    since = re.compile(r"\d{4}年\d+月\d+日")  # a date as the office writes it
    old_line = [line for line in history.splitlines() if f" {old.name}（" in line]
    assert len(old_line) == 1
    assert says(old_line[0], "contacts.history_line", role=ROLE["liaison"], post="科员")
    assert mentions(old_line[0], "contacts.period_past")
    assert len(since.findall(old_line[0])) == 2
    new_line = [line for line in history.splitlines() if " 李娜（" in line]
    assert len(new_line) == 1
    assert mentions(new_line[0], "contacts.period_current")
    [theirs] = await previous.say("/contacts")
    assert says(theirs.text, "contacts.not_registered")
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
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "registration.token_unknown"),
        (expired_invite.token, "registration.token_expired"),
        (used, "registration.token_used"),
        (revoked, "registration.token_revoked"),
    ):
        [refused] = await stranger.start(token)
        assert says(refused.text, reply)
    assert await office.invite_rows() == before
    assert [s.user_id for s in await office.steps()] == [LIAISON]  # the liaison's lead step
    [answer] = await stranger.say("张伟")
    assert says(answer.text, "common.not_understood")  # no conversation was started
    for unit in ("市科技局", "市司法局"):
        assert await office.holders(unit) == {}
    assert await office.sandbox.warnings() == []


async def test_six_bad_tokens_in_a_row_are_slowed_down(office: Office) -> None:
    guesser = await office.person(STRANGER, "路人")
    for n in range(5):
        [refused] = await guesser.start(f"guess{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        assert says(refused.text, "registration.token_unknown")
    [held] = await guesser.start("guess5AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert says(held.text, "registration.throttled")
    # Even a good link waits, and the person is told so again (the try is not recorded).
    [again] = await guesser.start(await office.invite())
    assert says(again.text, "registration.throttled")
    [answer] = await guesser.say("/help")
    assert mentions(answer.text, "help.heading_everyone")
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
        ("张伟2", "registration.name_digits"),
        ("张", "registration.name_too_short"),
        ("张" * 31, "registration.name_too_long"),
        ("<b>张伟</b>", "registration.name_chars"),
    ):
        [again] = await liaison.say(typed)
        assert mentions(again.text, why)  # the reason, then the question again
        assert mentions(again.text, "registration.ask_name")
    await liaison.say("张伟")
    [again] = await liaison.say("123")
    assert mentions(again.text, "registration.post_chars")
    assert mentions(again.text, "registration.ask_post")
    await liaison.say("办公室主任")
    for typed in ("12345", "0954-5012345", "139123456789"):
        [again] = await liaison.say(typed)
        assert mentions(again.text, "registration.phone_invalid")
        assert mentions(again.text, "registration.ask_phone")
        assert again.button_texts() == [label("registration.button_share")]
    await office.sandbox.share_contact(LIAISON, "13812345678", own=False, contact_user_id=5)
    [again] = await liaison.wait()
    assert mentions(again.text, "registration.phone_not_own")
    await office.sandbox.share_contact(LIAISON, "12025550123")
    [again] = await liaison.wait()
    assert mentions(again.text, "registration.phone_not_cn")
    [saved, summary] = await liaison.say("+86 139 1234 5678", expect=2)
    assert says(saved.text, "registration.phone_saved")
    assert mentions(
        summary.text, "registration.summary", name="张伟", post="办公室主任", phone="139 1234 5678"
    )
    await liaison.press(SUBMIT)
    [again] = await liaison.say("王强5")
    assert mentions(again.text, "registration.name_digits")
    assert await office.holders() != {}
    assert await office.sandbox.warnings() == []


async def unexpected_everything(office: Office, person: Person, question: str) -> None:
    """A sticker, a location, a voice note, another flow's command, an old button: re-asked.

    `question` is the key of the sentence the step asks with, which each answer repeats.
    """
    sandbox, uid = office.sandbox, person.user_id
    await sandbox.send_sticker(uid)
    [reply] = await person.wait()
    assert mentions(reply.text, question), text_of(reply)
    await sandbox.send_location(uid, 36.0, 106.2)
    [reply] = await person.wait()
    assert mentions(reply.text, question)
    await sandbox.send_voice(uid)
    [reply] = await person.wait()
    assert mentions(reply.text, "registration.reask")
    assert mentions(reply.text, question)
    [reply] = await person.say("/status")
    assert mentions(reply.text, "registration.other_command", unit=UNIT)
    assert mentions(reply.text, question)
    first = (await sandbox.messages(uid))[0]
    answers = len(await sandbox.callback_answers())
    await sandbox.press(uid, message_id=first.message_id, data="r:1:yes", force=True)
    [reply] = await person.wait()
    assert mentions(reply.text, "registration.stale")
    assert mentions(reply.text, question)
    stale = (await sandbox.wait_callback_answers(answers + 1))[-1]
    assert says(stale.text, "common.stale_button")


async def test_unexpected_content_in_every_step_is_met_with_a_polite_reask(
    office: Office,
) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await liaison.start(await office.invite())
    await unexpected_everything(office, liaison, "registration.confirm_liaison")
    [reply] = await liaison.say("是的")
    assert mentions(reply.text, "registration.reask_buttons")
    await liaison.press(CONFIRM)
    await unexpected_everything(office, liaison, "registration.ask_name")
    await liaison.say("张伟")
    await unexpected_everything(office, liaison, "registration.ask_post")
    await liaison.say("办公室主任")
    await unexpected_everything(office, liaison, "registration.ask_phone")
    await liaison.say("13912345678", expect=2)
    await unexpected_everything(office, liaison, "registration.summary_hint")
    await liaison.press(SUBMIT)
    await unexpected_everything(office, liaison, "registration.ask_lead_name")
    await liaison.say("王强")
    await unexpected_everything(office, liaison, "registration.ask_lead_post")
    await liaison.say("副局长")
    await unexpected_everything(office, liaison, "registration.ask_lead_phone")
    await liaison.say("13812345678")
    await unexpected_everything(office, liaison, "registration.summary_hint")
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
    assert mentions(cancelled.text, "common.cancelled")
    assert mentions(cancelled.text, "registration.cancelled_link_valid")
    [reply] = await liaison.say("办公室主任")
    assert says(reply.text, "common.not_understood")
    assert await office.steps() == []
    # The person who opened the link may open it again.
    [confirm] = await liaison.start(token)
    assert CONFIRM in confirm.button_texts()
    [declined] = await liaison.press(DECLINE)
    assert mentions(declined.text, "registration.declined")
    await register_liaison(office, liaison, token)
    [cancelled] = await liaison.say("/cancel")
    assert says(cancelled.text, "common.cancelled")
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
    assert says(asked.text, "registration.ask_name")
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "张伟"))
    assert says(asked.text, "registration.ask_post")
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "办公室主任"))
    assert says(asked.text, "registration.ask_phone")
    _, summary = await while_down(lambda: sandbox.share_contact(LIAISON, "8613912345678"), 2)
    assert mentions(
        summary.text, "registration.summary", name="张伟", post="办公室主任", phone="139 1234 5678"
    )
    [done] = await while_down(lambda: sandbox.press(LIAISON, button_text=SUBMIT))
    assert mentions(done.text, "registration.registered_liaison")
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "王强"))
    assert says(asked.text, "registration.ask_lead_post")
    [asked] = await while_down(lambda: sandbox.send_text(LIAISON, "副局长"))
    assert says(asked.text, "registration.ask_lead_phone")
    [summary] = await while_down(lambda: sandbox.send_text(LIAISON, "13812345678"))
    assert mentions(
        summary.text,
        "registration.lead_summary",
        name="王强",
        post="副局长",
        phone="138 1234 5678",
    )
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
    assert sum(says(text, "registration.ask_name") for text in texts) == 1
    assert sum(says(text, "registration.ask_lead_post") for text in texts) == 1
    assert await office.sandbox.warnings() == []


async def test_a_liaison_cannot_see_or_change_another_unit(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await register_liaison(office, liaison, await office.invite())
    await liaison.press(SKIP)
    other_unit_id = await unit_id_by_name(services=office.services, name=OTHER_UNIT)
    other_before = await office.snapshot(OTHER_UNIT)
    await office.invite(OTHER_UNIT)
    invites_before = await office.invite_rows()

    for command in ("/contacts", f"/contacts {OTHER_UNIT}"):
        [contacts] = await liaison.say(command)
        assert mentions(contacts.text, "contacts.title", unit=UNIT)
        assert OTHER_UNIT not in text_of(contacts)
        assert str(other_before["liaison"][1]) not in text_of(contacts)
    [refused] = await liaison.say(f"/invite {OTHER_UNIT}")
    assert says(refused.text, "common.staff_only")
    message_id = (await liaison.latest()).message_id
    answers = len(await office.sandbox.callback_answers())
    for data in (f"i:rv:{other_unit_id}", f"i:lead:{other_unit_id}"):
        await office.sandbox.press(LIAISON, message_id=message_id, data=data, force=True)
    replies = await office.sandbox.wait_callback_answers(answers + 2)
    assert all(says(a.text, "common.staff_only") for a in replies[-2:])
    [refused] = await liaison.start(await office.invite(OTHER_UNIT))
    assert says(refused.text, "registration.other_unit", unit=UNIT, held_role=ROLE["liaison"])
    assert await office.snapshot(OTHER_UNIT) == other_before
    rows = await office.invite_rows()
    assert rows[: len(invites_before)] == invites_before  # nothing revoked or used
    # "Change my details" works on the liaison's own unit only.
    [contacts] = await liaison.say("/contacts")
    [summary] = await liaison.press(ME)
    assert mentions(summary.text, "registration.summary", unit=UNIT, role=ROLE["liaison"])
    assert contacts.button_texts() == [ME, label("contacts.button_lead_new"), LEAD_LINK]
    assert await office.sandbox.warnings() == []


async def test_contacts_corrects_my_details_and_gives_a_lead_link(office: Office) -> None:
    liaison = await office.person(LIAISON, "张伟")
    await register_liaison(office, liaison, await office.invite())
    [skipped] = await liaison.press(SKIP)
    assert says(skipped.text, "registration.lead_skipped")
    [contacts] = await liaison.say("/contacts")
    title, liaison_line, lead_line = text_of(contacts).splitlines()
    assert says(title, "contacts.title", unit=UNIT)
    assert says(
        liaison_line, "contacts.liaison", name="张伟", post="办公室主任", phone="139 1234 5678"
    )
    assert says(lead_line, "contacts.lead_missing")
    await liaison.press(ME)
    [ask] = await liaison.press(label("registration.button_edit_phone"))
    assert says(ask.text, "registration.ask_phone")
    _, summary = await liaison.say("13700001111", expect=2)
    assert mentions(summary.text, "registration.summary", phone="137 0000 1111")
    [updated] = await liaison.press(SUBMIT)
    assert says(updated.text, "contacts.updated")
    assert (await office.holders())["liaison"].phone == "13700001111"
    await liaison.say("/contacts")
    [link] = await liaison.press(LEAD_LINK)
    found = LINK.search(text_of(link))
    assert found is not None
    lead = await office.person(LEAD, "王强")
    await lead.start(found[1])
    [ask_name] = await lead.press(CONFIRM)
    assert says(ask_name.text, "registration.ask_name")  # nothing on record to prefill
    await lead.say("王强")
    await lead.say("副局长")
    await lead.say("13812345678", expect=2)
    await lead.press(SUBMIT)
    report = await build_report(services=office.services)
    status = next(u for u in report.units if u.name == UNIT)
    assert (status.lead_registered, status.lead_linked) == (True, True)
    [contacts] = await lead.say("/contacts")
    assert contacts.button_texts() == [ME]
    assert await office.sandbox.warnings() == []


async def test_staff_make_and_revoke_links_in_the_chat(office: Office) -> None:
    staff = await office.person(STAFF_ID, "市双拥办")
    [usage] = await staff.say("/invite")
    assert says(usage.text, "invite.usage")
    [missing] = await staff.say("/invite 不存在的单位")
    assert says(missing.text, "common.unit_not_found", name="不存在的单位")
    [made] = await staff.say("/invite 文旅")
    assert says(made.text, "invite.created", unit=UNIT, role=ROLE["liaison"])
    assert made.button_texts() == [LEAD_LINK, label("invite.button_revoke")]
    first = LINK.search(text_of(made))
    [lead_link] = await staff.press(LEAD_LINK)
    assert says(lead_link.text, "invite.created", unit=UNIT, role=ROLE["lead"])
    [revoked] = await staff.press(label("invite.button_revoke"))
    assert says(revoked.text, "invite.revoked", unit=UNIT, count=2)
    assert first is not None
    liaison = await office.person(LIAISON, "张伟")
    [refused] = await liaison.start(first[1])
    assert says(refused.text, "registration.token_revoked")
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
    assert says(link.text, "invite.created", unit=UNIT, role=ROLE["liaison"])
    assert LINK.search(text_of(link)) is not None
    assert link.button_texts() == [LEAD_LINK, label("invite.button_revoke")]
    [note] = await sandbox.wait_messages(group.id, 1)
    assert says(note.text, "invite.sent_privately")
    made = await office.invite_rows()
    assert len(made) == 1

    # A staff member who never opened the private chat: told so in the group, no link anywhere.
    newcomer = 900002
    await roster.add_staff(services=office.services, user_id=newcomer)
    await sandbox.add_user(user_id=newcomer, first_name="新同事", language_code="zh-hans")
    other_group = await sandbox.add_group("另一工作群", [newcomer, LIAISON])
    await sandbox.send_text(newcomer, "/invite 文旅", chat_id=other_group.id)
    [refused] = await sandbox.wait_messages(other_group.id, 1)
    assert says(refused.text, "invite.open_private_first")
    assert await sandbox.messages(newcomer) == []
    assert await office.invite_rows() == made  # no link was made that nobody can see
    for chat_id in (group.id, other_group.id):
        assert not [m for m in await sandbox.messages(chat_id) if LINK.search(text_of(m))]
    assert await sandbox.warnings() == []
