"""A broadcast leaves its trace in the audit log (who sent what to whom)."""

from __future__ import annotations

from sqlalchemy import select

from bot.demo.sample import seed_notice_situation
from bot.services import Services
from bot.staff import broadcasts
from storage.models import AuditEvent

STAFF = 900  # STAFF_IDS of the services fixture


async def test_a_broadcast_is_in_the_audit_log(services: Services) -> None:
    await seed_notice_situation(services=services)
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(services=services, actor_id=STAFF, summary="通知", text="通知")
    await broadcasts.set_audience(services=services, actor_id=STAFF, audience="counties")
    await broadcasts.confirm(
        services=services, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=1
    )
    async with services.db.sessions() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "broadcast"))
        ).all()
    assert len(events) == 1
    assert events[0].actor_id == STAFF
    assert events[0].details["audience"] == "counties"
