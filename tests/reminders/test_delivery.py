"""At delivery, a roll call says who is outstanding when it is posted, not when it was asked."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.demo.sample import seed_notice_situation
from bot.ledger.report import build_report
from bot.reminders.delivery import ReminderDelivery
from bot.reminders.planner import reminder_payload
from bot.reminders.policy import ROLLCALL
from bot.services import Services
from storage.models import OutboxMessage
from tests.support.messages import mentions, says

GROUP = -100123


def _queued(text: str, meta: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        chat_id=GROUP, purpose=ROLLCALL, payload=reminder_payload(text, None, meta)
    )


async def _wanted(services: Services, row: OutboxMessage) -> bool:
    async with services.db.uow() as tx:
        meta = row.payload["meta"]
        return await ReminderDelivery(services).rollcall_wanted(tx, row, meta)


async def test_a_roll_call_is_written_again_when_it_is_posted(services: Services) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    row = _queued("（排队时的点名）", {"kind": "asked", "part": 1, "parts": 1})
    assert await _wanted(services, row)
    text = row.payload["text"]
    assert mentions(text, "reminders.rollcall.heading")
    report = await build_report(services=services)
    assert mentions(text, "reminders.rollcall.contacts", count=report.totals.missing_contacts)


async def test_a_scheduled_roll_call_with_no_one_outstanding_is_not_posted(
    services: Services,
) -> None:
    row = _queued("（排队时的点名）", {"kind": "scheduled", "part": 1, "parts": 1})
    assert not await _wanted(services, row)


async def test_a_roll_call_asked_by_staff_says_all_is_done_when_it_is(
    services: Services,
) -> None:
    row = _queued("（排队时的点名）", {"kind": "asked", "part": 1, "parts": 1})
    assert await _wanted(services, row)
    assert says(row.payload["text"], "reminders.rollcall.all_done")


async def test_a_long_roll_call_in_parts_goes_as_it_was_cut(services: Services) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    for kind in ("asked", "scheduled"):
        row = _queued("（第二部分）", {"kind": kind, "part": 2, "parts": 3})
        assert await _wanted(services, row)
        assert row.payload["text"] == "（第二部分）"
