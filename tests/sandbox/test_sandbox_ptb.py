"""python-telegram-bot 22.8 works against the emulator unchanged."""

from __future__ import annotations

import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import telegram
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.sandbox.client import SandboxClient
from bot.sandbox.models import UserInfo
from bot.sandbox.server import Emulator

from .conftest import TOKEN

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000030806000000"
    "9d74e1a80000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


async def _updates(bot: telegram.Bot, sb: SandboxClient) -> tuple[telegram.Update, ...]:
    """Fetch and confirm pending updates."""
    state = await sb.state()
    updates = await bot.get_updates(offset=state.confirmed_offset or None, timeout=2)
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    return updates


async def test_get_me(bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789
    assert me.username == "liaison_demo_bot"
    assert me.is_bot


async def test_send_message_with_keyboard_and_html(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("确认", callback_data="ok:1")],
            [InlineKeyboardButton("Docs", url="https://example.org")],
        ]
    )
    sent = await bot.send_message(
        user.id, "<b>你好</b>, <i>Alice</i> &amp; co", parse_mode="HTML", reply_markup=keyboard
    )
    assert sent.text == "你好, Alice & co"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("italic", 4, 5),
    ]
    assert sent.reply_markup == keyboard
    assert sent.from_user is not None
    assert sent.from_user.is_bot
    [stored] = await sb.messages(user.id)
    assert stored.raw_text == "<b>你好</b>, <i>Alice</i> &amp; co"
    assert stored.text == "你好, Alice & co"
    assert stored.button_texts() == ["确认", "Docs"]
    assert await sb.warnings() == []


async def test_start_with_payload_arrives_as_a_command(
    bot: telegram.Bot, sb: SandboxClient
) -> None:
    newcomer = await sb.add_user(first_name="Bo", username="bo_wang", language_code="zh-hans")
    update_id = await sb.start(newcomer.id, "abc")
    [update] = await _updates(bot, sb)
    assert update.update_id == update_id
    assert isinstance(update.message, telegram.Message)
    assert update.message.text == "/start abc"
    assert update.message.entities[0].type == "bot_command"
    assert (update.message.entities[0].offset, update.message.entities[0].length) == (0, 6)
    assert update.effective_user is not None
    assert update.effective_user.language_code == "zh-hans"
    assert (await sb.user(newcomer.id)).started


