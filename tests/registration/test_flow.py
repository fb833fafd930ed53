"""The registration use-cases: both conversations, handover, bad input, slow-down, staff told."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import conversations, roster
from bot.clock import FrozenClock
from bot.conversations import StepOut, current_step
from bot.demo.sample import FIRST_USER_ID, seed_notice_situation, unit_id_by_name
from bot.errors import NotStaff
from bot.ledger import submitting
from bot.ledger.errors import NotYourUnit
from bot.ledger.report import build_report
from bot.registration import contacts as unit_contacts
from bot.registration import flow, invites, validation
from bot.registration.flow import (
    LEAD_NAME,
    LEAD_OFFER,
    LEAD_PHONE,
    LEAD_SUMMARY,
    NAME,
    PHONE,
    POST,
    SUMMARY,
    Event,
    Outcome,
)
from bot.registration.validation import InvalidInput
from bot.services import Services
from bot.transport.outbox import enqueue, text_payload
from storage import repositories as repo
from storage.models import AuditEvent, Invite, InviteAttempt, OutboxMessage, Person, Setting
from tests.support.concurrency import interleaved
from tests.support.messages import label, says
from tests.support.settings import staff_on_both_lists, with_settings
from tests.support.statements import statements_sent

STAFF = 900
LIAISON_ROLE, LEAD_ROLE = label("common.role_liaison"), label("common.role_lead")
UNIT = "市文旅局"  # one of the 13 without contacts


async def seeded(services: Services) -> None:
    await seed_notice_situation(services=services)
    async with services.db.uow() as tx:
        tx.add(Setting(key="bot_username", value="liaison_test_bot"))


async def invite(services: Services, unit: str = UNIT, role: invites.Role = "liaison") -> str:
    [made] = await invites.create_invites(services=services, units=[unit], role=role)
    return made.token


def text(value: str) -> Event:
    return Event(kind="text", text=value)


def press(step: StepOut | None, action: str) -> Event:
    assert step is not None
    return Event(kind="button", version=step.data["v"], action=action)


class Talk:
    """One person's side of the conversation, through the use-cases."""

    def __init__(self, services: Services, user_id: int) -> None:
        self.services, self.user_id = services, user_id
        self.last: Outcome | None = None

    @property
    def step(self) -> StepOut | None:
        return self.last.step if self.last else None

    async def start(self, token: str) -> Outcome:
        self.last = await flow.start(services=self.services, user_id=self.user_id, token=token)
        return self.last

    async def send(self, event: Event) -> Outcome:
        outcome = await flow.advance(services=self.services, user_id=self.user_id, event=event)
        if outcome.kind not in ("invalid", "reask", "stale"):
            self.last = outcome
        return outcome

    async def say(self, value: str) -> Outcome:
        return await self.send(text(value))

    async def press(self, action: str) -> Outcome:
        return await self.send(press(self.step, action))

    async def saved_step(self) -> StepOut | None:
        return await current_step(services=self.services, user_id=self.user_id)


async def liaison_registered(services: Services, user_id: int, unit: str = UNIT) -> Talk:
    talk = Talk(services, user_id)
    await talk.start(await invite(services, unit))
    await talk.press("yes")
    await talk.say("张伟")
    await talk.say("办公室主任")
    await talk.say("139 1234 5678")
    done = await talk.press("ok")
    assert done.kind == "registered", done
    return talk


async def holders(services: Services, unit: str = UNIT) -> dict[str, Person]:
    unit_id = await unit_id_by_name(services=services, name=unit)
    async with services.db.sessions() as session:
        found = {}
        for role in ("liaison", "lead"):
            person = await repo.current_holder(session, unit_id=unit_id, role=role)
            if person is not None:
                found[role] = person
        return found


async def outbox(services: Services) -> list[OutboxMessage]:
    async with services.db.sessions() as session:
        return list(
            (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        )


async def actions(services: Services) -> list[str]:
    async with services.db.sessions() as session:
        return list((await session.scalars(select(AuditEvent.action))).all())


async def unit_status(services: Services, unit: str = UNIT) -> Any:
    report = await build_report(services=services)
    return next(u for u in report.units if u.name == unit), report.totals


# ---- checking what people type -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("张伟", "张伟"), (" 欧阳  娜娜 ", "欧阳 娜娜"), ("阿依古丽·买买提", "阿依古丽·买买提"),
     ("阿依古丽•买买提", "阿依古丽·买买提"), ("Zhang Wei", "Zhang Wei"), ("ＺＨＡＮＧ", "ZHANG")],
)  # fmt: skip
def test_names_accepted(typed: str, kept: str) -> None:
    assert validation.clean_name(typed) == kept


