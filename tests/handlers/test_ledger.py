"""handlers/ledger.py through updates: `/status`, `/submit`, its buttons, files sent outside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import NetworkError

from bot.clock import FrozenClock
from bot.conversations import STEP_EXPIRES
from bot.ledger import submitting
from bot.ledger.stray import Candidate, StrayOut
from bot.services import Services
from bot.transport.intake import Intake, UpdateFailed
from handlers.ledger import stray_keyboard
from messages import plain
from storage.models import ChecklistItem, ConversationStep, Submission, SubmissionFile, Unit
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.checklist import item_count
from tests.support.messages import label
from tests.support.request import DATE
from tests.support.settings import STAFF
from tests.support.updates import make_document, make_message_update

LIAISON, OTHER_LIAISON, LEAD, STRANGER = 1001, 2001, 1002, 3001
GROUP = -100_555


@dataclass
class Office:
    unit: Unit  # 市民政局, liaison LIAISON
    other: Unit  # 市卫健委, liaison OTHER_LIAISON
    items: list[ChecklistItem]  # the member checklist, in order


@pytest.fixture
async def office(services: Services) -> Office:
    unit = await factories.add_unit(services, "市民政局")
    other = await factories.add_unit(services, "市卫健委")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    await factories.add_person(services, other, "liaison", user_id=OTHER_LIAISON)
    return Office(unit, other, await factories.items_for(services, unit))


async def submissions(services: Services, unit: Unit) -> list[Submission]:
    return await rows.all_of(services, Submission, Submission.unit_id == unit.id)


async def test_status_shows_every_item_and_the_button_to_submit(
    bot: BotHarness, services: Services, office: Office
) -> None:
    plan = office.items[0]
    await factories.add_submission(services, office.unit, plan, "accepted")
    status = (await bot.command(LIAISON, "/status")).one()
    assert status.mentions("ledger.status_title", unit="市民政局")
    assert status.mentions("ledger.status_no_deadline")
    assert status.mentions(
        "ledger.status_line", title=plan.title, state=label("ledger.state_accepted")
    )
    owed = item_count("member")
    assert status.mentions(
        "ledger.status_summary", total=owed, accepted=1, pending=0, open=owed - 1
    )
    assert status.button_data() == [f"sub:start:{office.unit.id}"]


async def test_status_says_an_item_agreed_not_to_apply_is_not_applicable_not_accepted(
    bot: BotHarness, services: Services, office: Office
) -> None:
    plan, minutes = office.items[0], office.items[1]
    await factories.add_submission(services, office.unit, plan, "accepted")
    await factories.add_submission(
        services, office.unit, minutes, "accepted", answer_kind="not_applicable"
    )
    status = (await bot.command(LIAISON, "/status")).one()
    agreed = label("ledger.state_not_applicable_accepted")
    assert status.mentions("ledger.status_line", title=minutes.title, state=agreed)
    accepted = label("ledger.state_accepted")
    assert not status.mentions("ledger.status_line", title=minutes.title, state=accepted)
    assert status.mentions("ledger.status_line", title=plan.title, state=accepted)
    # Counted as done, as before.
    owed = item_count("member")
    assert status.mentions(
        "ledger.status_summary", total=owed, accepted=2, pending=0, open=owed - 2
    )


async def test_a_file_sent_again_of_an_item_agreed_not_to_apply_says_so(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """A draft's files kept when the unit answered "not applicable", and that was agreed to:
    the file sent again is named with the item's state as /status shows it, not 已通过."""
    minutes = office.items[1]
    agreed = await factories.add_submission(services, office.unit, minutes, "accepted")
    async with services.db.uow() as tx:
        kept = await tx.get(Submission, agreed.id)
        assert kept is not None
        kept.answer_kind, kept.text = "not_applicable", "本单位未召开专题会议"
    [file] = await rows.all_of(services, SubmissionFile, SubmissionFile.submission_id == agreed.id)
    again = await bot.send_document(LIAISON, "会议记录.pdf", file_unique_id=file.file_unique_id)
    state = label("ledger.state_not_applicable_accepted")
    assert again.one().says(
        "ledger.stray_known", name="会议记录.pdf", title=minutes.title, state=state
    )


