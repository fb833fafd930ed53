"""What every handler module shares: the person acting, the staff gate, replies and buttons.

A feature's handler module declares what it answers as one `Feature`: its commands (each with
the audience whose menu shows it), its buttons (a callback pattern each), its other handlers
(such as files sent outside a conversation), the claims that look before them, its
conversations by name and its periodic jobs; `handlers/registry.py` wires them in one ordered
list. A command or button for staff is wrapped in the one staff gate here; the use-case it
calls checks again.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Any, cast

from telegram import (
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import BaseHandler, filters

from bot import menus, roster
from bot.context import Context
from bot.conversations import StepOut
from bot.errors import DomainError
from bot.ledger.files import DownloadTooLarge, Fetch
from bot.roster import ActorOut
from bot.services import Services
from messages import format_date, format_time, strip_html, t

log = logging.getLogger(__name__)

Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
StaffHandler = Callable[[Update, Context, str], Coroutine[Any, Any, None]]
FlowHandler = Callable[[Update, Context, StepOut], Coroutine[Any, Any, None]]
PRIVATE = filters.ChatType.PRIVATE
# Seconds to wait for an upload of a document (a workbook, an archive part, a notice).
UPLOAD_TIMEOUT = 300.0


class Audience(StrEnum):
    """Whose menu shows a command (setMyCommands per scope) and whose /help lists it."""

    EVERYONE = "everyone"
    MEMBER = "member"  # a unit's liaison or lead
    STAFF = "staff"  # office staff: the command is behind the staff gate
    GROUP = "group"  # the menu of group chats


@dataclass(frozen=True)
class Command:
    """A chat command: `/name`, its callback, and who may use it."""

    name: str
    callback: Handler | StaffHandler
    audience: Audience = Audience.EVERYONE
    filters: filters.BaseFilter | None = None
    has_args: bool | None = None  # True: only with arguments (e.g. /start with a token)


@dataclass(frozen=True)
class Button:
    """An inline button's action: a pattern of its callback data (groups in context.match)."""

    pattern: str
    callback: Handler | StaffHandler
    staff: bool = False  # behind the staff gate
    always: bool = False  # answered even in the middle of a conversation


@dataclass(frozen=True)
class Job:
    """A stateless tick the feature needs while the bot runs (through PTB's job queue)."""

    name: str
    callback: Callable[[Context], Coroutine[Any, Any, None]]
    seconds: float


@dataclass(frozen=True)
class Feature:
    """What one handler module answers (read by handlers/registry.py)."""

    commands: Sequence[Command] = ()
    buttons: Sequence[Button] = ()
    handlers: Sequence[BaseHandler[Any, Any, Any]] = ()
    # Looked at before any feature's handlers; one that takes the update raises
    # ApplicationHandlerStop, otherwise the update goes on to the others (staff's roster
    # file before the ledger's files sent outside /submit).
    claims: Sequence[BaseHandler[Any, Any, Any]] = ()
    flows: dict[str, FlowHandler] | None = None
    jobs: Sequence[Job] = ()


def fetcher(context: Context) -> Fetch:
    """Download through the bot's own getFile and file URL (TELEGRAM_API_URL)."""

    async def fetch(file_id: str) -> bytes:
        try:
            found = await context.bot.get_file(file_id)
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise DownloadTooLarge(file_id) from exc
            raise
        return bytes(await found.download_as_bytearray())

    return fetch


def pressed(update: Update) -> tuple[User, CallbackQuery]:
    """Who pressed a button, and the press (a button's handler always has both)."""
    user, query = update.effective_user, update.callback_query
    assert user is not None
    assert query is not None
    return user, query


def services_of(context: Context) -> Services:
    return context.bot_data.services


async def actor_of(update: Update, context: Context) -> ActorOut | None:
    """The person acting, read once per update (language, staff, roles) and kept on context."""
    user = update.effective_user
    if user is None:
        return None
    if context.actor is None or context.actor.user_id != user.id:
        context.actor = await roster.actor(
            services=services_of(context),
            user_id=user.id,
            language_code=user.language_code,
            name=user.full_name,
        )
    return context.actor


def forget_actor(context: Context) -> None:
    """Read the person afresh (their language or roles just changed)."""
    context.actor = None


async def language_for(update: Update, context: Context) -> str:
    """The language to answer this person in."""
    actor = await actor_of(update, context)
    return actor.language if actor is not None else services_of(context).settings.language


# ---- who may ---------------------------------------------------------------------------------