@pytest.mark.parametrize(
    ("typed", "why"),
    [("", "name_empty"), ("   ", "name_empty"), ("张伟1", "name_digits"),
     ("１２３", "name_digits"), ("张" * 31, "name_too_long"), ("张", "name_too_short"),
     ("<b>张伟</b>", "name_chars"), ("张伟😀", "name_chars"), ("···", "name_chars")],
)  # fmt: skip
def test_names_refused_with_a_reason(typed: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validation.clean_name(typed)
    assert refused.value.key == f"registration.{why}"


def test_posts() -> None:
    assert validation.clean_post("办公室主任") == "办公室主任"
    assert validation.clean_post("二级调研员（主持工作）") == "二级调研员(主持工作)"
    for typed, why in (("", "post_empty"), ("1234", "post_chars"), ("主任" * 16, "post_too_long")):
        with pytest.raises(InvalidInput) as refused:
            validation.clean_post(typed)
        assert refused.value.key == f"registration.{why}"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("13912345678", "13912345678"), ("139 1234 5678", "13912345678"),
     ("139-1234-5678", "13912345678"), ("+86 139 1234 5678", "13912345678"),
     ("8613912345678", "13912345678"), ("008613912345678", "13912345678"),
     ("１３９１２３４５６７８", "13912345678"), ("19912345678", "19912345678")],
)  # fmt: skip
def test_mainland_mobile_numbers(typed: str, kept: str) -> None:
    assert validation.clean_phone(typed) == kept
    assert validation.format_phone(kept) == f"{kept[:3]} {kept[3:7]} {kept[7:]}"


