"""The staff console's use-cases against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import ast
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.demo.sample import UNREPORTED, seed_notice_situation
from bot.errors import NotStaff, UnitAmbiguous
from bot.importing import SAMPLE_ROSTER_PATH, read_units
from bot.ledger.checklist import set_deadline
from bot.ledger.report import build_report
from bot.services import Services
from bot.staff import acks, broadcasts, console
from handlers.staff import audit_text, outstanding_text, unit_text
from messages import catalogue, format_date, join_clauses, kind_name, plain, t
from storage import repositories as repo
from storage.models import (
    AuditEvent,
    Broadcast,
    ChecklistItem,
    ConversationStep,
    OutboxMessage,
    Person,
    Submission,
    Unit,
)
from tests.support import rows
from tests.support.factories import add_submission
from tests.support.messages import label, mentions, says

STAFF = 900


@pytest.fixture
async def seeded(services: Services) -> Services:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    return services


async def test_outstanding_states_each_kinds_deadline_where_they_differ(seeded: Services) -> None:
    await set_deadline(services=seeded, due=date(2026, 12, 20), kind="county")
    view = await console.outstanding(services=seeded, actor_id=STAFF)
    dates = join_clauses(
        "zh",
        [
            label("formats.kind_date", kind=kind_name("zh", kind, plural=True), date=day)
            for kind, day in (("county", "2026年12月20日"), ("member", "2026年12月31日"))
        ],
    )
    assert mentions(outstanding_text(view, "zh"), "report.deadlines", dates=dates)
    # Only the counties: their own date alone.
    counties = await console.outstanding(services=seeded, actor_id=STAFF, kind="county")
    shown = outstanding_text(counties, "zh")
    assert mentions(shown, "report.deadline", date=format_date(date(2026, 12, 20), "zh"))


async def test_outstanding_counts_as_the_report(seeded: Services) -> None:
    report = await build_report(services=seeded)
    view = await console.outstanding(services=seeded, actor_id=STAFF)
    assert view.totals == report.totals
    assert (view.totals.missing_contacts, view.totals.missing_items) == (13, 25)
    assert view.count == 25
    assert (view.page, view.pages, len(view.lines)) == (0, 2, 15)
    second = await console.outstanding(services=seeded, actor_id=STAFF, page=1)
    assert len(second.lines) == 10
    assert not {line.name for line in view.lines} & {line.name for line in second.lines}
    contacts = await console.outstanding(services=seeded, actor_id=STAFF, list_name="contacts")
    assert {line.name for line in contacts.lines} == set(UNREPORTED)
    members = await console.outstanding(
        services=seeded, actor_id=STAFF, list_name="contacts", kind="member"
    )
    counties = await console.outstanding(
        services=seeded, actor_id=STAFF, list_name="contacts", kind="county"
    )
    assert members.count + counties.count == 13
    assert members.scope.units + counties.scope.units == 50
    assert members.scope.missing_items + counties.scope.missing_items == 25
    assert members.totals == report.totals  # the campaign's numbers stay on show
    with pytest.raises(NotStaff):
        await console.outstanding(services=seeded, actor_id=1)


async def test_unit_card_and_exemption(seeded: Services) -> None:
    card = await console.unit_card(services=seeded, actor_id=STAFF, name="xjx")
    assert card.name == "西吉县"
    assert [c.role for c in card.contacts] == ["liaison", "lead"]
    owed = [i for i in card.items if i.state == "missing"]
    assert len(owed) == len(card.status.missing_items) == 8
    with pytest.raises(UnitAmbiguous) as ambiguous:
        await console.unit_card(services=seeded, actor_id=STAFF, name="县")
    # The units it could mean are listed as each language lists things.
    matches, key = ambiguous.value.values["matches"], ambiguous.value.key
    assert isinstance(matches, tuple)
    assert len(matches) > 1
    assert "、".join(matches) in plain("zh", key, **ambiguous.value.values)
    assert ", ".join(matches) in t("en", key, **ambiguous.value.values)
    choices = await console.exempt_choices(services=seeded, actor_id=STAFF, unit_id=card.id)
    item = choices.items[-1]
    asked = await console.ask_exempt_reason(
        services=seeded, actor_id=STAFF, unit_id=card.id, item_id=item.item_id
    )
    assert asked.title == item.title
    async with seeded.db.sessions() as session:
        step = await session.get(ConversationStep, STAFF)
        assert step is not None
        assert (step.flow, step.data["item_id"]) == (console.EXEMPT_FLOW, item.item_id)
    done = await console.excuse(
        services=seeded, actor_id=STAFF, unit_id=card.id, item_id=item.item_id, reason=" 无此职能 "
    )
    assert (done.unit, done.title, done.reason) == ("西吉县", item.title, "无此职能")
    after = await console.unit_card(services=seeded, actor_id=STAFF, unit_id=card.id)
    assert len(after.status.missing_items) == 7
    assert next(i for i in after.items if i.item_id == item.item_id).state == "exempt"
    async with seeded.db.sessions() as session:
        assert await session.get(ConversationStep, STAFF) is None
    page = await console.audit_log(services=seeded, actor_id=STAFF)
    assert page.entries[0].action == "exempt"
    assert page.entries[0].unit == "西吉县"
    assert page.entries[0].actor_staff


async def test_add_item_for_one_unit(seeded: Services) -> None:
    card = await console.unit_card(services=seeded, actor_id=STAFF, name="xjx")
    other = await console.unit_card(services=seeded, actor_id=STAFF, name="民政局")
    with pytest.raises(NotStaff):
        await console.ask_item_title(services=seeded, actor_id=1, unit_id=card.id)
    asked = await console.ask_item_title(services=seeded, actor_id=STAFF, unit_id=card.id)
    assert asked.unit == "西吉县"
    async with seeded.db.sessions() as session:
        step = await session.get(ConversationStep, STAFF)
        assert step is not None
        assert (step.flow, step.data["unit_id"]) == (console.ADD_ITEM_FLOW, card.id)
    done = await console.add_unit_item(
        services=seeded, actor_id=STAFF, unit_id=card.id, text=" 防汛预案 \n 2026年度版本 "
    )
    assert (done.unit, done.title, done.added) == ("西吉县", "防汛预案", True)
    after = await console.unit_card(services=seeded, actor_id=STAFF, unit_id=card.id)
    assert len(after.status.missing_items) == len(card.status.missing_items) + 1
    assert "防汛预案" in after.status.missing_items
    unchanged = await console.unit_card(services=seeded, actor_id=STAFF, unit_id=other.id)
    assert "防汛预案" not in unchanged.status.missing_items
    async with seeded.db.sessions() as session:
        assert await session.get(ConversationStep, STAFF) is None
        description = await session.scalar(
            select(ChecklistItem.description).where(ChecklistItem.title == "防汛预案")
        )
    assert description == "2026年度版本"
    page = await console.audit_log(services=seeded, actor_id=STAFF)
    assert (page.entries[0].action, page.entries[0].unit) == ("item_add", "西吉县")
    again = await console.add_unit_item(
        services=seeded, actor_id=STAFF, unit_id=card.id, text="防汛预案：另一份"
    )
    assert (again.title, again.added) == ("防汛预案", False)
    final = await console.unit_card(services=seeded, actor_id=STAFF, unit_id=card.id)
    assert final.status.missing_items.count("防汛预案") == 1
    assert console.split_item_text("应急预案：含联系人") == ("应急预案", "含联系人")


async def test_audit_log_pages_back(seeded: Services) -> None:
    async with seeded.db.uow() as tx:
        for n in range(20):
            tx.add(AuditEvent(at=seeded.now(), actor_id=None, action="probe", details={"n": n}))
    first = await console.audit_log(services=seeded, actor_id=STAFF, limit=15)
    assert [e.details["n"] for e in first.entries] == list(range(19, 4, -1))
    assert first.older is not None
    second = await console.audit_log(services=seeded, actor_id=STAFF, before=first.older, limit=15)
    assert [e.details["n"] for e in second.entries[:5]] == [4, 3, 2, 1, 0]


async def _send(services: Services, audience: broadcasts.Audience) -> broadcasts.Progress:
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(services=services, actor_id=STAFF, summary="通知", text="通知")
    preview = await broadcasts.set_audience(services=services, actor_id=STAFF, audience=audience)
    assert preview is not None
    return await broadcasts.confirm(
        services=services, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=3
    )


async def _send_delivered(
    services: Services, audience: broadcasts.Audience
) -> broadcasts.Progress:
    """Send a notice and take every message of it as delivered."""
    sent = await _send(services, audience)
    async with services.db.uow() as tx:
        await tx.execute(
            update(OutboxMessage)
            .where(OutboxMessage.broadcast_id == sent.id)
            .values(state="sent", message_id=9)
        )
    return sent


async def test_audiences(seeded: Services) -> None:
    await broadcasts.begin(services=seeded, actor_id=STAFF)
    await broadcasts.set_content(services=seeded, actor_id=STAFF, summary="x", text="x")
    counts = {}
    for audience in ("registered", "outstanding", "items", "county", "member"):
        preview = await broadcasts.set_audience(services=seeded, actor_id=STAFF, audience=audience)
        assert preview is not None
        counts[audience] = (preview.units, preview.recipients, len(preview.units_without_contact))
    assert counts["registered"] == (50, 37, 13)
    assert counts["outstanding"] == (25, 12, 13)
    assert counts["items"] == (25, 12, 13)
    assert counts["county"] == (5, 4, 1)
    assert counts["member"] == (45, 33, 12)
    contacts = await broadcasts.set_audience(services=seeded, actor_id=STAFF, audience="contacts")
    assert contacts is not None
    assert contacts.recipients == 0  # nobody of those units is registered
    with pytest.raises(broadcasts.NoRecipients):
        await broadcasts.confirm(
            services=seeded, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=1
        )
    assert await broadcasts.set_audience(services=seeded, actor_id=STAFF, audience="units") is None
    chosen = await broadcasts.set_units(services=seeded, actor_id=STAFF, names=["民政局", "xjx"])
    assert (chosen.units, chosen.recipients) == (2, 2)


async def test_progress_finishes_once_and_reports(seeded: Services) -> None:
    sent = await _send(seeded, "county")
    assert (sent.total, sent.pending, sent.finished) == (4, 4, False)
    async with seeded.db.sessions() as session:
        assert await session.get(ConversationStep, STAFF) is None
    # The progress the handler showed on confirming is on show: no edit to the same text.
    assert await broadcasts.progress_due(services=seeded) == []
    async with seeded.db.uow() as tx:
        rows = (
            await tx.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.broadcast_id == sent.id)
                .order_by(OutboxMessage.id)
            )
        ).all()
        outcomes = [
            ("sent", None),
            ("unreachable", "Forbidden: bot can't initiate conversation with a user"),
            ("unreachable", "Forbidden: bot was blocked by the user"),
            ("failed", "Bad Request: chat not found"),
        ]
        for row, (state, error) in zip(rows, outcomes, strict=True):
            row.state, row.error = state, error
    [done] = await broadcasts.progress_due(services=seeded)
    assert (done.chat_id, done.message_id) == (STAFF, 3)
    p = done.progress
    assert (p.finished, p.delivered, p.never_started, p.blocked, p.failed) == (
        True, 1, 1, 1, 1,
    )  # fmt: skip
    assert await broadcasts.progress_due(services=seeded) != []  # the final edit is still due
    await broadcasts.mark_progress_shown(
        services=seeded, broadcast_id=sent.id, signature=p.signature
    )
    assert await broadcasts.progress_due(services=seeded) == []
    async with seeded.db.sessions() as session:
        reports = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.like("broadcast:%:report"))
            )
        ).all()
        finished = await session.scalar(select(Broadcast.state).where(Broadcast.id == sent.id))
    assert finished == "done"
    [report] = reports
    assert report.chat_id == STAFF
    written = report.payload["text"]
    assert mentions(written, "broadcast.report_delivered", count=1)
    unreachable = {"count": 2, "never_started": 1, "blocked": 1, "other": 0}
    assert mentions(written, "broadcast.report_unreachable", **unreachable)
    assert mentions(written, "broadcast.report_failed", count=1)


async def test_who_has_not_acknowledged_is_listed_in_the_rosters_order(seeded: Services) -> None:
    sent = await _send_delivered(seeded, "county")

    status = await acks.ack_status(services=seeded, actor_id=STAFF, broadcast_id=sent.id)

    counties = [row.name for _, row in read_units(SAMPLE_ROSTER_PATH).rows if row.kind == "county"]
    reached = [name for name in counties if name not in UNREPORTED]  # the others have no one
    assert [line.unit for line in status.not_acknowledged] == reached


async def test_acknowledgements_and_reminders(seeded: Services) -> None:
    sent = await _send_delivered(seeded, "county")
    async with seeded.db.uow() as tx:
        users = list(
            (
                await tx.scalars(
                    select(OutboxMessage.chat_id)
                    .where(OutboxMessage.broadcast_id == sent.id)
                    .order_by(OutboxMessage.chat_id)
                )
            ).all()
        )
    assert await acks.acknowledge(services=seeded, broadcast_id=sent.id, user_id=1) == (
        "not_recipient"
    )
    ack = acks.acknowledge
    assert await ack(services=seeded, broadcast_id=sent.id, user_id=users[0]) == "recorded"
    assert await ack(services=seeded, broadcast_id=sent.id, user_id=users[0]) == "again"
    status = await acks.ack_status(services=seeded, actor_id=STAFF, broadcast_id=sent.id)
    assert (status.progress.acknowledged, len(status.not_acknowledged), status.next_round) == (
        1, 3, 1,
    )  # fmt: skip
    first = await acks.nudge(services=seeded, actor_id=STAFF, broadcast_id=sent.id, round_number=1)
    again = await acks.nudge(services=seeded, actor_id=STAFF, broadcast_id=sent.id, round_number=1)
    assert (first.queued, again.queued) == (3, 0)
    status = await acks.ack_status(services=seeded, actor_id=STAFF, broadcast_id=sent.id)
    assert status.next_round == 2
    async with seeded.db.sessions() as session:
        nudges = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.purpose == broadcasts.NUDGE_PURPOSE)
            )
        ).all()
    assert sorted(n.chat_id for n in nudges) == users[1:]
    assert all(says(n.payload["text"], "ack.nudge") for n in nudges)
    with pytest.raises(NotStaff):
        await acks.nudge(services=seeded, actor_id=1, broadcast_id=sent.id, round_number=2)


async def test_stop_sending_holds_back_the_rest(seeded: Services) -> None:
    sent = await _send(seeded, "member")
    assert await broadcasts.stop_sending(
        services=seeded, actor_id=STAFF, broadcast_id=sent.id
    ) == (sent.total)
    [note] = await broadcasts.progress_due(services=seeded)
    assert (note.progress.cancelled, note.progress.finished) == (sent.total, True)


async def test_unit_card_shows_the_ledgers_states(seeded: Services) -> None:
    """Sent back then a draft started: still 已退回 with the reason (the draft is a note);
    "not applicable" awaiting review: its own state with the unit's reason — as /status."""
    card = await console.unit_card(services=seeded, actor_id=STAFF, name="西吉县")
    first, second = [i.item_id for i in card.items if i.state == "missing"][:2]
    now = seeded.now()

    def submission(item_id: int, state: str, kind: str, **values: object) -> Submission:
        return Submission(
            unit_id=card.id,
            item_id=item_id,
            state=state,
            answer_kind=kind,
            submitted_by=1,
            created_at=values.pop("created_at", now),
            **values,
        )

    async with seeded.db.uow() as tx:
        tx.add(
            submission(
                first,
                "returned",
                "files",
                created_at=now - timedelta(days=2),
                submitted_at=now - timedelta(days=2),
                reviewed_at=now - timedelta(days=1),
                reviewed_by=STAFF,
                review_note="盖章页不清晰",
            )
        )
        tx.add(submission(first, "draft", "text", text="草稿"))
        tx.add(
            submission(
                second, "pending", "not_applicable", text="本单位无此职能", submitted_at=now
            )
        )
    after = await console.unit_card(services=seeded, actor_id=STAFF, unit_id=card.id)
    items = {i.item_id: i for i in after.items}
    assert (items[first].state, items[first].note, items[first].draft) == (
        "returned",
        "盖章页不清晰",
        True,
    )
    assert (items[second].state, items[second].note) == (
        "not_applicable_pending",
        "本单位无此职能",
    )
    text = unit_text(after, "zh", seeded.settings.tz, seeded.today())
    returned = {
        "title": items[first].title,
        "state": label("unitcard.state_returned"),
        "when": label("unitcard.item_when", date=format_date(date(2026, 11, 29), "zh")),
        "note": label("unitcard.item_note", note="盖章页不清晰"),
        "draft": label("unitcard.item_draft"),
    }
    assert mentions(text, "unitcard.item", **returned)
    pending = label("unitcard.state_not_applicable_pending")
    assert mentions(text, "unitcard.item", title=items[second].title, state=pending)
    assert "正在填报" not in text