async def test_command_addressed_to_the_bot(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    await sb.send_text(user.id, "/help@liaison_demo_bot now")
    [update] = await _updates(bot, sb)
    assert update.message is not None
    assert update.message.parse_entities(["bot_command"]) == {
        update.message.entities[0]: "/help@liaison_demo_bot"
    }


async def test_pressing_a_button_gives_a_callback_query(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await bot.send_message(user.id, "Sure?", reply_markup=markup)
    ref = await sb.press(user.id, button_text="Yes")
    [update] = await _updates(bot, sb)
    query = update.callback_query
    assert query is not None
    assert query.id == ref.callback_query_id
    assert query.data == "yes"
    assert query.from_user.id == user.id
    assert isinstance(query.message, telegram.Message)
    assert query.message.message_id == sent.message_id
    assert await query.answer("Done", show_alert=True)
    [answer] = await sb.callback_answers()
    assert (answer.text, answer.show_alert, answer.data) == ("Done", True, "yes")
    edited = await query.edit_message_text("Confirmed")
    assert isinstance(edited, telegram.Message)
    assert edited.reply_markup is None
    [stored] = await sb.messages(user.id)
    assert (stored.text, stored.edits) == ("Confirmed", 1)


async def test_contact_location_sticker_and_voice_updates(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    await sb.share_contact(user.id, "+8613800138000")
    await sb.send_location(user.id, 31.23, 121.47)
    await sb.send_sticker(user.id, emoji="👍")
    await sb.send_voice(user.id, duration=3, data=b"OggS....")
    contact, location, sticker, voice = await _updates(bot, sb)
    assert contact.message is not None
    assert contact.message.contact is not None
    assert contact.message.contact.phone_number == "+8613800138000"
    assert contact.message.contact.user_id == user.id
    assert contact.message.contact.first_name == "Alice"
    assert location.message is not None
    assert location.message.location is not None
    assert location.message.location.latitude == pytest.approx(31.23)
    assert sticker.message is not None
    assert sticker.message.sticker is not None
    assert sticker.message.sticker.emoji == "👍"
    assert voice.message is not None
    assert voice.message.voice is not None
    assert voice.message.voice.duration == dtm.timedelta(seconds=3)


async def test_block_group_and_reply_updates_parse(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    sent = await bot.send_message(user.id, "Please reply")
    await sb.send_text(user.id, "my reply", reply_to_message_id=sent.message_id)
    group = await sb.add_group("Office", [user.id], type="supergroup", username="office")
    await sb.send_text(user.id, "/report", chat_id=group.id)
    await sb.block(user.id)
    reply, in_group, blocked = await _updates(bot, sb)
    assert reply.message is not None
    assert reply.message.reply_to_message is not None
    assert reply.message.reply_to_message.message_id == sent.message_id
    assert in_group.effective_chat is not None
    assert (in_group.effective_chat.type, in_group.effective_chat.title) == (
        "supergroup",
        "Office",
    )
    assert blocked.my_chat_member is not None
    assert blocked.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(user.id, "still there?")
    assert (await bot.send_message("@office", "to the group")).chat.id == group.id


async def test_document_from_a_user_downloads_byte_for_byte(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    data = "台账,2026\n".encode() * 100
    ref = await sb.send_document(
        user.id, file_name="台账.csv", data=data, mime_type="text/csv", caption="my ledger"
    )
    [update] = await _updates(bot, sb)
    assert update.message is not None
    document = update.message.document
    assert document is not None
    assert (document.file_id, document.file_name, document.file_size) == (
        ref.file_id,
        "台账.csv",
        len(data),
    )
    assert update.message.caption == "my ledger"
    downloaded = await (await bot.get_file(document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == data


async def test_photo_from_a_user(bot: telegram.Bot, sb: SandboxClient, user: UserInfo) -> None:
    await sb.send_photo(user.id, data=PNG, caption="photo")
    [update] = await _updates(bot, sb)
    assert update.message is not None
    sizes = update.message.photo
    assert len(sizes) == 2
    assert (sizes[-1].width, sizes[-1].height) == (2, 3)
    file = await bot.get_file(sizes[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == PNG


async def test_send_document_and_photo_uploads(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    data = b"col1,col2\n1,2\n"
    sent = await bot.send_document(
        user.id, document=data, filename="report.csv", caption="<b>R</b>", parse_mode="HTML"
    )
    assert sent.document is not None
    assert sent.document.file_name == "report.csv"
    assert await sb.file_bytes(sent.document.file_id) == data
    photo = await bot.send_photo(user.id, photo=PNG)
    assert photo.photo[-1].width == 2
    again = await bot.send_document(user.id, document=sent.document.file_id)
    assert again.document is not None
    assert again.document.file_unique_id == sent.document.file_unique_id
    stored = await sb.messages(user.id)
    assert [m.kind for m in stored] == ["document", "photo", "document"]
    assert stored[0].caption == "R"
    assert stored[0].files[0].file_name == "report.csv"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(user.id, document="no-such-file-id")
    assert await sb.warnings() == []


async def test_media_group_forward_and_copy(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    album = await bot.send_media_group(
        user.id, [InputMediaPhoto(PNG, caption="one"), InputMediaPhoto(PNG, caption="two")]
    )
    assert len(album) == 2
    assert album[0].media_group_id == album[1].media_group_id
    other = await sb.add_user(first_name="Carol", started=True)
    forwarded = await bot.forward_message(other.id, user.id, album[0].message_id)
    assert forwarded.forward_origin is not None
    copied = await bot.copy_message(other.id, user.id, album[1].message_id, caption="copy")
    stored = await sb.messages(other.id)
    assert [m.message_id for m in stored] == [forwarded.message_id, copied.message_id]
    assert stored[1].caption == "copy"
    assert await sb.warnings() == []


async def test_commands_per_scope(bot: telegram.Bot, sb: SandboxClient, user: UserInfo) -> None:
    await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("help", "帮助")])
    await bot.set_my_commands(
        [BotCommand("report", "Report")], scope=BotCommandScopeChat(user.id), language_code="en"
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    scoped = await bot.get_my_commands(scope=BotCommandScopeChat(user.id), language_code="en")
    assert [c.command for c in scoped] == ["report"]
    sets = await sb.commands()
    assert {(s.scope["type"], s.language_code) for s in sets} == {("default", ""), ("chat", "en")}
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_get_chat_and_chat_action(bot: telegram.Bot, user: UserInfo) -> None:
    chat = await bot.get_chat(user.id)
    assert (chat.id, chat.type, chat.first_name) == (user.id, "private", "Alice")
    assert await bot.send_chat_action(user.id, "typing")
    assert await bot.delete_webhook()
    info = await bot.get_webhook_info()
    assert info.url == ""


async def test_injected_429_raises_retry_after(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    await sb.inject_fault("sendMessage", 429, retry_after=7, chat_id=user.id)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(user.id, "x")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert (await bot.send_message(user.id, "y")).text == "y"
    calls = await sb.calls("sendMessage")
    assert [(c.status, c.fault is not None) for c in calls] == [(429, True), (200, False)]


async def test_injected_403_raises_forbidden(
    bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    await sb.inject_fault("sendMessage", 403, times=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(user.id, "x")
    await bot.send_message(user.id, "x")
    faults = await sb.faults()
    assert faults.active == []
    assert [e.action for e in faults.history] == ["injected", "triggered", "triggered"]


async def test_injected_timeout_raises_timed_out_but_delivers(
    emulator: Emulator, sb: SandboxClient, user: UserInfo
) -> None:
    request = HTTPXRequest(read_timeout=0.3)
    impatient = telegram.Bot(
        TOKEN, base_url=emulator.api_url, base_file_url=emulator.file_url, request=request
    )
    async with impatient:
        await sb.inject_fault("sendMessage", "timeout", delay=2.0, deliver=True)
        with pytest.raises(TimedOut):
            await impatient.send_message(user.id, "did it arrive?")
        [message] = await sb.wait_messages(user.id, 1, timeout=2)
        assert message.text == "did it arrive?"
        await sb.inject_fault("sendMessage", "timeout", delay=2.0)
        with pytest.raises(TimedOut):
            await impatient.send_message(user.id, "lost")
        assert len(await sb.messages(user.id)) == 1


class FormRequest(BaseRequest):
    """A minimal aiohttp request like the project's: form-encoded, multipart for files."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return 10.0

    async def initialize(self) -> None:
        self._session = aiohttp.ClientSession()

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        assert self._session is not None
        data: Any = None
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData(quote_fields=False)
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in request_data.multipart_data.items():
                    if isinstance(part, tuple):
                        file_name, content, *rest = part
                        form.add_field(
                            name,
                            content,
                            filename=file_name,
                            content_type=rest[0] if rest else None,
                        )
                    else:
                        form.add_field(name, part)
                data = form
            else:
                data = request_data.json_parameters
        async with self._session.request(method, url, data=data) as response:
            return response.status, await response.read()


@pytest.fixture
async def form_bot(emulator: Emulator) -> AsyncIterator[telegram.Bot]:
    """A Bot whose requests are form-encoded / multipart through aiohttp."""
    ptb = telegram.Bot(
        TOKEN,
        base_url=emulator.api_url,
        base_file_url=emulator.file_url,
        request=FormRequest(),
        get_updates_request=FormRequest(),
    )
    async with ptb:
        yield ptb


async def test_form_encoded_and_multipart_requests(
    form_bot: telegram.Bot, sb: SandboxClient, user: UserInfo
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await form_bot.send_message(user.id, "<b>x</b>", parse_mode="HTML", reply_markup=markup)
    assert sent.reply_markup == markup
    doc = await form_bot.send_document(user.id, document=b"abc", filename="a.txt")
    assert doc.document is not None
    assert await sb.file_bytes(doc.document.file_id) == b"abc"
    album = await form_bot.send_media_group(user.id, [InputMediaPhoto(PNG), InputMediaPhoto(PNG)])
    assert len(album) == 2
    await sb.start(user.id, "again")
    updates = await form_bot.get_updates(timeout=1, allowed_updates=telegram.Update.ALL_TYPES)
    assert updates[-1].message is not None
    assert updates[-1].message.text == "/start again"
    assert await sb.warnings() == []


async def test_application_polls_and_replies(emulator: Emulator, sb: SandboxClient) -> None:
    from telegram.ext import Application, CommandHandler, ContextTypes

    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        payload = " ".join(context.args or [])
        await update.effective_message.reply_html(f"<b>Welcome</b> {payload}")

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(emulator.api_url)
        .base_file_url(emulator.file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    newcomer = await sb.add_user(first_name="Dee")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=5)
        update_id = await sb.start(newcomer.id, "unit-7")
        [reply] = await sb.wait_messages(newcomer.id, 1, timeout=10)
        assert (reply.text, reply.entities[0]["type"]) == ("Welcome unit-7", "bold")
        await app.updater.stop()
        await app.stop()
    state = await sb.state()
    assert state.confirmed_offset == update_id + 1
    assert state.pending_update_count == 0
    assert await sb.warnings() == []
