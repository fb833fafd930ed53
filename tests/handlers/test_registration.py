"""handlers/registration.py through updates: `/start <token>`, the conversation, `/invite`."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.registration import flow, invites, throttle
from bot.services import Services
from storage.models import Account, ConversationStep, Invite, InviteAttempt, Person, Unit
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.messages import label
from tests.support.request import TOO_OLD, Sent
from tests.support.settings import STAFF

PERSON, STRANGER = 3001, 3002
GROUP = -100_555
UNIT = "市文旅局"


@pytest.fixture
async def unit(services: Services) -> Unit:
    return await factories.add_unit(services, UNIT)


async def token_for(services: Services, role: invites.Role = "liaison") -> str:
    [made] = await invites.create_invites(services=services, units=[UNIT], role=role)
    return made.token


async def step_of(services: Services, user_id: int = PERSON) -> str | None:
    found = await rows.get(services, ConversationStep, user_id)
    return found.step if found is not None else None


async def at_name(bot: BotHarness, services: Services) -> tuple[Sent, str]:
    """Open a liaison link and confirm; return the confirmation and its button's data."""
    confirm = (await bot.command(PERSON, f"/start {await token_for(services)}")).one()
    data = confirm.data_of(label("registration.button_confirm"))
    asked = await bot.press(PERSON, data=data, on=confirm)
    assert asked.one().says("registration.ask_name")
    return confirm, data


async def invite_count(services: Services) -> int:
    async with services.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Invite)) or 0)


