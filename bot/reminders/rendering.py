"""The words of reminders, staff tasks, digests and roll calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.enums import ItemState
from bot.ledger.report import differ, each_kind, kind_deadlines, the_deadline
from bot.ledger.status import Holder, UnitObligations
from bot.reminders.ladder import Decision
from bot.reminders.policy import DIGEST_LIMIT, PART_LIMIT, ROLLCALL_LIMIT, SUBMIT_CALLBACK
from messages import (
    Markup,
    format_date,
    format_short_date,
    join,
    join_clauses,
    role_name,
    shorten,
    t,
)


def _owed_lines(dues: UnitObligations, lang: str, role: str) -> list[str]:
    lines = []
    if not dues.liaison_registered:
        lines.append(t(lang, "reminders.liaison_missing"))
    if not dues.lead_registered:
        lines.append(t(lang, "reminders.lead_missing"))
    for item in dues.open_items:
        if item.state == ItemState.RETURNED and item.reason:
            note = shorten(item.reason, 100)
            lines.append(t(lang, "reminders.item_returned", title=item.title, note=note))
        elif item.state == ItemState.RETURNED:
            lines.append(t(lang, "reminders.item_returned_plain", title=item.title))
        elif item.draft_files:  # received, never sent for review (skipped, /cancel)
            lines.append(t(lang, "reminders.item_draft", title=item.title, files=item.draft_files))
        elif item.draft_chars:
            lines.append(t(lang, "reminders.item_draft_text", title=item.title))
        else:
            lines.append(t(lang, "reminders.item_missing", title=item.title))
    return lines


def deadline_line(deadline: date | None, today: date, lang: str) -> str:
    if deadline is None:
        return t(lang, "reminders.no_deadline")
    when = format_short_date(deadline, today, lang)
    if today > deadline:
        return t(lang, "reminders.overdue", date=when)
    return t(lang, "reminders.due_by", date=when)


def submit_keyboard(lang: str, unit_id: int) -> InlineKeyboardMarkup:
    """The one button of a reminder: it starts /submit for the unit (the ledger's handler)."""
    button = InlineKeyboardButton(
        t(lang, "reminders.button_submit"), callback_data=SUBMIT_CALLBACK.format(unit_id=unit_id)
    )
    return InlineKeyboardMarkup([[button]])


def render_reminder(
    dues: UnitObligations,
    *,
    role: str,
    lang: str,
    today: date,
    why: str | None = None,
    count: int = 0,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A reminder to the unit's liaison or lead: the unit, exactly what it owes, by when."""
    when = format_short_date(today, today, lang)
    lines = [t(lang, "reminders.heading")]
    lead = dues.lead
    if role == "lead" and lead is not None:
        lines.append(
            t(
                lang,
                "reminders.owed_lead",
                name=lead.name,
                post=lead.post,
                unit=dues.name,
                today=when,
            )
        )
    else:
        lines.append(t(lang, "reminders.owed_liaison", unit=dues.name, today=when))
    lines += _owed_lines(dues, lang, role)
    if dues.pending_review:
        lines.append(t(lang, "reminders.pending", count=dues.pending_review))
    if why is not None:
        liaison = dues.liaison.name if dues.liaison else ""
        lines.append(t(lang, f"reminders.why_{why}", count=count, name=liaison))
    lines.append(deadline_line(dues.deadline, today, lang))
    if dues.open_items:
        if role == "lead":
            how = "reminders.how_lead"
        elif not dues.lead_registered:
            how = "reminders.how_submit_contacts"
        else:
            how = "reminders.how_submit"
        lines.append(t(lang, how))
        return "\n".join(lines), submit_keyboard(lang, dues.unit_id)
    # Nothing but contacts owed: the lead's by /contacts, else the liaison's link from the office.
    how = "reminders.how_contacts" if not dues.lead_registered else "reminders.how_liaison"
    lines.append(t(lang, how))
    return "\n".join(lines), None


def _contact_text(contact: Holder | None, lang: str) -> str:
    if contact is None:
        return ""
    return t(
        lang,
        "reminders.contact",
        role=role_name(lang, contact.role),
        name=contact.name,
        post=contact.post,
        phone=contact.phone,
    )


def _numbers(dues: UnitObligations, lang: str) -> str:
    parts = [_contact_text(c, lang) for c in (dues.lead, dues.liaison) if c is not None]
    return join(lang, parts) or t(lang, "reminders.no_numbers")


def owed_summary(dues: UnitObligations, lang: str) -> str:
    """缺3项资料、分管领导信息 — what a unit owes, in a few words for staff."""
    parts = []
    if dues.open_items:
        parts.append(t(lang, "reminders.summary_items", count=len(dues.open_items)))
    if not dues.liaison_registered:
        parts.append(t(lang, "reminders.summary_liaison"))
    if not dues.lead_registered:
        parts.append(t(lang, "reminders.summary_lead"))
    return join(lang, parts)


def render_task(dues: UnitObligations, *, failed: Holder | None, lang: str) -> str:
    """A task for staff when a reminder could not reach anyone by chat."""
    lines = [t(lang, "reminders.task.heading")]
    if failed is not None:
        role = role_name(lang, failed.role)
        lines.append(
            t(lang, "reminders.task.unreachable", unit=dues.name, role=role, name=failed.name)
        )
    lines.append(t(lang, "reminders.task.call", numbers=_numbers(dues, lang)))
    lines.append(t(lang, "reminders.task.owed", owed=owed_summary(dues, lang)))
    return "\n".join(lines)


def _wrap(line: str, limit: int) -> list[str]:
    """An over-long line (a roll call of many units) cut after a list separator."""
    pieces = []
    while len(line) > limit:
        cut = max(line.rfind("、", 0, limit), line.rfind(", ", 0, limit - 1) + 1)
        cut = cut + 1 if cut > 0 else limit
        pieces.append(line[:cut])
        line = line[cut:].lstrip()
    return [*pieces, line]


def split_parts(lines: Sequence[str], lang: str, limit: int = PART_LIMIT) -> list[str]:
    """Lines joined into messages no longer than `limit` characters each."""
    pieces = [piece for line in lines for piece in _wrap(line, limit)]
    parts: list[list[str]] = [[]]
    size = 0
    for line in pieces:
        if parts[-1] and size + len(line) + 1 > limit:
            parts.append([t(lang, "reminders.continued")])
            size = len(parts[-1][0])
        parts[-1].append(line)
        size += len(line) + 1
    return ["\n".join(p) for p in parts if p]


def render_digest(
    *,
    today: date,
    decisions: Sequence[Decision],
    links: dict[int, tuple[str, date]],
    lang: str,
) -> list[str]:
    """The daily staff digest: units to invite (each with its current link and the last day
    it is valid), to phone, and to supervise (督办)."""
    unregistered = [d for d in decisions if d.unregistered]
    supervise = [d for d in decisions if d.supervise and not d.unregistered]
    call = [d for d in decisions if d.call and not d.supervise]
    if not (unregistered or supervise or call):
        return []
    lines = [t(lang, "reminders.digest.heading", date=format_date(today, lang))]
    if unregistered:
        lines += ["", t(lang, "reminders.digest.unregistered", count=len(unregistered))]
        for d in unregistered[:DIGEST_LIMIT]:
            link = links.get(d.dues.unit_id)
            if link:
                url, last_day = link
                until = format_short_date(last_day, today, lang)
                lines.append(
                    t(
                        lang,
                        "reminders.digest.invite_line",
                        unit=d.dues.name,
                        link=url,
                        until=until,
                    )
                )
            else:
                lines.append(t(lang, "reminders.digest.unit_line", unit=d.dues.name))
    if len(unregistered) > DIGEST_LIMIT:
        lines.append(t(lang, "reminders.digest.more", count=len(unregistered) - DIGEST_LIMIT))
    if call:
        lines += ["", t(lang, "reminders.digest.call", count=len(call))]
        for d in call[:DIGEST_LIMIT]:
            reason = t(lang, f"reminders.digest.reason_{d.call}", count=d.silent)
            lines.append(
                t(
                    lang,
                    "reminders.digest.call_line",
                    unit=d.dues.name,
                    reason=reason,
                    owed=owed_summary(d.dues, lang),
                    numbers=_numbers(d.dues, lang),
                )
            )
    if len(call) > DIGEST_LIMIT:
        lines.append(t(lang, "reminders.digest.more", count=len(call) - DIGEST_LIMIT))
    if supervise:
        lines += ["", t(lang, "reminders.digest.supervise", count=len(supervise))]
        for d in supervise[:DIGEST_LIMIT]:
            assert d.dues.deadline is not None
            lines.append(
                t(
                    lang,
                    "reminders.digest.supervise_line",
                    unit=d.dues.name,
                    deadline=format_short_date(d.dues.deadline, today, lang),
                    owed=owed_summary(d.dues, lang),
                    numbers=_numbers(d.dues, lang),
                )
            )
    if len(supervise) > DIGEST_LIMIT:
        lines.append(t(lang, "reminders.digest.more", count=len(supervise) - DIGEST_LIMIT))
    lines += ["", t(lang, "reminders.digest.footer")]
    return split_parts(lines, lang)


def _capped(lang: str, names: list[str], total: int) -> str:
    """Names joined, and how many more there are (a country's roll call names the first)."""
    shown = join(lang, names)
    if total <= len(names):
        return shown
    return shown + t(lang, "reminders.rollcall.more", count=total - len(names))


def render_rollcall(dues: Sequence[UnitObligations], *, today: date, lang: str) -> list[str]:
    """点名通报 for the liaisons' group: the units still outstanding now, in the roster's order.

    Counted exactly as `bot.reports` counts (paused units and units whose remaining items
    all await review included), so the group, /outstanding, the export and `report --json`
    quote the same numbers. It closes with the deadline of the units it names: each kind's
    where theirs differ.
    """
    contacts = [d for d in dues if not d.liaison_registered or not d.lead_registered]
    items = [d for d in dues if d.open_items or d.pending_review]
    when = format_short_date(today, today, lang)
    if not contacts and not items:
        return [t(lang, "reminders.rollcall.all_done", date=when)]
    lines = [t(lang, "reminders.rollcall.heading", date=when)]
    if contacts:
        names = _capped(lang, [d.name for d in contacts[:ROLLCALL_LIMIT]], len(contacts))
        lines.append(t(lang, "reminders.rollcall.contacts", count=len(contacts), units=names))
    if items:
        names = _capped(
            lang,
            [
                t(
                    lang,
                    "reminders.rollcall.item_unit",
                    unit=d.name,
                    count=len(d.open_items) + d.pending_review,
                )
                if not d.pending_review
                else t(
                    lang,
                    "reminders.rollcall.item_unit_pending",
                    unit=d.name,
                    count=len(d.open_items) + d.pending_review,
                    pending=d.pending_review,
                )
                for d in items[:ROLLCALL_LIMIT]
            ],
            len(items),
        )
        lines.append(t(lang, "reminders.rollcall.items", count=len(items), units=Markup(names)))
        waiting = sum(1 for d in items if d.pending_review)
        if waiting:
            lines.append(t(lang, "reminders.rollcall.items_pending", count=waiting))
    named = kind_deadlines([*contacts, *items])
    deadline = the_deadline(named, None)
    if differ(named):
        each = each_kind(
            lang,
            named,
            dated=lambda kind, due: t(
                lang,
                "formats.kind_date",
                kind=kind,
                date=format_short_date(due, today, lang),
            ),
            undated=lambda kind: t(lang, "reminders.rollcall.kind_no_date", kind=kind),
        )
        lines.append(
            t(lang, "reminders.rollcall.closing_kinds", dates=Markup(join_clauses(lang, each)))
        )
    elif deadline is None:
        lines.append(t(lang, "reminders.rollcall.closing_plain"))
    elif today > deadline:
        lines.append(
            t(
                lang,
                "reminders.rollcall.closing_overdue",
                date=format_short_date(deadline, today, lang),
            )
        )
    else:
        lines.append(
            t(lang, "reminders.rollcall.closing", date=format_short_date(deadline, today, lang))
        )
    return split_parts(lines, lang)
