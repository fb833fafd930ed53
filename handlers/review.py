"""`/review` for office staff: submissions awaiting review, oldest first; accept or send back.

The files are sent again by their Telegram file_id, then a card with the text and the
buttons. The unit learns the decision through the outbox (bot.ledger does that in the same
transaction as the decision). Sending back asks for the reason in a durable step (`review`).

Buttons: rv:ok:<submission>  accept · rv:back:<submission>  send back · rv:later:<submission>
"""

from __future__ import annotations

import html
from datetime import datetime

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import Forbidden

from bot import conversations
from bot.context import Context
from bot.conversations import StepOut
from bot.errors import DomainError, NotStaff
from bot.ledger import errors, submitting
from bot.ledger import review as reviewing
from bot.ledger.review import ReviewCard
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    command_of,
    drop_keyboard,
    error_text,
    keyboard,
    language_for,
    matched,
    moment_text,
    press,
    send,
    services_of,
    staff_only,
)
from messages import Markup, role_name, shorten, t


def card_keyboard(lang: str, submission_id: int) -> InlineKeyboardMarkup:
    accept, back = t(lang, "review.button_accept"), t(lang, "review.button_return")
    later = t(lang, "review.button_later")
    return keyboard(
        [
            [(accept, f"rv:ok:{submission_id}"), (back, f"rv:back:{submission_id}")],
            [(later, f"rv:later:{submission_id}")],
        ]
    )


def render_card(card: ReviewCard, lang: str, context: Context) -> str:
    submitter = (
        t(
            lang,
            "review.card_submitter_role",
            name=card.submitter,
            role=role_name(lang, card.submitter_role),
        )
        if card.submitter_role
        else html.escape(card.submitter, quote=False)
    )
    lines = [
        t(
            lang,
            "review.card",
            waiting=card.waiting,
            unit=card.unit_name,
            title=card.item_title,
            submitter=Markup(submitter),
            time=moment_text(context, card.submitted_at, lang),
        )
    ]
    if card.answer_kind == "not_applicable":
        lines.append(t(lang, "review.card_not_applicable", text=card.text or ""))
    elif card.files:
        lines.append(t(lang, "review.card_files", count=len(card.files)))
        if card.text:
            lines.append(t(lang, "review.card_note", text=card.text))
    else:
        lines.append(t(lang, "review.card_text", text=card.text or ""))
    if card.returned_before:
        lines.append(t(lang, "review.card_returned_before", count=card.returned_before))
    return "\n".join(lines)


async def show(
    update: Update,
    context: Context,
    lang: str,
    card: ReviewCard | None,
    chat_id: int | None = None,
) -> None:
    """The files of a submission (by file_id), then its card with the decision buttons.

    In the chat of the update, or in `chat_id` (the staff member's own, asked in a group).
    """
    chat = update.effective_chat
    if chat is None:
        return
    target = chat.id if chat_id is None else chat_id
    if card is None:
        await context.bot.send_message(target, t(lang, "review.nothing"))
        return
    for index, file in enumerate(card.files, start=1):
        caption = t(
            lang,
            "review.file_caption",
            unit=card.unit_name,
            title=card.item_title,
            index=index,
            count=len(card.files),
        )
        if file.forwarded_from:
            caption += "\n" + t(lang, "review.forwarded_from", origin=file.forwarded_from)
        if file.caption:  # Telegram takes 1,024 characters under a file
            caption += "\n" + t(lang, "review.file_note", note=shorten(file.caption, 600))
        if file.photo:
            await context.bot.send_photo(target, file.file_id, caption=caption)
        else:
            await context.bot.send_document(target, file.file_id, caption=caption)
    await context.bot.send_message(
        target,
        render_card(card, lang, context),
        reply_markup=card_keyboard(lang, card.submission_id),
    )


async def review(update: Update, context: Context, lang: str) -> None:
    """`/review [unit]`: the oldest submission awaiting review, of one unit if named (staff).

    Asked in a group, the submissions (units' materials) are sent to the staff member's private
    chat and the group is told so; if that chat was never opened, the group is told to open it.
    """
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    services = services_of(context)
    target = chat.id
    if chat.type != ChatType.PRIVATE:
        try:
            await context.bot.send_chat_action(user.id, ChatAction.TYPING)
        except Forbidden:
            await send(update, context, t(lang, "review.open_private_first"))
            return
        await send(update, context, t(lang, "review.sent_privately"))
        target = user.id

    async def say(text: str) -> None:
        await context.bot.send_message(target, text)

    unit_id = None
    # The words after the command (also when the flow router, not CommandHandler, hands it over).
    message = update.effective_message
    words = (message.text or "").split()[1:] if message is not None else []
    try:
        if words:
            name = " ".join(words)
            unit_id = (
                await reviewing.unit_to_review(services=services, actor_id=user.id, name=name)
            ).unit_id
        card = await reviewing.next_review(services=services, actor_id=user.id, unit_id=unit_id)
    except DomainError as error:
        await say(error_text(error, lang))
        return
    if card is None and unit_id is not None:
        await say(t(lang, "review.nothing_of_unit"))
        return
    await show(update, context, lang, card, target)


