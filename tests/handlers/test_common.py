"""handlers/common.py through updates: /start, /help, /language, and what nobody else takes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot import roster
from bot.services import Services
from messages import LANGUAGES
from storage.models import Account
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.messages import label
from tests.support.settings import STAFF

PERSON, LIAISON, LEAD = 3001, 1001, 1002
GROUP = -100_555


async def test_start_greets_a_person_and_remembers_the_account(
    bot: BotHarness, services: Services
) -> None:
    reply = await bot.command(PERSON, "/start")
    assert reply.one().says("start.welcome")
    account = await rows.get(services, Account, PERSON)
    assert account is not None
    assert account.first_seen == services.now()


async def test_start_greets_staff_as_staff(bot: BotHarness) -> None:
    assert (await bot.command(STAFF, "/start")).one().says("start.welcome_staff")


async def test_start_greets_a_registered_person_with_their_unit_and_role(
    bot: BotHarness, services: Services
) -> None:
    unit = await factories.add_unit(services, "市文旅局")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    await factories.add_person(services, unit, "lead", user_id=LEAD)
    liaison = (await bot.command(LIAISON, "/start")).one()
    assert liaison.says("start.welcome_liaison", unit="市文旅局")
    lead = (await bot.command(LEAD, "/start", language_code="en")).one()
    assert lead.says("start.welcome_lead", "en", unit="市文旅局")


async def test_help_lists_only_the_commands_of_the_persons_roles(
    bot: BotHarness, services: Services
) -> None:
    stranger = (await bot.command(PERSON, "/help")).one()
    assert stranger.mentions("help.heading_everyone")
    assert not stranger.mentions("help.heading_member")
    assert not stranger.mentions("help.heading_staff")

    unit = await factories.add_unit(services, "市民政局")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    member = (await bot.command(LIAISON, "/help")).one()
    assert member.mentions("help.heading_member")
    assert not member.mentions("help.heading_staff")

    staff = (await bot.command(STAFF, "/help")).one()
    assert staff.mentions("help.heading_staff")
    assert not staff.mentions("help.heading_member")
    # In a group only the group's commands work: /status and /submit are not offered there.
    in_group = (await bot.command(LIAISON, "/help", chat_id=GROUP)).one()
    assert in_group.mentions("help.heading_group")
    assert in_group.mentions("help.in_private")
    assert not in_group.mentions("help.heading_member")


async def test_a_language_chosen_with_a_button_is_remembered(
    bot: BotHarness, services: Services
) -> None:
    offer = (await bot.command(PERSON, "/language")).one()
    assert offer.says("language.choose")
    assert offer.button_data() == [f"lang:{code}" for code in LANGUAGES]  # every folder

    chosen = await bot.press(PERSON, label("language.name", "en"), on=offer)
    assert "text" not in chosen.answer
    assert chosen.edited[0].says("language.changed", "en")
    account = await rows.get(services, Account, PERSON)
    assert account is not None
    assert account.language == "en"
    # From now on the person is answered in English, whatever their app's language.
    assert (await bot.command(PERSON, "/help")).one().mentions("help.heading_everyone", "en")


async def test_language_with_a_code_switches_at_once(bot: BotHarness, services: Services) -> None:
    assert (await bot.command(PERSON, "/language en")).one().says("language.changed", "en")
    account = await rows.get(services, Account, PERSON)
    assert account is not None
    assert account.language == "en"


async def test_the_apps_language_is_kept_for_what_the_bot_sends_unasked(
    bot: BotHarness, services: Services
) -> None:
    """Reminders and review results went out in the office's language to a person whose
    Telegram app is in English: only the reply in hand followed the app."""
    await bot.command(PERSON, "/start", language_code="en")
    await bot.command(LIAISON, "/start", language_code="de")  # a language the bot lacks
    async with services.db.sessions() as session:
        kept = await roster.languages_in(session, services, [PERSON, LIAISON])
    assert kept == {PERSON: "en", LIAISON: services.settings.language}
    await bot.command(PERSON, "/language zh")
    await bot.command(PERSON, "/start", language_code="en")  # a choice stands
    async with services.db.sessions() as session:
        assert await roster.language_in(session, services, PERSON) == "zh"


async def test_a_forged_language_button_is_answered_as_stale(
    bot: BotHarness, services: Services
) -> None:
    reply = await bot.press(PERSON, data="lang:xx")
    assert reply.answer["text"] == label("common.stale_button")
    assert await rows.get(services, Account, PERSON) is None


async def test_an_unknown_command_is_answered_in_private_only(bot: BotHarness) -> None:
    assert (await bot.command(PERSON, "/frobnicate")).one().says("common.unknown_command")
    assert (await bot.command(PERSON, "/frobnicate", chat_id=GROUP)).messages == []


async def test_a_message_nobody_waits_for_is_not_understood(bot: BotHarness) -> None:
    assert (await bot.say(PERSON, "你好")).one().says("common.not_understood")
    # In a group the bot keeps quiet.
    assert (await bot.say(PERSON, "你好", chat_id=GROUP)).messages == []


async def test_a_button_that_belongs_to_nothing_is_stale(bot: BotHarness) -> None:
    old = bot.request.bot_message(
        PERSON, "旧消息", {"inline_keyboard": [[{"text": "x", "callback_data": "zz:1"}]]}
    )
    reply = await bot.press(PERSON, "x", on=old)
    assert reply.answer["text"] == label("common.stale_button")
    assert reply.messages == []


async def _writes(bot: BotHarness) -> None:
    await bot.say(PERSON, "你好")


async def _presses_an_old_button(bot: BotHarness) -> None:
    old = bot.request.bot_message(
        PERSON, "旧消息", {"inline_keyboard": [[{"text": "x", "callback_data": "zz:1"}]]}
    )
    await bot.press(PERSON, "x", on=old)


@pytest.mark.parametrize("act", [_writes, _presses_an_old_button], ids=["text", "stale_press"])
async def test_a_person_marked_unreachable_who_writes_or_presses_is_reachable_again(
    bot: BotHarness, services: Services, act: Callable[[BotHarness], Awaitable[None]]
) -> None:
    await factories.add_account(
        services, PERSON, unreachable_reason="Forbidden: bot was blocked by the user"
    )
    await act(bot)
    account = await rows.get(services, Account, PERSON)
    assert account is not None
    assert (account.unreachable_since, account.unreachable_reason) == (None, None)


async def unreachable_units(bot: BotHarness) -> int:
    """The count of units the bot cannot reach, as /outstanding shows it to staff."""
    view = (await bot.command(STAFF, "/outstanding")).one()
    for count in range(3):
        if view.mentions("outstanding.unreachable_units", count=count):
            return count
    raise AssertionError(view.text)


async def test_a_liaison_who_blocks_the_bot_is_unreachable_until_they_unblock_it(
    bot: BotHarness, services: Services
) -> None:
    """Telegram's my_chat_member ("kicked", then "member") marks the account at once, as a
    message refused with 403 would; nothing is sent to them."""
    unit = await factories.add_unit(services, "市民政局")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    await factories.add_account(services, LIAISON)
    assert await unreachable_units(bot) == 0

    assert (await bot.block(LIAISON)).calls == []
    account = await rows.get(services, Account, LIAISON)
    assert account is not None
    assert account.unreachable_since == services.now()
    assert account.unreachable_reason == "Forbidden: bot was blocked by the user"
    assert await unreachable_units(bot) == 1
    preview = (await bot.command(STAFF, "/remind")).one()
    assert not preview.mentions("reminders.round.line", unit="市民政局")

    assert (await bot.unblock(LIAISON)).calls == []
    account = await rows.get(services, Account, LIAISON)
    assert account is not None
    assert (account.unreachable_since, account.unreachable_reason) == (None, None)
    assert await unreachable_units(bot) == 0
    preview = (await bot.command(STAFF, "/remind")).one()
    assert preview.mentions("reminders.round.line", unit="市民政局")

    # The bot removed from a group they are in is no block of their private chat.
    assert (await bot.block(LIAISON, chat_id=GROUP)).calls == []
    assert await unreachable_units(bot) == 0


async def test_blocking_keeps_the_mark_of_an_earlier_refusal(
    bot: BotHarness, services: Services
) -> None:
    """A person already unreachable who blocks the bot is not taken for one who came back."""
    await factories.add_account(
        services, PERSON, unreachable_reason="Forbidden: user is deactivated"
    )
    await bot.block(PERSON)
    account = await rows.get(services, Account, PERSON)
    assert account is not None
    assert account.unreachable_since == services.now()
    assert account.unreachable_reason == "Forbidden: bot was blocked by the user"


async def test_a_press_that_carries_no_data_is_answered_as_stale(bot: BotHarness) -> None:
    """Telegram may send a press without data; no button's action takes it for its own."""
    for who in (PERSON, STAFF):
        reply = await bot.press(who, data="")
        assert reply.answer["text"] == label("common.stale_button")
        assert reply.messages == []
    assert bot.errors == []


async def test_an_answer_to_a_message_the_person_deleted_comes_as_a_new_message(
    bot: BotHarness,
) -> None:
    # The button's message is not the bot's any more (deleted): its edit is refused.
    reply = await bot.press(PERSON, data="lang:en")
    assert reply.edited == []
    assert reply.one().says("language.changed", "en")
    assert bot.errors == []
