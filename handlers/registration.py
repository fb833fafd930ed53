"""The registration conversations (liaison and lead), `/start <token>`, and `/contacts`.

The steps live in bot/registration/flow.py; here an update becomes one `Event`, one use-case
call, and the reply: the outcome's sentence followed by the question of the step the person
is now at, with its buttons. Buttons carry `r:<version>:<action>`; nothing else.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Literal, cast

from telegram import (
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType
from telegram.ext import MessageHandler, filters

from bot.context import Context
from bot.conversations import StepOut
from bot.errors import DomainError, UnitAmbiguous, UnitNotFound
from bot.registration import contacts, flow, invites
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
    ContactsOut,
    Event,
    Outcome,
    PersonOut,
)
from bot.registration.validation import format_phone
from handlers.shared import (
    PRIVATE,
    Audience,
    Button,
    Command,
    Feature,
    actor_of,
    command_of,
    day_text,
    drop_buttons,
    error_text,
    keyboard,
    language_for,
    moment_text,
    refresh_menus,
    services_of,
)
from messages import role_name, t

log = logging.getLogger(__name__)

Markups = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
PRESS = re.compile(r"r:(\d{1,9}):([a-z-]{1,12})")
STEP_QUESTIONS = {
    NAME: "registration.ask_name",
    POST: "registration.ask_post",
    PHONE: "registration.ask_phone",
    LEAD_POST: "registration.ask_lead_post",
    LEAD_PHONE: "registration.ask_lead_phone",
}

# The outcomes told in one sentence of their own, before the next question.
OUTCOME_SENTENCES = {
    "declined": "registration.declined",
    "none": "registration.flow_over",
    "lead_kept": "registration.lead_kept",
    "lead_skipped": "registration.lead_skipped",
    "updated": "contacts.updated",
}


def _values(lang: str, values: dict[str, Any], context: Context) -> dict[str, object]:
    """An outcome's values, with role codes named and moments written out."""
    shown: dict[str, object] = {}
    for name, value in values.items():
        if name.endswith("role") and isinstance(value, str):
            shown[name] = role_name(lang, value)
        elif isinstance(value, datetime):
            shown[name] = moment_text(context, value, lang)
        else:
            shown[name] = value
    return shown


