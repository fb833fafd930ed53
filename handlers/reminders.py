"""Staff commands of reminders: `/remind` (preview, then confirm), "remind now" on a unit's
file, and `/rollcall` in a group."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot.context import Context
from bot.errors import DomainError
from bot.reminders import rollcall as rollcalls
from bot.reminders import rounds
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    actor_of,
    edit,
    error_text,
    keyboard,
    language_for,
    matched,
    pressed,
    services_of,
)
from messages import t


def _wake(context: Context) -> None:
    """A round asked for goes out at once: don't wait for the dispatcher's next look."""
    dispatcher = context.bot_data.dispatcher
    if dispatcher is not None:
        dispatcher.wake()


def confirm_keyboard(preview_id: int, lang: str) -> InlineKeyboardMarkup:
    confirm = t(lang, "reminders.round.button_confirm")
    cancel = t(lang, "reminders.round.button_cancel")
    return keyboard([[(confirm, f"remind:ok:{preview_id}"), (cancel, f"remind:no:{preview_id}")]])


async def remind(update: Update, context: Context, lang: str) -> None:
    """`/remind`: show who a round now would reach, with what; a button sends it (staff)."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    services = services_of(context)
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(t(lang, "reminders.round.private_only"))
        return
    preview = await rounds.preview_round(services=services, actor_id=user.id)
    text = rounds.render_round(preview, lang)
    if not preview.reminders or preview.round_id is None:
        await message.reply_text(text)
        return
    await message.reply_text(
        f"{text}\n\n{t(lang, 'reminders.round.confirm')}",
        reply_markup=confirm_keyboard(preview.round_id, lang),
    )


async def drop_round(update: Update, context: Context, lang: str) -> None:
    """The preview's cancel button (staff)."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await edit(query.message, t(lang, "reminders.round.cancelled"), None)


async def send_round(update: Update, context: Context, lang: str) -> None:
    """The preview's confirm button: send the round now (staff; rights checked again)."""
    user, query = pressed(update)
    services = services_of(context)
    try:
        done = await rounds.confirm_round(
            services=services, actor_id=user.id, preview_id=matched(context)
        )
    except DomainError as exc:
        await query.answer(error_text(exc, lang), show_alert=True)
        return
    _wake(context)
    await query.answer()
    key = "reminders.round.already" if done.already else "reminders.round.queued"
    await edit(query.message, t(lang, key, count=done.queued), None)


async def rollcall(update: Update, context: Context) -> None:
    """`/rollcall` in the liaisons' group: name the units outstanding; `on` / `off`."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    services = services_of(context)
    lang = services.settings.language  # a group reads the office's language
    actor = await actor_of(update, context)
    if actor is None or not actor.staff:
        await message.reply_text(t(lang, "common.staff_only"))
        return
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        await message.reply_text(
            t(await language_for(update, context), "reminders.rollcall.group_only")
        )
        return
    title = chat.title or ""
    args = [a.lower() for a in context.args or []]
    if args in (["on"], ["off"]):
        enabled = args == ["on"]
        await rollcalls.set_rollcall(
            services=services, actor_id=user.id, chat_id=chat.id, title=title, enabled=enabled
        )
        await message.reply_text(t(lang, f"reminders.rollcall.{args[0]}"))
        return
    if args:
        await message.reply_text(t(lang, "reminders.rollcall.usage"))
        return
    await rollcalls.rollcall_now(
        services=services,
        actor_id=user.id,
        chat_id=chat.id,
        title=title,
        request_id=message.message_id,
    )
    _wake(context)


async def remind_unit(update: Update, context: Context, lang: str) -> None:
    """ "Remind now" on a unit's file: the preview of a round for this unit only, with /remind's
    confirm button (the same round, audited as /remind's)."""
    user, query = pressed(update)
    unit_id = matched(context)
    preview = await rounds.preview_round(
        services=services_of(context), actor_id=user.id, unit_ids=[unit_id]
    )
    await query.answer()
    text = rounds.render_round(preview, lang)
    if not preview.reminders or preview.round_id is None:
        back = keyboard([[(t(lang, "console.back"), f"st:u:{unit_id}")]])
        await edit(query.message, text, back)
        return
    await edit(
        query.message,
        f"{text}\n\n{t(lang, 'reminders.round.confirm')}",
        confirm_keyboard(preview.round_id, lang),
    )


FEATURE = Feature(
    commands=(
        Command("remind", remind, Audience.STAFF),
        Command("rollcall", rollcall, Audience.GROUP),
    ),
    buttons=(
        Button(r"^remind:ok:(\d+)$", send_round, staff=True),
        Button(r"^remind:no:(\d+)$", drop_round, staff=True),
        Button(r"^st:m:(\d+)$", remind_unit, staff=True),
    ),
)
