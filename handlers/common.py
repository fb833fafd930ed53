"""Commands for everyone: /start without a token, /language, /cancel, and the catch-alls."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ApplicationHandlerStop

from bot import roster
from bot.context import Context
from handlers import flows
from handlers.shared import (
    PRIVATE,
    Button,
    Command,
    Feature,
    actor_of,
    edit,
    forget_actor,
    keyboard,
    language_for,
    services_of,
)
from messages import LANGUAGES, t


async def first_look(update: Update, context: Context) -> None:
    """Before any handler: an edit is not new input (a hint, and nothing else happens); a
    person marked unreachable who writes or presses a button in their private chat is
    reachable again."""
    chat = update.effective_chat
    private = chat is not None and chat.type == ChatType.PRIVATE
    if update.edited_message is not None or update.edited_channel_post is not None:
        if private and update.edited_message is not None:
            lang = await language_for(update, context)
            await update.edited_message.reply_text(t(lang, "common.edit_ignored"))
        raise ApplicationHandlerStop
    if not private:
        return
    actor = await actor_of(update, context)
    if actor is not None and actor.unreachable:
        await roster.reachable_again(services=services_of(context), user_id=actor.user_id)
        forget_actor(context)


async def blocked_or_unblocked(update: Update, context: Context) -> None:
    """A person blocked the bot in their private chat (Telegram's my_chat_member, "kicked") or
    unblocked it ("member"); no other handler sees the update."""
    changed = update.my_chat_member
    if changed is None or changed.chat.type != ChatType.PRIVATE:
        return
    status = changed.new_chat_member.status
    if status in (ChatMemberStatus.BANNED, ChatMemberStatus.MEMBER):
        await roster.set_blocked(
            services=services_of(context),
            user_id=changed.chat.id,
            blocked=status == ChatMemberStatus.BANNED,
        )
        forget_actor(context)
    raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    """Greet a person who opened the bot without an invite link, as who they are."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    services = services_of(context)
    lang = await roster.greet(services=services, user_id=user.id, language_code=user.language_code)
    actor = await actor_of(update, context)
    if actor is not None and actor.staff:
        await message.reply_text(t(lang, "start.welcome_staff"))
    elif actor is not None and actor.roles:
        # The liaison's role first, as /contacts takes it.
        held = min(actor.roles, key=lambda r: r.role != "liaison")
        await message.reply_text(t(lang, f"start.welcome_{held.role}", unit=held.unit))
    else:
        await message.reply_text(t(lang, "start.welcome"))


def language_keyboard(lang: str) -> InlineKeyboardMarkup:
    return keyboard([[(t(code, "language.name"), f"lang:{code}") for code in LANGUAGES]])


async def language(update: Update, context: Context) -> None:
    """Offer the languages, or switch at once with `/language en`."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    if context.args and context.args[0].lower() in LANGUAGES:
        chosen = await roster.set_language(
            services=services_of(context), user_id=user.id, language=context.args[0].lower()
        )
        forget_actor(context)
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
    forget_actor(context)
    await query.answer()
    await edit(query.message, t(chosen, "language.changed"), None)


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


FEATURE = Feature(
    commands=(
        Command("start", start),
        Command("language", language),
        Command("cancel", flows.cancel, filters=PRIVATE),  # a private conversation's
    ),
    buttons=(Button(rf"^lang:({'|'.join(LANGUAGES)})$", language_chosen),),
)