def _buttons(step: StepOut, lang: str, rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    version = step.data["v"]
    return keyboard(
        [[(t(lang, label), f"r:{version}:{action}") for label, action in row] for row in rows]
    )


def _summary(
    step: StepOut, lang: str, heading: str, body: str, edit: str
) -> tuple[str, InlineKeyboardMarkup]:
    """A summary to confirm, with its buttons: confirm, or change the name, post or phone
    (actions `edit` + the field: `e-name` for the person, `e-lname` for the lead)."""
    text = "\n".join((t(lang, heading), body, t(lang, "registration.summary_hint")))
    fields = ("name", "post", "phone")
    rows = [
        [("registration.button_ok", "ok")],
        [(f"registration.button_edit_{field}", f"{edit}{field}") for field in fields],
    ]
    return text, _buttons(step, lang, rows)


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
    if name == POST and data.get("role") == "lead":
        return t(lang, "registration.ask_post_lead"), None
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
        return _summary(step, lang, heading, body, "e-")
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
    return _summary(step, lang, "registration.lead_summary_heading", body, "e-l")


async def ask(message: Message, step: StepOut, lang: str, *before: str) -> None:
    """Send the step's question, after any sentences that come first (one message)."""
    text, markup = question(step, lang)
    await message.chat.send_message("\n\n".join((*before, text)), reply_markup=markup)


# ---- /start <token> ---------------------------------------------------------------------------


# A registration link pasted into the chat instead of opened (https://t.me/<bot>?start=<token>).
PASTED_LINK = re.compile(r"t\.me/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]{8,64})")


async def start_with_token(update: Update, context: Context) -> None:
    """`/start <token>`: open an invite link."""
    await open_link(update, context, context.args[0] if context.args else "")


async def pasted_link(update: Update, context: Context) -> None:
    """A registration link sent as text: open it as if it had been tapped."""
    message = update.effective_message
    found = PASTED_LINK.search(message.text or "") if message is not None else None
    if found is None or message is None:
        return
    if found[1].lower() != (context.bot.username or "").lower():  # another bot's link
        await message.reply_text(t(await language_for(update, context), "common.not_understood"))
        return
    await open_link(update, context, found[2])


async def open_link(update: Update, context: Context, token: str) -> None:
    """Check an invite's token and begin the registration it opens."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(t(await language_for(update, context), "common.private_only"))
        return
    outcome = await flow.start(
        services=services_of(context),
        user_id=user.id,
        token=token,
        language_code=user.language_code,
    )
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


async def show(update: Update, context: Context, outcome: Outcome, lang: str) -> None:
    """Tell the person what happened, then ask the question of the step they are now at."""
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or message is None:
        return
    values = _values(lang, outcome.values, context)
    kind = outcome.kind
    before: list[str] = []
    if kind in ("invalid", "confirm", "refused") and outcome.reason:
        before.append(t(lang, outcome.reason, **values))
    elif kind in ("throttled", "throttled_again"):  # a good link pasted meanwhile hears why
        before.append(t(lang, "registration.throttled", **values))
    elif kind == "reask" and outcome.step is not None:
        typed = outcome.step.step in flow.TEXT_STEPS
        before.append(t(lang, "registration.reask" if typed else "registration.reask_buttons"))
    elif kind in OUTCOME_SENTENCES:
        before.append(t(lang, OUTCOME_SENTENCES[kind]))
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
        date=day_text(context, invite.expires_at, lang),
        link=invite.link,
    )


# ---- /contacts -------------------------------------------------------------------------------
# A liaison or lead sees their own unit's contacts and corrects them; staff may name any unit
# (`/contacts 市文旅局`) and also see who held each role when. The buttons carry no unit: the
# unit is always the one the person holds a role in, so no press can reach another unit.


CONTACTS_PRESS = re.compile(r"c:(me|lead|link)")


def _person_line(lang: str, role: str, person: PersonOut | None) -> str:
    if person is None:
        return t(lang, f"contacts.{role}_missing")
    line = t(
        lang,
        f"contacts.{role}",
        name=person.name,
        post=person.post,
        phone=format_phone(person.phone),
    )
    if role == "lead":
        line += t(lang, "contacts.linked" if person.linked else "contacts.not_linked")
    return line


def render(found: ContactsOut, lang: str, context: Context) -> str:
    """The unit's liaison and lead (and, for staff, the history)."""
    lines = [
        t(lang, "contacts.title", unit=found.unit),
        _person_line(lang, "liaison", found.liaison),
        _person_line(lang, "lead", found.lead),
    ]
    if found.history:
        lines += ["", t(lang, "contacts.history_title")]
        for person in found.history:
            since = day_text(context, person.since, lang)
            if person.until is None:
                period = t(lang, "contacts.period_current", since=since)
            else:
                until = day_text(context, person.until, lang)
                period = t(lang, "contacts.period_past", since=since, until=until)
            lines.append(
                t(
                    lang,
                    "contacts.history_line",
                    role=role_name(lang, person.role),
                    name=person.name,
                    post=person.post,
                    period=period,
                )
            )
    return "\n".join(lines)


def buttons(found: ContactsOut, lang: str) -> InlineKeyboardMarkup:
    rows = [[(t(lang, "contacts.button_me"), "c:me")]]
    if found.my_role == "liaison":
        label = "contacts.button_lead" if found.lead else "contacts.button_lead_new"
        rows.append([(t(lang, label), "c:lead")])
        if found.lead is None or not found.lead.linked:
            rows.append([(t(lang, "contacts.button_link"), "c:link")])
    return keyboard(rows)


async def contacts_command(update: Update, context: Context) -> None:
    """`/contacts`: my unit's liaison and lead, with buttons to correct them."""
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    lang = await language_for(update, context)
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(t(lang, "common.private_only"))
        return
    services = services_of(context)
    actor = await actor_of(update, context)
    staff = actor is not None and actor.staff
    if staff and context.args:
        try:
            found = await contacts.unit_contacts(
                services=services, actor_id=user.id, unit_name=" ".join(context.args)
            )
        except (UnitNotFound, UnitAmbiguous) as exc:
            await message.reply_text(error_text(exc, lang))
            return
        await message.reply_text(render(found, lang, context))
        return
    try:
        found = await contacts.my_contacts(services=services, user_id=user.id)
    except flow.NotRegistered:
        key = "contacts.staff_usage" if staff else "contacts.not_registered"
        await message.reply_text(t(lang, key))
        return
    await message.reply_text(render(found, lang, context), reply_markup=buttons(found, lang))


async def contacts_pressed(update: Update, context: Context) -> None:
    """The buttons of `/contacts`: correct my details, re-enter the lead, a lead link."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    lang = await language_for(update, context)
    found = CONTACTS_PRESS.fullmatch(query.data or "")
    message = query.message if isinstance(query.message, Message) else None
    if found is None or message is None:
        await query.answer(t(lang, "common.stale_button"))
        return
    services = services_of(context)
    try:
        if found[1] == "link":
            invite = await contacts.lead_invite(
                services=services, user_id=user.id, username=context.bot_data.username or None
            )
            mine = await contacts.my_contacts(services=services, user_id=user.id)
            name = mine.lead.name if mine.lead else t(lang, "registration.lead_unnamed")
            await query.answer()
            await message.chat.send_message(link_text(invite, name, lang, context))
            return
        what = cast(Literal["me", "lead"], found[1])
        step = await contacts.begin_edit(services=services, user_id=user.id, what=what)
    except DomainError as exc:
        await query.answer(error_text(exc, lang), show_alert=True)
        return
    await query.answer()
    await drop_buttons(message)
    await ask(message, step, lang)


FEATURE = Feature(
    commands=(
        Command("start", start_with_token, has_args=True),
        Command("contacts", contacts_command, Audience.MEMBER),
    ),
    buttons=(Button(r"^c:", contacts_pressed),),
    handlers=(MessageHandler(PRIVATE & filters.Regex(PASTED_LINK), pasted_link),),
    flows={flow.FLOW: handle},
)
