"""`/broadcast`: compose (or forward) a notice, choose the audience, preview, confirm.

The draft is a durable conversation (flow "broadcast"): every step is saved with its data,
so a restart in the middle loses nothing. Once confirmed, the outbox delivers; one progress
message (送达118人，无法送达2人，发送失败0人，待发送180人) is edited by a throttled tick, and the
final report comes as a message of its own. Recipients acknowledge with the "收到" button.

Buttons (`callback_data`):
    bc:aud:{audience}   choose the audience (in the flow; a kind's by its UnitKind value, or
                        by its former name, bc:aud:counties, on buttons sent before)
    bc:send | bc:ackt | bc:back | bc:drop   send, "收到" on/off, audience again, discard
    bc:acks:{id}        who has (not) acknowledged, who was not reached
    bc:nudge:{id}:{n}   remind those who have not acknowledged (round n, once)
    bc:stop:{id}        hold back what has not been sent yet
    ack:{id}            a recipient's "收到"
"""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
)

from bot import conversations
from bot.context import Context
from bot.conversations import StepOut
from bot.staff import acks, broadcasts
from bot.staff.acks import AckStatus
from bot.staff.broadcasts import AUDIENCES, Preview, Progress, audience_name, audience_of
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    Job,
    command_of,
    edit,
    in_group,
    keyboard,
    language_for,
    matched,
    press,
    pressed,
    send,
    services_of,
    set_buttons,
    staff_only,
)
from messages import Markup, join, join_clauses, plain, role_name, t

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 2.0
LIST_LIMIT = 40
UNITS_NAMED = 10  # the preview names the units chosen by name up to this many, then 等N家
_SPLIT = re.compile(r"[\s,，、;；]+")


# ---- keyboards and texts ----------------------------------------------------------------------


def audience_markup(lang: str) -> InlineKeyboardMarkup:
    buttons = [(audience_name(a, lang), f"bc:aud:{a}") for a in AUDIENCES]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return keyboard([*rows, [(t(lang, "broadcast.button_drop"), "bc:drop")]])


def preview_text(p: Preview, lang: str) -> str:
    draft = p.draft
    content = (
        t(lang, "broadcast.content_text", summary=draft.summary)
        if draft.text is not None
        else t(lang, "broadcast.content_copy", summary=draft.summary)
    )
    audience = draft.audience or "registered"
    if audience != "units":
        to = t(
            lang,
            "broadcast.preview_audience",
            audience=audience_name(audience, lang),
            units=p.units,
        )
    elif len(p.unit_names) > UNITS_NAMED:
        named = p.unit_names[:UNITS_NAMED]
        to = t(lang, "broadcast.preview_units_more", units=named, count=len(p.unit_names))
    else:
        to = t(lang, "broadcast.preview_units", units=p.unit_names)
    lines = [
        t(lang, "broadcast.preview_title"),
        content,
        to,
        t(lang, "broadcast.preview_recipients", count=p.recipients),
    ]
    if p.known_unreachable:
        lines.append(t(lang, "broadcast.preview_known_unreachable", count=p.known_unreachable))
    if p.units_without_contact:
        shown = join(lang, p.units_without_contact[:LIST_LIMIT])
        lines.append(
            t(
                lang,
                "broadcast.preview_without_contact",
                count=len(p.units_without_contact),
                units=shown,
            )
        )
    lines.append(t(lang, "broadcast.preview_ack_on" if draft.ack else "broadcast.preview_ack_off"))
    if not p.recipients:
        lines.append(t(lang, "broadcast.no_recipients"))
    return "\n".join(lines)


def preview_markup(p: Preview, lang: str) -> InlineKeyboardMarkup:
    rows = []
    if p.recipients:
        rows.append([(t(lang, "broadcast.button_send", count=p.recipients), "bc:send")])
    toggle = "broadcast.button_ack_off" if p.draft.ack else "broadcast.button_ack_on"
    rows.append([(t(lang, toggle), "bc:ackt")])
    back, drop = t(lang, "broadcast.button_back"), t(lang, "broadcast.button_drop")
    rows.append([(back, "bc:back"), (drop, "bc:drop")])
    return keyboard(rows)


