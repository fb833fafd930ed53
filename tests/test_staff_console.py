"""The staff console's use-cases against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from bot import broadcasts, staff_views
from bot.errors import NotStaff, UnitAmbiguous
from bot.reports import build_report
from bot.sample import UNREPORTED, seed_notice_situation
from bot.services import Services
from storage.models import AuditEvent, Broadcast, ConversationStep, OutboxMessage

STAFF = 900


@pytest.fixture
async def seeded(services: Services) -> Services:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    return services


async def test_outstanding_counts_as_the_report(seeded: Services) -> None:
    report = await build_report(services=seeded)
    view = await staff_views.outstanding(services=seeded, actor_id=STAFF)
    assert view.totals == report.totals
    assert (view.totals.missing_contacts, view.totals.missing_items) == (13, 25)
    assert view.count == 25
    assert (view.page, view.pages, len(view.lines)) == (0, 2, 15)
    second = await staff_views.outstanding(services=seeded, actor_id=STAFF, page=1)
    assert len(second.lines) == 10
    assert not {line.name for line in view.lines} & {line.name for line in second.lines}
    contacts = await staff_views.outstanding(services=seeded, actor_id=STAFF, list_name="contacts")
    assert {line.name for line in contacts.lines} == set(UNREPORTED)
    members = await staff_views.outstanding(
        services=seeded, actor_id=STAFF, list_name="contacts", kind="member"
    )
    counties = await staff_views.outstanding(
        services=seeded, actor_id=STAFF, list_name="contacts", kind="county"
    )
    assert members.count + counties.count == 13
    assert members.scope.units + counties.scope.units == 50
    assert members.scope.missing_items + counties.scope.missing_items == 25
    assert members.totals == report.totals  # the campaign's numbers stay on show
    with pytest.raises(NotStaff):
        await staff_views.outstanding(services=seeded, actor_id=1)


async def test_unit_card_and_exemption(seeded: Services) -> None:
    card = await staff_views.unit_card(services=seeded, actor_id=STAFF, name="xjx")
    assert card.name == "西吉县"
    assert [c.role for c in card.contacts] == ["liaison", "lead"]
    owed = [i for i in card.items if i.state == "missing"]
    assert len(owed) == len(card.status.missing_items) == 8
    with pytest.raises(UnitAmbiguous):
        await staff_views.unit_card(services=seeded, actor_id=STAFF, name="县")
    choices = await staff_views.exempt_choices(services=seeded, actor_id=STAFF, unit_id=card.id)
    item = choices.items[-1]
    asked = await staff_views.ask_exempt_reason(
        services=seeded, actor_id=STAFF, unit_id=card.id, item_id=item.item_id
    )
    assert asked.title == item.title
    async with seeded.db.sessions() as session:
        step = await session.get(ConversationStep, STAFF)
        assert step is not None
        assert (step.flow, step.data["item_id"]) == (staff_views.EXEMPT_FLOW, item.item_id)
    done = await staff_views.excuse(
        services=seeded, actor_id=STAFF, unit_id=card.id, item_id=item.item_id, reason=" 无此职能 "
    )
    assert (done.unit, done.title, done.reason) == ("西吉县", item.title, "无此职能")
    after = await staff_views.unit_card(services=seeded, actor_id=STAFF, unit_id=card.id)
    assert len(after.status.missing_items) == 7
    assert next(i for i in after.items if i.item_id == item.item_id).state == "exempt"
    async with seeded.db.sessions() as session:
        assert await session.get(ConversationStep, STAFF) is None
    page = await staff_views.audit_log(services=seeded, actor_id=STAFF)
    assert page.entries[0].action == "exempt"
    assert page.entries[0].unit == "西吉县"
    assert page.entries[0].actor_staff


async def test_audit_log_pages_back(seeded: Services) -> None:
    async with seeded.db.uow() as tx:
        for n in range(20):
            tx.add(AuditEvent(at=seeded.now(), actor_id=None, action="probe", details={"n": n}))
    first = await staff_views.audit_log(services=seeded, actor_id=STAFF, limit=15)
    assert [e.details["n"] for e in first.entries] == list(range(19, 4, -1))
    assert first.older is not None
    second = await staff_views.audit_log(
        services=seeded, actor_id=STAFF, before=first.older, limit=15
    )
    assert [e.details["n"] for e in second.entries[:5]] == [4, 3, 2, 1, 0]


async def _send(services: Services, audience: broadcasts.Audience) -> broadcasts.Progress:
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(services=services, actor_id=STAFF, summary="通知", text="通知")
    preview = await broadcasts.set_audience(services=services, actor_id=STAFF, audience=audience)
    assert preview is not None
    return await broadcasts.confirm(
        services=services, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=3
    )


async def test_audiences(seeded: Services) -> None:
    await broadcasts.begin(services=seeded, actor_id=STAFF)
    await broadcasts.set_content(services=seeded, actor_id=STAFF, summary="x", text="x")
    counts = {}
    for audience in ("registered", "outstanding", "items", "counties", "members"):
        preview = await broadcasts.set_audience(services=seeded, actor_id=STAFF, audience=audience)
        assert preview is not None
        counts[audience] = (preview.units, preview.recipients, len(preview.units_without_contact))
    assert counts["registered"] == (50, 37, 13)
    assert counts["outstanding"] == (25, 12, 13)
    assert counts["items"] == (25, 12, 13)
    assert counts["counties"] == (5, 4, 1)
    assert counts["members"] == (45, 33, 12)
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
    sent = await _send(seeded, "counties")
    assert (sent.total, sent.pending, sent.finished) == (4, 4, False)
    async with seeded.db.sessions() as session:
        assert await session.get(ConversationStep, STAFF) is None
    [note] = await broadcasts.progress_due(services=seeded)
    assert (note.chat_id, note.message_id, note.progress.processed) == (STAFF, 3, 0)
    await broadcasts.mark_progress_shown(
        services=seeded, broadcast_id=sent.id, signature=note.progress.signature
    )
    assert await broadcasts.progress_due(services=seeded) == []  # nothing new to show
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
    assert "送达1人；" in report.payload["text"]
    assert "无法送达2人（尚未开启机器人1人，已屏蔽机器人1人，其他0人）；" in report.payload["text"]
    assert "发送失败1人。" in report.payload["text"]


async def test_acknowledgements_and_reminders(seeded: Services) -> None:
    sent = await _send(seeded, "counties")
    async with seeded.db.uow() as tx:
        await tx.execute(
            update(OutboxMessage)
            .where(OutboxMessage.broadcast_id == sent.id)
            .values(state="sent", message_id=9)
        )
        users = list(
            (
                await tx.scalars(
                    select(OutboxMessage.chat_id)
                    .where(OutboxMessage.broadcast_id == sent.id)
                    .order_by(OutboxMessage.chat_id)
                )
            ).all()
        )
    assert await broadcasts.acknowledge(services=seeded, broadcast_id=sent.id, user_id=1) == (
        "not_recipient"
    )
    ack = broadcasts.acknowledge
    assert await ack(services=seeded, broadcast_id=sent.id, user_id=users[0]) == "recorded"
    assert await ack(services=seeded, broadcast_id=sent.id, user_id=users[0]) == "again"
    status = await broadcasts.ack_status(services=seeded, actor_id=STAFF, broadcast_id=sent.id)
    assert (status.progress.acknowledged, len(status.not_acknowledged), status.next_round) == (
        1, 3, 1,
    )  # fmt: skip
    first = await broadcasts.nudge(
        services=seeded, actor_id=STAFF, broadcast_id=sent.id, round_number=1
    )
    again = await broadcasts.nudge(
        services=seeded, actor_id=STAFF, broadcast_id=sent.id, round_number=1
    )
    assert (first.queued, again.queued) == (3, 0)
    status = await broadcasts.ack_status(services=seeded, actor_id=STAFF, broadcast_id=sent.id)
    assert status.next_round == 2
    async with seeded.db.sessions() as session:
        nudges = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.purpose == broadcasts.NUDGE_PURPOSE)
            )
        ).all()
    assert sorted(n.chat_id for n in nudges) == users[1:]
    assert all("您尚未确认收到" in n.payload["text"] for n in nudges)
    with pytest.raises(NotStaff):
        await broadcasts.nudge(services=seeded, actor_id=1, broadcast_id=sent.id, round_number=2)


async def test_stop_sending_holds_back_the_rest(seeded: Services) -> None:
    sent = await _send(seeded, "members")
    assert await broadcasts.stop_sending(
        services=seeded, actor_id=STAFF, broadcast_id=sent.id
    ) == (sent.total)
    [note] = await broadcasts.progress_due(services=seeded)
    assert (note.progress.cancelled, note.progress.finished) == (sent.total, True)
