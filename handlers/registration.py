"""The registration conversations (liaison and lead), `/start <token>`, and staff's `/invite`.

The steps live in bot/registration.py; here an update becomes one `Event`, one use-case call,
and the reply: the outcome's sentence followed by the question of the step the person is now
at, with its buttons. Buttons carry `r:<version>:<action>`; nothing else.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, cast

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import roster
from bot.context import Context
from bot.conversations import StepOut
from bot.errors import NotStaff, UnitAmbiguous, UnitNotFound
from bot.registration import flow, invites
from bot.registration.flow import (
    CONFIRM_UNIT,
    LEAD_NAME,
    LEAD_OFFER,
    LEAD_PHONE,
    LEAD_POST,
    NAME,
    PHONE,
    POST,
    SUMMARY,
    Event,
    Outcome,
)
from bot.registration.validation import format_phone
from handlers.common import language_for, services_of
from handlers.flows import command_of, register_flow
from messages import format_date, t

log = logging.getLogger(__name__)

Markups = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
PRESS = re.compile(r"r:(\d{1,9}):([a-z-]{1,12})")
INVITE_PRESS = re.compile(r"i:(liaison|lead|rv):(\d{1,12})")
ROLE_WORDS = {
    "liaison": "liaison", "联络员": "liaison",
    "lead": "lead", "分管领导": "lead", "领导": "lead",
}  # fmt: skip
STEP_QUESTIONS = {
    NAME: "registration.ask_name",
    POST: "registration.ask_post",
    PHONE: "registration.ask_phone",
    LEAD_POST: "registration.ask_lead_post",
    LEAD_PHONE: "registration.ask_lead_phone",
}


def role_name(lang: str, role: str) -> str:
    return t(lang, f"common.role_{role}")


def when(moment: datetime, lang: str, context: Context) -> str:
    """A moment as the office reads it: 2026年11月30日 10:05."""
    local = moment.astimezone(services_of(context).settings.tz)
    return f"{format_date(local.date(), lang)} {local:%H:%M}"


def _values(lang: str, values: dict[str, Any], context: Context) -> dict[str, object]:
    """An outcome's values, with role codes named and moments written out."""
    shown: dict[str, object] = {}
    for name, value in values.items():
        if name.endswith("role") and isinstance(value, str):
            shown[name] = role_name(lang, value)
        elif isinstance(value, datetime):
            shown[name] = when(value, lang, context)
        else:
            shown[name] = value
    return shown


def _buttons(step: StepOut, lang: str, rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    version = step.data["v"]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, label), callback_data=f"r:{version}:{action}")
                for label, action in row
            ]
            for row in rows
        ]
    )


def question(step: StepOut, lang: str) -> tuple[str, Markups]:
    """What the bot asks at a step, with its keyboard."""
    data, name = step.data, step.step
    if name == CONFIRM_UNIT:
        text = t(lang, f"registration.confirm_{data['role']}", unit=data["unit"])
        rows = [[("registration.button_confirm", "yes"), ("registration.button_decline", "no")]]
        return text, _buttons(step, lang, rows)
    if name == PHONE:
        share = KeyboardButton(t(lang, "registration.button_share"), request_contact=True)
        keyboard = ReplyKeyboardMarkup([[share]], resize_keyboard=True, one_time_keyboard=True)
        return t(lang, STEP_QUESTIONS[name]), keyboard
    if name in STEP_QUESTIONS:
        return t(lang, STEP_QUESTIONS[name]), None
    if name == SUMMARY:
        heading = "registration.summary_heading"
        if data.get("mode") == "self":
            heading = "registration.summary_heading_self"
        elif data.get("prefilled") and data.get("role") == "lead":
            heading = "registration.summary_heading_prefilled"
        body = t(
            lang,
            "registration.summary",
            unit=data["unit"],
            role=role_name(lang, data["role"]),
            name=data.get(NAME, ""),
            post=data.get(POST, ""),
            phone=format_phone(str(data.get(PHONE, ""))),
        )
        text = "\n".join((t(lang, heading), body, t(lang, "registration.summary_hint")))
        rows = [
            [("registration.button_ok", "ok")],
            [
                ("registration.button_edit_name", "e-name"),
                ("registration.button_edit_post", "e-post"),
                ("registration.button_edit_phone", "e-phone"),
            ],
        ]
        return text, _buttons(step, lang, rows)
    if name == LEAD_OFFER:
        text = t(
            lang,
            "registration.lead_offer",
            name=data.get(LEAD_NAME, ""),
            post=data.get(LEAD_POST, ""),
            phone=format_phone(str(data.get(LEAD_PHONE, ""))),
        )
        rows = [[("registration.button_keep", "keep"), ("registration.button_redo", "redo")]]
        return text, _buttons(step, lang, rows)
    if name == LEAD_NAME:
        if "skip" in flow.buttons_of(step):
            rows = [[("registration.button_skip", "skip")]]
            return t(lang, "registration.ask_lead_name"), _buttons(step, lang, rows)
        return t(lang, "registration.ask_lead_name_again"), None
    # LEAD_SUMMARY
    body = t(
        lang,
        "registration.lead_summary",
        unit=data["unit"],
        name=data.get(LEAD_NAME, ""),
        post=data.get(LEAD_POST, ""),
        phone=format_phone(str(data.get(LEAD_PHONE, ""))),
    )
    text = "\n".join(
        (t(lang, "registration.lead_summary_heading"), body, t(lang, "registration.summary_hint"))
    )
    rows = [
        [("registration.button_ok", "ok")],
        [
            ("registration.button_edit_name", "e-lname"),
            ("registration.button_edit_post", "e-lpost"),
            ("registration.button_edit_phone", "e-lphone"),
        ],
    ]
    return text, _buttons(step, lang, rows)