def progress_text(p: Progress, lang: str) -> str:
    figures = [
        t(lang, "broadcast.figure_delivered", count=p.delivered),
        t(lang, "broadcast.figure_unreachable", count=p.unreachable),
        t(lang, "broadcast.figure_failed", count=p.failed),
    ]
    if p.unknown:
        figures.append(t(lang, "broadcast.figure_unknown", count=p.unknown))
    if p.cancelled:
        figures.append(t(lang, "broadcast.figure_cancelled", count=p.cancelled))
    key = "broadcast.progress_done" if p.finished else "broadcast.progress"
    shown = Markup(join_clauses(lang, figures))
    return t(lang, key, id=p.id, total=p.total, pending=p.pending, figures=shown)


def progress_markup(p: Progress, lang: str) -> InlineKeyboardMarkup | None:
    if p.finished or p.pending == 0:
        return None
    return keyboard([[(t(lang, "broadcast.button_stop"), f"bc:stop:{p.id}")]])


def _listing(lines: list[acks.AckLine], lang: str) -> list[str]:
    shown = [
        t(
            lang,
            "broadcast.person_line",
            unit=line.unit,
            name=line.name,
            role=role_name(lang, line.role) if line.role else "",
        )
        for line in lines[:LIST_LIMIT]
    ]
    if len(lines) > LIST_LIMIT:
        shown.append(t(lang, "broadcast.and_more", count=len(lines) - LIST_LIMIT))
    return shown


def acks_text(status: AckStatus, lang: str) -> str:
    p = status.progress
    if p.ack_enabled:
        lines = [
            t(
                lang,
                "broadcast.acks_title",
                id=p.id,
                delivered=p.delivered,
                acked=p.acknowledged,
                waiting=len(status.not_acknowledged),
            )
        ]
        if status.not_acknowledged:
            lines.append(t(lang, "broadcast.acks_waiting"))
            lines += _listing(status.not_acknowledged, lang)
    else:
        lines = [t(lang, "broadcast.acks_disabled", id=p.id, delivered=p.delivered)]
    if not p.finished and p.pending:
        lines.append(t(lang, "broadcast.acks_still_sending", pending=p.pending))
    if status.undelivered:
        lines += ["", t(lang, "broadcast.acks_undelivered", count=len(status.undelivered))]
        lines += _listing(status.undelivered, lang)
    return "\n".join(lines)


def acks_markup(status: AckStatus, lang: str) -> InlineKeyboardMarkup:
    p = status.progress
    rows = []
    if p.ack_enabled and status.not_acknowledged:
        nudge = t(lang, "broadcast.button_nudge", count=len(status.not_acknowledged))
        rows.append([(nudge, f"bc:nudge:{p.id}:{status.next_round}")])
    rows.append([_refresh_button(p.id, lang)])
    return keyboard(rows)


def _refresh_button(broadcast_id: int, lang: str) -> tuple[str, str]:
    return t(lang, "broadcast.button_refresh"), f"bc:acks:{broadcast_id}"


def refresh_markup(broadcast_id: int, lang: str) -> InlineKeyboardMarkup:
    return keyboard([[_refresh_button(broadcast_id, lang)]])


def recent_markup(recent: list[Progress], lang: str) -> InlineKeyboardMarkup | None:
    if not recent:
        return None
    rows = []
    for p in recent:  # a button's label is plain text, not HTML: plain(), never t()
        label = plain(lang, "broadcast.button_recent", id=p.id, summary=p.summary[:20])
        rows.append([(label, f"bc:acks:{p.id}")])
    return keyboard(rows)


# ---- /broadcast and its flow -----------------------------------------------------------------


async def broadcast_command(update: Update, context: Context, lang: str) -> None:
    """`/broadcast`: start a new notice (in the private chat with the bot)."""
    user, message = update.effective_user, update.effective_message
    assert user is not None
    assert message is not None
    if in_group(update):
        await message.reply_text(t(lang, "common.private_only"))
        return
    recent = await broadcasts.begin(services=services_of(context), actor_id=user.id)
    await message.reply_text(
        t(lang, "broadcast.compose"), reply_markup=recent_markup(recent, lang)
    )


