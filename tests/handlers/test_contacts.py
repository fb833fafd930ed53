"""handlers/contacts.py through updates: `/contacts`, its buttons, staff naming any unit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.registration import flow
from bot.services import Services
from storage.models import ConversationStep, Invite, Unit
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.messages import label
from tests.support.settings import STAFF

LIAISON, LEAD, OTHER_LIAISON, STRANGER = 1001, 1002, 1003, 3001
GROUP = -100_555


@dataclass
class Office:
    unit: Unit


@pytest.fixture
async def office(services: Services) -> Office:
    """市文旅局 with a liaison (LIAISON) and a lead on record who has not linked a chat."""
    unit = await factories.add_unit(services, "市文旅局")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON, name="张伟")
    await factories.add_person(services, unit, "lead", name="王强", post="副局长")
    return Office(unit)


async def test_a_liaison_sees_the_units_contacts_and_may_correct_them(
    bot: BotHarness, office: Office
) -> None:
    card = (await bot.command(LIAISON, "/contacts")).one()
    assert card.mentions("contacts.title", unit="市文旅局")
    assert card.mentions("contacts.liaison", name="张伟")
    assert card.mentions("contacts.lead", name="王强")
    assert card.mentions("contacts.not_linked")
    assert card.button_texts() == [
        label("contacts.button_me"),
        label("contacts.button_lead"),
        label("contacts.button_link"),
    ]


async def test_correct_my_details_starts_with_the_summary(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = (await bot.command(LIAISON, "/contacts")).one()
    edit = await bot.press(LIAISON, label("contacts.button_me"), on=card)
    assert edit.edited == [card]
    assert card.buttons() == []
    assert edit.one().mentions("registration.summary_heading_self")
    step = await rows.get(services, ConversationStep, LIAISON)
    assert step is not None
    assert (step.flow, step.step) == (flow.FLOW, flow.SUMMARY)


async def test_the_lead_link_is_made_for_the_liaison_to_forward(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = (await bot.command(LIAISON, "/contacts")).one()
    link = await bot.press(LIAISON, label("contacts.button_link"), on=card)
    assert link.one().mentions("registration.lead_link", name="王强")
    [invite] = await rows.all_of(services, Invite)
    assert (invite.unit_id, invite.role) == (office.unit.id, "lead")


async def test_the_lead_link_with_no_lead_on_record_is_for_the_units_lead(
    bot: BotHarness, services: Services
) -> None:
    # With nobody on record the English reads "to your unit's lead", not "to lead" (QA review).
    unit = await factories.add_unit(services, "市科技局")
    await factories.add_person(services, unit, "liaison", user_id=OTHER_LIAISON)
    await bot.command(OTHER_LIAISON, "/language en")
    card = (await bot.command(OTHER_LIAISON, "/contacts")).one()
    assert card.mentions("contacts.lead_missing", "en")
    link = await bot.press(OTHER_LIAISON, label("contacts.button_link", "en"), on=card)
    unnamed = label("registration.lead_unnamed", "en")
    assert link.one().mentions("registration.lead_link", "en", name=unnamed)


async def test_a_lead_may_not_re_enter_the_lead(
    bot: BotHarness, services: Services, office: Office
) -> None:
    other = await factories.add_unit(services, "市卫健委")
    await factories.add_person(services, other, "lead", user_id=LEAD)
    card = (await bot.command(LEAD, "/contacts")).one()
    assert card.button_texts() == [label("contacts.button_me")]
    forged = await bot.press(LEAD, data="c:lead", on=card)
    assert forged.answer["text"] == label("contacts.liaison_only")
    assert forged.answer["show_alert"] is True
    assert await rows.get(services, ConversationStep, LEAD) is None


async def test_someone_not_registered_is_told_so(bot: BotHarness, office: Office) -> None:
    assert (await bot.command(STRANGER, "/contacts")).one().says("contacts.not_registered")
    assert (await bot.command(STAFF, "/contacts")).one().says("contacts.staff_usage")


async def test_staff_name_any_unit_and_see_its_history(bot: BotHarness, office: Office) -> None:
    card = (await bot.command(STAFF, "/contacts 市文旅局")).one()
    assert card.mentions("contacts.title", unit="市文旅局")
    assert card.mentions("contacts.history_title")
    assert card.buttons() == []
    missing = (await bot.command(STAFF, "/contacts 火星局")).one()
    assert missing.says("common.unit_not_found", name="火星局")
    # Anyone else naming a unit sees only their own.
    assert (
        (await bot.command(STRANGER, "/contacts 市文旅局")).one().says("contacts.not_registered")
    )


async def test_contacts_are_not_shown_in_a_group(bot: BotHarness, office: Office) -> None:
    assert (
        (await bot.command(LIAISON, "/contacts", chat_id=GROUP)).one().says("common.private_only")
    )


async def test_a_forged_contacts_button_is_stale(bot: BotHarness, office: Office) -> None:
    reply = await bot.press(LIAISON, data="c:unit:2")
    assert reply.answer["text"] == label("common.stale_button")
    assert reply.messages == []