async def ask(message: Message, step: StepOut, lang: str, *before: str) -> None:
    """Send the step's question, after any sentences that come first (one message)."""
    text, markup = question(step, lang)
    await message.chat.send_message("\n\n".join((*before, text)), reply_markup=markup)


# ---- /start <token> ---------------------------------------------------------------------------


async def start_with_token(update: Update, context: Context) -> None:
    """`/start <token>`: open an invite link."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(t(await language_for(update, context), "common.private_only"))
        return
    token = context.args[0] if context.args else ""
    outcome = await flow.start(services=services_of(context), user_id=user.id, token=token)
    lang = await language_for(update, context)
    await show(update, context, outcome, lang)


# ---- the flow ---------------------------------------------------------------------------------


async def handle(update: Update, context: Context, step: StepOut) -> None:
    """Every private update of a person at a registration step comes here (handlers.flows)."""
    user = update.effective_user
    if user is None:
        return
    lang = await language_for(update, context)
    if update.callback_query is not None:
        await _pressed(update, context, step, lang)
        return
    message = update.effective_message
    if message is None:
        return  # e.g. the person blocked the bot: nothing to answer
    if update.edited_message is not None:
        await ask(message, step, lang, t(lang, "registration.reask"))
        return
    if command_of(update) is not None:
        other = t(
            lang,
            "registration.other_command",
            unit=step.data["unit"],
            role=role_name(lang, step.data["role"]),
        )
        await ask(message, step, lang, other)
        return
    if message.text:
        event = Event(kind="text", text=message.text)
    elif message.contact is not None:
        own = message.contact.user_id is not None and message.contact.user_id == user.id
        event = Event(kind="contact", phone=message.contact.phone_number, own_contact=own)
    else:
        await ask(message, step, lang, t(lang, "registration.reask"))
        return
    outcome = await flow.advance(
        services=services_of(context),
        user_id=user.id,
        event=event,
        username=context.bot_data.username or None,
    )
    if step.step == PHONE and outcome.kind == "step":  # accepted: the share button can go
        await message.chat.send_message(
            t(lang, "registration.phone_saved"), reply_markup=ReplyKeyboardRemove()
        )
    await show(update, context, outcome, lang)


async def _pressed(update: Update, context: Context, step: StepOut, lang: str) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    found = PRESS.fullmatch(query.data or "")
    outcome: Outcome | None = None
    if found is not None:
        event = Event(kind="button", version=int(found[1]), action=found[2])
        outcome = await flow.advance(
            services=services_of(context),
            user_id=user.id,
            event=event,
            username=context.bot_data.username or None,
        )
    if outcome is None or outcome.kind == "stale":
        await query.answer(t(lang, "common.stale_button"))
        if isinstance(query.message, Message):
            await ask(query.message, step, lang, t(lang, "registration.stale"))
        return
    await query.answer()
    await drop_buttons(query.message)
    await show(update, context, outcome, lang)


async def drop_buttons(message: object) -> None:
    """Take the buttons off a message that has been answered.

    Done with editMessageText (same text, no keyboard): PTB's default parse_mode is also sent
    with editMessageReplyMarkup, which has no such parameter.
    """
    if not isinstance(message, Message) or message.reply_markup is None or not message.text:
        return
    try:
        await message.edit_text(message.text_html, reply_markup=None)
    except BadRequest as exc:  # already gone, or too old to edit
        log.info("buttons of message %s stay: %s", message.message_id, exc.message)


async def show(update: Update, context: Context, outcome: Outcome, lang: str) -> None:
    """Tell the person what happened, then ask the question of the step they are now at."""
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or message is None:
        return
    values = _values(lang, outcome.values, context)
    kind = outcome.kind
    before: list[str] = []
    if kind in ("invalid", "refused") and outcome.reason:
        before.append(t(lang, outcome.reason, **values))
    elif kind == "throttled":
        before.append(t(lang, "registration.throttled", **values))
    elif kind == "reask" and outcome.step is not None:
        typed = outcome.step.step in flow.TEXT_STEPS
        before.append(t(lang, "registration.reask" if typed else "registration.reask_buttons"))
    elif kind == "declined":
        before.append(t(lang, "registration.declined"))
    elif kind == "none":
        before.append(t(lang, "registration.flow_over"))
    elif kind == "lead_kept":
        before.append(t(lang, "registration.lead_kept"))
    elif kind == "lead_skipped":
        before.append(t(lang, "registration.lead_skipped"))
    elif kind == "updated":
        before.append(t(lang, "contacts.updated"))
    elif kind == "registered" and outcome.registered is not None:
        done = outcome.registered
        before.append(t(lang, f"registration.registered_{done.role}", unit=done.unit))
        if done.replaced is not None:
            before.append(
                t(
                    lang,
                    "registration.registered_replaced",
                    role=role_name(lang, done.role),
                    name=done.replaced.name,
                )
            )
        user = update.effective_user
        await refresh_menus(context, [user.id if user else None, done.replaced_user_id])
    elif kind == "lead_saved" and outcome.lead is not None:
        before.append(lead_saved_text(outcome, lang, context))
        await refresh_menus(context, [outcome.replaced_user_id])
    if outcome.step is not None:
        await ask(message, outcome.step, lang, *before)
    else:
        await chat.send_message("\n\n".join(before))


def lead_saved_text(outcome: Outcome, lang: str, context: Context) -> str:
    lead, invite = outcome.lead, outcome.lead_invite
    assert lead is not None
    unit = str(outcome.values.get("unit", ""))
    if invite is None and lead.linked:
        return t(lang, "registration.lead_updated", unit=unit, name=lead.name)
    parts = [t(lang, "registration.lead_saved", unit=unit, name=lead.name, post=lead.post)]
    if invite is not None:
        parts.append(link_text(invite, lead.name, lang, context))
    return "\n".join(parts)


def link_text(invite: invites.InviteOut, lead_name: str, lang: str, context: Context) -> str:
    """The lead invite, for the liaison to forward to the lead."""
    return t(
        lang,
        "registration.lead_link",
        name=lead_name,
        date=expiry_date(invite, lang, context),
        link=invite.link,
    )


def expiry_date(invite: invites.InviteOut, lang: str, context: Context) -> str:
    return format_date(invite.expires_at.astimezone(services_of(context).settings.tz).date(), lang)


async def refresh_menus(context: Context, user_ids: list[int | None]) -> None:
    """Each person's command menu after their roles changed (setMyCommands per chat)."""
    from bot.app import set_person_menu  # bot.app wires these handlers in

    services = services_of(context)
    app = cast(Any, context.application)
    for user_id in {u for u in user_ids if u}:
        member = bool(await roster.roles_of(services=services, user_id=user_id))
        staff = await roster.is_staff(services=services, user_id=user_id)
        await set_person_menu(app, user_id, member=member, staff=staff)