def describe(message: Message, lang: str) -> str:
    """What a message to copy is, for the preview and the record."""
    if message.document is not None:
        what = t(lang, "broadcast.kind_document", name=message.document.file_name or "")
    elif message.photo:
        what = t(lang, "broadcast.kind_photo")
    elif message.video is not None:
        what = t(lang, "broadcast.kind_video")
    elif message.text:
        what = ""
    else:
        what = t(lang, "broadcast.kind_other")
    words = message.text or message.caption or ""
    return f"{what} {words}".strip()


async def compose(update: Update, context: Context, step: StepOut) -> None:
    """The flow "broadcast": every update of a staff member who is composing a notice."""

    async def composing(update: Update, context: Context, lang: str) -> None:
        await _compose(update, context, step, lang)

    await staff_only(composing)(update, context)


async def _compose(update: Update, context: Context, step: StepOut, lang: str) -> None:
    user, message, query = update.effective_user, update.effective_message, update.callback_query
    assert user is not None
    services = services_of(context)
    if query is not None:
        await _flow_button(update, context, step, lang)
        return
    if message is None:
        return
    command = command_of(update)
    if command == "broadcast":
        await staff_only(broadcast_command)(update, context)
        return
    if command is not None:
        await message.reply_text(t(lang, "broadcast.busy"))
        return
    if step.step == "content":
        if message.text and message.forward_origin is None:
            await broadcasts.set_content(
                services=services, actor_id=user.id, summary=message.text, text=message.text_html
            )
        else:
            await broadcasts.set_content(
                services=services,
                actor_id=user.id,
                summary=describe(message, lang),
                from_chat_id=message.chat.id,
                message_id=message.message_id,
            )
        await message.reply_text(
            t(lang, "broadcast.choose_audience"), reply_markup=audience_markup(lang)
        )
    elif step.step == "units":
        names = [n for n in _SPLIT.split(message.text or "") if n]
        if not names:
            await message.reply_text(t(lang, "broadcast.ask_units"))
            return
        p = await broadcasts.set_units(services=services, actor_id=user.id, names=names)
        await message.reply_text(preview_text(p, lang), reply_markup=preview_markup(p, lang))
    else:
        await message.reply_text(t(lang, "broadcast.use_buttons"))


async def _flow_button(update: Update, context: Context, step: StepOut, lang: str) -> None:
    user, query = pressed(update)
    services = services_of(context)
    data = query.data or ""
    if await press(update, context, BUTTONS):
        return
    if data.startswith("bc:aud:") and step.step in ("audience", "preview", "units"):
        audience = audience_of(data.split(":", 2)[2])
        if audience is None:
            await query.answer(t(lang, "common.stale_button"))
            return
        p = await broadcasts.set_audience(
            services=services,
            actor_id=user.id,
            audience=audience,
        )
        await query.answer()
        if p is None:
            await edit(query.message, t(lang, "broadcast.ask_units"), None)
        else:
            await edit(query.message, preview_text(p, lang), preview_markup(p, lang))
    elif data == "bc:ackt" and step.step == "preview":
        p = await broadcasts.toggle_ack(services=services, actor_id=user.id)
        await query.answer()
        await edit(query.message, preview_text(p, lang), preview_markup(p, lang))
    elif data == "bc:back" and step.step == "preview":
        await broadcasts.back_to_audience(services=services, actor_id=user.id)
        await query.answer()
        await edit(query.message, t(lang, "broadcast.choose_audience"), audience_markup(lang))
    elif data == "bc:send" and step.step == "preview" and isinstance(query.message, Message):
        sent = await broadcasts.confirm(
            services=services,
            actor_id=user.id,
            progress_chat_id=query.message.chat.id,
            progress_message_id=query.message.message_id,
        )
        await query.answer(t(lang, "broadcast.confirmed", count=sent.total))
        dispatcher = context.bot_data.dispatcher
        if dispatcher is not None:
            dispatcher.wake()
        await edit(query.message, progress_text(sent, lang), progress_markup(sent, lang))
    elif data == "bc:drop":
        await conversations.cancel(services=services, user_id=user.id)
        await query.answer()
        await edit(query.message, t(lang, "broadcast.dropped"), None)
    else:
        await query.answer(t(lang, "broadcast.use_current"))