async def refuse(update: Update, lang: str) -> None:
    """Say that this is for the office staff, and nothing else."""
    await tell(update, t(lang, "common.staff_only"))


async def staff_language(update: Update, context: Context) -> str | None:
    """The language of a staff member; None (after refusing) for anyone else."""
    actor = await actor_of(update, context)
    lang = await language_for(update, context)
    if actor is not None and actor.staff:
        return lang
    await refuse(update, lang)
    return None


def staff_only(handler: StaffHandler) -> Handler:
    """The staff gate: run a handler for staff only; a domain refusal becomes its sentence."""

    @wraps(handler)
    async def run(update: Update, context: Context) -> None:
        lang = await staff_language(update, context)
        if lang is None:
            return
        try:
            await handler(update, context, lang)
        except DomainError as exc:
            await tell(update, error_text(exc, lang))

    return run


def gated(callback: Handler | StaffHandler, *, staff: bool) -> Handler:
    """The callback as PTB calls it: behind the staff gate when it is for staff."""
    if staff:
        return staff_only(cast(StaffHandler, callback))
    return cast(Handler, callback)


# ---- answering -------------------------------------------------------------------------------


async def tell(update: Update, text: str) -> None:
    """A short answer to a command or a button, where the person is."""
    query = update.callback_query
    if query is not None:
        await query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)