@pytest.mark.parametrize(
    ("typed", "why"),
    [("", "phone_invalid"), ("12345", "phone_invalid"), ("1391234567", "phone_invalid"),
     ("139123456789", "phone_invalid"), ("09545012345", "phone_invalid"),
     ("12345678901", "phone_invalid"), ("电话", "phone_invalid"),
     ("+1 202 555 0123", "phone_not_cn"), ("+852 9123 4567", "phone_not_cn")],
)  # fmt: skip
def test_numbers_refused(typed: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validation.clean_phone(typed)
    assert refused.value.key == f"registration.{why}"


def test_shared_contacts_carry_the_country_code() -> None:
    assert validation.clean_phone("8613912345678", shared=True) == "13912345678"
    assert validation.clean_phone("+86 139 1234 5678", shared=True) == "13912345678"
    for number in ("12025550123", "85291234567", "+447911123456", "13912345678"):
        with pytest.raises(InvalidInput) as refused:
            validation.clean_phone(number, shared=True)
        assert refused.value.key == "registration.phone_not_cn"


# ---- the liaison's and the lead's conversations ---------------------------------------------


async def test_the_liaison_registers_then_enters_the_lead(services: Services) -> None:
    await seeded(services)
    talk = Talk(services, 1001)
    opened = await talk.start(await invite(services))
    assert opened.kind == "step"
    assert opened.step is not None
    assert (opened.step.step, opened.step.data["unit"], opened.step.data["role"]) == (
        "confirm_unit", UNIT, "liaison",
    )  # fmt: skip
    assert (await talk.press("yes")).step.step == NAME  # type: ignore[union-attr]
    assert (await talk.say("张伟")).step.step == POST  # type: ignore[union-attr]
    assert (await talk.say("办公室主任")).step.step == PHONE  # type: ignore[union-attr]
    shared = Event(kind="contact", phone="8613912345678", own_contact=True)
    summary = await talk.send(shared)
    assert summary.step is not None
    assert summary.step.step == SUMMARY
    assert {k: summary.step.data[k] for k in ("name", "post", "phone")} == {
        "name": "张伟", "post": "办公室主任", "phone": "13912345678",
    }  # fmt: skip
    assert "liaison" not in await holders(services)

    done = await talk.press("ok")
    assert done.kind == "registered"
    assert done.registered is not None
    assert done.registered.replaced is None
    assert done.step is not None
    assert done.step.step == LEAD_NAME
    liaison = (await holders(services))["liaison"]
    assert (liaison.name, liaison.post, liaison.phone, liaison.telegram_user_id) == (
        "张伟", "办公室主任", "13912345678", 1001,
    )  # fmt: skip
    status, totals = await unit_status(services)
    assert (status.liaison_registered, status.lead_registered) == (True, False)
    assert totals.missing_contacts == 13
    staff_notice = [m for m in await outbox(services) if m.chat_id == STAFF]
    assert [m.dedupe_key for m in staff_notice] == [f"registration:{liaison.id}:{STAFF}"]
    assert says(
        staff_notice[0].payload["text"],
        "registration.staff_registered",
        unit="市文旅局", role=LIAISON_ROLE, name="张伟", post="办公室主任", phone="139 1234 5678",
    )  # fmt: skip
    assert "registered" in await actions(services)

    await talk.say("王强")
    await talk.say("副局长")
    lead_summary = await talk.say("13812345678")
    assert lead_summary.step is not None
    assert lead_summary.step.step == LEAD_SUMMARY
    saved = await talk.press("ok")
    assert saved.kind == "lead_saved"
    assert saved.step is None
    assert await talk.saved_step() is None
    assert saved.lead_invite is not None
    assert saved.lead_invite.role == "lead"
    assert saved.lead_invite.link.startswith("https://t.me/liaison_test_bot?start=")
    lead = (await holders(services))["lead"]
    assert (lead.name, lead.post, lead.phone, lead.telegram_user_id, lead.entered_by) == (
        "王强", "副局长", "13812345678", None, 1001,
    )  # fmt: skip
    status, totals = await unit_status(services)
    assert (status.lead_registered, status.lead_linked) == (True, False)
    assert totals.missing_contacts == 12

    # The lead opens the link: the liaison's entry is there to confirm.
    lead_talk = Talk(services, 2002)
    await lead_talk.start(saved.lead_invite.token)
    prefilled = await lead_talk.press("yes")
    assert prefilled.step is not None
    assert prefilled.step.step == SUMMARY
    assert prefilled.step.data["prefilled"] is True
    assert (prefilled.step.data["name"], prefilled.step.data["phone"]) == ("王强", "13812345678")
    linked = await lead_talk.press("ok")
    assert linked.kind == "registered"
    assert linked.step is None
    after = (await holders(services))["lead"]
    assert (after.id, after.telegram_user_id) == (lead.id, 2002)  # the same holder, now linked
    status, _ = await unit_status(services)
    assert status.lead_linked is True
    keys = [m.dedupe_key for m in await outbox(services)]
    assert f"registration:{lead.id}:linked:{STAFF}" in keys
    texts = [m.payload["text"] for m in await outbox(services)]
    details = {"unit": "市文旅局", "role": LEAD_ROLE, "name": "王强", "phone": "138 1234 5678"}
    assert [text for text in texts if says(text, "registration.staff_linked", **details)]


async def test_the_lead_correcting_the_prefilled_name_is_no_handover(
    services: Services,
) -> None:
    """The liaison wrote 王强; the lead corrects it to 王 强: the same record, now linked."""
    await seeded(services)
    talk = await liaison_registered(services, 1001)
    await talk.say("王强")
    await talk.say("副局长")
    await talk.say("13812345678")
    saved = await talk.press("ok")
    assert saved.lead_invite is not None
    entered = (await holders(services))["lead"]
    lead_talk = Talk(services, 2002)
    await lead_talk.start(saved.lead_invite.token)
    await lead_talk.press("yes")
    await lead_talk.press("e-name")
    await lead_talk.say("王刚")
    linked = await lead_talk.press("ok")
    assert linked.kind == "registered"
    assert linked.registered is not None
    assert linked.registered.replaced is None
    after = (await holders(services))["lead"]
    assert (after.id, after.name, after.telegram_user_id) == (entered.id, "王刚", 2002)
    texts = [m.payload["text"] for m in await outbox(services)]
    assert not [t for t in texts if "变更" in t]


async def test_a_correction_from_the_summary_returns_to_the_summary(services: Services) -> None:
    await seeded(services)
    talk = Talk(services, 1001)
    await talk.start(await invite(services))
    await talk.press("yes")
    await talk.say("张伟")
    await talk.say("科员")
    await talk.say("13912345678")
    editing = await talk.press("e-post")
    assert editing.step is not None
    assert (editing.step.step, editing.step.data["back"]) == (POST, True)
    back = await talk.say("办公室主任")
    assert back.step is not None
    assert back.step.step == SUMMARY
    assert (back.step.data["name"], back.step.data["post"]) == ("张伟", "办公室主任")
    await talk.press("ok")
    assert (await holders(services))["liaison"].post == "办公室主任"


async def test_the_liaison_may_skip_the_lead(services: Services) -> None:
    await seeded(services)
    talk = await liaison_registered(services, 1001)
    skipped = await talk.press("skip")
    assert skipped.kind == "lead_skipped"
    assert await talk.saved_step() is None
    status, _ = await unit_status(services)
    assert (status.liaison_registered, status.lead_registered) == (True, False)


async def test_the_lead_without_a_prefill_enters_everything(services: Services) -> None:
    await seeded(services)
    talk = Talk(services, 3003)
    await talk.start(await invite(services, role="lead"))
    asked = await talk.press("yes")
    assert asked.step is not None
    assert asked.step.step == NAME
    await talk.say("王强")
    await talk.say("副局长")
    await talk.send(Event(kind="contact", phone="+8613812345678", own_contact=True))
    done = await talk.press("ok")
    assert done.kind == "registered"
    status, _ = await unit_status(services)
    assert (status.liaison_registered, status.lead_registered, status.lead_linked) == (
        False, True, True,
    )  # fmt: skip


# ---- handover -------------------------------------------------------------------------------


async def test_handover_keeps_the_history_and_tells_the_old_liaison(services: Services) -> None:
    await seeded(services)
    unit = "市民政局"
    before = await holders(services, unit)
    old = before["liaison"]
    assert old.telegram_user_id is not None
    talk = Talk(services, 5005)
    await talk.start(await invite(services, unit))
    await talk.press("yes")
    await talk.say("李娜")
    await talk.say("科长")
    await talk.say("13712345678")
    done = await talk.press("ok")
    assert done.registered is not None
    assert done.registered.replaced is not None
    assert done.registered.replaced.name == old.name
    assert done.registered.replaced_user_id == old.telegram_user_id
    after = await holders(services, unit)
    assert after["liaison"].telegram_user_id == 5005
    assert after["liaison"].id != old.id
    contacts = await unit_contacts.unit_contacts(services=services, actor_id=STAFF, unit_name=unit)
    history = [(p.name, p.role, p.until) for p in contacts.history]
    assert (old.name, "liaison", services.now()) in history
    assert ("李娜", "liaison", None) in history
    told = [
        m
        for m in await outbox(services)
        if m.chat_id == old.telegram_user_id and m.purpose != "menu"
    ]
    assert [m.dedupe_key for m in told] == [f"handover:{old.id}"]
    assert says(told[0].payload["text"], "registration.old_holder", name="李娜")
    [staff] = [m.payload["text"] for m in await outbox(services) if m.chat_id == STAFF]
    new = {"name": "李娜", "post": "科长", "phone": "137 1234 5678"}
    assert says(staff, "registration.staff_handover", unit=unit, old=old.name, **new)
    assert "handover" in await actions(services)
    # The unit's lead is on record: the new liaison confirms it or enters it again.
    assert done.step is not None
    assert done.step.step == LEAD_OFFER
    assert done.step.data["lead_name"] == before["lead"].name
    kept = await talk.press("keep")
    assert kept.kind == "lead_kept"
    assert (await holders(services, unit))["lead"].id == before["lead"].id


async def test_the_liaison_replaces_a_linked_lead(services: Services) -> None:
    await seeded(services)
    talk = await liaison_registered(services, 1001)
    await talk.say("王强")
    await talk.say("副局长")
    await talk.say("13812345678")
    saved = await talk.press("ok")
    assert saved.lead_invite is not None
    lead_talk = Talk(services, 2002)
    await lead_talk.start(saved.lead_invite.token)
    await lead_talk.press("yes")
    await lead_talk.press("ok")
    # The lead changes: the liaison enters the new one from /contacts.
    step = await unit_contacts.begin_edit(services=services, user_id=1001, what="lead")
    assert step.step == LEAD_NAME
    talk.last = Outcome(kind="step", step=step)
    await talk.say("赵军")
    await talk.say("局长")
    await talk.say("13612345678")
    replaced = await talk.press("ok")
    assert replaced.kind == "lead_saved"
    assert replaced.replaced_user_id == 2002
    lead = (await holders(services))["lead"]
    assert (lead.name, lead.telegram_user_id) == ("赵军", None)
    told = [m for m in await outbox(services) if m.chat_id == 2002 and m.purpose != "menu"]
    assert len(told) == 1
    assert "赵军接任" in told[0].payload["text"]
    # The old lead's unused links are gone; the new one is fresh.
    old_token_outcome = await Talk(services, 2003).start(saved.lead_invite.token)
    assert old_token_outcome.reason == "registration.token_used"


# ---- refusals -------------------------------------------------------------------------------


async def test_every_bad_token_is_refused_and_nothing_changes(
    services: Services, clock: FrozenClock
) -> None:
    await seeded(services)
    used = await invite(services)
    await liaison_registered_with(services, used, 1001)
    revoked = await invite(services, "市科技局")
    await invites.revoke_invites(services=services, units=["市科技局"])
    expired = await invite(services, "市司法局")
    clock.advance(timedelta(days=15))
    for token, reason in (
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "token_unknown"),
        (expired, "token_expired"),
        (used, "token_used"),
        (revoked, "token_revoked"),
    ):
        refused = await Talk(services, 4004).start(token)
        assert (refused.kind, refused.reason) == ("refused", f"registration.{reason}")
        assert await current_step(services=services, user_id=4004) is None
    for unit in ("市科技局", "市司法局"):
        assert await holders(services, unit) == {}


