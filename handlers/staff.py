"""The staff console: /outstanding, /unit (a unit's file and its actions) and /audit.

Every command and button is behind the staff gate (handlers/shared.py). Used by staff in a
group, an answer that names people or units is sent to the staff member privately, with a
short note in the group. The unit card also carries buttons that other features answer: a
new invite link (registration), "remind now" (reminders).

Buttons (`callback_data`, short ids only):
    st:o:{list}:{kind}:{page}   a page of /outstanding (list a|c|i|r|u; kind any, or a unit kind)
    st:u:{unit}                 a unit's file again
    st:x:{unit}                 choose the item to excuse the unit from
    st:xi:{unit}:{item}         excuse it (asks for the reason)
    st:p:{unit}:{days}          pause the unit's reminders; st:r:{unit} resumes them
    st:a:{before}               older audit entries
    st:n:{unit}                 add an item for the unit only (asks for its title)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from telegram import InlineKeyboardMarkup, Update

from bot.context import Context
from bot.conversations import StepOut
from bot.errors import DomainError
from bot.ledger.report import deadline_line, deadlines_line
from bot.services import Services
from bot.staff import console
from bot.staff.broadcasts import audience_name
from bot.staff.console import (
    KINDS,
    LISTS,
    AuditPage,
    KindFilter,
    ListName,
    OutstandingView,
    UnitCard,
)
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    awaited_text,
    captured,
    edit,
    error_text,
    keyboard,
    language_for,
    matched,
    pressed,
    send,
    send_private,
    services_of,
    tell,
)
from messages import (
    Markup,
    catalogue,
    format_clock,
    format_date,
    format_short_time,
    format_time,
    join_and,
    join_clauses,
    kind_label,
    kind_name,
    plain,
    role_name,
    shorten,
    t,
)

log = logging.getLogger(__name__)

EXEMPT_FLOW = console.EXEMPT_FLOW
ADD_ITEM_FLOW = console.ADD_ITEM_FLOW
LIST_CODES: dict[str, ListName] = {name[0]: name for name in LISTS}


# ---- /outstanding ---------------------------------------------------------------------------


def outstanding_line(line: console.OutstandingLine, lang: str) -> str:
    parts = []
    if line.missing_roles:
        roles = join_and(lang, [role_name(lang, r) for r in line.missing_roles])
        parts.append(t(lang, "outstanding.missing_roles", roles=roles))
    if line.missing_items:
        parts.append(t(lang, "outstanding.missing_items", count=line.missing_items))
        if line.pending_review:
            parts[-1] += t(lang, "outstanding.pending", count=line.pending_review)
    if line.unreachable:
        parts.append(t(lang, "outstanding.unreachable_flag"))
    joined = t(lang, "outstanding.separator").join(parts) or t(lang, "outstanding.complete")
    return t(lang, "outstanding.line", name=line.name, what=Markup(joined))


def outstanding_text(view: OutstandingView, lang: str) -> str:
    lines = [
        t(lang, "outstanding.title", time=format_time(view.generated_at, lang)),
        deadlines_line(view.deadlines, view.deadline, lang),
        t(lang, "outstanding.totals", **view.totals.model_dump()),
    ]
    if view.kind != "any":
        lines.append(
            t(
                lang,
                "outstanding.scope_totals",
                kind=kind_name(lang, view.kind, plural=True),
                **view.scope.model_dump(),
            )
        )
    lines.append(t(lang, "outstanding.unreachable_units", count=view.unreachable_units))
    lines.append("")
    lines.append(
        t(
            lang,
            "outstanding.list_heading",
            list=t(lang, f"outstanding.list_{view.list_name}"),
            count=view.count,
            page=view.page + 1,
            pages=view.pages,
        )
    )
    lines += [outstanding_line(line, lang) for line in view.lines]
    if not view.lines:
        lines.append(t(lang, "report.none"))
    return "\n".join(lines)


def _kind_button(lang: str, kind: str) -> str:
    """A filter button of /outstanding: all units, or one kind's."""
    return t(lang, "outstanding.kind_any") if kind == "any" else kind_label(lang, kind)


