"""Invite links for staff: `/invite NAME [lead]`, the buttons under a link, and the unit card's
invite buttons. A link registers whoever completes it first, so it is shown only in the staff
member's private chat.

Buttons (`callback_data`, short ids only):
    i:{liaison|lead}:{unit}   a link for the other role;  i:rv:{unit}  revoke the unit's links
    st:i:{unit}:{l|d}         (the unit card) a new link for the liaison (l) or the lead (d)
"""

from __future__ import annotations

from typing import cast

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import Forbidden

from bot.context import Context
from bot.errors import NotStaff, UnitAmbiguous, UnitNotFound
from bot.registration import invites
from bot.staff import console
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    captured,
    day_text,
    error_text,
    keyboard,
    matched,
    pressed,
    send,
    services_of,
)
from messages import role_name, t

ROLE_WORDS = {
    "liaison": "liaison", "联络员": "liaison",
    "lead": "lead", "分管领导": "lead", "领导": "lead",
}  # fmt: skip


def parse_invite_args(args: list[str]) -> tuple[str, invites.Role]:
    """`/invite 市文旅局 [分管领导|lead]` → (unit name, role)."""
    words = list(args)
    role: invites.Role = "liaison"
    if len(words) > 1 and words[-1].lower() in ROLE_WORDS:
        role = cast(invites.Role, ROLE_WORDS[words.pop().lower()])
    return " ".join(words).strip(), role


def invite_markup(invite: invites.InviteOut, lang: str) -> InlineKeyboardMarkup:
    other: invites.Role = "lead" if invite.role == "liaison" else "liaison"
    new = t(lang, "invite.button_other", role=role_name(lang, other))
    revoke = t(lang, "invite.button_revoke")
    return keyboard([[(new, f"i:{other}:{invite.unit_id}")], [(revoke, f"i:rv:{invite.unit_id}")]])


def invite_text(invite: invites.InviteOut, lang: str, context: Context) -> str:
    text = t(
        lang,
        "invite.created",
        unit=invite.unit,
        role=role_name(lang, invite.role),
        date=day_text(context, invite.expires_at, lang),
        link=invite.link,
    )
    return "\n".join((text, *invite_notes(invite, lang)))


def invite_notes(invite: invites.InviteOut, lang: str) -> list[str]:
    """Staff are told whom the link replaces, and when the unit had open links for the role."""
    role = role_name(lang, invite.role)
    notes = []
    if invite.holder is not None:
        notes.append(t(lang, "invite.replaces", unit=invite.unit, role=role, name=invite.holder))
    if invite.open_before:
        notes.append(
            t(lang, "invite.open_before", unit=invite.unit, count=invite.open_before, role=role)
        )
    return notes


async def reachable_privately(context: Context, user_id: int) -> bool:
    """Whether the bot may write to the person's private chat (they started it, not blocked)."""
    try:
        await context.bot.send_chat_action(user_id, ChatAction.TYPING)
    except Forbidden:
        return False
    return True


async def invite_command(update: Update, context: Context, lang: str) -> None:
    """`/invite NAME [lead]`: a registration link for one unit (staff only).

    A link works once and registers whoever opens it first, so it is only ever shown in the
    staff member's private chat: asked for in a group, it is sent there and the group is told
    only that (or, if the private chat was never opened, that it must be first).
    """
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None or chat is None:
        return
    services = services_of(context)
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
    except (UnitNotFound, UnitAmbiguous) as exc:
        await message.reply_text(error_text(exc, lang))
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


async def invite_pressed(update: Update, context: Context, lang: str) -> None:
    """Staff's buttons under a link: the other role's link, or revoke the unit's open links."""
    query, user, found = update.callback_query, update.effective_user, context.match
    if query is None or user is None or found is None:
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


async def card_invite(update: Update, context: Context, lang: str) -> None:
    """The unit card's button: a new link for its liaison (l) or lead (d), as its own message."""
    user, query = pressed(update)
    unit_id, role = matched(context, 1), "lead" if captured(context, 2) == "d" else "liaison"
    made = await console.new_invite(
        services=services_of(context),
        actor_id=user.id,
        unit_id=unit_id,
        role=role,
        username=context.bot_data.username,
    )
    await query.answer()
    text = t(
        lang,
        "unitcard.invite",
        unit=made.unit,
        role=role_name(lang, role),
        link=made.link,
        date=day_text(context, made.expires_at, lang),
    )
    await send(update, context, "\n".join((text, *invite_notes(made, lang))))


FEATURE = Feature(
    commands=(Command("invite", invite_command, Audience.STAFF),),
    buttons=(
        Button(r"^i:(liaison|lead|rv):(\d{1,12})$", invite_pressed, staff=True),
        Button(r"^st:i:(\d+):([ld])$", card_invite, staff=True),
    ),
)