async def liaison_registered_with(services: Services, token: str, user_id: int) -> None:
    talk = Talk(services, user_id)
    await talk.start(token)
    await talk.press("yes")
    await talk.say("张伟")
    await talk.say("办公室主任")
    await talk.say("13912345678")
    await talk.press("ok")


async def test_guessing_is_slowed_down_and_logged(
    services: Services, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    await seeded(services)
    good = await invite(services)
    caplog.set_level(logging.INFO, logger="bot.registration")
    for n in range(5):
        refused = await Talk(services, 4004).start(f"guess{n}")
        assert refused.reason == "registration.token_unknown"
        clock.advance(timedelta(minutes=1))
    assert "further tries refused" in caplog.text
    held = await Talk(services, 4004).start(good)  # even a good token waits
    assert held.kind == "throttled"
    assert held.values["until"] == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert await current_step(services=services, user_id=4004) is None
    assert "refused: slowed down" in caplog.text
    # Others are not affected.
    assert (await Talk(services, 4005).start(good)).kind == "step"
    clock.set(datetime(2026, 11, 30, 2, 0, 1, tzinfo=UTC))
    assert (await Talk(services, 4004).start(good)).kind == "step"
    async with services.db.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(InviteAttempt))
    assert count == 6


async def test_tries_refused_while_slowed_down_are_kept_logged_and_answered_once(
    services: Services, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    await seeded(services)
    for n in range(5):
        await Talk(services, 4004).start(f"guess{n}")
    caplog.set_level(logging.INFO, logger="bot.registration")
    caplog.clear()  # the warning that the person is held from now on
    first = await Talk(services, 4004).start("guess5")
    assert first.kind == "throttled"
    for n in range(39):  # 40 bad links in all while held
        clock.advance(timedelta(seconds=30))
        assert (await Talk(services, 4004).start(f"again{n}")).kind == "throttled_again"
    async with services.db.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(InviteAttempt))
    assert count == 5 + 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "refused: slowed down" in warnings[0].getMessage()