def outstanding_markup(view: OutstandingView, lang: str) -> InlineKeyboardMarkup:
    kind = view.kind

    def button(
        label: str, list_name: str, kind_code: str, page: int, current: bool
    ) -> tuple[str, str]:
        text = t(lang, "outstanding.current", label=label) if current else label
        return text, f"st:o:{list_name[0]}:{kind_code}:{page}"

    lists = [
        button(t(lang, f"outstanding.button_{n}"), n, kind, 0, n == view.list_name) for n in LISTS
    ]
    kinds = [button(_kind_button(lang, k), view.list_name, k, 0, k == view.kind) for k in KINDS]
    rows = [lists[:3], lists[3:], kinds]
    pages = []
    if view.page > 0:
        pages.append(
            button(t(lang, "console.previous"), view.list_name, kind, view.page - 1, False)
        )
    if view.page + 1 < view.pages:
        pages.append(button(t(lang, "console.next"), view.list_name, kind, view.page + 1, False))
    if pages:
        rows.append(pages)
    return keyboard(rows)


async def outstanding(update: Update, context: Context, lang: str) -> None:
    """`/outstanding [contacts|items|review|unreachable] [member|county]`."""
    user = update.effective_user
    assert user is not None
    list_name: ListName = "all"
    kind: KindFilter = "any"
    for arg in context.args or []:
        word = arg.lower()
        list_name = next((n for n in LISTS if n.startswith(word)), list_name)
        kind = next((k for k in KINDS if k.startswith(word)), kind)
    view = await console.outstanding(
        services=services_of(context), actor_id=user.id, list_name=list_name, kind=kind
    )
    await send_private(
        update, context, lang, outstanding_text(view, lang), outstanding_markup(view, lang)
    )


async def show_page(update: Update, context: Context, lang: str) -> None:
    """A button of /outstanding: another list, kind or page, in the same message."""
    user, query = pressed(update)
    view = await console.outstanding(
        services=services_of(context),
        actor_id=user.id,
        list_name=LIST_CODES[captured(context, 1)],
        kind=captured(context, 2),
        page=matched(context, 3),
    )
    await query.answer()
    await edit(query.message, outstanding_text(view, lang), outstanding_markup(view, lang))


# ---- /unit NAME -------------------------------------------------------------------------------


def _day(moment: datetime | None, lang: str, tz: object) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(tz)  # type: ignore[arg-type]
    return format_date(local.date(), lang)


def _reason(reason: str | None, lang: str) -> str:
    text = (reason or "").lower()
    if "blocked" in text:
        return t(lang, "unitcard.reason_blocked")
    if "initiate" in text:
        return t(lang, "unitcard.reason_never_started")
    return t(lang, "unitcard.reason_other")


def unit_text(card: UnitCard, lang: str, tz: object, today: date) -> str:
    s = card.status
    lines = [
        t(
            lang,
            "unitcard.title_former" if card.former else "unitcard.title",
            name=card.name,
            former=card.former or "",
            kind=kind_name(lang, card.kind),
        ),
        deadline_line(card.deadline, lang),
    ]
    current = {c.role: c for c in card.contacts}
    for role in ("liaison", "lead"):
        c = current.get(role)
        label = role_name(lang, role)
        if c is None:
            lines.append(t(lang, "unitcard.contact_missing", role=label))
            continue
        linked = (
            ""
            if c.telegram_user_id
            else t(lang, "unitcard.not_linked" if role == "lead" else "unitcard.no_account")
        )
        lines.append(
            t(
                lang,
                "unitcard.contact",
                role=label,
                name=c.name,
                post=c.post,
                phone=c.phone,
                linked=linked,
            )
        )
        if c.unreachable_since is not None:
            lines.append(
                t(
                    lang,
                    "unitcard.unreachable",
                    name=c.name,
                    since=_day(c.unreachable_since, lang, tz),
                    reason=_reason(c.unreachable_reason, lang),
                )
            )
    if card.paused_until is not None and card.paused_until >= today:
        lines.append(
            t(
                lang,
                "unitcard.paused",
                until=format_date(card.paused_until, lang),
                reason=card.pause_reason or "",
            )
        )
    owed = [i for i in card.items if i.state != "exempt"]
    lines += [
        "",
        t(
            lang,
            "unitcard.items_heading",
            required=len(owed),
            accepted=sum(1 for i in owed if i.state == "accepted"),
            missing=len(s.missing_items),
            pending=s.pending_review,
        ),
    ]
    for item in card.items:
        when = item.reviewed_at if item.state in ("accepted", "returned") else item.submitted_at
        lines.append(
            t(
                lang,
                "unitcard.item",
                title=item.title,
                state=t(lang, f"unitcard.state_{item.shown_state}"),
                when=t(lang, "unitcard.item_when", date=_day(when, lang, tz)) if when else "",
                note=t(lang, "unitcard.item_note", note=item.note) if item.note else "",
                draft=t(lang, "unitcard.item_draft") if item.draft else "",
            )
        )
    lines += ["", t(lang, "unitcard.reminders", count=card.reminders_total)]
    for r in card.reminders:
        lines.append(
            t(
                lang,
                "unitcard.reminder",
                date=_day(r.at, lang, tz),
                time=format_clock(r.at.astimezone(tz), lang),  # type: ignore[arg-type]
                recipient=r.recipient or "",
                state=state_label(r.state, lang),
            )
        )
    if card.history:
        lines += ["", t(lang, "unitcard.history")]
        for c in card.history:
            lines.append(
                t(
                    lang,
                    "unitcard.history_line",
                    role=role_name(lang, c.role),
                    name=c.name,
                    post=c.post,
                    since=_day(c.since, lang, tz),
                    until=_day(c.until, lang, tz),
                )
            )
    return "\n".join(lines)


