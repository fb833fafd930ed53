"""The 通报 and the 催办通知 as Word documents (every sentence from `messages/`)."""

from __future__ import annotations

from datetime import date

from bot.ledger.report import differ, each_kind, the_deadline
from bot.staff.documents.data import BulletinData, KindGroup, OwedItem, UnitOwing, UrgeData
from bot.staff.documents.layout import Gongwen
from messages import format_date, join, join_and, join_clauses, numeral, plain, role_name

# A group of more owing units than this is shown as a table rather than a list.
TABLE_AFTER = 3
TABLE_WIDTHS = (16, 40, 30, 70)  # millimetres: 序号, 单位, 联络员和分管领导, 尚缺资料


def document_number(prefix: str, year: int, number: str | None) -> str:
    """Make 固双拥办发〔2026〕8号; without a number, leave the space to fill in by hand."""
    return plain("zh", "notice.number", prefix=prefix, year=year, number=number or "　　")


def _roles(unit: UnitOwing, lang: str) -> str:
    return join_and(lang, [role_name(lang, role) for role in unit.missing_roles])


def _quoted(title: str, lang: str) -> str:
    # Quotation marks inside quotation marks are single, in Chinese as in English: “…‘八一’…”.
    title = title.replace("“", "‘").replace("”", "’")
    return plain(lang, "notice.quoted", title=title)


def owes_sentence(unit: UnitOwing, lang: str) -> str:
    """Say what a unit owes: 未报送联络员、分管领导；缺报“…”；“…”已退回（…）；…"""
    parts = []
    if unit.missing_roles:
        parts.append(plain(lang, "notice.owes_contacts", roles=_roles(unit, lang)))
    missing = [i for i in unit.items if i.state == "missing"]
    if unit.owes_everything:
        parts.append(plain(lang, "notice.owes_all", count=unit.required))
    elif missing:
        titles = plain(lang, "notice.and").join(_quoted(i.title, lang) for i in missing)
        parts.append(plain(lang, "notice.owes_items", titles=titles))
    for item in unit.items:
        if item.state == "returned":
            parts.append(_returned(item, lang))
    if unit.pending:
        parts.append(plain(lang, "notice.owes_pending", count=unit.pending))
    return plain(lang, "notice.owes_separator").join(parts)


def _returned(item: OwedItem, lang: str) -> str:
    if item.reason:
        return plain(
            lang, "notice.owes_returned", title=_quoted(item.title, lang), reason=item.reason
        )
    return plain(lang, "notice.owes_returned_plain", title=_quoted(item.title, lang))


def _items_cell(unit: UnitOwing, lang: str) -> str:
    if unit.owes_everything:
        return plain(lang, "notice.owes_all", count=unit.required)
    lines = []
    for number, item in enumerate(unit.to_submit, start=1):
        key = "notice.cell_item_returned" if item.state == "returned" else "notice.cell_item"
        lines.append(plain(lang, key, number=number, title=item.title, reason=item.reason or ""))
    if unit.pending:
        lines.append(plain(lang, "notice.owes_pending", count=unit.pending))
    return "\n".join(lines) or plain(lang, "notice.cell_none")


def _group(doc: Gongwen, lang: str, group: KindGroup, *, lead: str) -> None:
    """Write （一）县（区）, （二）成员单位 …: the summary, then each owing unit."""
    kind, owing = group.kind, group.owing
    lead = plain(lang, f"notice.bulletin.lead_{kind}", number=lead)
    if not owing:
        doc.subheading(lead, plain(lang, f"notice.bulletin.none_{kind}"))
        return
    summary = plain(
        lang,
        f"notice.bulletin.summary_{kind}",
        units=group.units,
        contacts=sum(1 for u in owing if u.missing_roles),
        items=sum(1 for u in owing if u.items),
    )
    doc.subheading(lead, summary)
    if len(owing) <= TABLE_AFTER:
        for number, unit in enumerate(owing, start=1):
            doc.body(
                plain(
                    lang,
                    "notice.bulletin.unit_line",
                    number=number,
                    unit=unit.name,
                    owes=owes_sentence(unit, lang),
                )
            )
        return
    headers = [plain(lang, f"notice.col_{c}") for c in ("number", "unit", "contacts", "items")]
    rows = [
        [
            str(number),
            unit.name,
            plain(lang, "notice.owes_contacts", roles=_roles(unit, lang))
            if unit.missing_roles
            else plain(lang, "notice.cell_contacts_ok"),
            _items_cell(unit, lang),
        ]
        for number, unit in enumerate(owing, start=1)
    ]
    doc.table(headers, rows, TABLE_WIDTHS)