async def show_next(update: Update, context: Context, lang: str, unit_id: int) -> None:
    """After a decision: the unit's next submission, else the oldest of any unit."""
    user = update.effective_user
    assert user is not None
    card = await reviewing.next_review(
        services=services_of(context), actor_id=user.id, prefer_unit=unit_id
    )
    await show(update, context, lang, card)


def refusal_text(error: DomainError, lang: str, context: Context, user_id: int) -> str:
    """Why a decision cannot be taken; one already taken is told with when, by whom and how."""
    values = error.values
    at, by = values.get("at"), values.get("by")
    if not isinstance(error, errors.AlreadyReviewed) or not isinstance(at, datetime):
        return error_text(error, lang)
    who = (
        t(lang, "review.decided_by_you")
        if by == user_id
        else t(lang, "review.decided_by_staff_named", name=values["by_name"])
        if values.get("by_name")
        else t(lang, "review.decided_by_staff", id=by)
    )
    state = values.get("state")
    if state == "accepted" and values.get("not_applicable"):
        state = "not_applicable_accepted"  # agreed to, not passed
    return t(
        lang,
        f"review.already_{state}",
        time=moment_text(context, at, lang),
        who=who,
        reason=values.get("reason") or "",
    )


def wake_outbox(context: Context) -> None:
    """Deliver the unit's notice now rather than at the dispatcher's next tick."""
    dispatcher = context.bot_data.dispatcher
    if dispatcher is not None:
        dispatcher.wake()


async def accept(update: Update, context: Context, lang: str) -> None:
    """The accept button of a review card (staff gate)."""
    await decide(update, context, lang, "ok")


async def send_back(update: Update, context: Context, lang: str) -> None:
    """The send-back button: ask the reason (staff gate)."""
    await decide(update, context, lang, "back")


async def later(update: Update, context: Context, lang: str) -> None:
    """The "later" button: the next submission instead (staff gate)."""
    await decide(update, context, lang, "later")


async def decide(update: Update, context: Context, lang: str, verb: str) -> None:
    """Accept, send back (ask the reason) or look at the next one."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    services = services_of(context)
    submission_id = matched(context)
    await query.answer()
    try:
        if verb == "ok":
            decision = await reviewing.accept_submission(
                services=services, actor_id=user.id, submission_id=submission_id
            )
            wake_outbox(context)
            await drop_keyboard(update)
            agreed = "_not_applicable" if decision.not_applicable else ""  # not "passed"
            key = f"review.accepted{agreed}"
            text = t(lang, key, unit=decision.unit_name, title=decision.item_title)
            await send(update, context, text)
            await show_next(update, context, lang, decision.unit_id)
        elif verb == "back":
            card = await reviewing.ask_return_reason(
                services=services, actor_id=user.id, submission_id=submission_id
            )
            await drop_keyboard(update)
            text = t(lang, "review.ask_reason", unit=card.unit_name, title=card.item_title)
            await send(update, context, text)
        else:
            following = await reviewing.next_review(
                services=services, actor_id=user.id, after=submission_id
            )
            await drop_keyboard(update)
            if following is None:
                await send(update, context, t(lang, "review.none_after"))
            else:
                await show(update, context, lang, following)
    except (errors.AlreadyReviewed, errors.SubmissionGone) as error:
        await drop_keyboard(update)
        await send(update, context, refusal_text(error, lang, context, user.id))
    except DomainError as error:
        await send(update, context, error_text(error, lang))


BUTTONS = (
    Button(r"^rv:ok:(\d+)$", accept, staff=True),
    Button(r"^rv:back:(\d+)$", send_back, staff=True),
    Button(r"^rv:later:(\d+)$", later, staff=True),
)


async def review_flow(update: Update, context: Context, step: StepOut) -> None:
    """Waiting for the reason of a send-back."""
    user, message = update.effective_user, update.effective_message
    if user is None:
        return
    lang = await language_for(update, context)
    services = services_of(context)
    if update.callback_query is not None:
        # Another decision button: the reason asked for is no longer awaited.
        await conversations.cancel(services=services, user_id=user.id)
        if not await press(update, context, BUTTONS) and update.callback_query is not None:
            await update.callback_query.answer(t(lang, "common.stale_button"))
        return
    if message is None:
        return
    command = command_of(update)
    if command == "review":
        await conversations.cancel(services=services, user_id=user.id)
        await staff_only(review)(update, context)
        return
    if command is not None or not message.text:
        await send(update, context, t(lang, "review.reason_reask"))
        return
    submission_id = int(step.data["submission_id"])
    try:
        decision = await reviewing.return_submission(
            services=services, actor_id=user.id, submission_id=submission_id, reason=message.text
        )
    except errors.BadReason as error:
        await send(update, context, error_text(error, lang))
        return
    except (NotStaff, errors.AlreadyReviewed, errors.SubmissionGone) as error:
        await conversations.cancel(services=services, user_id=user.id)
        await send(update, context, refusal_text(error, lang, context, user.id))
        return
    wake_outbox(context)
    text = t(
        lang,
        "review.returned",
        unit=decision.unit_name,
        title=decision.item_title,
        reason=decision.reason or "",
    )
    await send(update, context, text)
    await show_next(update, context, lang, decision.unit_id)


FEATURE = Feature(
    commands=(Command("review", review, Audience.STAFF),),
    buttons=BUTTONS,
    flows={submitting.FLOW_REVIEW: review_flow},
)