def state_label(state: str, lang: str) -> str:
    key = f"export.state_{state}"
    return t(lang, key) if key in catalogue(lang) else state


def unit_markup(card: UnitCard, lang: str, today: date) -> InlineKeyboardMarkup:
    """The usual actions: excuse from an item, new invite links, pause or resume reminders."""

    def button(key: str, data: str) -> tuple[str, str]:
        return t(lang, f"unitcard.button_{key}"), data

    rows = []
    if any(i.state not in ("accepted", "exempt") for i in card.items):
        rows.append([button("exempt", f"st:x:{card.id}")])
    rows.append([button("add_item", f"st:n:{card.id}")])
    rows.append(
        [button("invite_liaison", f"st:i:{card.id}:l"), button("invite_lead", f"st:i:{card.id}:d")]
    )
    paused = card.paused_until is not None and card.paused_until >= today
    if not paused and (
        card.status.missing_contacts or any(i.state in ("missing", "returned") for i in card.items)
    ):
        rows.append([button("remind", f"st:m:{card.id}")])
    if card.status.missing_contacts or card.status.missing_items:  # handlers/notice.py
        rows.append([button("notice", f"nt:u:{card.id}")])
    if paused:
        rows.append([button("resume", f"st:r:{card.id}")])
    else:
        rows.append(
            [button("pause_week", f"st:p:{card.id}:7"), button("pause_two", f"st:p:{card.id}:14")]
        )
    rows.append([button("refresh", f"st:u:{card.id}")])
    return keyboard(rows)


def unit_view(card: UnitCard, lang: str, services: Services) -> tuple[str, InlineKeyboardMarkup]:
    """A unit's file as of today, with its buttons."""
    today = services.today()
    return unit_text(card, lang, services.settings.tz, today), unit_markup(card, lang, today)


async def unit(update: Update, context: Context, lang: str) -> None:
    """`/unit NAME`: a unit's file (a part of the name, or pinyin initials, will do)."""
    user = update.effective_user
    assert user is not None
    name = " ".join(context.args or []).strip()
    if not name:
        await tell(update, t(lang, "unitcard.usage"))
        return
    services = services_of(context)
    card = await console.unit_card(services=services, actor_id=user.id, name=name)
    await send_private(update, context, lang, *unit_view(card, lang, services))


async def show_unit(update: Update, context: Context, lang: str) -> None:
    """A unit's file again, in the same message."""
    user, query = pressed(update)
    unit_id = matched(context)
    services = services_of(context)
    card = await console.unit_card(services=services, actor_id=user.id, unit_id=unit_id)
    await query.answer()
    await edit(query.message, *unit_view(card, lang, services))


async def choose_exempt(update: Update, context: Context, lang: str) -> None:
    """Choose the item to excuse the unit from."""
    user, query = pressed(update)
    unit_id = matched(context)
    choices = await console.exempt_choices(
        services=services_of(context), actor_id=user.id, unit_id=unit_id
    )
    rows = [[(i.title, f"st:xi:{unit_id}:{i.item_id}")] for i in choices.items]
    rows.append([(t(lang, "console.back"), f"st:u:{unit_id}")])
    await query.answer()
    await edit(
        query.message,
        t(lang, "unitcard.exempt_choose", unit=choices.unit),
        keyboard(rows),
    )