def _day(day: date, lang: str) -> str:
    return format_date(day, lang)


def _close(doc: Gongwen, data: BulletinData | UrgeData, lang: str) -> None:
    """Close with the 落款, the 成文日期 and the 版记."""
    doc.signature(data.head.signature, _day(data.signed, lang))
    copy_to = plain(lang, "notice.copy_to", copy_to=data.head.copy_to) if data.head.copy_to else ""
    doc.record(
        copy_to, data.head.issuer, plain(lang, "notice.issued", date=_day(data.signed, lang))
    )


def _deadlines(data: BulletinData, lang: str) -> list[str]:
    """State the collection's deadline in 一、基本情况: one date, or each kind's if they differ."""
    if differ(data.deadlines):
        each = each_kind(
            lang,
            data.deadlines,
            dated=lambda kind, due: plain(
                lang, "notice.bulletin.kind_deadline", kind=kind, date=_day(due, lang)
            ),
            undated=lambda kind: plain(lang, "notice.bulletin.kind_no_deadline", kind=kind),
        )
        return [plain(lang, "notice.bulletin.basic_deadlines", dates=join_clauses(lang, each))]
    deadline = the_deadline(data.deadlines, data.deadline)
    if deadline is None:
        return []
    return [plain(lang, "notice.bulletin.basic_deadline", date=_day(deadline, lang))]


def _time_limit(data: BulletinData, lang: str) -> str:
    """Say by when the units named submit (限时补报): each kind's time limit if they differ."""
    named = {g.kind: data.deadlines.get(g.kind) for g in data.groups if g.owing}
    if not named:
        named = dict(data.deadlines)
    if differ(named):
        each = each_kind(
            lang,
            named,
            dated=lambda kind, due: plain(
                lang,
                "notice.bulletin.next_kind_overdue"
                if due < data.as_of
                else "notice.bulletin.next_kind_due",
                kind=kind,
                date=_day(due, lang),
            ),
            undated=lambda kind: plain(lang, "notice.bulletin.next_kind_plain", kind=kind),
        )
        limits = plain(lang, "notice.bulletin.next_kinds_join").join(each)
        return plain(lang, "notice.bulletin.next_1_kinds", dates=limits)
    deadline = the_deadline(named, data.deadline)
    if deadline is None:
        return plain(lang, "notice.bulletin.next_1_plain")
    if deadline < data.as_of:
        return plain(lang, "notice.bulletin.next_1_overdue", date=_day(deadline, lang))
    return plain(lang, "notice.bulletin.next_1", date=_day(deadline, lang))