async def test_a_person_of_another_unit_is_refused(services: Services) -> None:
    await seeded(services)
    sitting = FIRST_USER_ID  # the sample's liaison of the first unit
    refused = await Talk(services, sitting).start(await invite(services))
    assert refused.kind == "refused"
    assert refused.reason == "registration.other_unit"
    assert refused.values["held_role"] == "liaison"
    await liaison_registered(services, 1001)
    other_role = await Talk(services, 1001).start(await invite(services, role="lead"))
    assert (other_role.reason, other_role.values["wanted_role"]) == (
        "registration.other_role", "lead",
    )  # fmt: skip
    # Staff end the old registration: now it works.
    unit = next(iter(await registration_unit_of(services, sitting)))
    await unit_contacts.unregister(services=services, unit_name=unit, role="liaison")
    assert (await Talk(services, sitting).start(await invite(services, "市科技局"))).kind == "step"


async def registration_unit_of(services: Services, user_id: int) -> list[str]:
    from bot.roster import roles_of

    return [r.unit for r in await roles_of(services=services, user_id=user_id)]


async def test_the_invite_is_checked_again_at_every_step(services: Services) -> None:
    await seeded(services)
    talk = Talk(services, 1001)
    await talk.start(await invite(services))
    await invites.revoke_invites(services=services, units=[UNIT])
    refused = await talk.press("yes")
    assert (refused.kind, refused.reason) == ("refused", "registration.token_revoked")
    assert await talk.saved_step() is None


async def invite_states(services: Services) -> list[tuple[object, ...]]:
    async with services.db.sessions() as session:
        rows = (await session.scalars(select(Invite).order_by(Invite.id))).all()
        return [(r.used_by, r.used_at is not None, r.revoked_at is not None) for r in rows]


async def people_of(services: Services, user_id: int) -> list[Person]:
    async with services.db.sessions() as session:
        query = select(Person).where(Person.telegram_user_id == user_id)
        return list((await session.scalars(query)).all())


async def to_summary(talk: Talk, token: str, name: str) -> None:
    await talk.start(token)
    await talk.press("yes")
    await talk.say(name)
    await talk.say("办公室主任")
    summary = await talk.say("13912345678")
    assert summary.step is not None
    assert summary.step.step == SUMMARY


async def test_confirming_the_unit_and_leaving_keeps_the_link_for_the_liaison(
    services: Services,
) -> None:
    await seeded(services)
    token = await invite(services)  # posted in the office's group
    forwarded = await invite(services)  # another open link of the unit
    stranger = Talk(services, 4004)
    await stranger.start(token)
    asked = await stranger.press("yes")
    assert asked.step is not None
    assert asked.step.step == NAME
    # Pressing "是本人" uses nothing up and revokes nothing.
    assert await invite_states(services) == [(None, False, False), (None, False, False)]
    # ... and the stranger goes away. The real liaison opens the same link and registers.
    liaison = Talk(services, 1001)
    await to_summary(liaison, token, "张伟")
    done = await liaison.press("ok")
    assert done.kind == "registered", done
    assert (await holders(services))["liaison"].telegram_user_id == 1001
    # Now the link is used, and the unit's other open link revoked.
    assert await invite_states(services) == [(1001, True, False), (None, False, True)]
    assert (await Talk(services, 4005).start(forwarded)).reason == "registration.token_taken"
    # The stranger coming back is told at once that the role was taken; nothing is saved.
    late = await stranger.say("李四")
    assert (late.kind, late.reason) == ("refused", "registration.role_taken")
    assert late.values["name"] == "张伟"
    assert await stranger.saved_step() is None
    assert await people_of(services, 4004) == []
    assert (await holders(services))["liaison"].name == "张伟"


async def test_two_people_on_one_link_the_first_to_complete_wins(services: Services) -> None:
    await seeded(services)
    token = await invite(services)
    first, second = Talk(services, 1001), Talk(services, 1002)
    await to_summary(first, token, "张伟")
    await to_summary(second, token, "李四")  # both pressed "是本人": both may go on
    done = await second.press("ok")
    assert done.kind == "registered"
    late = await first.press("ok")
    assert (late.kind, late.reason) == ("refused", "registration.role_taken")
    assert late.values["name"] == "李四"
    assert await first.saved_step() is None
    assert await people_of(services, 1001) == []
    assert (await holders(services))["liaison"].telegram_user_id == 1002
    assert await invite_states(services) == [(1002, True, False)]