async def ask_reason(update: Update, context: Context, lang: str) -> None:
    """Excuse the unit from the item chosen: ask the reason."""
    user, query = pressed(update)
    unit_id, item_id = matched(context, 1), matched(context, 2)
    asked = await console.ask_exempt_reason(
        services=services_of(context), actor_id=user.id, unit_id=unit_id, item_id=item_id
    )
    await query.answer()
    text = t(lang, "unitcard.exempt_reason", unit=asked.unit, title=asked.title)
    await send(update, context, text)


async def ask_item(update: Update, context: Context, lang: str) -> None:
    """Add an item for the unit only: ask its title."""
    user, query = pressed(update)
    unit_id = matched(context)
    asked = await console.ask_item_title(
        services=services_of(context), actor_id=user.id, unit_id=unit_id
    )
    await query.answer()
    await send(update, context, t(lang, "unitcard.add_item_title", unit=asked.unit))


async def pause(update: Update, context: Context, lang: str) -> None:
    """Hold the unit's reminders for some days (st:p:unit:days), or resume them (st:r:unit)."""
    user, query = pressed(update)
    unit_id, days = matched(context, 1), int(captured(context, 2) or 0)
    services = services_of(context)
    if days > 0:
        done = await console.pause_reminders(
            services=services, actor_id=user.id, unit_id=unit_id, days=min(days, 60)
        )
        assert done.until is not None
        answer = t(
            lang, "unitcard.paused_now", unit=done.unit, until=format_date(done.until, lang)
        )
    else:
        done = await console.resume_reminders(services=services, actor_id=user.id, unit_id=unit_id)
        answer = t(lang, "unitcard.resumed_now", unit=done.unit)
    await query.answer(answer, show_alert=True)
    card = await console.unit_card(services=services, actor_id=user.id, unit_id=unit_id)
    await edit(query.message, *unit_view(card, lang, services))


# What a unit card's flow does with the text it waited for: (language, staff member, text) →
# the answer, and the unit's name for the button back to its file.
CardAction = Callable[[str, int, str], Awaitable[tuple[str, str]]]


async def card_flow(
    update: Update,
    context: Context,
    step: StepOut,
    waiting_key: str,
    usable: Callable[[str], bool],
    action: CardAction,
) -> None:
    """The text a unit card's flow waits for: re-ask unless it is usable, else act on it and
    answer with a button back to the unit's file."""
    lang = await language_for(update, context)
    user, message = update.effective_user, update.effective_message
    text = await awaited_text(update, lang, waiting_key)
    if user is None or message is None or text is None:
        return
    if not usable(text):
        await message.reply_text(t(lang, waiting_key))
        return
    try:
        answer, unit = await action(lang, user.id, text)
    except DomainError as exc:
        await message.reply_text(error_text(exc, lang))
        return
    await message.reply_text(
        answer, reply_markup=back_to_unit(lang, unit, int(step.data["unit_id"]))
    )


async def exempt_reason(update: Update, context: Context, step: StepOut) -> None:
    """The flow "staff_exempt": the next text is the reason for the exemption."""

    async def excuse(lang: str, actor_id: int, text: str) -> tuple[str, str]:
        done = await console.excuse(
            services=services_of(context),
            actor_id=actor_id,
            unit_id=int(step.data["unit_id"]),
            item_id=int(step.data["item_id"]),
            reason=text.strip(),
        )
        answer = t(lang, "unitcard.exempted", unit=done.unit, title=done.title, reason=done.reason)
        return answer, done.unit

    await card_flow(
        update, context, step, "unitcard.exempt_waiting", lambda text: bool(text.strip()), excuse
    )


def back_to_unit(lang: str, unit: str, unit_id: int) -> InlineKeyboardMarkup:
    return keyboard(
        [[(plain(lang, "unitcard.button_back_to_unit", unit=unit), f"st:u:{unit_id}")]]
    )


async def item_title(update: Update, context: Context, step: StepOut) -> None:
    """The flow "staff_add_item": the next text is the new item's title (and description)."""

    async def add(lang: str, actor_id: int, text: str) -> tuple[str, str]:
        done = await console.add_unit_item(
            services=services_of(context),
            actor_id=actor_id,
            unit_id=int(step.data["unit_id"]),
            text=text,
        )
        key = "unitcard.item_added" if done.added else "unitcard.item_exists"
        return t(lang, key, unit=done.unit, title=done.title), done.unit

    await card_flow(
        update,
        context,
        step,
        "unitcard.add_item_waiting",
        lambda text: bool(console.split_item_text(text)[0]),
        add,
    )


# ---- /audit -----------------------------------------------------------------------------------


