"""Commands for everyone: /start without a token, /help, /language, /cancel, the rest."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot import roster
from bot.context import Context
from bot.services import Services
from messages import LANGUAGES, t


def services_of(context: Context) -> Services:
    return context.bot_data.services


async def language_for(update: Update, context: Context) -> str:
    """The language to answer this person in."""
    user = update.effective_user
    if user is None:
        return services_of(context).settings.language
    return await roster.language_of(
        services=services_of(context), user_id=user.id, language_code=user.language_code
    )


async def start(update: Update, context: Context) -> None:
    """Greet a person who opened the bot without an invite link."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    if context.args:  # an invite link: /start <token>
        from handlers.registration import start_with_token

        await start_with_token(update, context)
        return
    services = services_of(context)
    lang = await roster.greet(services=services, user_id=user.id, language_code=user.language_code)
    staff = await roster.is_staff(services=services, user_id=user.id)
    await message.reply_text(t(lang, "start.welcome_staff" if staff else "start.welcome"))


async def help_command(update: Update, context: Context) -> None:
    """List the commands this person may use."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    services = services_of(context)
    lang = await language_for(update, context)
    parts = [t(lang, "help.everyone")]
    if await roster.roles_of(services=services, user_id=user.id):
        parts.append(t(lang, "help.member"))
    if await roster.is_staff(services=services, user_id=user.id):
        parts.append(t(lang, "help.staff"))
    await message.reply_text("\n\n".join(parts))


def language_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(code, "language.name"), callback_data=f"lang:{code}")
                for code in LANGUAGES
            ]
        ]
    )


async def language(update: Update, context: Context) -> None:
    """Offer the languages, or switch at once with `/language en`."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    if context.args and context.args[0].lower() in LANGUAGES:
        chosen = await roster.set_language(
            services=services_of(context), user_id=user.id, language=context.args[0].lower()
        )
        await message.reply_text(t(chosen, "language.changed"))
        return
    lang = await language_for(update, context)
    await message.reply_text(t(lang, "language.choose"), reply_markup=language_keyboard(lang))


async def language_chosen(update: Update, context: Context) -> None:
    """Remember the language picked with a button."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or not query.data:
        return
    chosen = await roster.set_language(
        services=services_of(context), user_id=user.id, language=query.data.split(":", 1)[1]
    )
    await query.answer()
    await query.edit_message_text(t(chosen, "language.changed"))


async def unknown_command(update: Update, context: Context) -> None:
    """Answer a command the bot does not know (in a group, only if addressed to the bot)."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if chat.type != ChatType.PRIVATE:
        return
    await message.reply_text(t(await language_for(update, context), "common.unknown_command"))


async def not_understood(update: Update, context: Context) -> None:
    """Answer a message in a private chat that no conversation is waiting for."""
    message = update.effective_message
    if message is None:
        return
    await message.reply_text(t(await language_for(update, context), "common.not_understood"))


async def stale_button(update: Update, context: Context) -> None:
    """Answer a press on a button that belongs to nothing any more."""
    query = update.callback_query
    if query is None:
        return
    await query.answer(t(await language_for(update, context), "common.stale_button"))