async def test_a_liaison_registers_through_the_conversation(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    confirm = (await bot.command(PERSON, f"/start {await token_for(services)}")).one()
    assert confirm.says("registration.confirm_liaison", unit=UNIT)
    assert confirm.button_texts() == [
        label("registration.button_confirm"),
        label("registration.button_decline"),
    ]
    await bot.press(PERSON, label("registration.button_confirm"), on=confirm)
    assert (await bot.say(PERSON, "张伟")).one().says("registration.ask_post")
    phone = (await bot.say(PERSON, "办公室主任")).one()
    assert phone.says("registration.ask_phone")
    assert phone.buttons() == [
        {"text": label("registration.button_share"), "request_contact": True}
    ]

    saved, summary = (await bot.share_contact(PERSON, "8613912345678")).messages
    assert saved.says("registration.phone_saved")
    assert saved.reply_markup == {"remove_keyboard": True}
    assert summary.mentions("registration.summary", name="张伟", phone="139 1234 5678")
    done = await bot.press(PERSON, label("registration.button_ok"), on=summary)
    assert done.edited == [summary]
    assert summary.buttons() == []
    assert done.one().mentions("registration.registered_liaison", unit=UNIT)
    assert done.one().mentions("registration.ask_lead_name")

    [person] = await rows.all_of(services, Person, Person.unit_id == unit.id)
    assert (person.role, person.name, person.telegram_user_id) == ("liaison", "张伟", PERSON)
    [invite] = await rows.all_of(services, Invite)
    assert invite.used_by == PERSON
    # The person's menu now has the liaison's commands.
    [menu] = [c for c in done.calls if c.method == "setMyCommands"]
    assert menu.params["scope"] == {"type": "chat", "chat_id": PERSON}
    assert "status" in [c["command"] for c in menu.params["commands"]]


async def test_a_lead_is_asked_for_a_leads_post(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    confirm = (await bot.command(PERSON, f"/start {await token_for(services, 'lead')}")).one()
    assert confirm.says("registration.confirm_lead", unit=UNIT)
    await bot.press(PERSON, label("registration.button_confirm"), on=confirm)
    assert (await bot.say(PERSON, "王强")).one().says("registration.ask_post_lead")


async def test_a_lead_who_corrects_the_liaisons_entry_is_not_told_it_is_the_liaisons(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await factories.add_person(services, unit, "lead", name="王强", post="局长")
    confirm = (await bot.command(PERSON, f"/start {await token_for(services, 'lead')}")).one()
    summary = (await bot.press(PERSON, label("registration.button_confirm"), on=confirm)).one()
    assert summary.mentions("registration.summary_heading_prefilled")
    asked = await bot.press(PERSON, label("registration.button_edit_post"), on=summary)
    assert asked.one().says("registration.ask_post_lead")
    corrected = (await bot.say(PERSON, "副局长")).one()
    assert corrected.mentions("registration.summary", post="副局长")
    assert corrected.mentions("registration.summary_heading")
    assert not corrected.mentions("registration.summary_heading_prefilled")


async def test_a_confirmation_handled_too_late_to_answer_still_registers(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await at_name(bot, services)
    await bot.say(PERSON, "张伟")
    await bot.say(PERSON, "办公室主任")
    summary = (await bot.share_contact(PERSON, "8613912345678")).last
    bot.request.fail("answerCallbackQuery", 400, description=TOO_OLD)
    done = await bot.press(PERSON, label("registration.button_ok"), on=summary)
    assert [c.error for c in done.calls if c.method == "answerCallbackQuery"] == [TOO_OLD]
    assert done.one().mentions("registration.registered_liaison", unit=UNIT)
    [person] = await rows.all_of(services, Person, Person.unit_id == unit.id)
    assert (person.role, person.name, person.telegram_user_id) == ("liaison", "张伟", PERSON)


async def test_a_wrong_phone_is_refused_with_the_reason_and_asked_again(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await at_name(bot, services)
    await bot.say(PERSON, "张伟")
    await bot.say(PERSON, "办公室主任")
    reply = (await bot.say(PERSON, "12345")).one()
    assert reply.mentions("registration.phone_invalid")
    assert reply.mentions("registration.ask_phone")
    assert await step_of(services) == flow.PHONE


async def at_lead_phone(bot: BotHarness, services: Services, phone: str) -> None:
    """Register as the unit's liaison with `phone`, then enter the lead up to their phone."""
    await at_name(bot, services)
    await bot.say(PERSON, "张伟")
    await bot.say(PERSON, "办公室主任")
    summary = (await bot.say(PERSON, phone)).last
    await bot.press(PERSON, label("registration.button_ok"), on=summary)
    await bot.say(PERSON, "王强")
    assert (await bot.say(PERSON, "副局长")).one().says("registration.ask_lead_phone")


async def test_the_leads_phone_the_same_as_the_liaisons_is_accepted_when_sent_again(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await at_lead_phone(bot, services, "13912345678")
    asked = (await bot.say(PERSON, "139 1234 5678")).one()
    assert asked.mentions("registration.lead_phone_same_as_liaison")
    assert asked.mentions("registration.ask_lead_phone")
    assert await step_of(services) == flow.LEAD_PHONE
    # The number held is in the saved step: a restart in between loses nothing.
    held = await rows.get(services, ConversationStep, PERSON)
    assert held is not None
    assert held.data["held_phone"] == "13912345678"
    again = (await bot.say(PERSON, "13912345678")).one()
    assert again.mentions("registration.lead_summary", name="王强", phone="139 1234 5678")
    assert not again.mentions("registration.lead_phone_same_as_liaison")
    await bot.press(PERSON, label("registration.button_ok"), on=again)
    lead = await rows.all_of(services, Person, Person.role == "lead")
    assert [(p.name, p.phone) for p in lead] == [("王强", "13912345678")]


async def test_the_leads_phone_the_same_as_the_liaisons_is_replaced_by_another(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await at_lead_phone(bot, services, "13912345678")
    asked = (await bot.say(PERSON, "13912345678")).one()
    assert asked.mentions("registration.lead_phone_same_as_liaison")
    # An invalid number is refused as ever; the held one still waits to be sent again.
    assert (await bot.say(PERSON, "12345")).one().mentions("registration.phone_invalid")
    other = (await bot.say(PERSON, "13812345678")).one()
    assert other.mentions("registration.lead_summary", phone="138 1234 5678")
    # Corrected from the summary to the liaison's number: asked once more.
    edit = await bot.press(PERSON, label("registration.button_edit_phone"), on=other)
    assert edit.one().says("registration.ask_lead_phone")
    again = (await bot.say(PERSON, "13912345678")).one()
    assert again.mentions("registration.lead_phone_same_as_liaison")
    assert (
        (await bot.say(PERSON, "13912345678"))
        .one()
        .mentions("registration.lead_summary", phone="139 1234 5678")
    )


async def test_a_lead_entering_the_liaisons_phone_as_their_own_is_asked_once(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await factories.add_person(services, unit, "liaison", user_id=STRANGER, phone="13912345678")
    confirm = (await bot.command(PERSON, f"/start {await token_for(services, 'lead')}")).one()
    await bot.press(PERSON, label("registration.button_confirm"), on=confirm)
    await bot.say(PERSON, "王强")
    await bot.say(PERSON, "副局长")
    asked = (await bot.share_contact(PERSON, "8613912345678")).one()
    assert asked.mentions("registration.phone_same_as_liaison")
    assert asked.mentions("registration.ask_phone")
    assert await step_of(services) == flow.PHONE
    saved, summary = (await bot.say(PERSON, "13912345678")).messages
    assert saved.says("registration.phone_saved")
    assert summary.mentions("registration.summary", name="王强", phone="139 1234 5678")


async def test_a_liaison_entering_the_leads_phone_as_their_own_is_asked_once(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await factories.add_person(services, unit, "lead", phone="13812345678")
    await at_name(bot, services)
    await bot.say(PERSON, "张伟")
    await bot.say(PERSON, "办公室主任")
    asked = (await bot.say(PERSON, "13812345678")).one()
    assert asked.mentions("registration.phone_same_as_lead")
    assert asked.mentions("registration.ask_phone")
    # Another number instead: taken at once.
    saved, summary = (await bot.say(PERSON, "13912345678")).messages
    assert saved.says("registration.phone_saved")
    assert summary.mentions("registration.summary", name="张伟", phone="139 1234 5678")


async def test_an_unknown_token_is_refused(bot: BotHarness, services: Services) -> None:
    assert (await bot.command(PERSON, "/start garbage")).one().says("registration.token_unknown")
    assert await step_of(services) is None


async def test_a_link_opened_in_a_group_is_refused_and_stays_unused(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    token = await token_for(services)
    reply = await bot.command(PERSON, f"/start {token}", chat_id=GROUP)
    assert reply.one().says("common.private_only")
    [invite] = await rows.all_of(services, Invite)
    assert invite.used_at is None


async def test_an_old_button_is_stale_and_the_question_is_asked_again(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    confirm, data = await at_name(bot, services)
    assert confirm.buttons() == []  # taken off once answered; a slow client may still press
    again = await bot.press(PERSON, data=data, on=confirm)
    assert again.answer["text"] == label("common.stale_button")
    assert again.one().mentions("registration.stale")
    assert again.one().mentions("registration.ask_name")
    assert await step_of(services) == flow.NAME


async def test_an_edited_message_is_not_taken_as_input(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await at_name(bot, services)
    reply = (await bot.say(PERSON, "张伟", edited=True)).one()
    assert reply.says("common.edit_ignored")
    found = await rows.get(services, ConversationStep, PERSON)
    assert found is not None
    assert flow.NAME not in found.data


async def test_a_liaison_registering_in_an_english_app_is_written_to_in_english_later(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    token = await token_for(services)
    await bot.command(PERSON, f"/start {token}", language_code="en-GB")
    account = await rows.get(services, Account, PERSON)
    assert account is not None
    assert account.language == "en"  # reminders and review results are sent in it


async def test_a_registration_link_pasted_as_text_opens_as_if_tapped(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    """Pasted into the chat instead of tapped, the link was answered 未能识别您的消息."""
    link = f"https://t.me/liaison_test_bot?start={await token_for(services)}"
    confirm = (await bot.say(PERSON, f"请点击以下链接登记：{link} 谢谢")).one()
    assert confirm.says("registration.confirm_liaison", unit=UNIT)
    unknown = (await bot.say(STRANGER, "t.me/liaison_test_bot?start=nosuchtoken00")).one()
    assert unknown.says("registration.token_unknown")
    # Another bot's link is not a wrong token (five of those would lock the person out).
    other = (await bot.say(3003, "https://t.me/some_other_bot?start=abcdefgh123")).one()
    assert other.says("common.not_understood")
    assert len(await rows.all_of(services, InviteAttempt)) == 1  # the stranger's only


async def test_cancel_during_registration_says_the_link_still_works(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    token = await token_for(services)
    await bot.command(PERSON, f"/start {token}")
    cancelled = (await bot.command(PERSON, "/cancel")).one()
    assert cancelled.mentions("common.cancelled")
    assert cancelled.mentions("registration.cancelled_link_valid")
    again = (await bot.command(PERSON, f"/start {token}")).one()  # and it does
    assert again.says("registration.confirm_liaison", unit=UNIT)


async def test_staff_make_an_invite_link_with_buttons(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    reply = (await bot.command(STAFF, f"/invite {UNIT}")).one()
    assert reply.mentions("invite.created", unit=UNIT, role=label("common.role_liaison"))
    assert "https://t.me/liaison_test_bot?start=" in reply.text
    assert reply.button_data() == [f"i:lead:{unit.id}", f"i:rv:{unit.id}"]
    [invite] = await rows.all_of(services, Invite)
    assert (invite.unit_id, invite.role, invite.created_by) == (unit.id, "liaison", STAFF)

    lead = await bot.press(
        STAFF, label("invite.button_other", role=label("common.role_lead")), on=reply
    )
    assert lead.one().mentions("invite.created", role=label("common.role_lead"))
    revoked = await bot.press(STAFF, label("invite.button_revoke"), on=reply)
    assert revoked.one().says("invite.revoked", unit=UNIT, count=2)
    assert all(i.revoked_at is not None for i in await rows.all_of(services, Invite))


async def test_an_invite_for_a_role_held_now_names_whom_it_replaces(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    await factories.add_person(services, unit, "liaison", name="梁敏")
    reply = (await bot.command(STAFF, f"/invite {UNIT}")).one()
    liaison = label("common.role_liaison")
    assert reply.mentions("invite.replaces", unit=UNIT, role=liaison, name="梁敏")
    lead = await bot.press(
        STAFF, label("invite.button_other", role=label("common.role_lead")), on=reply
    )
    assert not lead.one().mentions("invite.replaces")  # nobody holds the lead's role


async def test_invite_is_refused_to_anyone_but_staff(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    assert (await bot.command(STRANGER, f"/invite {UNIT}")).one().says("common.staff_only")
    forged = await bot.press(STRANGER, data=f"i:liaison:{unit.id}")
    assert forged.answer == {
        "callback_query_id": forged.answer["callback_query_id"],
        "text": label("common.staff_only"),
        "show_alert": True,
    }
    assert await invite_count(services) == 0


async def test_forged_invite_buttons_are_stale_or_find_no_unit(
    bot: BotHarness, services: Services
) -> None:
    assert (await bot.press(STAFF, data="i:xx")).answer["text"] == label("common.stale_button")
    gone = await bot.press(STAFF, data="i:rv:99999")
    assert gone.one().says("invite.unit_gone")


async def test_invite_asked_in_a_group_goes_to_the_private_chat(
    bot: BotHarness, services: Services, unit: Unit
) -> None:
    bot.request.fail("sendChatAction", 403, chat_id=STAFF)
    refused = await bot.command(STAFF, f"/invite {UNIT}", chat_id=GROUP)
    assert refused.one().says("invite.open_private_first")
    assert await invite_count(services) == 0

    sent = await bot.command(STAFF, f"/invite {UNIT}", chat_id=GROUP)
    link, note = sent.messages
    assert (link.chat_id, note.chat_id) == (STAFF, GROUP)
    assert link.mentions("invite.created", unit=UNIT)
    assert note.says("invite.sent_privately")


async def test_tries_while_slowed_down_are_each_told_until_when(bot: BotHarness) -> None:
    for n in range(throttle.FAILURE_LIMIT):
        refused = (await bot.command(PERSON, f"/start guess{n}")).one()
        assert refused.says("registration.token_unknown")
    assert (await bot.command(PERSON, "/start guess")).one().mentions("registration.throttled")
    for n in range(3):  # a good link pasted meanwhile must not meet silence
        assert (
            (await bot.command(PERSON, f"/start again{n}"))
            .one()
            .mentions("registration.throttled")
        )