async def race_to_complete(services: Services, tokens: tuple[str, str]) -> list[Outcome]:
    """Two people at the summary press "确认提交" at once, their transactions interleaved."""
    talks = [Talk(services, 1001), Talk(services, 1002)]
    for talk, token, name in zip(talks, tokens, ("张伟", "李四"), strict=True):
        await to_summary(talk, token, name)
    with interleaved(services, conversations, "load_step"):
        return list(await asyncio.gather(*(talk.press("ok") for talk in talks)))


async def assert_one_holder_and_the_other_told_who(
    services: Services, outcomes: list[Outcome]
) -> tuple[int, int]:
    """Exactly one registration stands; the other person is told the role was just taken, by
    whom, and staff hear of their attempt. Returns (winner, loser)."""
    kinds = sorted((o.kind, o.reason) for o in outcomes)
    assert kinds == [("refused", "registration.role_taken"), ("registered", None)]
    won = [o.kind for o in outcomes].index("registered")
    winner, loser = (1001, 1002) if won == 0 else (1002, 1001)
    winner_name, loser_name = ("张伟", "李四") if won == 0 else ("李四", "张伟")
    lost = outcomes[1 - won]
    assert lost.values == {
        "unit": UNIT, "role": "liaison", "name": winner_name, "at": services.now(),
    }  # fmt: skip
    assert (await holders(services))["liaison"].telegram_user_id == winner
    assert await people_of(services, loser) == []
    assert await current_step(services=services, user_id=loser) is None
    assert (await actions(services)).count("registered") == 1
    staff = [m.payload["text"] for m in await outbox(services) if m.chat_id == STAFF]
    assert staff == [
        f"【登记】{UNIT}联络员：{winner_name}（办公室主任），手机号 139 1234 5678。",
        f"【重复登记】{UNIT}联络员已由{winner_name}登记；{loser_name}（办公室主任），"
        "手机号 139 1234 5678，随后也通过登记链接提交了登记，未予登记。"
        f"如{loser_name}才是该单位联络员，请核实后向其发送新的登记链接。",
    ]
    return winner, loser


async def test_two_people_completing_on_one_link_at_the_same_moment(services: Services) -> None:
    await seeded(services)
    token = await invite(services)
    outcomes = await race_to_complete(services, (token, token))
    winner, _ = await assert_one_holder_and_the_other_told_who(services, outcomes)
    assert await invite_states(services) == [(winner, True, False)]


async def test_two_links_of_one_role_completed_at_the_same_moment(services: Services) -> None:
    await seeded(services)
    tokens = (await invite(services), await invite(services))
    outcomes = await race_to_complete(services, tokens)
    winner, _ = await assert_one_holder_and_the_other_told_who(services, outcomes)
    states = await invite_states(services)
    assert sorted(states, key=str) == sorted([(winner, True, False), (None, False, True)], key=str)
    async with services.db.sessions() as session:
        reasons = (await session.scalars(select(Invite.revoked_reason))).all()
    assert sorted(reasons, key=str) == sorted([None, invites.REDEEMED_ANOTHER], key=str)


async def test_invalid_and_unexpected_input_keeps_the_step_and_the_data(
    services: Services,
) -> None:
    await seeded(services)
    talk = Talk(services, 1001)
    await talk.start(await invite(services))
    typed_at_buttons = await talk.say("是的")
    assert typed_at_buttons.kind == "reask"
    await talk.press("yes")
    await talk.say("张伟")
    before = await talk.saved_step()
    for event, kind in (
        (text("12"), "invalid"),
        (Event(kind="contact", phone="13912345678", own_contact=True), "reask"),
        (Event(kind="button", version=1, action="ok"), "stale"),
        (press(before, "ok"), "stale"),  # not a button of this step
    ):
        outcome = await talk.send(event)
        assert outcome.kind == kind
        assert await talk.saved_step() == before
    await talk.say("办公室主任")
    not_own = await talk.send(Event(kind="contact", phone="13912345678", own_contact=False))
    assert (not_own.kind, not_own.reason) == ("invalid", "registration.phone_not_own")
    wrong = await talk.say("12345")
    assert (wrong.kind, wrong.reason) == ("invalid", "registration.phone_invalid")
    step = await talk.saved_step()
    assert step is not None
    assert (step.step, step.data["name"], step.data["post"]) == (PHONE, "张伟", "办公室主任")


