"""handlers/broadcast.py through updates: compose, audience, preview, send, "收到", the reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import pytest

from bot.context import Context
from bot.enums import UnitKind
from bot.services import Services
from bot.staff.broadcasts import Progress
from bot.transport.outbox import Dispatcher
from handlers.broadcast import UNITS_NAMED, progress_text, progress_tick
from messages import plain
from storage.models import (
    AuditEvent,
    Broadcast,
    BroadcastAck,
    ConversationStep,
    OutboxMessage,
    Unit,
)
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.clock import FakeTime, pacer_on
from tests.support.messages import label, mentions
from tests.support.request import Sent
from tests.support.settings import STAFF

LIAISON, OTHER_LIAISON, STRANGER = 1001, 2001, 3001
GROUP = -100_555
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@dataclass
class Office:
    unit: Unit
    other: Unit


@pytest.fixture
async def office(services: Services) -> Office:
    unit = await factories.add_unit(services, "市民政局")
    other = await factories.add_unit(services, "市卫健委")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    await factories.add_person(services, other, "liaison", user_id=OTHER_LIAISON)
    return Office(unit, other)


async def preview(bot: BotHarness, text: str = "请各单位于12月5日前报送。") -> Sent:
    """/broadcast, the text, everyone registered: the preview with its buttons."""
    compose = (await bot.command(STAFF, "/broadcast")).one()
    assert compose.says("broadcast.compose")
    audience = (await bot.say(STAFF, text)).one()
    assert audience.says("broadcast.choose_audience")
    await bot.press(STAFF, label("broadcast.audience_registered"), on=audience)
    return audience  # edited in place into the preview


async def deliver(bot: BotHarness) -> None:
    """One round of the outbox dispatcher, through the same recording request."""
    dispatcher = Dispatcher(services=bot.services, bot=bot.app.bot, worker_id="test")
    dispatcher.pacer = pacer_on(FakeTime())
    await dispatcher.run_once()


async def test_compose_preview_and_send_to_everyone_registered(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot)
    assert shown.mentions("broadcast.preview_title")
    assert shown.mentions("broadcast.content_text", summary="请各单位于12月5日前报送。")
    assert shown.mentions("broadcast.preview_recipients", count=2)
    assert shown.button_texts()[0] == label("broadcast.button_send", count=2)

    sent = await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    assert sent.answer["text"] == label("broadcast.confirmed", count=2)
    assert shown.says("broadcast.progress", total=2, pending=2)
    [broadcast] = await rows.all_of(services, Broadcast)
    assert broadcast.state != "draft"
    queued = await rows.all_of(services, OutboxMessage, OutboxMessage.broadcast_id == broadcast.id)
    assert sorted(r.chat_id for r in queued) == [LIAISON, OTHER_LIAISON]
    assert await rows.get(services, ConversationStep, STAFF) is None


async def test_a_recipient_acknowledges_once(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot)
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    await deliver(bot)
    [notice] = bot.request.sent(LIAISON)
    assert notice.text == "请各单位于12月5日前报送。"
    data = notice.data_of(label("ack.button"))
    thanks = await bot.press(LIAISON, data=data, on=notice)
    assert thanks.answer["text"] == label("ack.thanks")
    assert notice.button_texts() == [label("ack.done_button")]  # it shows it was acknowledged
    again = await bot.press(LIAISON, data=data, on=notice)  # a slow client's second press
    assert again.answer["text"] == label("ack.already")
    [ack] = await rows.all_of(services, BroadcastAck)
    assert ack.user_id == LIAISON


async def test_someone_who_got_no_notice_cannot_acknowledge_it(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot)
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    [broadcast] = await rows.all_of(services, Broadcast)
    reply = await bot.press(STRANGER, data=f"ack:{broadcast.id}")
    assert reply.answer["text"] == label("common.stale_button")
    assert await rows.all_of(services, BroadcastAck) == []


async def test_dropping_the_draft_sends_nothing(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot)
    await bot.press(STAFF, label("broadcast.button_drop"), on=shown)
    assert shown.says("broadcast.dropped")
    assert await rows.all_of(services, OutboxMessage) == []
    assert await rows.get(services, ConversationStep, STAFF) is None


async def test_other_commands_wait_while_composing(bot: BotHarness, office: Office) -> None:
    await bot.command(STAFF, "/broadcast")
    assert (await bot.command(STAFF, "/outstanding")).one().says("broadcast.busy")


async def test_the_acknowledgements_report(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot)
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    await deliver(bot)
    [broadcast] = await rows.all_of(services, Broadcast)
    report = (await bot.press(STAFF, data=f"bc:acks:{broadcast.id}", on=shown)).one()
    assert report.mentions(
        "broadcast.acks_title", id=broadcast.id, delivered=2, acked=0, waiting=2
    )
    assert report.button_data()[0] == f"bc:nudge:{broadcast.id}:1"


async def test_broadcast_is_refused_to_anyone_but_staff_and_in_groups(
    bot: BotHarness, services: Services, office: Office
) -> None:
    assert (await bot.command(LIAISON, "/broadcast")).one().says("common.staff_only")
    assert (
        (await bot.command(STAFF, "/broadcast", chat_id=GROUP)).one().says("common.private_only")
    )
    forged = await bot.press(LIAISON, data="bc:stop:1")
    assert forged.answer["text"] == label("common.staff_only")
    assert await rows.get(services, ConversationStep, LIAISON) is None


async def test_every_kind_of_unit_is_an_audience_also_on_buttons_sent_before(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await factories.add_unit(services, "西吉县", kind="county")
    await bot.command(STAFF, "/broadcast")
    audience = (await bot.say(STAFF, "通知")).one()
    lists = ["registered", "outstanding", "contacts", "items"]
    kinds = [f"bc:aud:{kind}" for kind in UnitKind]
    assert audience.button_data() == [
        *(f"bc:aud:{a}" for a in lists),
        *kinds,
        "bc:aud:units",
        "bc:drop",
    ]
    assert audience.button_texts()[4:6] == ["各县（区）", "各成员单位"]

    for data in ("bc:aud:member", "bc:aud:members"):  # today's button, and one sent before
        await bot.press(STAFF, data=data, on=audience)
        assert audience.mentions("broadcast.preview_audience", audience="各成员单位", units=2)
        await bot.press(STAFF, data="bc:back", on=audience)
    await bot.press(STAFF, data="bc:aud:counties", on=audience)
    assert audience.mentions("broadcast.preview_audience", audience="各县（区）", units=1)


async def test_forged_broadcast_buttons_are_stale(bot: BotHarness, office: Office) -> None:
    await bot.command(STAFF, "/broadcast")
    audience = (await bot.say(STAFF, "通知")).one()
    forged = await bot.press(STAFF, data="bc:aud:everyone", on=audience)
    assert forged.answer["text"] == label("common.stale_button")
    # Still composing: a press on anything but the latest message points to it.
    outside = await bot.press(STAFF, data="bc:acks:x")
    assert outside.answer["text"] == label("broadcast.use_current")


# What staff typed, with what looks like a tag and what HTML must escape.
TRICKY = "请于12月20日前报送<资料台账>，R&D 单位 a<b 注意。"


async def test_the_preview_and_every_summary_show_the_notice_as_recipients_read_it(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot, TRICKY)
    assert label("broadcast.content_text", summary=TRICKY) in shown.text.splitlines()
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    await deliver(bot)
    [notice] = bot.request.sent(LIAISON)
    assert notice.text == TRICKY
    [broadcast] = await rows.all_of(services, Broadcast)
    [audited] = await rows.all_of(services, AuditEvent, AuditEvent.action == "broadcast")
    assert audited.details["summary"] == TRICKY
    # Those who have not pressed "收到" are reminded of it by the same words.
    assert f"（{TRICKY}）" in (await nudged(bot, broadcast, shown, OTHER_LIAISON)).text


async def nudged(bot: BotHarness, broadcast: Broadcast, on: Sent, user_id: int) -> Sent:
    """Remind those who have not acknowledged the notice; the reminder `user_id` gets."""
    since = bot.request.mark()
    await bot.press(STAFF, data=f"bc:nudge:{broadcast.id}:1", on=on)
    await deliver(bot)
    [reminder] = bot.request.sent(user_id, since=since)
    return reminder


async def test_the_recent_notices_buttons_read_as_plain_text(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """The next /broadcast offers the notice by a button: a label is not HTML."""
    shown = await preview(bot, TRICKY)
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    [broadcast] = await rows.all_of(services, Broadcast)
    recent = (await bot.command(STAFF, "/broadcast")).one()
    wanted = plain("zh", "broadcast.button_recent", id=broadcast.id, summary=TRICKY[:20])
    assert recent.button_texts() == [wanted]


async def test_a_forwarded_documents_caption_is_summarised_as_it_reads(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await bot.command(STAFF, "/broadcast")
    audience = (await bot.send_document(STAFF, "通知.pdf", caption=TRICKY)).one()
    await bot.press(STAFF, label("broadcast.audience_registered"), on=audience)
    summary = f"{label('broadcast.kind_document', name='通知.pdf')} {TRICKY}"
    assert label("broadcast.content_copy", summary=summary) in audience.text.splitlines()
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=audience)
    await deliver(bot)
    [broadcast] = await rows.all_of(services, Broadcast)
    assert f"（{summary}）" in (await nudged(bot, broadcast, audience, LIAISON)).text


async def test_the_progress_counts_a_failed_copy_as_failed_not_as_sent(
    bot: BotHarness, services: Services, office: Office
) -> None:
    shown = await preview(bot)
    await bot.press(STAFF, label("broadcast.button_send", count=2), on=shown)
    assert shown.mentions("broadcast.progress", total=2, pending=2)
    bot.request.fail("sendMessage", 400, chat_id=OTHER_LIAISON)  # chat not found: failed
    await deliver(bot)
    await progress_tick(cast(Context, SimpleNamespace(bot=bot.app.bot, bot_data=bot.app.bot_data)))
    [broadcast] = await rows.all_of(services, Broadcast)
    assert shown.says("broadcast.progress_done", id=broadcast.id, total=2)
    assert shown.mentions("broadcast.figure_delivered", count=1)
    assert shown.mentions("broadcast.figure_unreachable", count=0)
    assert shown.mentions("broadcast.figure_failed", count=1)
    assert not shown.mentions("broadcast.figure_cancelled")


def test_the_progress_names_copies_held_back_and_of_unknown_outcome() -> None:
    p = Progress(
        id=7, audience="registered", summary="通知", created_by=STAFF, created_at=NOW,
        ack_enabled=True, total=10, delivered=3, never_started=1, blocked=0,
        other_unreachable=0, failed=1, unknown=2, cancelled=3, pending=0, acknowledged=0,
        finished=True,
    )  # fmt: skip
    text = progress_text(p, "zh")
    for key, count in (
        ("figure_delivered", 3), ("figure_unreachable", 1), ("figure_failed", 1),
        ("figure_unknown", 2), ("figure_cancelled", 3),
    ):  # fmt: skip
        assert mentions(text, f"broadcast.{key}", count=count), key
    sending = p.model_copy(update={"finished": False, "cancelled": 0, "pending": 3})
    assert mentions(progress_text(sending, "zh"), "broadcast.progress", total=10, pending=3)
    assert sending.signature != p.signature


async def test_chosen_units_are_named_in_the_preview(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await bot.command(STAFF, "/broadcast")
    audience = (await bot.say(STAFF, "通知")).one()
    await bot.press(STAFF, label("broadcast.audience_units"), on=audience)
    shown = (await bot.say(STAFF, "市卫健委 市民政局")).one()
    assert shown.mentions("broadcast.preview_units", units="市卫健委、市民政局")
    assert not shown.mentions("broadcast.preview_audience")

    more = [f"第{n}联络组" for n in range(1, 12)]
    for name in more:
        await factories.add_unit(services, name)
    await bot.press(STAFF, label("broadcast.button_back"), on=shown)
    await bot.press(STAFF, label("broadcast.audience_units"), on=shown)
    many = (await bot.say(STAFF, " ".join(["市民政局", *more]))).one()
    named = "、".join(["市民政局", *more][:UNITS_NAMED])
    assert many.mentions("broadcast.preview_units_more", units=named, count=12)