def render_bulletin(data: BulletinData, lang: str) -> Gongwen:
    """Lay out the 通报 (关于双拥工作联络员和资料台账报送情况的通报)."""
    doc = Gongwen()
    doc.masthead(plain(lang, "notice.mark", office=data.head.office), data.head.number)
    doc.title(plain(lang, "notice.bulletin.title"))
    doc.main_to(plain(lang, "notice.main_to", recipients=data.head.main_to))
    as_of = _day(data.as_of, lang)
    doc.body(plain(lang, "notice.bulletin.opening", date=as_of))

    doc.heading(plain(lang, "notice.bulletin.h_basic"))
    by_kind = [plain(lang, f"notice.bulletin.count_{g.kind}", count=g.units) for g in data.groups]
    basic = [
        plain(
            lang,
            "notice.bulletin.basic",
            date=as_of,
            by_kind=join(lang, by_kind),
            **data.totals.model_dump(),
        ),
        plain(lang, "notice.bulletin.basic_complete", count=data.complete),
    ]
    if data.unreachable:
        basic.append(plain(lang, "notice.bulletin.basic_unreachable", count=data.unreachable))
    basic += _deadlines(data, lang)
    doc.body("".join(basic))

    doc.heading(plain(lang, "notice.bulletin.h_problems"))
    for number, group in enumerate(data.groups, start=1):
        _group(doc, lang, group, lead=numeral(number, lang))

    doc.heading(plain(lang, "notice.bulletin.h_next"))
    doc.subheading(plain(lang, "notice.bulletin.next_1_lead"), _time_limit(data, lang))
    doc.subheading(
        plain(lang, "notice.bulletin.next_2_lead"), plain(lang, "notice.bulletin.next_2")
    )
    doc.subheading(
        plain(lang, "notice.bulletin.next_3_lead"), plain(lang, "notice.bulletin.next_3")
    )
    _close(doc, data, lang)
    return doc


def render_urge(data: UrgeData, lang: str) -> Gongwen:
    """Lay out a 催办通知 to one unit: what it owes, by when, how, and whom to ask."""
    unit = data.unit
    doc = Gongwen()
    doc.masthead(plain(lang, "notice.mark", office=data.head.office), data.head.number)
    doc.title(plain(lang, "notice.urge.title"))
    doc.main_to(plain(lang, "notice.main_to", recipients=unit.name))
    doc.body(plain(lang, "notice.urge.opening", date=_day(data.as_of, lang)))

    doc.heading(plain(lang, "notice.urge.h_owed"))
    number = 0
    if unit.missing_roles:
        number += 1
        doc.body(plain(lang, "notice.urge.contacts_line", number=number, roles=_roles(unit, lang)))
    for item in unit.to_submit:
        number += 1
        title = _quoted(item.title, lang)
        if item.state == "returned" and item.reason:
            line = plain(
                lang, "notice.urge.item_returned", number=number, title=title, reason=item.reason
            )
        elif item.state == "returned":
            line = plain(lang, "notice.urge.item_returned_plain", number=number, title=title)
        else:
            line = plain(lang, "notice.urge.item_missing", number=number, title=title)
        doc.body(line)
    if unit.pending:
        doc.body(plain(lang, "notice.urge.pending", count=unit.pending))

    doc.heading(plain(lang, "notice.urge.h_deadline"))
    if data.deadline is None:
        doc.body(plain(lang, "notice.urge.deadline_plain"))
    elif data.deadline < data.as_of:
        doc.body(plain(lang, "notice.urge.deadline_overdue", date=_day(data.deadline, lang)))
    else:
        doc.body(plain(lang, "notice.urge.deadline", date=_day(data.deadline, lang)))

    doc.heading(plain(lang, "notice.urge.h_how"))
    if unit.liaison_missing and data.invite_link and data.invite_expires:
        doc.body(
            plain(
                lang,
                "notice.urge.how_invite",
                link=data.invite_link,
                date=_day(data.invite_expires, lang),
            )
        )
    elif unit.liaison_missing:
        doc.body(plain(lang, "notice.urge.how_no_link"))
    if data.bot_username:
        doc.body(plain(lang, "notice.urge.how", username=data.bot_username))
    else:
        doc.body(plain(lang, "notice.urge.how_no_username"))
    if unit.lead_missing:
        doc.body(plain(lang, "notice.urge.how_lead"))
    if data.head.contact:
        doc.body(plain(lang, "notice.urge.contact", contact=data.head.contact))
    doc.body(plain(lang, "notice.urge.closing"))
    doc.signature(data.head.signature, _day(data.signed, lang))
    doc.record("", data.head.issuer, plain(lang, "notice.issued", date=_day(data.signed, lang)))
    return doc