async def send(
    update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer in the chat the update came from."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(chat.id, text, reply_markup=markup)


async def working(context: Context, chat_id: int, action: str) -> None:
    """Show that a file or picture is on its way (a chat action; a failure changes nothing)."""
    with contextlib.suppress(Exception):
        await context.bot.send_chat_action(chat_id, action)


async def send_file(
    context: Context,
    chat_id: int,
    path: Path,
    caption: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Send a file the bot made, with the time an upload of a document may take."""
    with path.open("rb") as file:
        await context.bot.send_document(
            chat_id,
            InputFile(file, filename=path.name),
            caption=caption,
            reply_markup=markup,
            read_timeout=UPLOAD_TIMEOUT,
            write_timeout=UPLOAD_TIMEOUT,
        )


async def send_picture(
    context: Context, chat_id: int, png: bytes, filename: str, caption: str
) -> None:
    """Send a picture the bot made (a chart, a page), with the time an upload may take."""
    await context.bot.send_photo(
        chat_id,
        InputFile(png, filename=filename),
        caption=caption,
        read_timeout=UPLOAD_TIMEOUT,
        write_timeout=UPLOAD_TIMEOUT,
    )


def in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type != ChatType.PRIVATE


async def private_chat(update: Update, context: Context, lang: str) -> int | None:
    """Where personal data may go: this private chat, or the staff member's own from a group."""
    user, message = update.effective_user, update.effective_message
    if user is None:
        return None
    if not in_group(update):
        return user.id
    try:
        await context.bot.send_chat_action(user.id, ChatAction.TYPING)
    except Forbidden:
        if message is not None:
            await message.reply_text(t(lang, "console.open_private_first"))
        return None
    if message is not None:
        await message.reply_text(t(lang, "console.sent_privately"))
    return user.id


async def send_private(
    update: Update, context: Context, lang: str, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Answer with personal data: here in a private chat, or privately from a group."""
    chat_id = await private_chat(update, context, lang)
    if chat_id is None:
        return
    if in_group(update) or update.effective_message is None:
        await context.bot.send_message(chat_id, text, reply_markup=markup)
    else:
        await update.effective_message.reply_text(text, reply_markup=markup)


def error_text(error: DomainError, lang: str) -> str:
    """A refusal as the chat words it."""
    return t(lang, error.chat_key or error.key, **error.values)


def day_text(context: Context, moment: datetime, lang: str) -> str:
    """The office's date of a moment, as the office writes it: 2026年11月30日."""
    return format_date(moment.astimezone(services_of(context).settings.tz).date(), lang)


def moment_text(context: Context, moment: datetime, lang: str) -> str:
    """A moment as the office reads it: 2026年11月30日 10:05."""
    return format_time(moment.astimezone(services_of(context).settings.tz), lang)


# ---- messages with buttons -------------------------------------------------------------------


def keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Inline buttons from rows of (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def _shows(message: Message, text: str | None, markup: InlineKeyboardMarkup | None) -> bool:
    """Whether a message already shows this text (HTML, or None: any) and these buttons:
    Telegram refuses an edit that changes nothing ("message is not modified")."""
    same_text = text is None or strip_html(text) == (message.text or message.caption or "")
    return same_text and (message.reply_markup or None) == (markup or None)


def _gone(exc: BadRequest) -> bool:
    """Telegram's words for a message that can no longer be edited (deleted by the person)."""
    words = exc.message.lower()
    return "to edit not found" in words or "can't be edited" in words


async def edit(message: object, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a message of the bot in place, unless it shows that already; when the message is
    gone (the person deleted it), send the text as a new message instead."""
    if not isinstance(message, Message) or _shows(message, text, markup):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:
        if _gone(exc):
            await message.chat.send_message(text, reply_markup=markup)
        elif "not modified" not in exc.message.lower():
            raise


async def set_buttons(message: object, markup: InlineKeyboardMarkup | None) -> None:
    """Change only the buttons of a bot message, re-sending its text or caption as it is.

    (PTB's edit_reply_markup adds the default parse mode, which editMessageReplyMarkup lacks.)
    """
    if not isinstance(message, Message) or _shows(message, None, markup):
        return
    try:
        if message.text is not None:
            await message.edit_text(message.text_html, reply_markup=markup)
        else:
            caption = message.caption_html if message.caption else None
            await message.edit_caption(caption, reply_markup=markup)
    except BadRequest as exc:
        if not _gone(exc) and "not modified" not in exc.message.lower():
            raise  # a message that is gone has no buttons to change


async def drop_buttons(message: object) -> None:
    """Take the buttons off a message that has been answered (its text stays)."""
    if not isinstance(message, Message) or message.reply_markup is None or not message.text:
        return
    with contextlib.suppress(BadRequest):  # already gone, or too old to edit
        await message.edit_text(message.text_html, reply_markup=None)


async def drop_keyboard(update: Update) -> None:
    """Take the buttons off the message whose button was pressed (it has been answered)."""
    query = update.callback_query
    if query is not None:
        await drop_buttons(query.message)


def ids_of(data: str | None, count: int) -> list[int] | None:
    """The `count` numbers at the end of callback data (`sub:go:3:17` → [3, 17])."""
    parts = (data or "").split(":")
    tail = parts[-count:]
    if len(parts) <= count or not all(p.isdigit() for p in tail):
        return None
    return [int(p) for p in tail]


async def press(update: Update, context: Context, buttons: Sequence[Button]) -> bool:
    """Carry out a button pressed inside a conversation as its own handler would (the router
    in group -2 takes every update of a person in a conversation); tell whether one matched."""
    data = update.callback_query.data if update.callback_query is not None else None
    for button in buttons:
        match = re.match(button.pattern, data or "")
        if match is not None:
            context.matches = [match]
            await gated(button.callback, staff=button.staff)(update, context)
            return True
    return False


def captured(context: Context, group: int = 1) -> str:
    """What the button's pattern captured (`^up:(ok|rm):(\\d+)$`, group 1 → `rm`)."""
    match = context.match
    assert match is not None, "a Button's callback runs on a pattern match"
    return match.group(group)


def matched(context: Context, group: int = 1) -> int:
    """A number the button's pattern captured (`^st:u:(\\d+)$` → the unit's id)."""
    return int(captured(context, group))


def command_of(update: Update) -> str | None:
    """The command a message carries (`/start@bot x` → `start`), if any."""
    message = update.effective_message
    if message is None or not message.text or not message.text.startswith("/"):
        return None
    words = message.text[1:].split(maxsplit=1)
    if not words:
        return None
    return words[0].split("@", 1)[0].lower()


async def awaited_text(update: Update, lang: str, waiting_key: str) -> str | None:
    """The text a flow waits for; anything else (a button, a command) re-asks."""
    if update.effective_user is None:
        return None
    if update.callback_query is not None:
        await update.callback_query.answer(t(lang, waiting_key))
        return None
    message = update.effective_message
    if message is None:
        return None
    if not message.text or command_of(update) is not None:
        await message.reply_text(t(lang, waiting_key))
        return None
    return message.text


async def refresh_menus(context: Context, user_ids: Sequence[int | None]) -> None:
    """Each person's command menu after their roles changed (a setMyCommands per chat)."""
    services = services_of(context)
    for user_id in {u for u in user_ids if u}:
        person = await roster.actor(services=services, user_id=user_id, language_code=None)
        names = menus.person_commands(member=person.member, staff=person.staff)
        try:
            await context.bot.set_my_commands(
                menus.bot_commands(person.language, names), scope=BotCommandScopeChat(user_id)
            )
        except TelegramError as exc:  # a person who never opened the bot has no chat yet
            log.info("menu for %s not set: %s", user_id, exc)
    forget_actor(context)