def audit_text(page: AuditPage, lang: str, tz: object) -> str:
    lines = [t(lang, "audit.title", count=len(page.entries))]
    known = catalogue(lang)
    for e in page.entries:
        if e.actor_id is None:
            actor = t(lang, "audit.actor_system")
        elif e.actor_staff and e.actor_name:
            actor = t(lang, "audit.actor_staff_named", name=e.actor_name)
        elif e.actor_staff:
            actor = t(lang, "audit.actor_staff", id=e.actor_id)
        elif e.actor_name:
            actor = t(lang, "audit.actor_person", name=e.actor_name)
        else:
            actor = t(lang, "audit.actor_user", id=e.actor_id)
        key = f"audit.action_{e.action}"
        action = t(lang, key) if key in known else t(lang, "audit.action_other")
        shown = join_clauses(lang, audit_details(e.details, lang)[:5])
        lines.append(
            t(
                lang,
                "audit.line",
                time=format_short_time(e.at.astimezone(tz), lang),  # type: ignore[arg-type]
                actor=actor,
                action=action,
                unit=t(lang, "audit.unit", unit=e.unit) if e.unit else "",
                details=shown,
            )
        )
    if not page.entries:
        lines.append(t(lang, "report.none"))
    return "\n".join(lines)


_DATE_KEYS = ("due", "until", "day")


def audit_details(details: dict[str, Any], lang: str) -> list[str]:
    """An entry's details as words: "资料：年度工作计划", never `key=value`. Keys without a
    sentence in the catalogue are left out."""
    known = catalogue(lang)
    shown = []
    for name, value in details.items():
        label = f"audit.detail_{name}"
        if label not in known:
            continue
        shown.append(t(lang, label, value=_audit_value(name, value, lang, known)))
    return shown


def _audit_value(name: str, value: object, lang: str, known: Mapping[str, str]) -> str:
    if isinstance(value, bool):
        return t(lang, "audit.yes" if value else "audit.no")
    text = str(value)
    if name == "role" and f"common.role_{text}" in known:
        return role_name(lang, text)
    if name == "audience":
        return audience_name(text, lang)
    if name == "scope" and f"common.kinds_{text}" in known:
        return kind_name(lang, text, plural=True)
    if name in ("kind", "via", "what", "scope") and f"audit.{name}_{text}" in known:
        return t(lang, f"audit.{name}_{text}")
    if name in _DATE_KEYS:
        try:
            return format_date(date.fromisoformat(text), lang)
        except ValueError:
            pass
    return _short(text)


def _short(value: object) -> str:
    return shorten(str(value), 30)


def audit_markup(page: AuditPage, lang: str) -> InlineKeyboardMarkup | None:
    if page.older is None:
        return None
    return keyboard([[(t(lang, "audit.older"), f"st:a:{page.older}")]])


async def audit(update: Update, context: Context, lang: str) -> None:
    """`/audit`: the latest entries of the audit log."""
    user = update.effective_user
    assert user is not None
    services = services_of(context)
    page = await console.audit_log(services=services, actor_id=user.id)
    text = audit_text(page, lang, services.settings.tz)
    await send_private(update, context, lang, text, audit_markup(page, lang))


async def older_audit(update: Update, context: Context, lang: str) -> None:
    """Older audit entries, in the same message."""
    user, query = pressed(update)
    before = matched(context)
    services = services_of(context)
    page = await console.audit_log(services=services, actor_id=user.id, before=before)
    await query.answer()
    await edit(
        query.message, audit_text(page, lang, services.settings.tz), audit_markup(page, lang)
    )


FEATURE = Feature(
    commands=(
        Command("outstanding", outstanding, Audience.STAFF),
        Command("unit", unit, Audience.STAFF),
        Command("audit", audit, Audience.STAFF),
    ),
    buttons=(
        Button(rf"^st:o:([acriu]):({'|'.join(KINDS)}):(\d+)$", show_page, staff=True),
        Button(r"^st:u:(\d+)$", show_unit, staff=True),
        Button(r"^st:x:(\d+)$", choose_exempt, staff=True),
        Button(r"^st:xi:(\d+):(\d+)$", ask_reason, staff=True),
        Button(r"^st:p:(\d+):(\d+)$", pause, staff=True),
        Button(r"^st:r:(\d+)()$", pause, staff=True),
        Button(r"^st:n:(\d+)$", ask_item, staff=True),
        Button(r"^st:a:(\d+)$", older_audit, staff=True),
    ),
    flows={EXEMPT_FLOW: exempt_reason, ADD_ITEM_FLOW: item_title},
)
