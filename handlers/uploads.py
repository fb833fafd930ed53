"""A roster, checklist or holiday file staff send as a document: previewed, then imported.

Thin handlers over bot.staff.uploads. A spreadsheet (.xlsx, .csv) or a .json file from a
member of staff is checked and previewed with buttons; from anyone else it is what it was
before (a member's material, or refused) — the ledger's file handler takes it. So is a file
of a staff member who is also a unit's liaison when its columns fit no kind.

Buttons (callback_data, short ids only):
    up:k:<upload>:<kind>   read the file as this kind (units | checklist | holidays)
    up:ok:<upload>         import as previewed;  up:rm:<upload>  and remove the units left out
    up:x:<upload>          do not import
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, timedelta

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot.context import Context
from bot.enums import KINDS_IN_TEXT
from bot.errors import DomainError
from bot.importing import problem_lines
from bot.ledger.checklist import ChecklistPlan
from bot.ledger.files import DownloadTooLarge
from bot.roster import RosterPlan
from bot.staff import uploads
from bot.staff.uploads import AppliedOut, HolidayPlan, UploadOut
from handlers.shared import (
    PRIVATE,
    Button,
    Feature,
    actor_of,
    captured,
    drop_keyboard,
    error_text,
    fetcher,
    keyboard,
    matched,
    pressed,
    refresh_menus,
    send,
    services_of,
)
from messages import (
    Markup,
    catalogue,
    format_short_date,
    format_weekday_date,
    join,
    kind_name,
    t,
)

# Telegram allows 4096 characters a message; long lists go in several.
PART_LIMIT = 3500
# A preview names at most this many units or items of one list (and says how many more).
NAMES_SHOWN = 40
# A rejection lists at most this many problems (and says how many more).
PROBLEMS_SHOWN = 100

DOCUMENTS = (
    filters.Document.FileExtension("xlsx")
    | filters.Document.FileExtension("csv")
    | filters.Document.FileExtension("json")
)


# ---- rendering -----------------------------------------------------------------------------


def names_text(lang: str, names: Sequence[str]) -> str:
    """A list of units in running text, the first NAMES_SHOWN of them."""
    shown = join(lang, names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += t(lang, "uploads.more_units", count=len(names) - NAMES_SHOWN)
    return shown


def marked_names(lang: str, key: str, names: Sequence[str]) -> str:
    """A sentence with a count and names that are HTML already (lines of the catalogue)."""
    return t(lang, key, count=len(names), names=Markup(names_text(lang, names)))


def rejection_text(lang: str, out: UploadOut) -> list[str]:
    """Every problem of a file, by row, in as many messages as it takes."""
    lines = [t(lang, "uploads.rejected", file=out.file_name, count=len(out.problems))]
    lines += problem_lines(lang, out.problems, PROBLEMS_SHOWN, say=t)
    lines.append(t(lang, "uploads.rejected_hint"))
    return parts(lines)


def parts(lines: Sequence[str]) -> list[str]:
    """Lines joined into messages under Telegram's limit."""
    messages: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > PART_LIMIT:
            messages.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return [*messages, current]


def by_former_lines(lang: str, plan: RosterPlan) -> list[str]:
    """A line naming the rows a roster lists by a unit's former name, if any."""
    if not plan.by_former:
        return []
    names = [
        t(lang, "uploads.units_by_former_one", former=c.former or "", name=c.name)
        for c in plan.by_former
    ]
    return [marked_names(lang, "uploads.units_by_former", names)]


def roster_text(lang: str, file: str, plan: RosterPlan) -> str:
    lines = [
        t(lang, "uploads.units_title", file=file),
        t(lang, "uploads.units_count", count=plan.count),
    ]
    if plan.added:
        names = [c.name for c in plan.added]
        lines.append(
            t(lang, "uploads.units_added", count=len(names), names=names_text(lang, names))
        )
    if plan.renamed:
        names = [
            t(lang, "uploads.units_renamed_one", former=c.former or "", name=c.name)
            for c in plan.renamed
        ]
        lines.append(marked_names(lang, "uploads.units_renamed", names))
    retyped = [c for c in plan.renamed + plan.retyped if c.former_kind]
    if retyped:
        names = [
            t(
                lang,
                "uploads.units_retyped_one",
                name=c.name,
                before=kind_name(lang, c.former_kind or ""),
                after=kind_name(lang, c.kind),
            )
            for c in retyped
        ]
        lines.append(marked_names(lang, "uploads.units_retyped", names))
    if plan.reordered:
        lines.append(t(lang, "uploads.units_reordered"))
    lines.extend(by_former_lines(lang, plan))
    if not plan.changes:  # a preview without changes leaves units out (else: unchanged)
        lines.append(t(lang, "uploads.units_same"))
    if plan.absent:
        names = [
            t(
                lang,
                "uploads.units_absent_history",
                name=u.name,
                people=u.people,
                accepted=u.accepted,
                pending=u.pending,
            )
            if u.people or u.accepted or u.pending
            else html.escape(u.name, quote=False)
            for u in plan.absent
        ]
        lines.append("")
        lines.append(marked_names(lang, "uploads.units_absent", names))
        key = "uploads.units_absent_choice" if plan.changes else "uploads.units_absent_only"
        lines.append(t(lang, key, count=len(plan.absent)))
    return "\n".join(lines)


