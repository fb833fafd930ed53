"""Staff commands of reminders: `/remind` (preview, then confirm) and `/rollcall` in a group."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import roster
from bot.context import Context
from bot.errors import DomainError
from bot.reminders import rollcall as rollcalls
from bot.reminders import rounds
from handlers.common import language_for, services_of
from messages import t

CONFIRM = r"^remind:(ok|no):(\d+)$"


def _wake(context: Context) -> None:
    """A round asked for goes out at once: don't wait for the dispatcher's next look."""
    dispatcher = context.bot_data.dispatcher
    if dispatcher is not None:
        dispatcher.wake()


def confirm_keyboard(preview_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, "reminders.round.button_confirm"),
                    callback_data=f"remind:ok:{preview_id}",
                ),
                InlineKeyboardButton(
                    t(lang, "reminders.round.button_cancel"),
                    callback_data=f"remind:no:{preview_id}",
                ),
            ]
        ]
    )


async def remind(update: Update, context: Context) -> None:
    """`/remind`: show who a round now would reach, with what; a button sends it."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    services = services_of(context)
    lang = await language_for(update, context)
    if not await roster.is_staff(services=services, user_id=user.id):
        await message.reply_text(t(lang, "common.staff_only"))
        return
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


async def remind_pressed(update: Update, context: Context) -> None:
    """The preview's buttons: send the round now, or drop it (rights checked again)."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or not query.data:
        return
    services = services_of(context)
    lang = await language_for(update, context)
    if not await roster.is_staff(services=services, user_id=user.id):
        await query.answer(t(lang, "common.staff_only"), show_alert=True)
        return
    _, choice, preview_id = query.data.split(":")
    if choice == "no":
        await query.answer()
        await query.edit_message_text(t(lang, "reminders.round.cancelled"))
        return
    try:
        done = await rounds.confirm_round(
            services=services, actor_id=user.id, preview_id=int(preview_id)
        )
    except DomainError as exc:
        await query.answer(t(lang, exc.key, **exc.values), show_alert=True)
        return
    _wake(context)
    await query.answer()
    key = "reminders.round.already" if done.already else "reminders.round.queued"
    await query.edit_message_text(t(lang, key, count=done.queued))


async def rollcall(update: Update, context: Context) -> None:
    """`/rollcall` in the liaisons' group: name the units outstanding; `on` / `off`."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    services = services_of(context)
    lang = services.settings.language  # a group reads the office's language
    if not await roster.is_staff(services=services, user_id=user.id):
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


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The reminders' handlers (group 0)."""
    app.add_handler(CommandHandler("remind", remind))
    app.add_handler(CallbackQueryHandler(remind_pressed, pattern=CONFIRM))
    app.add_handler(CommandHandler("rollcall", rollcall))
