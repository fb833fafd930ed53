"""What people read when they lose a race or find a link void, through the real handlers."""

from __future__ import annotations

from sqlalchemy import select

from bot import roster
from bot.demo.sample import FIRST_USER_ID, unit_id_by_name
from bot.registration.flow import SUMMARY
from bot.services import Services
from storage.models import ChecklistItem, OutboxMessage, Person, Submission
from tests.support.registration import Harness, drive, step_of, token_for

STAFF = 900
UNIT = "市文旅局"  # nobody registered


def said_to(h: Harness, user_id: int, since: int) -> list[str]:
    """The texts (HTML, as sent) the bot sent to a person since a call."""
    return [
        str(c.params.get("text", ""))
        for c in h.request.calls[since:]
        if c.method == "sendMessage" and int(c.params.get("chat_id", 0)) == user_id
    ]


async def test_the_person_who_loses_the_race_reads_who_took_the_role(harness: Harness) -> None:
    h = harness
    first, second = 7001, 7002
    for user_id in (first, second):  # each with a link of their own
        await h.text(user_id, f"/start {await token_for(h, UNIT, 'liaison')}")
        await drive(h, user_id, SUMMARY)
        assert await step_of(h, user_id) == SUMMARY
    await h.act(first, ("press", (0, "ok")))
    since = len(h.request.calls)
    await h.act(second, ("press", (0, "ok")))
    assert h.errors == []
    [told] = said_to(h, second, since)
    assert told == (
        "市文旅局联络员已于2026年11月30日 09:00由张伟完成登记，您填写的信息未予保存。"
        "如您才是该单位联络员，请与市双拥办联系。"
    )
    async with h.services.db.sessions() as session:
        staff = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == STAFF))
        ).all()
    assert any(
        m.payload["text"].startswith("【重复登记】市文旅局联络员已由张伟登记") for m in staff
    )


async def test_invite_says_when_the_unit_has_open_links_for_the_role(harness: Harness) -> None:
    h = harness
    since = len(h.request.calls)
    await h.text(STAFF, f"/invite {UNIT}")
    [first] = said_to(h, STAFF, since)
    assert "注意" not in first
    since = len(h.request.calls)
    await h.text(STAFF, f"/invite {UNIT}")
    [second] = said_to(h, STAFF, since)
    assert second.endswith(
        "注意：市文旅局另有1个此前生成的联络员登记链接仍然有效，其中任一链接完成登记后，"
        "其余链接随即失效。如旧链接可能已外传，请撤销该单位未使用的链接后重新生成。"
    )
    # The unit card's button says it too; a lead link counts the lead's links only.
    unit_id = await unit_id_by_name(services=h.services, name=UNIT)
    since = len(h.request.calls)
    await h.press(STAFF, f"st:i:{unit_id}:l")
    [card] = said_to(h, STAFF, since)
    assert "注意：市文旅局另有2个此前生成的联络员登记链接仍然有效" in card
    since = len(h.request.calls)
    await h.press(STAFF, f"st:i:{unit_id}:d")
    [lead] = said_to(h, STAFF, since)
    assert "注意" not in lead
    assert h.errors == []


async def pending_submission(services: Services) -> int:
    """A text answer of the sample's first registered liaison, awaiting review."""
    async with services.db.uow() as tx:
        person = await tx.scalar(select(Person).where(Person.telegram_user_id == FIRST_USER_ID))
        assert person is not None
        item = await tx.scalar(select(ChecklistItem).where(ChecklistItem.kind == "member"))
        assert item is not None
        submission = Submission(
            unit_id=person.unit_id,
            item_id=item.id,
            state="pending",
            answer_kind="text",
            text="已按要求落实",
            submitted_by=FIRST_USER_ID,
            created_at=services.now(),
            submitted_at=services.now(),
        )
        tx.add(submission)
        await tx.flush()
        return submission.id


async def test_the_second_reviewer_reads_who_decided_and_how(harness: Harness) -> None:
    h = harness
    await roster.add_staff(services=h.services, user_id=901)
    sid = await pending_submission(h.services)
    await h.press(STAFF, f"rv:ok:{sid}")
    since = len(h.request.calls)
    await h.press(901, f"rv:back:{sid}")
    assert said_to(h, 901, since) == [
        "该项已于2026年11月30日 09:00由工作人员测试审核通过，无需再次审核。"
    ]
    since = len(h.request.calls)
    await h.press(STAFF, f"rv:ok:{sid}")
    assert said_to(h, STAFF, since) == ["该项已于2026年11月30日 09:00由您审核通过，无需再次审核。"]
    returned = await pending_submission(h.services)
    await h.press(901, f"rv:back:{returned}")
    await h.text(901, "缺少盖章页")
    since = len(h.request.calls)
    await h.press(STAFF, f"rv:ok:{returned}")
    assert said_to(h, STAFF, since) == [
        "该项已于2026年11月30日 09:00由工作人员测试退回，退回原因：缺少盖章页。无需再次审核。"
    ]
    assert h.errors == []
