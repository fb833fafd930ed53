"""handlers/flows.py through updates: a person in a flow has every private update go there."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.conversations import STEP_EXPIRES
from bot.registration import flow, invites
from bot.services import Services
from handlers.flows import FLOWS
from messages import LANGUAGES, own
from storage.models import ConversationStep
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.messages import label

PERSON = 3001
GROUP = -100_555


@pytest.fixture
async def at_name(bot: BotHarness, services: Services) -> BotHarness:
    """PERSON opened a liaison invite and confirmed: the bot waits for their name."""
    await factories.add_unit(services, "市文旅局")
    [made] = await invites.create_invites(services=services, units=["市文旅局"], role="liaison")
    confirm = (await bot.command(PERSON, f"/start {made.token}")).one()
    await bot.press(PERSON, label("registration.button_confirm"), on=confirm)
    assert await step_of(services) == flow.NAME
    return bot


async def step_of(services: Services) -> str | None:
    found = await rows.get(services, ConversationStep, PERSON)
    return found.step if found is not None else None


async def test_cancel_with_nothing_to_cancel(bot: BotHarness) -> None:
    reply = (await bot.command(PERSON, "/cancel")).one()
    assert reply.says("common.nothing_to_cancel")
    assert reply.reply_markup == {"remove_keyboard": True}


async def test_cancel_leaves_the_flow(at_name: BotHarness, services: Services) -> None:
    cancelled = (await at_name.command(PERSON, "/cancel")).one()
    assert cancelled.mentions("common.cancelled")
    assert cancelled.mentions("registration.cancelled_link_valid")
    assert await step_of(services) is None
    # With the flow gone, text is no longer taken for a name.
    assert (await at_name.say(PERSON, "张伟")).one().says("common.not_understood")


async def test_cancel_in_a_group_leaves_the_private_flow_alone(
    at_name: BotHarness, services: Services
) -> None:
    # /cancel said in the office's group is not about the private registration under way.
    assert (await at_name.command(PERSON, "/cancel", chat_id=GROUP)).messages == []
    assert await step_of(services) == flow.NAME


async def test_a_command_in_a_flow_goes_to_the_flow(
    at_name: BotHarness, services: Services
) -> None:
    reply = (await at_name.command(PERSON, "/status")).one()
    assert reply.mentions("registration.other_command", unit="市文旅局")
    assert reply.mentions("registration.ask_name")
    assert not reply.mentions("ledger.not_member")
    assert await step_of(services) == flow.NAME


async def test_help_and_language_work_in_any_step(at_name: BotHarness, services: Services) -> None:
    assert (await at_name.command(PERSON, "/help")).one().mentions("help.heading_everyone")
    offer = (await at_name.command(PERSON, "/language")).one()
    switched = await at_name.press(PERSON, label("language.name", "en"), on=offer)
    assert switched.edited[0].says("language.changed", "en")
    assert await step_of(services) == flow.NAME


async def test_a_group_message_does_not_reach_the_persons_flow(
    at_name: BotHarness, services: Services
) -> None:
    assert (await at_name.say(PERSON, "张伟", chat_id=GROUP)).messages == []
    found = await rows.get(services, ConversationStep, PERSON)
    assert found is not None
    assert (found.step, found.data.get(flow.NAME)) == (flow.NAME, None)


async def test_a_step_left_too_long_is_closed_once_and_the_text_answered_as_without_one(
    at_name: BotHarness, services: Services, clock: FrozenClock
) -> None:
    clock.advance(STEP_EXPIRES + timedelta(minutes=1))
    replies = await at_name.say(PERSON, "张伟")
    assert len(replies.messages) == 2
    assert replies.messages[0].says("common.step_expired_registration", hours=24)
    assert replies.messages[1].says("common.not_understood")
    assert await step_of(services) is None
    # Said once: the next message is simply not understood.
    assert (await at_name.say(PERSON, "张伟")).one().says("common.not_understood")


async def test_every_flow_says_in_its_own_words_that_it_was_left_too_long(
    bot: BotHarness,
) -> None:
    assert FLOWS  # registered with the handlers
    for name in [*FLOWS, "contacts"]:
        for lang in LANGUAGES:
            assert f"common.step_expired_{name}" in own(lang), (name, lang)
