"""Routing into conversations: a person in a flow has their updates sent to that flow.

A feature declares its flows by name (`Feature.flows`: `async def handle(update, context,
step)`); the router (a TypeHandler in group -2) looks up the person's saved step and hands the
update over, so nothing a flow expects is ever answered by a general handler instead. `/cancel`,
`/help` and `/language` always work; `/start` with a token starts over.

A step left alone for `conversations.STEP_EXPIRES` is closed by the next update, which the
person is told once, and that update is then answered as if no step were open: a message a
day later is not taken as the old step's answer, nor a press on its buttons as its choice.
"""

from __future__ import annotations

from telegram import ReplyKeyboardRemove, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot import conversations
from bot.context import Context
from bot.conversations import StepOut
from bot.registration import flow as registration
from handlers.shared import FlowHandler, actor_of, command_of, language_for, services_of
from messages import t

FLOWS: dict[str, FlowHandler] = {}
ALWAYS = {"cancel", "help", "language", "start"}


def register_flow(name: str, handler: FlowHandler) -> None:
    FLOWS[name] = handler


async def route(update: Update, context: Context) -> None:
    """Send an update of a person in a flow to that flow; otherwise let the others answer."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    if command_of(update) in ALWAYS:
        return
    query = update.callback_query
    if query is not None and (query.data or "").startswith("lang:"):
        return  # the language buttons work in any step
    actor = await actor_of(update, context)  # read once per update, with the step
    step = actor.step if actor is not None else None
    if step is None or step.flow not in FLOWS:
        return
    services = services_of(context)
    if step.expired(services.now()):
        await close_expired(update, context, step)
        return  # on to the other handlers, as with no step open
    await conversations.touch(services=services, step=step)
    await FLOWS[step.flow](update, context, step)
    raise ApplicationHandlerStop


def expired_key(step: StepOut) -> str:
    """The sentence that says this step was closed, left too long (and how to begin again)."""
    if step.flow == registration.FLOW and not registration.link_still_works(step):
        return "common.step_expired_contacts"  # registered: the rest is done by /contacts
    return f"common.step_expired_{step.flow}"


async def close_expired(update: Update, context: Context, step: StepOut) -> None:
    """Close a step left alone too long, and say so once."""
    closed = await conversations.close_expired(services=services_of(context), user_id=step.user_id)
    if context.actor is not None:
        context.actor.step = None
    chat = update.effective_chat
    if not closed or chat is None:
        return  # closed meanwhile by another update of theirs, which said so
    lang = await language_for(update, context)
    hours = int(conversations.STEP_EXPIRES.total_seconds() // 3600)
    # Take away any one-time keyboard the step showed (the "share my number" button).
    await context.bot.send_message(
        chat.id, t(lang, expired_key(step), hours=hours), reply_markup=ReplyKeyboardRemove()
    )


async def cancel(update: Update, context: Context) -> None:
    """`/cancel`: leave any step; nothing saved so far is lost."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    actor = await actor_of(update, context)
    step = actor.step if actor is not None else None
    left = await conversations.cancel(services=services_of(context), user_id=user.id)
    lang = await language_for(update, context)
    text = t(lang, "common.cancelled" if left else "common.nothing_to_cancel")
    if left and step is not None and registration.link_still_works(step):
        text += "\n" + t(lang, "registration.cancelled_link_valid")
    # Take away any one-time keyboard a step showed (the "share my number" button).
    await message.reply_text(text, reply_markup=ReplyKeyboardRemove())
