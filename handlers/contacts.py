"""`/contacts`: a liaison or lead sees their own unit's contacts and corrects them.

Staff may name any unit (`/contacts 市文旅局`) and also see who held each role when. The
buttons carry no unit: the unit is always the one the person holds a role in, so no press
can reach another unit.
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import roster
from bot.context import Context
from bot.errors import DomainError, UnitAmbiguous, UnitNotFound
from bot.registration import contacts, flow
from bot.registration.flow import ContactsOut, PersonOut
from bot.registration.validation import format_phone
from handlers.common import language_for, services_of
from handlers.registration import ask, drop_buttons, link_text, role_name
from messages import format_date, t

PRESS = re.compile(r"c:(me|lead|link)")


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
        tz = services_of(context).settings.tz
        lines += ["", t(lang, "contacts.history_title")]
        for person in found.history:
            since = format_date(person.since.astimezone(tz).date(), lang)
            if person.until is None:
                period = t(lang, "contacts.period_current", since=since)
            else:
                until = format_date(person.until.astimezone(tz).date(), lang)
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
    rows = [[InlineKeyboardButton(t(lang, "contacts.button_me"), callback_data="c:me")]]
    if found.my_role == "liaison":
        label = "contacts.button_lead" if found.lead else "contacts.button_lead_new"
        rows.append([InlineKeyboardButton(t(lang, label), callback_data="c:lead")])
        if found.lead is None or not found.lead.linked:
            rows.append(
                [InlineKeyboardButton(t(lang, "contacts.button_link"), callback_data="c:link")]
            )
    return InlineKeyboardMarkup(rows)


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
    staff = await roster.is_staff(services=services, user_id=user.id)
    if staff and context.args:
        try:
            found = await contacts.unit_contacts(
                services=services, actor_id=user.id, unit_name=" ".join(context.args)
            )
        except (UnitNotFound, UnitAmbiguous) as exc:
            key = (
                "contacts.unit_not_found"
                if isinstance(exc, UnitNotFound)
                else "contacts.unit_ambiguous"
            )
            await message.reply_text(t(lang, key, **exc.values))
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
    found = PRESS.fullmatch(query.data or "")
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
            name = mine.lead.name if mine.lead else role_name(lang, "lead")
            await query.answer()
            await message.chat.send_message(link_text(invite, name, lang, context))
            return
        what = cast(Literal["me", "lead"], found[1])
        step = await contacts.begin_edit(services=services, user_id=user.id, what=what)
    except DomainError as exc:
        await query.answer(t(lang, exc.key, **exc.values), show_alert=True)
        return
    await query.answer()
    await drop_buttons(message)
    await ask(message, step, lang)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """`/contacts` and its buttons."""
    app.add_handler(CommandHandler("contacts", contacts_command))
    app.add_handler(CallbackQueryHandler(contacts_pressed, pattern=r"^c:"))
