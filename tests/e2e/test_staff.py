"""The staff console end to end: the bot as a separate process, over HTTP, against the emulator.

The notice's situation is seeded into the bot's database: 50 units, 13 without contacts, 25
with ledger items missing; the 37 liaisons on record have Telegram accounts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.demo.sample import unit_id_by_name
from bot.ledger.report import build_report
from bot.sandbox.client import SandboxClient
from messages import format_date, join_and
from storage.models import (
    AuditEvent,
    Broadcast,
    BroadcastAck,
    ConversationStep,
    Exemption,
    OutboxMessage,
    Unit,
)
from storage.models import Person as Holder
from tests.support.checklist import item_count
from tests.support.messages import label, mentions, says
from tests.support.office import NOTICE, Office, compose_and_send, start_office, text, until
from tests.support.process import STAFF_ID, BotProcess

pytestmark = pytest.mark.e2e

STAFF_ONLY = label("common.staff_only")
OUTSIDER, LEAD = 1004, 1005
STAFF_COMMANDS = (
    "/outstanding", "/outstanding items county", "/unit 民政局", "/invite 市文旅局", "/remind",
    "/broadcast", "/review", "/export", "/export files", "/stats", "/audit", "/rollcall",
    "/notice",
)  # fmt: skip
# Staff-only buttons, pressed by someone who is not staff (unit and broadcast id 1 exist).
STAFF_BUTTONS = (
    "st:o:a:any:0", "st:o:c:member:1", "st:u:1", "st:x:1", "st:xi:1:1", "st:n:1", "st:i:1:l",
    "st:i:1:d", "st:p:1:7", "st:r:1", "st:a:1000", "exp:files", "nt:u:1", "bc:acks:1",
    "bc:nudge:1:1", "bc:stop:1", "bc:send", "bc:ackt", "bc:aud:registered", "bc:drop",
    # other features' staff buttons: review, invite links, a round of reminders
    "rv:ok:1", "rv:back:1", "rv:later:1", "i:lead:1", "i:rv:1", "remind:ok:1", "remind:no:1",
)  # fmt: skip
ACK = label("ack.button")


@pytest.fixture
async def office(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Office]:
    made, services = await start_office(make_bot, sandbox, tmp_path)
    yield made
    await services.close()


# ---- the authorization matrix ---------------------------------------------------------------


async def test_nobody_but_staff_gets_anything(office: Office) -> None:
    """A stranger, a liaison and a lead: every staff command and button is refused, and
    nothing else happens — no other message, no edit, no row, no file."""
    sandbox = office.sandbox
    await sandbox.configure(rate_limits=False)
    liaison_id, liaison_unit = (await office.liaisons())[0]
    unit_id = await unit_id_by_name(services=office.services, name=liaison_unit)
    async with office.services.db.uow() as tx:
        await tx.execute(
            update(Holder)
            .where(Holder.unit_id == unit_id, Holder.role == "lead", Holder.until.is_(None))
            .values(telegram_user_id=LEAD)
        )
    people = [
        await office.person(OUTSIDER, "路人"),
        await office.person(liaison_id, "联络员"),
        await office.person(LEAD, "分管领导"),
    ]
    audit_before = await office.count(AuditEvent)
    for person in people:
        for command in STAFF_COMMANDS:
            [reply] = await person.say(command)
            assert text(reply) == STAFF_ONLY, (person.name, command, text(reply))
            assert reply.reply_markup is None
        refusal = (await sandbox.messages(person.user_id))[-1]
        answered = len(await sandbox.callback_answers())
        for data in STAFF_BUTTONS:
            await sandbox.press(
                person.user_id, message_id=refusal.message_id, data=data, force=True
            )
            answered += 1
            answers = await sandbox.wait_callback_answers(answered)
            assert (answers[-1].data, answers[-1].text) == (data, STAFF_ONLY), person.name
            assert answers[-1].show_alert
        # A sentinel: updates are handled in order, so anything else would have come first.
        [help_text] = await person.say("/help")
        assert mentions(help_text.text, "help.heading_everyone")
        messages = await sandbox.messages(person.user_id)
        assert [text(m) for m in messages] == [STAFF_ONLY] * len(STAFF_COMMANDS) + [
            text(help_text)
        ]
        assert all(m.edits == 0 and m.kind == "text" for m in messages)
        assert not mentions(help_text.text, "help.heading_staff")
    assert await office.count(AuditEvent) == audit_before
    assert await office.count(Broadcast) == 0
    assert await office.count(ConversationStep) == 0
    assert await office.count(Exemption) == 0
    assert await office.count(Unit, Unit.paused_until.is_not(None)) == 0
    assert await sandbox.warnings() == []


async def test_staff_in_a_group_are_answered_privately(office: Office) -> None:
    sandbox = office.sandbox
    await office.person(STAFF_ID, "市双拥办")
    liaison_id, _ = (await office.liaisons())[0]
    await office.person(liaison_id, "联络员")
    group = await sandbox.add_group("联络员工作群", [STAFF_ID, liaison_id])
    for command in ("/outstanding", "/unit 民政局", "/audit"):
        before = len(await sandbox.messages(STAFF_ID))
        await sandbox.send_text(STAFF_ID, command, chat_id=group.id)
        await until(partial(_more, sandbox, STAFF_ID, before))
        group_messages = await sandbox.messages(group.id)
        assert says(group_messages[-1].text, "console.sent_privately")
    private = await sandbox.messages(STAFF_ID)
    assert mentions(private[0].text, "outstanding.totals", missing_contacts=13)
    assert "<b>" not in text(private[0])
    assert mentions(private[1].text, "unitcard.title", name="市民政局")
    assert mentions(private[2].text, "audit.title")
    assert not [m for m in await sandbox.messages(group.id) if "市民政局" in text(m)]
    # Someone else in the group is told it is for staff, and nothing more.
    await sandbox.send_text(liaison_id, "/outstanding", chat_id=group.id)
    await until(lambda: _ends_with(sandbox, group.id, STAFF_ONLY))
    assert await sandbox.warnings() == []


async def _more(sandbox: SandboxClient, chat_id: int, count: int) -> bool:
    return len(await sandbox.messages(chat_id)) > count


async def _ends_with(sandbox: SandboxClient, chat_id: int, wanted: str) -> bool:
    messages = await sandbox.messages(chat_id)
    return bool(messages) and text(messages[-1]) == wanted


# ---- what staff see ---------------------------------------------------------------------------


async def test_outstanding_unit_audit_stats_and_export(office: Office) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    [summary] = await staff.say("/outstanding")
    # Golden text: the notice's numbers, word for word, as the office quotes them in meetings.
    assert (
        "共50家单位：13家单位未报送分管领导和联络员；25家单位资料台账未报齐；0项资料待审核。"
        in text(summary)
    )
    list_all = label("outstanding.list_all")
    assert mentions(summary.text, "outstanding.list_heading", list=list_all, count=25, pages=2)
    both = join_and("zh", [label("common.role_liaison"), label("common.role_lead")])
    missing = label("outstanding.missing_roles", roles=both)
    assert mentions(summary.text, "outstanding.line", name="泾源县", what=missing)
    owed = item_count("county")
    assert mentions(summary.text, "outstanding.missing_items", count=owed)
    await staff.press(label("console.next"), expect=0)
    second = await staff.edited(summary.message_id)
    assert mentions(second.text, "outstanding.list_heading", page=2, pages=2)
    await staff.press(label("outstanding.button_contacts"), expect=0)
    contacts = await staff.edited(summary.message_id, edits=2)
    list_contacts = label("outstanding.list_contacts")
    assert mentions(contacts.text, "outstanding.list_heading", list=list_contacts, count=13)
    await staff.press(label("common.kind_label_county"), expect=0)
    counties = await staff.edited(summary.message_id, edits=3)
    county = label("common.kind_county")
    assert mentions(
        counties.text,
        "outstanding.scope_totals",
        kind=label("common.kinds_county"),
        units=5,
        missing_contacts=1,
    )
    assert mentions(counties.text, "outstanding.list_heading", count=1, pages=1)

    [card] = await staff.say("/unit xjx")  # pinyin initials of 西吉县
    assert mentions(card.text, "unitcard.title", name="西吉县", kind=county)
    assert mentions(
        card.text, "unitcard.items_heading", required=owed, accepted=3, missing=owed - 3, pending=0
    )
    assert mentions(card.text, "report.deadline", date=format_date(date(2026, 12, 31), "zh"))
    assert mentions(card.text, "unitcard.contact", role=label("common.role_liaison"))
    exempt = label("unitcard.button_exempt")
    assert exempt in card.button_texts()
    await staff.press(exempt, expect=0)
    choose = await staff.edited(card.message_id)
    item = choose.button_texts()[-2]  # the last item it owes
    [ask] = await staff.press(item)
    assert says(ask.text, "unitcard.exempt_reason", unit="西吉县", title=item)
    [done] = await staff.say("该单位无优抚对象管理职能")
    assert says(
        done.text,
        "unitcard.exempted",
        unit="西吉县",
        title=item,
        reason="该单位无优抚对象管理职能",
    )
    assert await office.count(Exemption) == 1

    [log] = await staff.say("/audit")
    exempted = [line for line in text(log).splitlines() if item in line]
    assert len(exempted) == 1
    assert says(
        exempted[0],
        "audit.line",
        action=label("audit.action_exempt"),
        unit=label("audit.unit", unit="西吉县"),
    )
    assert mentions(exempted[0], "audit.detail_item", value=item)
    assert mentions(exempted[0], "audit.detail_reason", value="该单位无优抚对象管理职能")
    assert "=" not in text(log)

    [chart] = await staff.say("/stats")
    assert chart.kind == "photo"
    assert says(chart.caption, "stats.caption", units=50, missing_contacts=13, missing_items=25)
    png = await sandbox.file_bytes(chart.files[-1].file_id)
    assert png.startswith(b"\x89PNG")

    note, workbook = await staff.say("/export", expect=2)
    note = await staff.edited(note.message_id)
    assert says(note.text, "export.done")  # edited once the file was sent
    assert workbook.kind == "document"
    assert workbook.files[0].file_name is not None
    assert says(workbook.files[0].file_name, "export.file_name")
    assert says(workbook.caption, "export.caption", missing_contacts=13, missing_items=25)
    data = await sandbox.file_bytes(workbook.files[0].file_id)
    assert data.startswith(b"PK")
    actions = {action for _, action in await sandbox_actions(sandbox)}
    assert {"upload_document", "upload_photo"} <= actions

    packing, part = await staff.press(label("export.button_files"), expect=2)
    assert part.kind == "document"
    assert says(part.caption, "export.archive_part", number=1, parts=1)
    finished = await staff.edited(packing.message_id)
    assert says(finished.text, "export.archive_done")
    assert await sandbox.warnings() == []


async def test_staff_add_an_item_for_one_unit(office: Office) -> None:
    staff = await office.person(STAFF_ID, "市双拥办")
    [card] = await staff.say("/unit 西吉县")
    owed = item_count("county")
    assert mentions(
        card.text, "unitcard.items_heading", required=owed, accepted=3, missing=owed - 3
    )
    [ask] = await staff.press(label("unitcard.button_add_item"))
    assert says(ask.text, "unitcard.add_item_title", unit="西吉县")
    [done] = await staff.say("防汛预案\n2026年度版本")
    assert says(done.text, "unitcard.item_added", unit="西吉县", title="防汛预案")
    [again] = await staff.say("/unit 西吉县")
    assert mentions(
        again.text, "unitcard.items_heading", required=owed + 1, accepted=3, missing=owed - 2
    )
    report = await build_report(services=office.services)
    [xjx] = [s for s in report.units if s.name == "西吉县"]
    assert "防汛预案" in xjx.missing_items
    assert not [s for s in report.units if s.name != "西吉县" and "防汛预案" in s.missing_items]
    assert await office.count(AuditEvent, AuditEvent.action == "item_add") == 1
    assert await office.count(ConversationStep) == 0


async def sandbox_actions(sandbox: SandboxClient) -> list[tuple[int, str]]:
    calls = await sandbox.calls("sendChatAction")
    return [(int(c.params["chat_id"]), str(c.params["action"])) for c in calls]


# ---- a broadcast end to end -------------------------------------------------------------------


@dataclass
class Audience:
    delivered: list[int]
    never_started: list[int]
    blocked: list[int]
    missing: list[int]  # not known to Telegram at all ("chat not found")
    throttled: list[int]


async def audience(office: Office) -> Audience:
    """The 37 liaisons: 3 never opened the bot, 2 blocked it, 2 are unknown to Telegram, 2 hit
    a 429 on their first try; the rest simply receive it."""
    ids = [user for user, _ in await office.liaisons()]
    assert len(ids) == 37
    never, blocked, missing = ids[:3], ids[3:5], ids[5:7]
    delivered = ids[7:]
    for user in never:
        await office.person(user, f"联络员{user % 100}", started=False)
    for user in blocked + delivered:
        await office.person(user, f"联络员{user % 100}")
    for user in blocked:
        await office.sandbox.block(user)
    throttled = delivered[:2]
    for user in throttled:
        await office.sandbox.inject_fault("sendMessage", 429, chat_id=user, retry_after=1)
    return Audience(delivered, never, blocked, missing, throttled)


@pytest.mark.refusals("chat not found")  # the two recipients whose chat is gone: failed
async def test_broadcast_end_to_end(office: Office) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    who = await audience(office)
    progress, _ = await compose_and_send(staff, NOTICE)

    [report] = await staff.wait(1)  # the final report, once nothing is left to send
    everyone = label("broadcast.audience_registered")
    assert mentions(report.text, "broadcast.report_title", id=1, audience=everyone)
    assert mentions(report.text, "broadcast.report_total", total=37)
    assert mentions(report.text, "broadcast.report_delivered", count=30)
    assert mentions(
        report.text,
        "broadcast.report_unreachable",
        count=5, never_started=3, blocked=2, other=0,
    )  # fmt: skip
    assert mentions(report.text, "broadcast.report_failed", count=2)

    # One progress message, edited (never sent again), ending at 37/37.
    await until(lambda: _progress_done(sandbox, progress.message_id))
    messages = await sandbox.messages(STAFF_ID)
    shown = [
        m
        for m in messages
        if mentions(m.text, "broadcast.progress") or mentions(m.text, "broadcast.progress_done")
    ]
    assert [m.message_id for m in shown] == [progress.message_id]
    assert says(shown[0].text, "broadcast.progress_done", id=1, total=37)
    for key, count in (("delivered", 30), ("unreachable", 5), ("failed", 2)):
        assert mentions(shown[0].text, f"broadcast.figure_{key}", count=count), key
    assert shown[0].edits >= 3  # preview, "0/37", …, the final count
    assert shown[0].reply_markup is None

    # Nothing lost, nothing twice.
    assert await office.outbox_states(1) == sorted(
        ["sent"] * 30 + ["unreachable"] * 5 + ["failed"] * 2
    )
    for user in who.delivered:
        received = await sandbox.messages(user)
        assert [text(m) for m in received] == [NOTICE], user
        assert received[0].button_texts() == [ACK]
    for user in who.never_started + who.blocked:
        assert await sandbox.messages(user) == []
    calls = await sandbox.calls("sendMessage")
    for user in who.throttled:
        tries = [c.status for c in calls if c.params.get("chat_id") == user]
        assert tries == [429, 200]

    # Acknowledgements.
    acked = who.delivered[:10]
    for user in acked:
        await sandbox.press(user, button_text=ACK)
    answers = await sandbox.wait_callback_answers(len(acked) + 2)
    assert [a.text for a in answers if a.user_id in acked] == [label("ack.thanks")] * 10
    [notice] = await sandbox.messages(acked[0])
    await sandbox.press(acked[0], message_id=notice.message_id, data="ack:1", force=True)
    answers = await sandbox.wait_callback_answers(len(acked) + 3)
    assert says(answers[-1].text, "ack.already")
    assert await office.count(BroadcastAck) == 10
    assert (await sandbox.messages(acked[0]))[0].button_texts() == [label("ack.done_button")]

    [status] = await staff.press(label("broadcast.button_acks"))
    assert mentions(status.text, "broadcast.acks_title", delivered=30, acked=10, waiting=20)
    assert mentions(status.text, "broadcast.acks_undelivered", count=7)
    nudge_button = label("broadcast.button_nudge", count=20)
    assert nudge_button in status.button_texts()
    await staff.press(nudge_button, expect=0)
    waiting = who.delivered[10:]
    for user in waiting:
        await sandbox.wait_messages(user, 2, timeout=60)
    await until(lambda: _settled(office, "broadcast_nudge", 20))
    for user in waiting:
        reminder = (await sandbox.messages(user))[1]
        assert says(reminder.text, "ack.nudge")
        assert reminder.button_texts() == [ACK]
    for user in acked:
        assert len(await sandbox.messages(user)) == 1
    # The same reminder pressed again sends nothing more.
    await sandbox.press(STAFF_ID, message_id=status.message_id, data="bc:nudge:1:1", force=True)
    answers = await sandbox.wait_callback_answers(len(acked) + 6)
    assert says(answers[-1].text, "broadcast.nudged", count=0)
    assert await office.count(OutboxMessage, OutboxMessage.purpose == "broadcast_nudge") == 20

    # Acknowledging from the reminder counts too.
    await sandbox.press(waiting[0], button_text=ACK)
    await until(lambda: _acks(office, 11))
    [status] = await staff.press(label("broadcast.button_refresh"))
    assert mentions(status.text, "broadcast.acks_title", acked=11, waiting=19)
    assert await sandbox.warnings() == []


async def _progress_done(sandbox: SandboxClient, message_id: int) -> bool:
    for message in await sandbox.messages(STAFF_ID):
        if message.message_id == message_id:
            return mentions(message.text, "broadcast.progress_done")
    return False


async def _settled(office: Office, purpose: str, count: int) -> bool:
    async with office.services.db.sessions() as session:
        states = (
            await session.scalars(
                select(OutboxMessage.state).where(OutboxMessage.purpose == purpose)
            )
        ).all()
    return len(states) == count and all(s == "sent" for s in states)


async def _acks(office: Office, count: int) -> bool:
    return await office.count(BroadcastAck) == count


async def test_a_document_to_chosen_units_is_copied(office: Office) -> None:
    """A notice as a document, to units named by staff: copied with its caption and button."""
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    liaisons = {unit: user for user, unit in await office.liaisons()}
    for unit in ("市民政局", "西吉县"):
        await office.person(liaisons[unit], unit)
    await staff.say("/broadcast")
    await sandbox.send_document(
        STAFF_ID, file_name="通知.pdf", data=b"%PDF-1.4 notice", caption="固双拥办发〔2023〕7号"
    )
    [choose] = await staff.wait(1)
    await staff.press(label("broadcast.audience_units"), expect=0)
    ask = await staff.edited(choose.message_id)
    assert says(ask.text, "broadcast.ask_units")
    [unknown] = await staff.say("民政局 火星局")
    assert says(unknown.text, "common.unit_not_found", name="火星局")
    [preview] = await staff.say("民政局、xjx")  # a part of the name, and pinyin initials
    assert mentions(preview.text, "broadcast.preview_units", units="市民政局、西吉县")
    document = label("broadcast.kind_document", name="通知.pdf")
    assert mentions(
        preview.text, "broadcast.content_copy", summary=f"{document} 固双拥办发〔2023〕7号"
    )
    await staff.press(label("broadcast.button_ack_off"), expect=0)
    toggled = await staff.edited(preview.message_id)
    assert mentions(toggled.text, "broadcast.preview_ack_off")
    await staff.press(label("broadcast.button_send", count=2), expect=0)
    [report] = await staff.wait(1)
    assert mentions(report.text, "broadcast.report_delivered", count=2)
    for unit in ("市民政局", "西吉县"):
        [copy] = await sandbox.messages(liaisons[unit])
        assert copy.kind == "document"
        assert copy.method == "copyMessage"
        assert copy.caption == "固双拥办发〔2023〕7号"
        assert copy.reply_markup is None
    assert await sandbox.warnings() == []


async def test_a_broadcast_survives_kill_9(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> None:
    """Killed in the middle of a broadcast and started again: every reachable liaison gets the
    notice once; a copy whose sending was cut off is reported as unknown, never sent twice."""
    office, services = await start_office(
        make_bot, sandbox, tmp_path, SEND_RATE_GLOBAL="4", OUTBOX_LEASE_SECONDS="5"
    )
    try:
        staff = await office.person(STAFF_ID, "市双拥办")
        ids = [user for user, _ in await office.liaisons()]
        for user in ids:
            await office.person(user, f"联络员{user % 100}")
        progress, _ = await compose_and_send(staff, NOTICE)
        await until(lambda: _received(sandbox, ids, 8))
        await office.bot.kill()
        await office.bot.start()
        await staff.wait(1)  # the final report
        await until(lambda: _progress_done(sandbox, progress.message_id))
        async with services.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.purpose == "broadcast")
                )
            ).all()
        states = {row.chat_id: row.state for row in rows}
        assert len(states) == len(rows) == 37
        assert set(states.values()) <= {"sent", "unknown"}
        for user in ids:
            got = len(await sandbox.messages(user))
            if states[user] == "sent":
                assert got == 1, user
            else:
                assert got <= 1, user
        final = next(
            m for m in await sandbox.messages(STAFF_ID) if m.message_id == progress.message_id
        )
        delivered = sum(1 for s in states.values() if s == "sent")
        assert mentions(final.text, "broadcast.progress_done", total=37)
        assert mentions(final.text, "broadcast.figure_delivered", count=delivered)
        assert mentions(final.text, "broadcast.figure_unknown", count=37 - delivered) == (
            delivered < 37
        )
        assert await sandbox.warnings() == []
    finally:
        await services.close()


async def _received(sandbox: SandboxClient, ids: list[int], count: int) -> bool:
    got = 0
    for user in ids:
        got += len(await sandbox.messages(user))
    return got >= count