# ---- buttons outside the flow ----------------------------------------------------------------


async def show_acks(update: Update, context: Context, lang: str) -> None:
    """`bc:acks:{id}`: who has and has not pressed "收到" (staff)."""
    user, query = pressed(update)
    status = await acks.ack_status(
        services=services_of(context), actor_id=user.id, broadcast_id=matched(context)
    )
    await query.answer()
    await send(update, context, acks_text(status, lang), acks_markup(status, lang))


async def nudge(update: Update, context: Context, lang: str) -> None:
    """`bc:nudge:{id}:{round}`: remind those who have not acknowledged, once a round (staff)."""
    user, query = pressed(update)
    broadcast_id, round_number = matched(context, 1), matched(context, 2)
    done = await acks.nudge(
        services=services_of(context),
        actor_id=user.id,
        broadcast_id=broadcast_id,
        round_number=round_number,
    )
    await query.answer(t(lang, "broadcast.nudged", count=done.queued), show_alert=True)
    dispatcher = context.bot_data.dispatcher
    if dispatcher is not None:
        dispatcher.wake()
    # The reminder button goes (each round once); refresh stays.
    await set_buttons(query.message, refresh_markup(broadcast_id, lang))


async def stop(update: Update, context: Context, lang: str) -> None:
    """`bc:stop:{id}`: hold what has not been sent yet (staff)."""
    user, query = pressed(update)
    held = await broadcasts.stop_sending(
        services=services_of(context), actor_id=user.id, broadcast_id=matched(context)
    )
    await query.answer(t(lang, "broadcast.stopped", count=held), show_alert=True)


async def acknowledge(update: Update, context: Context) -> None:
    """A recipient pressed "收到" (before any conversation can take the press)."""
    user, query = update.effective_user, update.callback_query
    if user is None or query is None or not query.data:
        return
    lang = await language_for(update, context)
    broadcast_id = int(query.data.split(":", 1)[1])
    outcome = await acks.acknowledge(
        services=services_of(context), broadcast_id=broadcast_id, user_id=user.id
    )
    if outcome == "not_recipient":
        await query.answer(t(lang, "common.stale_button"))
    else:
        await query.answer(t(lang, "ack.thanks" if outcome == "recorded" else "ack.already"))
        done = plain(lang, "ack.done_button")  # the notice shows it was acknowledged
        try:
            await set_buttons(query.message, keyboard([[(done, f"ack:{broadcast_id}")]]))
        except TelegramError as exc:
            log.info("could not take the ack button off: %s", exc)
    raise ApplicationHandlerStop


# ---- the progress tick ----------------------------------------------------------------------


async def progress_tick(context: Context) -> None:
    """Bring progress messages up to date (only when their numbers changed); finish broadcasts."""
    services = context.bot_data.services
    for note in await broadcasts.progress_due(services=services):
        p = note.progress
        try:
            await context.bot.edit_message_text(
                progress_text(p, note.lang),
                chat_id=note.chat_id,
                message_id=note.message_id,
                reply_markup=progress_markup(p, note.lang),
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("progress of broadcast %s not shown: %s", p.id, exc.message)
        except TelegramError as exc:
            log.info("progress of broadcast %s: %s; next tick tries again", p.id, exc)
            continue
        await broadcasts.mark_progress_shown(
            services=services, broadcast_id=p.id, signature=p.signature
        )


BUTTONS = (
    # "收到" is answered even while the recipient is in a conversation.
    Button(r"^ack:(\d+)$", acknowledge, always=True),
    Button(r"^bc:acks:(\d+)$", show_acks, staff=True),
    Button(r"^bc:nudge:(\d+):(\d+)$", nudge, staff=True),
    Button(r"^bc:stop:(\d+)$", stop, staff=True),
)

FEATURE = Feature(
    commands=(Command("broadcast", broadcast_command, Audience.STAFF),),
    buttons=BUTTONS,
    flows={broadcasts.FLOW: compose},
    jobs=(Job("broadcast progress", progress_tick, PROGRESS_SECONDS),),
)