def _kind_counts(lang: str, plan: ChecklistPlan) -> Markup:
    """How many items the file has for each kind: 成员单位3项，县（区）6项."""
    parts = (
        t(
            lang,
            "uploads.checklist_count_kind",
            kinds=kind_name(lang, kind, plural=True),
            count=plan.by_kind[kind],
        )
        for kind in KINDS_IN_TEXT
    )
    return Markup(t(lang, "uploads.checklist_count_separator").join(parts))


def checklist_text(lang: str, file: str, out: UploadOut) -> str:
    plan = out.checklist
    assert plan is not None
    lines = [
        t(lang, "uploads.checklist_title", file=file),
        t(
            lang,
            "uploads.checklist_count",
            count=plan.count,
            by_kind=_kind_counts(lang, plan),
        ),
    ]
    for key, items in (("checklist_added", plan.added), ("checklist_retired", plan.retired)):
        if not items:
            continue
        lines.append(t(lang, f"uploads.{key}", count=len(items)))
        lines += [
            t(lang, "uploads.checklist_line", kind=kind_name(lang, i.kind), title=i.title)
            for i in items[:NAMES_SHOWN]
        ]
        if len(items) > NAMES_SHOWN:
            lines.append(t(lang, "uploads.more", count=len(items) - NAMES_SHOWN))
    if plan.changed:
        lines.append(t(lang, "uploads.checklist_changed", count=plan.changed))
    return "\n".join(lines)


def day_runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive dates as (first, last) runs: 2月10日至2月16日."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def holidays_text(lang: str, file: str, plan: HolidayPlan) -> str:
    def short(day: date) -> str:
        return format_short_date(day, day, lang)

    off = [
        short(a) if a == b else t(lang, "uploads.holidays_range", start=short(a), end=short(b))
        for a, b in day_runs(plan.holidays)
    ]
    lines = [
        t(lang, "uploads.holidays_title", file=file),
        t(
            lang,
            "uploads.holidays_count",
            year=plan.year,
            holidays=len(plan.holidays),
            workdays=len(plan.workdays),
        ),
    ]
    if off:
        lines.append(t(lang, "uploads.holidays_off", days=Markup(join(lang, off))))
    if plan.workdays:
        work = join(lang, [format_weekday_date(d, lang) for d in plan.workdays])
        lines.append(t(lang, "uploads.holidays_work", days=work))
    lines.append(
        t(
            lang,
            f"uploads.holidays_replaces_{plan.replaces}",
            year=plan.year,
            previous=plan.previous_file,
        )
    )
    return "\n".join(lines)


def preview(lang: str, out: UploadOut) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """What the bot answers a file with: the change and its buttons, or why not."""
    upload = out.upload_id
    if out.state == "rejected":
        return rejection_text(lang, out), None
    if out.state == "undecided":
        columns = join(lang, out.columns) if out.columns else t(lang, "uploads.no_columns")
        text = t(lang, "uploads.ask_kind", file=out.file_name, columns=columns)
        rows = [
            [
                (t(lang, f"uploads.button_{kind}"), f"up:k:{upload}:{kind}")
                for kind in uploads.KINDS
            ],
            [(t(lang, "uploads.button_cancel"), f"up:x:{upload}")],
        ]
        return [text], keyboard(rows)
    if out.state == "unchanged":
        year = out.holidays.year if out.holidays is not None else ""
        lines = [t(lang, f"uploads.unchanged_{out.kind}", file=out.file_name, year=year)]
        if out.roster is not None:
            lines.extend(by_former_lines(lang, out.roster))
        return ["\n".join(lines)], None
    cancel = (t(lang, "uploads.button_cancel"), f"up:x:{upload}")
    if out.roster is not None:
        plan = out.roster
        buttons = []
        if plan.changes:
            buttons.append([(t(lang, "uploads.button_apply"), f"up:ok:{upload}")])
        if plan.absent:
            key = "uploads.button_apply_remove" if plan.changes else "uploads.button_remove_only"
            buttons.append([(t(lang, key, count=len(plan.absent)), f"up:rm:{upload}")])
        return [roster_text(lang, out.file_name, plan)], keyboard([*buttons, [cancel]])
    apply = [(t(lang, "uploads.button_apply"), f"up:ok:{upload}")]
    if out.holidays is not None:
        text = holidays_text(lang, out.file_name, out.holidays)
    else:
        text = checklist_text(lang, out.file_name, out)
    return [text], keyboard([apply, [cancel]])