async def test_unit_card_says_an_item_agreed_not_to_apply_is_not_applicable(
    seeded: Services,
) -> None:
    """Accepted as "not applicable": not 已通过 (nothing was reviewed as material), with the
    unit's reason; counted as accepted all the same."""
    card = await console.unit_card(services=seeded, actor_id=STAFF, name="西吉县")
    item_id = next(i.item_id for i in card.items if i.state == "missing")
    unit = await rows.get(seeded, Unit, card.id)
    checklist_item = await rows.get(seeded, ChecklistItem, item_id)
    assert unit is not None
    assert checklist_item is not None
    await add_submission(
        seeded,
        unit,
        checklist_item,
        "accepted",
        answer_kind="not_applicable",
        text="本县无此项工作",
    )
    after = await console.unit_card(services=seeded, actor_id=STAFF, unit_id=card.id)
    [item] = [i for i in after.items if i.item_id == item_id]
    assert (item.state, item.shown_state, item.note) == (
        "accepted",
        "not_applicable_accepted",
        "本县无此项工作",
    )
    text = unit_text(after, "zh", seeded.settings.tz, seeded.today())
    agreed = {
        "title": item.title,
        "state": label("unitcard.state_not_applicable_accepted"),
        "when": label("unitcard.item_when", date=format_date(seeded.today(), "zh")),
        "note": label("unitcard.item_note", note="本县无此项工作"),
        "draft": "",
    }
    assert mentions(text, "unitcard.item", **agreed)
    assert not mentions(
        text, "unitcard.item", title=item.title, state=label("unitcard.state_accepted")
    )
    before = sum(1 for i in card.items if i.state == "accepted")
    assert sum(1 for i in after.items if i.state == "accepted") == before + 1