# ---- /invite (staff) ------------------------------------------------------------------------


def parse_invite_args(args: list[str]) -> tuple[str, invites.Role]:
    """`/invite 市文旅局 [分管领导|lead]` → (unit name, role)."""
    words = list(args)
    role: invites.Role = "liaison"
    if len(words) > 1 and words[-1].lower() in ROLE_WORDS:
        role = cast(invites.Role, ROLE_WORDS[words.pop().lower()])
    return " ".join(words).strip(), role


def invite_markup(invite: invites.InviteOut, lang: str) -> InlineKeyboardMarkup:
    other: invites.Role = "lead" if invite.role == "liaison" else "liaison"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, "invite.button_other", role=role_name(lang, other)),
                    callback_data=f"i:{other}:{invite.unit_id}",
                )
            ],
            [
                InlineKeyboardButton(
                    t(lang, "invite.button_revoke"), callback_data=f"i:rv:{invite.unit_id}"
                )
            ],
        ]
    )


def invite_text(invite: invites.InviteOut, lang: str, context: Context) -> str:
    text = t(
        lang,
        "invite.created",
        unit=invite.unit,
        role=role_name(lang, invite.role),
        date=expiry_date(invite, lang, context),
        link=invite.link,
    )
    return "\n".join((text, open_before_note(invite, lang))) if invite.open_before else text