def applied_text(lang: str, out: AppliedOut) -> str:
    if out.roster is not None:
        plan = out.roster
        retyped = sum(1 for c in plan.renamed + plan.retyped if c.former_kind)
        text = t(
            lang,
            "uploads.units_applied",
            file=out.file_name,
            added=len(plan.added),
            renamed=len(plan.renamed),
            retyped=retyped,
            removed=out.removed,
        )
        if plan.added:
            text += "\n" + t(lang, "uploads.units_invite_hint")
        return text
    if out.checklist is not None:
        plan_c = out.checklist
        return t(
            lang,
            "uploads.checklist_applied",
            file=out.file_name,
            added=len(plan_c.added),
            retired=len(plan_c.retired),
            changed=plan_c.changed,
        )
    assert out.holidays is not None
    return t(
        lang,
        "uploads.holidays_applied",
        file=out.file_name,
        year=out.holidays.year,
        holidays=len(out.holidays.holidays),
        workdays=len(out.holidays.workdays),
    )


async def show(update: Update, context: Context, lang: str, out: UploadOut, *before: str) -> None:
    texts, markup = preview(lang, out)
    if before:
        texts[0] = "\n\n".join([*before, texts[0]])
    for number, text in enumerate(texts):
        await send(update, context, text, markup if number == len(texts) - 1 else None)


# ---- handlers ------------------------------------------------------------------------------


async def received(update: Update, context: Context) -> None:
    """A spreadsheet or .json document from staff: its preview (anyone else's goes on)."""
    message, actor = update.effective_message, await actor_of(update, context)
    document = message.document if message is not None else None
    if actor is None or document is None or not actor.staff:
        return  # a unit's material sent outside /submit: the ledger's to answer
    lang = actor.language
    services = services_of(context)
    try:
        out = await uploads.receive_upload(
            services=services,
            actor_id=actor.user_id,
            file_id=document.file_id,
            file_name=document.file_name or "file",
            fetch=fetcher(context),
        )
    except DownloadTooLarge:
        await send(update, context, t(lang, "uploads.too_large"))
        raise ApplicationHandlerStop from None
    except DomainError as error:
        await send(update, context, error_text(error, lang))
        raise ApplicationHandlerStop from None
    if out.state == "undecided" and actor.member:
        # Perhaps the unit's own material (a ledger kept in Excel): as before this feature.
        await uploads.cancel_upload(
            services=services, actor_id=actor.user_id, upload_id=out.upload_id
        )
        return
    await show(update, context, lang, out)
    raise ApplicationHandlerStop


async def kind_chosen(update: Update, context: Context, lang: str) -> None:
    """`up:k:<upload>:<kind>`: read the file as the kind the staff member chose."""
    user, query = pressed(update)
    kind = next(k for k in uploads.KINDS if k == captured(context, 2))
    out = await uploads.choose_kind(
        services=services_of(context), actor_id=user.id, upload_id=matched(context), kind=kind
    )
    await query.answer()
    await drop_keyboard(update)
    await show(update, context, lang, out)


async def confirmed(update: Update, context: Context, lang: str) -> None:
    """`up:ok:<upload>` / `up:rm:<upload>`: import what the preview showed, if it still holds."""
    user, query = pressed(update)
    out = await uploads.apply_upload(
        services=services_of(context),
        actor_id=user.id,
        upload_id=matched(context, 2),
        remove_absent=captured(context, 1) == "rm",
    )
    await query.answer()
    await drop_keyboard(update)
    if out.outcome == "decided":
        key = f"uploads.decided_{out.state}"
        await send(update, context, t(lang, key if key in catalogue(lang) else "uploads.gone"))
        return
    if out.outcome == "outdated":
        assert out.fresh is not None
        await show(update, context, lang, out.fresh, t(lang, "uploads.outdated"))
        return
    await send(update, context, applied_text(lang, out))
    if out.people_removed:
        await refresh_menus(context, out.people_removed)


async def cancelled(update: Update, context: Context, lang: str) -> None:
    """`up:x:<upload>`: set the file aside; nothing changes."""
    user, query = pressed(update)
    name = await uploads.cancel_upload(
        services=services_of(context), actor_id=user.id, upload_id=matched(context)
    )
    await query.answer()
    await drop_keyboard(update)
    await send(update, context, t(lang, "uploads.cancelled", file=name))


FEATURE = Feature(
    buttons=(
        Button(r"^up:k:(\d+):(units|checklist|holidays)$", kind_chosen, staff=True),
        Button(r"^up:(ok|rm):(\d+)$", confirmed, staff=True),
        Button(r"^up:x:(\d+)$", cancelled, staff=True),
    ),
    claims=(MessageHandler(PRIVATE & DOCUMENTS, received),),
)