async def test_status_says_the_lead_is_not_on_record_and_how_to_add_it(
    bot: BotHarness, services: Services, office: Office
) -> None:
    # 市民政局's liaison skipped the lead: the items are owed, and so are the lead's details.
    status = (await bot.command(LIAISON, "/status")).one()
    assert status.mentions("ledger.status_lead_missing")
    assert not status.mentions("ledger.status_liaison_missing")
    # Every item accepted, the lead still missing: not "all done" and nothing more.
    for item in office.items:
        await factories.add_submission(services, office.unit, item, "accepted")
    done = (await bot.command(LIAISON, "/status")).one()
    assert done.mentions("ledger.status_complete")
    assert done.mentions("ledger.status_lead_missing")
    # Once the lead is on record, /status no longer asks for them.
    await factories.add_person(services, office.unit, "lead")
    assert not (await bot.command(LIAISON, "/status")).one().mentions("ledger.status_lead_missing")


async def test_status_says_the_liaison_is_not_on_record_to_the_lead(
    bot: BotHarness, services: Services
) -> None:
    unit = await factories.add_unit(services, "市司法局")
    await factories.add_person(services, unit, "lead", user_id=LEAD)
    status = (await bot.command(LEAD, "/status")).one()
    assert status.mentions("ledger.status_liaison_missing")
    assert not status.mentions("ledger.status_lead_missing")


async def test_status_is_refused_to_someone_of_no_unit(bot: BotHarness, office: Office) -> None:
    assert (await bot.command(STRANGER, "/status")).one().says("ledger.not_member")
    assert (await bot.command(STRANGER, "/submit")).one().says("ledger.not_member")
    # In a group the command is not the ledger's (it names a unit's affairs): no answer.
    assert (await bot.command(LIAISON, "/status", chat_id=GROUP)).messages == []


async def test_submit_a_file_and_finish_the_item(
    bot: BotHarness, services: Services, office: Office
) -> None:
    plan, minutes = office.items[0], office.items[1]
    prompt = (await bot.command(LIAISON, "/submit")).one()
    owed = item_count("member")
    assert prompt.mentions("ledger.prompt", unit="市民政局", title=plan.title, open=owed)
    assert prompt.button_data() == [
        f"sub:done:{plan.id}",
        f"sub:skip:{plan.id}",
        f"sub:na:{plan.id}",
    ]

    received = (await bot.send_document(LIAISON, "2026年度工作计划.pdf")).one()
    assert received.says("ledger.file_received", name="2026年度工作计划.pdf", files=1)
    done = await bot.press(LIAISON, label("ledger.button_done"), on=received)
    assert received.buttons() == []
    assert done.one().mentions("ledger.submitted", title=plan.title)
    assert done.one().mentions("ledger.prompt", title=minutes.title, open=owed - 1)

    [submission] = await submissions(services, office.unit)
    assert (submission.item_id, submission.state, submission.submitted_by) == (
        plan.id,
        "pending",
        LIAISON,
    )
    [file] = await rows.all_of(services, SubmissionFile)
    assert file.file_name == "2026年度工作计划.pdf"
    assert file.path is not None
    assert (Path(services.settings.data_dir) / file.path).read_bytes().startswith(b"%PDF")
    step = await rows.get(services, ConversationStep, LIAISON)
    assert step is not None
    assert step.data["item_id"] == minutes.id


async def test_a_submit_left_for_days_takes_no_text_and_its_files_stay_a_draft(
    bot: BotHarness, services: Services, office: Office, clock: FrozenClock
) -> None:
    plan = office.items[0]
    await bot.command(LIAISON, "/submit")
    received = (await bot.send_document(LIAISON, "2026年度工作计划.pdf")).one()
    clock.advance(timedelta(days=60))

    replies = await bot.say(LIAISON, "王科长，请问…")
    # Told once that the step was closed, then answered as with no step open.
    assert replies.messages[0].says("common.step_expired_submit", hours=24)
    assert replies.messages[1].says("common.not_understood")
    assert len(replies.messages) == 2
    assert await rows.get(services, ConversationStep, LIAISON) is None
    [draft] = await submissions(services, office.unit)
    assert (draft.item_id, draft.state, draft.text) == (plan.id, "draft", None)
    assert len(await rows.all_of(services, SubmissionFile)) == 1
    # The old step's buttons act on nothing; the notice is not said again.
    stale = await bot.press(LIAISON, label("ledger.button_done"), on=received)
    assert stale.answer["text"] == label("common.stale_button")
    assert stale.messages == []
    assert (await submissions(services, office.unit))[0].state == "draft"
    assert (await bot.say(LIAISON, "好的")).one().says("common.not_understood")
    # /submit starts again at the item, its file still there.
    again = (await bot.command(LIAISON, "/submit")).one()
    assert again.mentions("ledger.prompt", title=plan.title)
    done = await bot.press(LIAISON, data=f"sub:done:{plan.id}")
    assert done.one().mentions("ledger.submitted", title=plan.title)