def open_before_note(invite: invites.InviteOut, lang: str) -> str:
    """Staff are told when the unit already had open links for the role."""
    return t(
        lang,
        "invite.open_before",
        unit=invite.unit,
        count=invite.open_before,
        role=role_name(lang, invite.role),
    )


async def reachable_privately(context: Context, user_id: int) -> bool:
    """Whether the bot may write to the person's private chat (they started it, not blocked)."""
    try:
        await context.bot.send_chat_action(user_id, ChatAction.TYPING)
    except Forbidden:
        return False
    return True


async def invite_command(update: Update, context: Context) -> None:
    """`/invite NAME [lead]`: a registration link for one unit (staff only).

    A link works once and registers whoever opens it first, so it is only ever shown in the
    staff member's private chat: asked for in a group, it is sent there and the group is told
    only that (or, if the private chat was never opened, that it must be first).
    """
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    services = services_of(context)
    lang = await language_for(update, context)
    if not await roster.is_staff(services=services, user_id=user.id):
        await message.reply_text(t(lang, "common.staff_only"))
        return
    name, role = parse_invite_args(list(context.args or []))
    if not name:
        await message.reply_text(t(lang, "invite.usage"))
        return
    in_group = chat.type != ChatType.PRIVATE
    if in_group and not await reachable_privately(context, user.id):
        await message.reply_text(t(lang, "invite.open_private_first"))
        return
    try:
        [invite] = await invites.create_invites(
            services=services,
            units=[name],
            role=role,
            actor_id=user.id,
            username=context.bot_data.username or None,
        )
    except UnitNotFound as exc:
        await message.reply_text(t(lang, "contacts.unit_not_found", **exc.values))
        return
    except UnitAmbiguous as exc:
        await message.reply_text(t(lang, "contacts.unit_ambiguous", **exc.values))
        return
    except invites.NoBotUsername:
        await message.reply_text(t(lang, "invite.no_username"))
        return
    text, markup = invite_text(invite, lang, context), invite_markup(invite, lang)
    if not in_group:
        await message.reply_text(text, reply_markup=markup)
        return
    try:
        await context.bot.send_message(user.id, text, reply_markup=markup)
    except Forbidden:  # blocked in the moment since the check: the link is not shown anywhere
        await message.reply_text(t(lang, "invite.open_private_first"))
        return
    await message.reply_text(t(lang, "invite.sent_privately"))


async def invite_pressed(update: Update, context: Context) -> None:
    """Staff's buttons under a link: the other role's link, or revoke the unit's open links."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    lang = await language_for(update, context)
    found = INVITE_PRESS.fullmatch(query.data or "")
    if found is None:
        await query.answer(t(lang, "common.stale_button"))
        return
    services, unit_id = services_of(context), int(found[2])
    try:
        if found[1] == "rv":
            revoked = await invites.revoke_unit_invites(
                services=services, unit_id=unit_id, actor_id=user.id
            )
            text = (
                t(lang, "invite.revoked", unit=revoked.unit, count=revoked.count)
                if revoked
                else t(lang, "invite.unit_gone")
            )
            markup = None
        else:
            invite = await invites.create_unit_invite(
                services=services,
                unit_id=unit_id,
                role=cast(invites.Role, found[1]),
                actor_id=user.id,
                username=context.bot_data.username or None,
            )
            text = invite_text(invite, lang, context) if invite else t(lang, "invite.unit_gone")
            markup = invite_markup(invite, lang) if invite else None
    except NotStaff:
        await query.answer(t(lang, "common.staff_only"), show_alert=True)
        return
    except invites.NoBotUsername:
        await query.answer(t(lang, "invite.no_username"), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.chat.send_message(text, reply_markup=markup)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The registration flow, `/invite` and its buttons."""
    register_flow(flow.FLOW, handle)
    app.add_handler(CommandHandler("invite", invite_command))
    app.add_handler(CallbackQueryHandler(invite_pressed, pattern=r"^i:"))
