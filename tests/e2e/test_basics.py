"""The bot as a separate process answers /start, /help and /language in Chinese and English."""

from __future__ import annotations

from bot.demo.simulation import Person
from bot.sandbox.client import SandboxClient
from messages import LANGUAGES, t
from tests.support.messages import label, mentions, says
from tests.support.process import STAFF_ID, BotProcess


async def test_start_and_help_in_chinese(bot: BotProcess, sandbox: SandboxClient) -> None:
    await sandbox.add_user(user_id=1001, first_name="张伟", language_code="zh-hans")
    person = Person(sandbox, 1001, "张伟")
    [welcome] = await person.start()
    assert says(welcome.text, "start.welcome")
    [help_text] = await person.say("/help")
    assert mentions(help_text.text, "help.heading_everyone")
    assert not mentions(help_text.text, "help.heading_staff")
    assert await sandbox.warnings() == []


async def test_start_and_help_in_english(bot: BotProcess, sandbox: SandboxClient) -> None:
    await sandbox.add_user(user_id=1002, first_name="Ann", language_code="en")
    person = Person(sandbox, 1002, "Ann")
    [welcome] = await person.start()
    assert says(welcome.text, "start.welcome", "en")
    [help_text] = await person.say("/help")
    assert mentions(help_text.text, "help.heading_everyone", "en")


async def test_language_switch_is_remembered(bot: BotProcess, sandbox: SandboxClient) -> None:
    await sandbox.add_user(user_id=1003, first_name="李娜", language_code="zh-hans")
    person = Person(sandbox, 1003, "李娜")
    await person.start()
    [choose] = await person.say("/language")
    assert choose.button_texts() == [label("language.name", code) for code in LANGUAGES]
    await sandbox.press(1003, button_text=label("language.name", "en"))
    assert await sandbox.wait_callback_answers(1)
    edited = await person.edited(choose.message_id)
    assert says(edited.text, "language.changed", "en")
    assert edited.reply_markup is None
    [help_text] = await person.say("/help")
    assert mentions(help_text.text, "help.heading_everyone", "en")


async def test_staff_see_their_commands(bot: BotProcess, sandbox: SandboxClient) -> None:
    await sandbox.add_user(user_id=STAFF_ID, first_name="Office", language_code="zh-hans")
    person = Person(sandbox, STAFF_ID, "Office")
    [welcome] = await person.start()
    assert says(welcome.text, "start.welcome_staff")
    [help_text] = await person.say("/help")
    assert mentions(help_text.text, "help.heading_staff")


async def test_unknown_command_and_plain_text(bot: BotProcess, sandbox: SandboxClient) -> None:
    await sandbox.add_user(user_id=1004, first_name="王芳", language_code="zh-hans")
    person = Person(sandbox, 1004, "王芳")
    [reply] = await person.say("/frobnicate")
    assert says(reply.text, "common.unknown_command")
    [reply] = await person.say("你好")
    assert says(reply.text, "common.not_understood")
    [reply] = await person.say("/cancel")
    assert says(reply.text, "common.nothing_to_cancel")


async def test_a_reply_throttled_by_telegram_is_sent_after_the_wait(
    bot: BotProcess, sandbox: SandboxClient
) -> None:
    """A 429 on a conversation reply: the bot waits retry_after and sends it, never drops it."""
    await sandbox.add_user(user_id=1005, first_name="赵敏", language_code="zh-hans")
    person = Person(sandbox, 1005, "赵敏")
    await person.start()
    await sandbox.inject_fault("sendMessage", 429, chat_id=1005, retry_after=1, times=2)
    [help_text] = await person.say("/help")
    assert mentions(help_text.text, "help.heading_everyone")
    refused = [c for c in await sandbox.calls("sendMessage") if c.status == 429]
    assert len(refused) == 2


async def test_each_scope_gets_its_own_menu(bot: BotProcess, sandbox: SandboxClient) -> None:
    """setMyCommands per scope: private chats, groups (with the roll call), both languages."""
    sets = {(c.scope.get("type"), c.language_code or ""): c for c in await sandbox.commands()}
    private = [cmd["command"] for cmd in sets[("all_private_chats", "")].commands]
    assert private == ["start", "help", "language", "cancel"]
    group = [cmd["command"] for cmd in sets[("all_group_chats", "")].commands]
    assert group == ["help", "rollcall"]
    english = sets[("all_private_chats", "en")].commands
    assert english[0]["description"] == t("en", "commands.start")
