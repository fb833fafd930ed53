"""`/status`, `/submit` and files sent outside `/submit`: thin handlers over bot.ledger.

The submission is a durable flow (`submit`): the step names the unit and the item asked for;
files and text go into the item's draft as they arrive, so a restart loses nothing. A file
sent outside any flow is held (flow `stray`) until the person confirms the item it belongs to.

Buttons (callback_data, short ids only):
    sub:start:<unit>         start /submit for a unit (the /status button; reminders use it)
    sub:go:<unit>:<item>     start /submit at one item (the "resubmit" button of a send-back)
    sub:done|skip|na:<item>  this item is complete / skip for now / not applicable
    sf:<unit>:<item>         file the held files under this item;  sf:x  do not keep them
"""

from __future__ import annotations

from telegram import (
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.ext import MessageHandler, filters

from bot import conversations
from bot.context import Context
from bot.conversations import StepOut
from bot.enums import ItemState
from bot.errors import DomainError
from bot.ledger import errors, permissions, stray, submitting
from bot.ledger.files import IncomingFile
from bot.ledger.status import ItemStatus, UnitObligations
from bot.ledger.stray import StrayOut
from bot.ledger.submitting import SubmitStep
from handlers.shared import (
    PRIVATE,
    Audience,
    Button,
    Command,
    Feature,
    actor_of,
    command_of,
    drop_keyboard,
    error_text,
    fetcher,
    ids_of,
    keyboard,
    language_for,
    pressed,
    send,
    services_of,
)
from messages import Markup, format_date, join, plain, t

FILES = filters.Document.ALL | filters.PHOTO


def submit_keyboard(lang: str, unit_id: int) -> InlineKeyboardMarkup:
    """The one button that starts /submit for a unit (also for reminders)."""
    return keyboard([[(t(lang, "ledger.button_submit"), f"sub:start:{unit_id}")]])


def item_keyboard(lang: str, item_id: int) -> InlineKeyboardMarkup:
    done, skip = t(lang, "ledger.button_done"), t(lang, "ledger.button_skip")
    not_applicable = t(lang, "ledger.button_not_applicable")
    return keyboard(
        [
            [(done, f"sub:done:{item_id}")],
            [(skip, f"sub:skip:{item_id}"), (not_applicable, f"sub:na:{item_id}")],
        ]
    )


# ---- rendering -----------------------------------------------------------------------------


def state_text(item: ItemStatus, lang: str) -> str:
    """An item's state as the person reads it (HTML)."""
    if item.state == ItemState.RETURNED:
        return t(lang, "ledger.state_returned", reason=item.reason or "")
    if item.state == ItemState.MISSING and item.draft_files:
        return t(lang, "ledger.state_draft_files", files=item.draft_files)
    if item.state == ItemState.MISSING and item.draft_chars:
        return t(lang, "ledger.state_draft_text")
    return t(lang, f"ledger.state_{item.shown_state}")


def render_status(unit: UnitObligations, lang: str) -> str:
    """A unit's ledger item by item, then what else it owes: its liaison or lead."""
    lines = [
        t(lang, "ledger.status_title", unit=unit.name),
        t(lang, "ledger.status_deadline", date=format_date(unit.deadline, lang))
        if unit.deadline
        else t(lang, "ledger.status_no_deadline"),
        "",
    ]
    lines += [
        t(lang, "ledger.status_line", title=i.title, state=Markup(state_text(i, lang)))
        for i in unit.items
    ]
    lines.append("")
    if unit.missing_items:
        lines.append(
            t(
                lang,
                "ledger.status_summary",
                total=len(unit.items),
                accepted=unit.accepted,
                pending=unit.pending_review,
                open=len(unit.open_items),
            )
        )
    else:
        lines.append(t(lang, "ledger.status_complete"))
    if not unit.liaison_registered:
        lines.append(t(lang, "ledger.status_liaison_missing"))
    if not unit.lead_registered:
        lines.append(t(lang, "ledger.status_lead_missing"))
    if unit.open_items:
        lines.append(t(lang, "ledger.status_hint"))
    return "\n".join(lines)


def render_prompt(step: SubmitStep, lang: str) -> str:
    assert step.item is not None
    item = step.item
    lines = [
        t(
            lang,
            "ledger.prompt",
            unit=step.unit_name,
            open=step.open_count,
            title=item.title,
            description=item.description,
        )
    ]
    if item.state == ItemState.RETURNED and item.reason:
        lines.append(t(lang, "ledger.prompt_returned", reason=item.reason))
    if item.draft_files:
        lines.append(t(lang, "ledger.prompt_draft", files=item.draft_files))
    elif item.draft_chars:
        lines.append(t(lang, "ledger.prompt_draft_text", chars=item.draft_chars))
    lines.append(t(lang, "ledger.prompt_how"))
    return "\n".join(lines)


def render_step(
    step: SubmitStep, lang: str, *before: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The message after a move: what just happened, then the next item or the end."""
    lines = list(before)
    if step.submitted:
        lines.append(t(lang, "ledger.submitted", title=step.submitted))
    if step.item is not None:
        lines.append(render_prompt(step, lang))
        return "\n\n".join(lines), item_keyboard(lang, step.item.item_id)
    if step.skipped:
        titles = join(lang, step.skipped)
        lines.append(t(lang, "ledger.walk_skipped", titles=titles))
        return "\n\n".join(lines), submit_keyboard(lang, step.unit_id)
    if step.open_count == 0:
        key = "ledger.walk_done" if step.pending_review else "ledger.status_complete"
        lines.append(t(lang, key))
    return "\n\n".join(lines), None


# ---- helpers -------------------------------------------------------------------------------


def incoming_of(message: Message) -> IncomingFile | None:
    """The document or (largest) photo of a message, as Telegram describes it."""
    origin = forwarded_from(message)
    caption = (message.caption or "")[:1024] or None  # Premium captions run longer
    if message.document is not None:
        document = message.document
        return IncomingFile(
            kind="document",
            file_id=document.file_id,
            file_unique_id=document.file_unique_id,
            file_name=document.file_name,
            mime_type=document.mime_type,
            size=document.file_size,
            forwarded_from=origin,
            caption=caption,
        )
    if message.photo:
        photo = message.photo[-1]
        return IncomingFile(
            kind="photo",
            file_id=photo.file_id,
            file_unique_id=photo.file_unique_id,
            size=photo.file_size,
            forwarded_from=origin,
            caption=caption,
        )
    return None


def forwarded_from(message: Message) -> str | None:
    """Whom or where a forwarded message came from, as Telegram names them (else None)."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        name = user.full_name + (f" (@{user.username})" if user.username else "")
    elif isinstance(origin, MessageOriginHiddenUser):
        name = origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        name = origin.sender_chat.effective_name or str(origin.sender_chat.id)
    elif isinstance(origin, MessageOriginChannel):
        name = origin.chat.effective_name or str(origin.chat.id)
    else:
        return None
    return name[:200]


# ---- /status ---------------------------------------------------------------------------------


async def status(update: Update, context: Context) -> None:
    """Each of the person's units: every item and its state, the deadline, a button."""
    user = update.effective_user
    if user is None:
        return
    lang = await language_for(update, context)
    actor = await actor_of(update, context)
    units = list(dict.fromkeys(r.unit_id for r in actor.roles)) if actor is not None else []
    try:
        ledgers = await permissions.my_ledgers(
            services=services_of(context), actor_id=user.id, unit_ids=units
        )
    except DomainError as error:
        await send(update, context, error_text(error, lang))
        return
    for unit in ledgers:
        markup = submit_keyboard(lang, unit.unit_id) if unit.open_items else None
        await send(update, context, render_status(unit, lang), markup)


# ---- /submit ---------------------------------------------------------------------------------


async def submit(update: Update, context: Context) -> None:
    """Start walking through the unit's open items (choose the unit first if several)."""
    user = update.effective_user
    if user is None:
        return
    lang = await language_for(update, context)
    services = services_of(context)
    units = await permissions.my_units(services=services, actor_id=user.id)
    if not units:
        await send(update, context, t(lang, "ledger.not_member"))
        return
    if len(units) > 1:
        rows = [[(u.name, f"sub:start:{u.unit_id}")] for u in units]
        await send(update, context, t(lang, "ledger.choose_unit"), keyboard(rows))
        return
    await start(update, context, lang, units[0].unit_id, None)


async def start(
    update: Update, context: Context, lang: str, unit_id: int, item_id: int | None
) -> None:
    user = update.effective_user
    assert user is not None
    try:
        step = await submitting.start_submission(
            services=services_of(context), actor_id=user.id, unit_id=unit_id, item_id=item_id
        )
    except DomainError as error:
        await send(update, context, error_text(error, lang))
        return
    await send(update, context, *render_step(step, lang))


async def submit_button(update: Update, context: Context) -> None:
    """`sub:start:<unit>` and `sub:go:<unit>:<item>` pressed outside the flow."""
    query = update.callback_query
    if query is None:
        return
    lang = await language_for(update, context)
    data = query.data or ""
    ids = ids_of(data, 2) if data.startswith("sub:go:") else ids_of(data, 1)
    if ids is None:
        await query.answer(t(lang, "common.stale_button"))
        return
    await query.answer()
    await start(update, context, lang, ids[0], ids[1] if len(ids) == 2 else None)


async def flow_message(update: Update, context: Context) -> Message | None:
    """The message sent during a ledger flow, unless it is /status: that is answered at once and
    the flow goes on (None then, as when the update carries no message)."""
    message = update.effective_message
    if message is None:
        return None
    if command_of(update) == "status":
        await status(update, context)
        return None
    return message


async def submit_flow(update: Update, context: Context, step: StepOut) -> None:
    """Everything a person sends while submitting: files, text, buttons, commands."""
    user = update.effective_user
    if user is None:
        return
    lang = await language_for(update, context)
    unit_id, item_id = int(step.data["unit_id"]), int(step.data["item_id"])
    try:
        if update.callback_query is not None:
            await submit_press(update, context, step, lang)
            return
        message = await flow_message(update, context)
        if message is None:
            return
        command = command_of(update)
        if command == "submit":
            await start(update, context, lang, unit_id, item_id)
        elif command is not None:
            await send(update, context, t(lang, "ledger.in_flow_command"))
        elif step.step == submitting.STEP_NOT_APPLICABLE:
            await not_applicable_reason(update, context, lang, unit_id, item_id, message)
        else:
            await item_content(update, context, lang, unit_id, item_id, message)
    except errors.NotYourUnit as error:
        # The person no longer acts for the unit (a handover): leave the flow.
        await conversations.cancel(services=services_of(context), user_id=user.id)
        await send(update, context, error_text(error, lang))
    except errors.ItemNotOpen as error:
        # Someone else settled the item meanwhile: go on with what is still open.
        await send(update, context, error_text(error, lang))
        await start(update, context, lang, unit_id, None)
    except DomainError as error:
        await send(update, context, error_text(error, lang), item_keyboard(lang, item_id))


async def item_content(
    update: Update, context: Context, lang: str, unit_id: int, item_id: int, message: Message
) -> None:
    """A file or a text answer for the item asked for."""
    user = update.effective_user
    assert user is not None
    services = services_of(context)
    incoming = incoming_of(message)
    if incoming is not None:
        draft = await submitting.receive_file(
            services=services,
            actor_id=user.id,
            unit_id=unit_id,
            item_id=item_id,
            incoming=incoming,
            fetch=fetcher(context),
        )
        if draft.added:
            text = t(lang, "ledger.file_received", name=incoming.display_name, files=draft.files)
        else:
            text = t(lang, "ledger.file_duplicate", name=incoming.display_name, files=draft.files)
    elif message.text:
        draft = await submitting.add_text(
            services=services,
            actor_id=user.id,
            unit_id=unit_id,
            item_id=item_id,
            text=message.text,
        )
        text = t(lang, "ledger.text_received", chars=draft.text_chars)
    else:
        text = t(lang, "ledger.unexpected")
    await send(update, context, text, item_keyboard(lang, item_id))


async def not_applicable_reason(
    update: Update, context: Context, lang: str, unit_id: int, item_id: int, message: Message
) -> None:
    user = update.effective_user
    assert user is not None
    if not message.text:
        await send(update, context, t(lang, "ledger.not_applicable_reask"))
        return
    try:
        step = await submitting.declare_not_applicable(
            services=services_of(context),
            actor_id=user.id,
            unit_id=unit_id,
            item_id=item_id,
            reason=message.text,
        )
    except errors.BadReason as error:
        await send(update, context, error_text(error, lang))
        return
    await send(update, context, *render_step(step, lang))


async def submit_press(update: Update, context: Context, step: StepOut, lang: str) -> None:
    """A button pressed during the flow; rights are checked again by each use-case."""
    user, query = pressed(update)
    data = query.data or ""
    if data.startswith(("sub:start:", "sub:go:")):
        await submit_button(update, context)
        return
    verb = data.split(":")[1] if data.startswith("sub:") and data.count(":") == 2 else ""
    ids = ids_of(data, 1)
    unit_id, item_id = int(step.data["unit_id"]), int(step.data["item_id"])
    if verb not in ("done", "skip", "na") or ids is None or ids[0] != item_id:
        await query.answer(t(lang, "common.stale_button"))
        return
    await query.answer()
    services = services_of(context)
    if verb == "na":
        item = await submitting.ask_not_applicable(
            services=services, actor_id=user.id, unit_id=unit_id, item_id=item_id
        )
        await drop_keyboard(update)
        await send(update, context, t(lang, "ledger.not_applicable_ask", title=item.title))
        return
    if verb == "done":
        moved = await submitting.finish_item(
            services=services, actor_id=user.id, unit_id=unit_id, item_id=item_id
        )
    else:
        moved = await submitting.skip_item(
            services=services, actor_id=user.id, unit_id=unit_id, item_id=item_id
        )
    await drop_keyboard(update)
    await send(update, context, *render_step(moved, lang))


# ---- files outside /submit -------------------------------------------------------------------


def stray_keyboard(lang: str, out: StrayOut) -> InlineKeyboardMarkup:
    """The items to file the held files under; each button carries its question's number, so
    that an older question cannot file files sent after it."""
    units = {c.unit_id for c in out.candidates}
    asked = out.asked
    rows = []
    if out.guess is not None:
        label = plain(lang, "ledger.stray_button_confirm", title=out.guess.title)
        rows.append([(label, f"sf:{out.guess.unit_id}:{out.guess.item_id}:{asked}")])
    for c in out.candidates:
        if out.guess is not None and c.item_id == out.guess.item_id:
            continue
        label = (
            plain(lang, "ledger.stray_button_other_unit", unit=c.unit_name, title=c.title)
            if len(units) > 1
            else c.title
        )
        rows.append([(label, f"sf:{c.unit_id}:{c.item_id}:{asked}")])
    rows.append([(t(lang, "ledger.stray_button_drop"), "sf:x")])
    return keyboard(rows)


async def hold(update: Update, context: Context, lang: str, message: Message) -> None:
    """Keep a file in hand and ask which item it belongs to."""
    user = update.effective_user
    incoming = incoming_of(message)
    if user is None or incoming is None:
        return
    try:
        out = await stray.hold_stray_file(
            services=services_of(context),
            actor_id=user.id,
            incoming=incoming,
        )
    except DomainError as error:
        await send(update, context, error_text(error, lang))
        return
    if out.known is not None:
        state = (
            t(lang, "ledger.state_draft")
            if out.known.state == "draft"
            else t(lang, f"ledger.state_{out.known.state}")
        )
        text = t(
            lang,
            "ledger.stray_known",
            name=incoming.display_name,
            title=out.known.title,
            state=state,
        )
        await send(update, context, text)
        return
    names = join(lang, out.files)
    text = (
        t(lang, "ledger.stray_ask_guess", names=names, title=out.guess.title)
        if out.guess is not None
        else t(lang, "ledger.stray_ask", names=names)
    )
    await send(update, context, text, stray_keyboard(lang, out))


async def stray_file(update: Update, context: Context) -> None:
    """A document or photo sent outside /submit: suggest its item, keep it until confirmed."""
    message = update.effective_message
    if message is None:
        return
    await hold(update, context, await language_for(update, context), message)


async def stray_flow(update: Update, context: Context, step: StepOut) -> None:
    """While files are held: more files, the choice of item, or a reminder to choose."""
    user, query = update.effective_user, update.callback_query
    if user is None:
        return
    lang = await language_for(update, context)
    services = services_of(context)
    if query is not None:
        data = query.data or ""
        if data == "sf:x":
            await query.answer()
            await stray.drop_held_files(services=services, actor_id=user.id)
            await drop_keyboard(update)
            await send(update, context, t(lang, "ledger.stray_dropped"))
            return
        if data.startswith("sub:"):  # /submit (a reminder's button) waits for the choice
            await query.answer()
            await send(update, context, t(lang, "ledger.stray_reask"))
            return
        # sf:unit:item:question (sf:unit:item from before questions were numbered)
        ids = ids_of(data, data.count(":")) if data.startswith("sf:") else None
        if ids is None or len(ids) not in (2, 3):
            await query.answer(t(lang, "common.stale_button"))
            return
        await query.answer()
        try:
            placed = await stray.place_held_files(
                services=services,
                actor_id=user.id,
                unit_id=ids[0],
                item_id=ids[1],
                asked=ids[2] if len(ids) == 3 else None,
                fetch=fetcher(context),
            )
        except DomainError as error:
            await send(update, context, error_text(error, lang))
            return
        await drop_keyboard(update)
        before = [t(lang, r.key, **r.values) for r in placed.refused]
        before.append(
            t(
                lang,
                "ledger.stray_placed",
                count=placed.added,
                title=placed.draft.title,
                files=placed.draft.files,
            )
        )
        await send(update, context, *render_step(placed.step, lang, *before))
        return
    message = await flow_message(update, context)
    if message is None:
        return
    if command_of(update) is None and incoming_of(message) is not None:
        await hold(update, context, lang, message)
    else:
        await send(update, context, t(lang, "ledger.stray_reask"))


FEATURE = Feature(
    commands=(
        Command("status", status, Audience.MEMBER, filters=PRIVATE),
        Command("submit", submit, Audience.MEMBER, filters=PRIVATE),
    ),
    buttons=(Button(r"^sub:(start|go):", submit_button),),
    handlers=(MessageHandler(PRIVATE & FILES, stray_file),),
    flows={submitting.FLOW_SUBMIT: submit_flow, submitting.FLOW_STRAY: stray_flow},
)