async def test_a_failure_while_saving_leaves_everything_as_it_was(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seeded(services)
    talk = Talk(services, 1001)
    await talk.start(await invite(services))
    await talk.press("yes")
    await talk.say("张伟")
    await talk.say("办公室主任")
    await talk.say("13912345678")
    before = await talk.saved_step()

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(flow, "tell_staff", broken)
    with pytest.raises(RuntimeError):
        await talk.press("ok")
    assert await talk.saved_step() == before
    assert await holders(services) == {}
    assert "registered" not in await actions(services)


async def test_a_liaison_sees_and_changes_only_their_own_unit(services: Services) -> None:
    await seeded(services)
    await liaison_registered(services, 1001)
    mine = await unit_contacts.my_contacts(services=services, user_id=1001)
    assert (mine.unit, mine.my_role, mine.history) == (UNIT, "liaison", [])
    with pytest.raises(NotStaff):
        await unit_contacts.unit_contacts(services=services, actor_id=1001, unit_name="市民政局")
    step = await unit_contacts.begin_edit(services=services, user_id=1001, what="me")
    assert (step.data["unit"], step.data["mode"]) == (UNIT, "self")
    # Someone with no role sees nothing; a lead cannot act as the liaison.
    with pytest.raises(flow.NotRegistered):
        await unit_contacts.my_contacts(services=services, user_id=999_999)
    lead_of_other = Talk(services, 2002)
    await lead_of_other.start(await invite(services, "市科技局", role="lead"))
    await lead_of_other.press("yes")
    await lead_of_other.say("王强")
    await lead_of_other.say("副局长")
    assert (await lead_of_other.say("13812345678")).step is not None
    assert (await lead_of_other.press("ok")).kind == "registered"
    theirs = await unit_contacts.my_contacts(services=services, user_id=2002)
    assert (theirs.unit, theirs.my_role) == ("市科技局", "lead")
    with pytest.raises(flow.NotLiaison):
        await unit_contacts.lead_invite(services=services, user_id=2002)
    with pytest.raises(flow.NotLiaison):
        await unit_contacts.begin_edit(services=services, user_id=2002, what="lead")


async def test_correcting_my_own_details_changes_the_row_in_place(services: Services) -> None:
    await seeded(services)
    talk = await liaison_registered(services, 1001)
    await talk.press("skip")
    person = (await holders(services))["liaison"]
    talk.last = Outcome(
        kind="step",
        step=await unit_contacts.begin_edit(services=services, user_id=1001, what="me"),
    )
    await talk.press("e-phone")
    await talk.say("13700000000")
    done = await talk.press("ok")
    assert done.kind == "updated"
    after = (await holders(services))["liaison"]
    assert (after.id, after.phone) == (person.id, "13700000000")
    assert "contacts_updated" in await actions(services)


async def test_the_lead_re_entered_with_the_liaisons_number_is_held_until_sent_again(
    services: Services,
) -> None:
    """/contacts → the lead again: the liaison's own number is asked about once; the number
    held is saved with the step, and the lead on record changes only when it is confirmed."""
    await seeded(services)
    talk = await liaison_registered(services, 1001)
    await talk.say("王强")
    await talk.say("副局长")
    await talk.say("13812345678")
    await talk.press("ok")
    talk.last = Outcome(
        kind="step",
        step=await unit_contacts.begin_edit(services=services, user_id=1001, what="lead"),
    )
    await talk.say("王强")
    await talk.say("副局长")
    held = await talk.say("13912345678")
    assert (held.kind, held.reason) == ("confirm", "registration.lead_phone_same_as_liaison")
    saved = await talk.saved_step()
    assert saved is not None
    assert (saved.step, saved.data[flow.HELD_PHONE]) == (LEAD_PHONE, "13912345678")
    assert (await holders(services))["lead"].phone == "13812345678"
    confirmed = await talk.say("139 1234 5678")
    assert confirmed.step is not None
    assert confirmed.step.step == LEAD_SUMMARY
    assert (confirmed.step.data["lead_phone"], confirmed.step.data[flow.HELD_PHONE]) == (
        "13912345678",
        None,
    )
    await talk.press("ok")
    assert (await holders(services))["lead"].phone == "13912345678"


async def test_staff_digest_collects_registrations_for_the_morning(services: Services) -> None:
    await seeded(services)
    services.settings.staff_notifications = "digest"
    await liaison_registered(services, 1001)
    await liaison_registered(services, 1002, unit="市科技局")
    staff = [m for m in await outbox(services) if m.chat_id == STAFF]
    assert len(staff) == 1
    # Monday 09:00 in Shanghai: the digest goes at 09:30 the same morning.
    assert staff[0].due_at == datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    assert staff[0].dedupe_key == f"registration-digest:2026-11-30:{STAFF}"
    assert "新登记2条" in staff[0].payload["text"]
    assert "市文旅局联络员" in staff[0].payload["text"]
    assert "市科技局联络员" in staff[0].payload["text"]


async def test_staff_on_both_lists_hear_of_a_registration_once_each(services: Services) -> None:
    """STAFF_IDS and the staff added on the command line are one list, in order of id."""
    services = await staff_on_both_lists(services)
    await seeded(services)
    await liaison_registered(services, 1001)
    told = [
        m.chat_id
        for m in await outbox(services)
        if m.purpose == "notice" and m.dedupe_key.startswith("registration:")
    ]
    assert told == [STAFF, 901, 902]


async def test_staff_hear_of_a_registration_each_in_their_language_read_at_once(
    services: Services,
) -> None:
    """Each member of staff is told in the language they chose, and the languages of all of
    them are read in one statement, not one per member."""
    services = with_settings(services, staff_ids=(STAFF, 901, 902, 903))
    await roster.set_language(services=services, user_id=902, language="en")
    await seeded(services)
    with statements_sent(services.db) as sent:
        await liaison_registered(services, 1001)
    told = {
        m.chat_id: m.payload["text"]
        for m in await outbox(services)
        if m.purpose == "notice" and m.dedupe_key.startswith("registration:")
    }
    assert sorted(told) == [STAFF, 901, 902, 903]
    for chat_id, text in told.items():
        lang = "en" if chat_id == 902 else "zh"
        assert says(text, "registration.staff_registered", lang, unit="市文旅局"), chat_id
    # A language is read alone (a whole account row, for the one registering, has first_seen).
    languages_read = [s for s in sent if "FROM account" in s and "first_seen" not in s]
    assert len(languages_read) == 1, languages_read


# ---- the end of a role ends every right -----------------------------------------------------


async def queue_for(services: Services, chat_id: int, unit_id: int, *purposes: str) -> None:
    """Messages about the unit waiting in the outbox for a person."""
    async with services.db.uow() as tx:
        for purpose in purposes:
            await enqueue(
                tx,
                key=f"test:{purpose}:{chat_id}:{unit_id}",
                chat_id=chat_id,
                purpose=purpose,
                payload=text_payload("…"),
                now=services.now(),
                unit_id=unit_id,
            )


async def end_by_handover(services: Services) -> None:
    newcomer = Talk(services, 5005)
    await to_summary(newcomer, await invite(services), "李娜")
    done = await newcomer.press("ok")
    assert done.registered is not None
    assert done.registered.replaced_user_id == 1001


async def end_by_unregister(services: Services) -> None:
    await unit_contacts.unregister(services=services, unit_name=UNIT, role="liaison")


@pytest.mark.parametrize(
    ("end_role", "notice"), [(end_by_handover, "handover"), (end_by_unregister, "unregistered")]
)
async def test_the_end_of_a_role_ends_every_right_in_the_unit(
    services: Services, end_role: Any, notice: str
) -> None:
    await seeded(services)
    liaison = await liaison_registered(services, 1001)
    await liaison.say("王强")
    await liaison.say("副局长")
    await liaison.say("13812345678")
    saved = await liaison.press("ok")
    assert saved.lead_invite is not None  # a link for the lead, made by this liaison
    person = (await holders(services))["liaison"]
    unit_id = person.unit_id
    await submitting.start_submission(services=services, actor_id=1001, unit_id=unit_id)
    await queue_for(services, 1001, unit_id, "reminder", "review", "broadcast")
    await queue_for(services, 1001, unit_id + 1, "reminder")  # another unit's: not touched

    await end_role(services)

    rows = {m.dedupe_key: m for m in await outbox(services) if m.chat_id == 1001}
    states = {
        (row.purpose, row.unit_id): row.state
        for key, row in rows.items()
        if key.startswith("test:")
    }
    assert states == {
        ("reminder", unit_id): "cancelled", ("review", unit_id): "cancelled",
        ("broadcast", unit_id): "cancelled", ("reminder", unit_id + 1): "pending",
    }  # fmt: skip
    assert rows[f"{notice}:{person.id}"].state == "pending"  # the person is told
    [menu] = [row for row in rows.values() if row.purpose == "menu"]
    # Their menu goes back to everyone's commands: no longer a member, not staff.
    assert (menu.payload["method"], menu.payload["member"], menu.payload["staff"]) == (
        "setMyCommands",
        False,
        False,
    )
    assert await current_step(services=services, user_id=1001) is None  # out of /submit
    with pytest.raises(flow.NotRegistered):
        await unit_contacts.my_contacts(services=services, user_id=1001)
    with pytest.raises(NotYourUnit):
        await submitting.start_submission(services=services, actor_id=1001, unit_id=unit_id)
    # The lead link they made cannot make them (or anyone) the lead now.
    again = await Talk(services, 1001).start(saved.lead_invite.token)
    assert (again.kind, again.reason) == ("refused", "registration.token_creator_ended")
    assert again.values == {"unit": UNIT, "role": "lead"}


async def test_revoked_links_stop_a_registration_in_progress_at_the_next_input(
    services: Services,
) -> None:
    await seeded(services)
    talk = Talk(services, 1001)
    await talk.start(await invite(services))
    await talk.press("yes")
    await talk.say("张伟")
    await invites.revoke_invites(services=services, units=[UNIT])
    refused = await talk.say("办公室主任")
    assert (refused.kind, refused.reason) == ("refused", "registration.token_revoked")
    assert await talk.saved_step() is None


async def test_a_lead_link_made_void_by_a_new_lead_says_so(services: Services) -> None:
    await seeded(services)
    talk = await liaison_registered(services, 1001)
    await talk.say("王强")
    await talk.say("副局长")
    await talk.say("13812345678")
    saved = await talk.press("ok")
    assert saved.lead_invite is not None
    step = await unit_contacts.begin_edit(services=services, user_id=1001, what="lead")
    talk.last = Outcome(kind="step", step=step)
    await talk.say("赵军")
    await talk.say("局长")
    await talk.say("13612345678")
    assert (await talk.press("ok")).kind == "lead_saved"
    refused = await Talk(services, 2002).start(saved.lead_invite.token)
    assert (refused.kind, refused.reason) == ("refused", "registration.token_lead_replaced")
    assert refused.values == {"unit": UNIT, "role": "lead"}
