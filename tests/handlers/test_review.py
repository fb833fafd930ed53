"""handlers/review.py through updates: `/review`, accept, send back with a reason, later."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot import roster
from bot.services import Services
from storage.models import ChecklistItem, OutboxMessage, Submission, Unit
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.messages import label
from tests.support.request import TOO_OLD
from tests.support.settings import STAFF

LIAISON, STRANGER, COLLEAGUE = 1001, 3001, 904
GROUP = -100_555


@dataclass
class Office:
    unit: Unit
    plan: ChecklistItem
    submission: Submission  # the plan, two files, awaiting review


@pytest.fixture
async def office(services: Services) -> Office:
    unit = await factories.add_unit(services, "市民政局")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON, name="张伟")
    plan = (await factories.items_for(services, unit))[0]
    submission = await factories.add_submission(services, unit, plan, "pending", files=2)
    return Office(unit, plan, submission)


async def state_of(services: Services, submission: Submission) -> Submission:
    found = await rows.get(services, Submission, submission.id)
    assert found is not None
    return found


async def notices_to(services: Services, chat_id: int) -> list[OutboxMessage]:
    return await rows.all_of(services, OutboxMessage, OutboxMessage.chat_id == chat_id)


async def test_review_sends_the_files_again_then_the_card(bot: BotHarness, office: Office) -> None:
    first, second, card = (await bot.command(STAFF, "/review")).messages
    assert (first.method, second.method) == ("sendDocument", "sendDocument")
    assert first.file is not None
    assert first.file.startswith("BQAC")
    assert first.says("review.file_caption", unit="市民政局", index=1, count=2)
    assert card.mentions("review.card", waiting=1, unit="市民政局", title=office.plan.title)
    assert card.mentions("review.card_files", count=2)
    sid = office.submission.id
    assert card.button_data() == [f"rv:ok:{sid}", f"rv:back:{sid}", f"rv:later:{sid}"]


async def test_accepting_tells_the_unit_through_the_outbox(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = (await bot.command(STAFF, "/review")).messages[-1]
    done = await bot.press(STAFF, label("review.button_accept"), on=card)
    accepted, nothing = done.messages
    assert accepted.says("review.accepted", unit="市民政局", title=office.plan.title)
    assert nothing.says("review.nothing")
    assert card.buttons() == []
    submission = await state_of(services, office.submission)
    assert (submission.state, submission.reviewed_by) == ("accepted", STAFF)
    [notice] = await notices_to(services, LIAISON)
    assert notice.state == "pending"


async def test_accepting_a_not_applicable_answer_says_it_was_agreed_to_not_passed(
    bot: BotHarness, services: Services
) -> None:
    unit = await factories.add_unit(services, "市卫健委")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON + 1)
    policy = (await factories.items_for(services, unit))[-1]
    await factories.add_submission(services, unit, policy, "pending", answer_kind="not_applicable")
    card = (await bot.command(STAFF, "/review")).messages[-1]
    accept = card.data_of(label("review.button_accept"))
    agreed = (await bot.press(STAFF, data=accept, on=card)).messages[0]
    assert agreed.says("review.accepted_not_applicable", unit="市卫健委", title=policy.title)
    assert not agreed.mentions("review.accepted", unit="市卫健委", title=policy.title)
    again = await bot.press(STAFF, data=accept, on=card)
    who = label("review.decided_by_you")
    assert again.one().says("review.already_not_applicable_accepted", who=who)


async def test_a_press_handled_too_late_to_answer_still_accepts(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = (await bot.command(STAFF, "/review")).messages[-1]
    bot.request.fail("answerCallbackQuery", 400, description=TOO_OLD)
    done = await bot.press(STAFF, label("review.button_accept"), on=card)
    assert [c.error for c in done.calls if c.method == "answerCallbackQuery"] == [TOO_OLD]
    assert done.messages[0].says("review.accepted", unit="市民政局", title=office.plan.title)
    submission = await state_of(services, office.submission)
    assert (submission.state, submission.reviewed_by) == ("accepted", STAFF)
    [notice] = await notices_to(services, LIAISON)
    assert notice.state == "pending"


async def test_sending_back_asks_for_the_reason_then_tells_the_unit(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = (await bot.command(STAFF, "/review")).messages[-1]
    asked = await bot.press(STAFF, label("review.button_return"), on=card)
    assert asked.one().says("review.ask_reason", unit="市民政局", title=office.plan.title)
    assert (await bot.command(STAFF, "/status")).one().says("review.reason_reask")
    short = (await bot.say(STAFF, "无")).one()  # the reviewer's 原因, not the unit's 理由
    assert short.says("review.reason_invalid", min=2, max=500)
    returned = (await bot.say(STAFF, "缺少盖章页")).messages[0]
    assert returned.says("review.returned", reason="缺少盖章页")
    submission = await state_of(services, office.submission)
    assert (submission.state, submission.review_note) == ("returned", "缺少盖章页")
    assert len(await notices_to(services, LIAISON)) == 1


async def test_later_shows_the_next_or_says_there_is_none(bot: BotHarness, office: Office) -> None:
    card = (await bot.command(STAFF, "/review")).messages[-1]
    later = await bot.press(STAFF, label("review.button_later"), on=card)
    assert later.one().says("review.none_after")


async def test_a_decision_twice_is_told_it_was_made(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = (await bot.command(STAFF, "/review")).messages[-1]
    accept = card.data_of(label("review.button_accept"))
    await bot.press(STAFF, data=accept, on=card)
    again = await bot.press(STAFF, data=accept, on=card)
    assert again.one().says("review.already_accepted", who=label("review.decided_by_you"))
    assert (await state_of(services, office.submission)).state == "accepted"
    await roster.add_staff(services=services, user_id=COLLEAGUE)
    other = await bot.press(COLLEAGUE, data=accept, on=card)
    named = label("review.decided_by_staff_named", name="测试")
    assert other.one().says("review.already_accepted", who=named)


async def test_review_is_refused_to_anyone_but_staff(
    bot: BotHarness, services: Services, office: Office
) -> None:
    assert (await bot.command(LIAISON, "/review")).one().says("common.staff_only")
    forged = await bot.press(LIAISON, data=f"rv:ok:{office.submission.id}")
    assert forged.answer["text"] == label("common.staff_only")
    assert forged.answer["show_alert"] is True
    assert (await state_of(services, office.submission)).state == "pending"
    assert await notices_to(services, LIAISON) == []


async def test_a_forged_review_button_is_stale(bot: BotHarness, office: Office) -> None:
    reply = await bot.press(STAFF, data="rv:maybe:1")
    assert reply.answer["text"] == label("common.stale_button")
    assert reply.messages == []


async def test_review_asked_in_a_group_goes_to_the_private_chat(
    bot: BotHarness, office: Office
) -> None:
    bot.request.fail("sendChatAction", 403, chat_id=STAFF)
    refused = await bot.command(STAFF, "/review", chat_id=GROUP)
    assert refused.one().says("review.open_private_first")

    sent = await bot.command(STAFF, "/review", chat_id=GROUP)
    note, *private = sent.messages
    assert (note.chat_id, note.says("review.sent_privately")) == (GROUP, True)
    assert {m.chat_id for m in private} == {STAFF}
    assert private[-1].mentions("review.card", unit="市民政局")


async def test_review_of_one_unit_by_name(bot: BotHarness, office: Office) -> None:
    assert (await bot.command(STAFF, "/review 市民政局")).last.mentions("review.card")
    missing = (await bot.command(STAFF, "/review 火星局")).one()
    assert missing.says("common.unit_not_found", name="火星局")