async def test_unit_card_mentions_a_pause_only_while_it_lasts(seeded: Services) -> None:
    async with seeded.db.uow() as tx:
        await tx.execute(
            update(Unit)
            .where(Unit.name == "西吉县")
            .values(paused_until=date(2026, 11, 29), pause_reason="换届")
        )
    card = await console.unit_card(services=seeded, actor_id=STAFF, name="西吉县")
    after = unit_text(card, "zh", seeded.settings.tz, date(2026, 11, 30))
    assert not mentions(after, "unitcard.paused")
    during = unit_text(card, "zh", seeded.settings.tz, date(2026, 11, 29))
    assert mentions(during, "unitcard.paused", until=format_date(date(2026, 11, 29), "zh"))


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _strings(node: ast.expr) -> set[str]:
    """The strings an expression can be ("a", or "a" if x else "b")."""
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return (
        {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) else set()
    )


def test_every_audited_action_has_a_sentence() -> None:
    """Every action the code audits is named in words in both languages."""
    root = Path(__file__).resolve().parents[2]
    actions: set[str] = set()
    for folder in ("bot", "handlers", "storage"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _called(node) == "audit" and len(node.args) > 3:
                    action = node.args[3]  # repo.audit(tx, at, actor_id, action, …)
                    actions |= _strings(action)
    assert {"rollcall_off", "review_return", "submission"} <= actions
    for lang in ("zh", "en"):
        missing = sorted(a for a in actions if f"audit.action_{a}" not in catalogue(lang))
        assert missing == [], lang


async def test_audit_shows_words_not_code(seeded: Services) -> None:
    async with seeded.db.uow() as tx:
        unit = (await tx.scalars(select(Unit).where(Unit.name == "西吉县"))).one()
        holder = (
            await tx.scalars(
                select(Person).where(Person.unit_id == unit.id, Person.role == "lead")
            )
        ).first()
        assert holder is not None
        repo.audit(
            tx,
            seeded.now(),
            STAFF,
            "submission",
            unit_id=unit.id,
            submission_id=17,
            item="年度工作计划",
            kind="files",
            files=2,
        )
        repo.audit(tx, seeded.now(), STAFF, "lead_updated", unit_id=unit.id, person_id=holder.id)
        repo.audit(tx, seeded.now(), STAFF, "rollcall_off", chat_id=-100)
    page = await console.audit_log(services=seeded, actor_id=STAFF)
    text = audit_text(page, "zh", seeded.settings.tz)
    assert mentions(text, "audit.action_rollcall_off")
    assert "rollcall_off" not in text
    details = [
        label("audit.detail_item", value="年度工作计划"),
        label("audit.detail_kind", value=label("audit.kind_files")),
        label("audit.detail_files", value=2),
    ]
    assert mentions(
        text, "audit.line", unit=label("audit.unit", unit="西吉县"), details="，".join(details)
    )
    assert mentions(text, "audit.detail_person", value=holder.name)
    for code in ("=", "submission_id", "files", "person_id", "chat_id"):
        assert code not in text, code


async def test_remind_now_for_one_unit(seeded: Services) -> None:
    """ "Remind now" on a unit's file: a round through bot.reminders for that unit only,
    previewed, confirmed once, audited like /remind; staff only."""
    from bot.reminders import rounds
    from handlers.staff import unit_markup

    card = await console.unit_card(services=seeded, actor_id=STAFF, name="西吉县")
    buttons = [b for row in unit_markup(card, "zh", seeded.today()).inline_keyboard for b in row]
    assert (label("unitcard.button_remind"), f"st:m:{card.id}") in [
        (b.text, b.callback_data) for b in buttons
    ]
    with pytest.raises(NotStaff):
        await rounds.preview_round(services=seeded, actor_id=1, unit_ids=[card.id])
    preview = await rounds.preview_round(services=seeded, actor_id=STAFF, unit_ids=[card.id])
    assert preview.round_id is not None
    assert {line.unit for line in preview.reminders} == {"西吉县"}
    everyone = await rounds.preview_round(services=seeded, actor_id=STAFF)
    assert len({line.unit for line in everyone.reminders}) > 1
    done = await rounds.confirm_round(services=seeded, actor_id=STAFF, preview_id=preview.round_id)
    assert done.queued == len(preview.reminders) > 0
    again = await rounds.confirm_round(
        services=seeded, actor_id=STAFF, preview_id=preview.round_id
    )
    assert (again.queued, again.already) == (0, True)
    async with seeded.db.sessions() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "reminder"))
        ).all()
        assert {r.unit_id for r in rows} == {card.id}
        logged = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "remind_round"))
        ).all()
    assert [e.unit_id for e in logged] == [card.id, card.id]
    page = await console.audit_log(services=seeded, actor_id=STAFF)
    shown = label("audit.action_remind_round") + label("audit.unit", unit="西吉县")
    assert shown in audit_text(page, "zh", seeded.settings.tz)


async def test_exempting_and_adding_items_are_for_staff_only(seeded: Services) -> None:
    """The checklist's own use-cases refuse a chat user who is not staff, and change nothing;
    the command line (no actor) and staff may."""
    from bot.ledger import checklist

    before = await build_report(services=seeded)
    with pytest.raises(NotStaff):
        await checklist.exempt(
            services=seeded,
            unit_name="西吉县",
            title="双拥示范点建设资料",
            reason="无",
            actor_id=1,
        )
    with pytest.raises(NotStaff):
        await checklist.add_item(services=seeded, unit_name="西吉县", title="防汛预案", actor_id=1)
    assert (await build_report(services=seeded)).units == before.units
    await checklist.exempt(
        services=seeded,
        unit_name="西吉县",
        title="双拥示范点建设资料",
        reason="无",
        actor_id=STAFF,
    )
    added = await checklist.add_item(services=seeded, unit_name="西吉县", title="防汛预案")
    assert added.added