async def test_a_step_within_the_limit_still_takes_text(
    bot: BotHarness, services: Services, office: Office, clock: FrozenClock
) -> None:
    await bot.command(LIAISON, "/submit")
    clock.advance(STEP_EXPIRES - timedelta(minutes=1))
    answer = "本年度召开双拥工作会议2次。"
    assert (await bot.say(LIAISON, answer)).one().says("ledger.text_received", chars=len(answer))
    clock.advance(STEP_EXPIRES - timedelta(minutes=1))  # counted from the last answer
    assert (await bot.say(LIAISON, "另有座谈会1次。")).one().mentions("ledger.text_received")


async def test_an_answer_of_spaces_only_is_not_recorded(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await bot.command(LIAISON, "/submit")
    assert (await bot.say(LIAISON, "\u3000\u3000 ")).one().says("ledger.text_empty")
    assert await submissions(services, office.unit) == []  # no draft of "0 characters"


async def test_an_edited_answer_is_not_taken_as_more_text(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await bot.command(LIAISON, "/submit")
    answer = "本年度召开双拥工作会议2次。"
    sent = make_message_update(bot.app.bot, LIAISON, answer)
    assert (await bot.send(sent)).one().says("ledger.text_received", chars=len(answer))
    assert sent.message is not None
    edit = make_message_update(
        bot.app.bot,
        LIAISON,
        answer + "另有座谈会1次。",
        edited=True,
        message_id=sent.message.message_id,
    )
    assert (await bot.send(edit)).one().says("common.edit_ignored")
    [draft] = await submissions(services, office.unit)
    assert (draft.state, draft.text) == ("draft", answer)


async def test_a_forwarded_file_keeps_its_origin_and_staff_see_it_in_review(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await bot.command(LIAISON, "/submit")
    origin = {
        "type": "user",
        "date": DATE,
        "sender_user": {"id": OTHER_LIAISON, "is_bot": False, "first_name": "李明",
                        "username": "liming"},
    }  # fmt: skip
    received = (await bot.send_document(LIAISON, "工作计划.pdf", forward_origin=origin)).one()
    await bot.press(LIAISON, label("ledger.button_done"), on=received)
    [file] = await rows.all_of(services, SubmissionFile)
    assert file.forwarded_from == "李明 (@liming)"

    shown, card = (await bot.command(STAFF, "/review")).messages
    assert shown.mentions("review.forwarded_from", origin="李明 (@liming)")
    assert card.mentions("review.card", unit="市民政局")


async def test_a_files_caption_is_kept_and_staff_read_it_in_review(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """The caption under a photo of a signed page was thrown away."""
    await bot.command(LIAISON, "/submit")
    received = (await bot.send_document(LIAISON, "纪要.pdf", caption="会议纪要第1页")).one()
    await bot.press(LIAISON, label("ledger.button_done"), on=received)
    [file] = await rows.all_of(services, SubmissionFile)
    assert file.caption == "会议纪要第1页"
    shown, _card = (await bot.command(STAFF, "/review")).messages
    assert shown.mentions("review.file_note", note="会议纪要第1页")


async def test_a_file_too_big_to_download_in_submit_is_refused_and_the_step_kept(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await bot.command(LIAISON, "/submit")
    before = await rows.get(services, ConversationStep, LIAISON)
    # Telegram's metadata says nothing of the size; getFile refuses the file.
    bot.request.fail("getFile", 400, description="Bad Request: file is too big")
    reply = (await bot.send_document(LIAISON, "全年影像资料.pdf")).one()
    assert reply.says("files.too_large", name="全年影像资料.pdf")
    assert await rows.all_of(services, SubmissionFile) == []
    step = await rows.get(services, ConversationStep, LIAISON)
    assert before is not None
    assert step is not None
    assert (step.flow, step.step, step.data) == (before.flow, before.step, before.data)


async def test_a_download_failing_on_the_network_keeps_the_step_and_is_handled_later(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """The failure is handed to the intake (retried later), never to the stray-file handler."""
    await bot.command(LIAISON, "/submit")
    before = await rows.get(services, ConversationStep, LIAISON)
    document = make_document("工作计划.pdf", size=100)
    bot.request.add_file(document["file_id"], b"%PDF-1.4 plan\n%%EOF\n")
    update = make_message_update(bot.app.bot, LIAISON, document=document)
    intake = Intake(bot.app)

    bot.request.fail("getFile", 502, description="Bad Gateway")
    since = bot.request.mark()
    with pytest.raises(UpdateFailed):
        await intake.handle(update)
    assert [type(e) for e in bot.errors] == [NetworkError]
    bot.errors.clear()
    assert bot.request.sent(LIAISON, since=since) == []  # no stray-file prompt, nothing else
    step = await rows.get(services, ConversationStep, LIAISON)
    assert before is not None
    assert step is not None
    assert (step.flow, step.step, step.data) == (before.flow, before.step, before.data)

    since = bot.request.mark()
    assert await intake.handle(update) == "handled"
    [received] = bot.request.sent(LIAISON, since=since)
    assert received.says("ledger.file_received", name="工作计划.pdf", files=1)


async def test_not_applicable_asks_for_a_reason_and_submits_it(
    bot: BotHarness, services: Services, office: Office
) -> None:
    plan = office.items[0]
    prompt = (await bot.command(LIAISON, "/submit")).one()
    asked = await bot.press(LIAISON, label("ledger.button_not_applicable"), on=prompt)
    assert asked.one().says("ledger.not_applicable_ask", title=plan.title)
    assert (await bot.say(LIAISON, "无")).one().says("ledger.reason_invalid")
    done = (await bot.say(LIAISON, "本单位无此项职能，经市双拥办同意不设此项。")).one()
    assert done.mentions("ledger.submitted", title=plan.title)
    [submission] = await submissions(services, office.unit)
    assert (submission.answer_kind, submission.state) == ("not_applicable", "pending")


async def test_skipping_every_item_ends_with_what_was_skipped(
    bot: BotHarness, services: Services, office: Office
) -> None:
    message = (await bot.command(LIAISON, "/submit")).one()
    for _ in office.items:
        message = (await bot.press(LIAISON, label("ledger.button_skip"), on=message)).one()
    assert message.mentions("ledger.walk_skipped")
    assert message.button_data() == [f"sub:start:{office.unit.id}"]
    assert await rows.get(services, ConversationStep, LIAISON) is None
    assert await submissions(services, office.unit) == []


async def test_another_units_ledger_is_refused(
    bot: BotHarness, services: Services, office: Office
) -> None:
    reply = await bot.press(OTHER_LIAISON, data=f"sub:start:{office.unit.id}")
    assert reply.one().says("ledger.not_your_unit")
    assert await rows.get(services, ConversationStep, OTHER_LIAISON) is None


async def test_forged_or_stale_submit_buttons_change_nothing(
    bot: BotHarness, services: Services, office: Office
) -> None:
    forged = await bot.press(LIAISON, data="sub:go:x:y")
    assert forged.answer["text"] == label("common.stale_button")
    prompt = (await bot.command(LIAISON, "/submit")).one()
    # "done" for an item other than the one asked for: an old message's button.
    stale = await bot.press(LIAISON, data=f"sub:done:{office.items[3].id}", on=prompt)
    assert stale.answer["text"] == label("common.stale_button")
    assert stale.messages == []
    assert await submissions(services, office.unit) == []


async def test_a_file_sent_outside_submit_is_held_until_its_item_is_chosen(
    bot: BotHarness, services: Services, office: Office
) -> None:
    plan, minutes = office.items[0], office.items[1]
    ask = (await bot.send_document(LIAISON, "年度工作计划扫描件.pdf")).one()
    assert ask.says("ledger.stray_ask_guess", names="年度工作计划扫描件.pdf", title=plan.title)
    assert ask.button_data()[0] == f"sf:{office.unit.id}:{plan.id}:1"  # its question
    assert ask.button_data()[-1] == "sf:x"
    assert await rows.all_of(services, SubmissionFile) == []

    placed = await bot.press(LIAISON, data=f"sf:{office.unit.id}:{minutes.id}:1", on=ask)
    assert placed.one().mentions("ledger.stray_placed", count=1, title=minutes.title, files=1)
    [file] = await rows.all_of(services, SubmissionFile)
    assert (file.item_id, file.file_name) == (minutes.id, "年度工作计划扫描件.pdf")
    step = await rows.get(services, ConversationStep, LIAISON)
    assert step is not None
    assert step.flow == submitting.FLOW_SUBMIT


async def test_an_older_question_does_not_file_the_files_sent_after_it(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """Its button filed every file held, also those its question had not named (an annual
    plan filed as the co-building agreement)."""
    plan = office.items[0]
    first = (await bot.send_document(LIAISON, "年度工作计划.pdf")).one()
    latest = (await bot.send_document(LIAISON, "结对共建协议.pdf", content=b"%PDF-1.4 b")).one()
    assert latest.mentions("ledger.stray_ask_guess", names="年度工作计划.pdf、结对共建协议.pdf")
    refused = await bot.press(LIAISON, data=first.button_data()[0], on=first)
    assert refused.one().says("ledger.stray_changed")
    assert await rows.all_of(services, SubmissionFile) == []
    placed = await bot.press(LIAISON, data=f"sf:{office.unit.id}:{plan.id}:2", on=latest)
    assert placed.one().mentions("ledger.stray_placed", count=2, title=plan.title, files=2)


async def test_an_older_question_files_nothing_also_when_the_held_files_are_full(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """Held files are capped (the oldest drops out): counting them no longer told an older
    question from the latest."""
    plan = office.items[0]
    asked = []
    for n in range(submitting.MAX_HELD_FILES + 1):
        name = f"材料{n}.pdf"
        asked.append(
            (await bot.send_document(LIAISON, name, content=b"%PDF-1.4 " + name.encode())).one()
        )
    refused = await bot.press(LIAISON, data=asked[-2].button_data()[0], on=asked[-2])
    assert refused.one().says("ledger.stray_changed")
    assert await rows.all_of(services, SubmissionFile) == []
    data = f"sf:{office.unit.id}:{plan.id}:{submitting.MAX_HELD_FILES + 1}"
    placed = await bot.press(LIAISON, data=data, on=asked[-1])
    assert placed.one().mentions("ledger.stray_placed", count=submitting.MAX_HELD_FILES)


async def test_a_held_file_can_be_dropped(
    bot: BotHarness, services: Services, office: Office
) -> None:
    ask = (await bot.send_photo(LIAISON)).one()
    dropped = await bot.press(LIAISON, label("ledger.stray_button_drop"), on=ask)
    assert dropped.one().says("ledger.stray_dropped")
    assert await rows.get(services, ConversationStep, LIAISON) is None
    assert await rows.all_of(services, SubmissionFile) == []


async def test_a_file_from_someone_of_no_unit_is_not_kept(
    bot: BotHarness, services: Services, office: Office
) -> None:
    assert (await bot.send_document(STRANGER)).one().says("ledger.not_member")
    assert await rows.get(services, ConversationStep, STRANGER) is None


def test_the_stray_file_buttons_name_items_and_units_as_written() -> None:
    """Button labels are not HTML: a title or a unit with & or < reads as it is written."""
    title, other = "R&D <保密> 制度", "军民融合 & 双拥"
    guess = Candidate(unit_id=1, unit_name="科技局&研发中心", item_id=1, title=title)
    second = Candidate(unit_id=2, unit_name="西吉县<试点>", item_id=2, title=other)
    markup = stray_keyboard(
        "zh", StrayOut(files=["a.pdf"], guess=guess, candidates=[guess, second])
    )
    labels = [button.text for row in markup.inline_keyboard for button in row]
    assert labels[:2] == [
        plain("zh", "ledger.stray_button_confirm", title=title),
        plain("zh", "ledger.stray_button_other_unit", unit="西吉县<试点>", title=other),
    ]
