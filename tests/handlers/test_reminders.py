"""handlers/reminders.py through updates: `/remind` with its preview and buttons, `/rollcall`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.services import Services
from storage.models import GroupChat, OutboxMessage, Unit
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.messages import label
from tests.support.settings import STAFF

LIAISON, STRANGER = 1001, 3001
GROUP = -100_555


@dataclass
class Office:
    unit: Unit  # 市民政局: a liaison who has opened the bot, every item owed


@pytest.fixture
async def office(services: Services) -> Office:
    unit = await factories.add_unit(services, "市民政局")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    await factories.add_account(services, LIAISON)
    return Office(unit)


async def outbox(services: Services, purpose: str) -> list[OutboxMessage]:
    return await rows.all_of(services, OutboxMessage, OutboxMessage.purpose == purpose)


async def test_remind_previews_the_round_and_sends_it_on_confirmation(
    bot: BotHarness, services: Services, office: Office
) -> None:
    preview = (await bot.command(STAFF, "/remind")).one()
    assert preview.mentions("reminders.round.summary", count=1, units=1)
    assert preview.mentions("reminders.round.line", unit="市民政局")
    assert preview.mentions("reminders.round.confirm")
    assert await rows.all_of(services, OutboxMessage) == []

    sent = await bot.press(STAFF, label("reminders.round.button_confirm"), on=preview)
    assert sent.edited == [preview]
    assert preview.says("reminders.round.queued", count=1)
    [reminder] = await rows.all_of(services, OutboxMessage)
    assert (reminder.chat_id, reminder.unit_id) == (LIAISON, office.unit.id)


async def test_a_round_confirmed_twice_is_queued_once(
    bot: BotHarness, services: Services, office: Office
) -> None:
    preview = (await bot.command(STAFF, "/remind")).one()
    confirm = preview.data_of(label("reminders.round.button_confirm"))
    await bot.press(STAFF, data=confirm, on=preview)
    again = await bot.press(STAFF, data=confirm, on=preview)
    assert preview.says("reminders.round.already")
    assert again.edited == [preview]
    assert len(await rows.all_of(services, OutboxMessage)) == 1


async def test_a_round_can_be_cancelled(
    bot: BotHarness, services: Services, office: Office
) -> None:
    preview = (await bot.command(STAFF, "/remind")).one()
    await bot.press(STAFF, label("reminders.round.button_cancel"), on=preview)
    assert preview.says("reminders.round.cancelled")
    assert await rows.all_of(services, OutboxMessage) == []


async def test_remind_is_for_staff_in_their_private_chat(
    bot: BotHarness, services: Services, office: Office
) -> None:
    assert (await bot.command(LIAISON, "/remind")).one().says("common.staff_only")
    assert (
        (await bot.command(STAFF, "/remind", chat_id=GROUP))
        .one()
        .says("reminders.round.private_only")
    )
    preview = (await bot.command(STAFF, "/remind")).one()
    forged = await bot.press(
        LIAISON, data=preview.data_of(label("reminders.round.button_confirm"))
    )
    assert forged.answer["text"] == label("common.staff_only")
    assert await rows.all_of(services, OutboxMessage) == []


async def test_a_forged_preview_id_is_refused(
    bot: BotHarness, services: Services, office: Office
) -> None:
    reply = await bot.press(STAFF, data="remind:ok:99999")
    assert reply.answer["text"] == label("reminders.round.stale")
    assert await rows.all_of(services, OutboxMessage) == []


async def test_rollcall_names_the_units_in_the_group(
    bot: BotHarness, services: Services, office: Office
) -> None:
    assert (await bot.command(STAFF, "/rollcall", chat_id=GROUP)).messages == []
    [call] = await outbox(services, "rollcall")
    assert call.chat_id == GROUP
    assert "市民政局" in call.payload["text"]


async def test_rollcall_on_and_off_switch_the_schedule(
    bot: BotHarness, services: Services, office: Office
) -> None:
    on = await bot.command(STAFF, "/rollcall on", chat_id=GROUP)
    assert on.one().says("reminders.rollcall.on")
    group = await rows.get(services, GroupChat, GROUP)
    assert group is not None
    assert group.rollcall_enabled is True
    assert (
        (await bot.command(STAFF, "/rollcall off", chat_id=GROUP))
        .one()
        .says("reminders.rollcall.off")
    )
    group = await rows.get(services, GroupChat, GROUP)
    assert group is not None
    assert group.rollcall_enabled is False
    assert (
        (await bot.command(STAFF, "/rollcall sometimes", chat_id=GROUP))
        .one()
        .says("reminders.rollcall.usage")
    )


async def test_rollcall_is_for_staff_in_a_group(
    bot: BotHarness, services: Services, office: Office
) -> None:
    assert (await bot.command(LIAISON, "/rollcall", chat_id=GROUP)).one().says("common.staff_only")
    assert (await bot.command(STAFF, "/rollcall")).one().says("reminders.rollcall.group_only")
    assert await rows.all_of(services, OutboxMessage) == []
    assert await rows.get(services, GroupChat, GROUP) is None
