"""A broadcast leaves its trace in the audit log (who sent what to whom); a kind of unit is
an audience by its UnitKind value, and by the name it had before in what was saved then."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.demo.sample import seed_notice_situation
from bot.services import Services
from bot.staff import broadcasts
from messages import LANGUAGES
from storage.models import AuditEvent

STAFF = 900  # STAFF_IDS of the services fixture


async def test_a_broadcast_is_in_the_audit_log(services: Services) -> None:
    await seed_notice_situation(services=services)
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(services=services, actor_id=STAFF, summary="通知", text="通知")
    await broadcasts.set_audience(services=services, actor_id=STAFF, audience="county")
    await broadcasts.confirm(
        services=services, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=1
    )
    async with services.db.sessions() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "broadcast"))
        ).all()
    assert len(events) == 1
    assert events[0].actor_id == STAFF
    assert events[0].details["audience"] == "county"


@pytest.mark.parametrize(("former", "today"), [("counties", "county"), ("members", "member")])
def test_a_draft_or_a_broadcast_saved_with_a_former_audience_reads_as_today(
    former: str, today: str
) -> None:
    assert broadcasts.Draft.model_validate({"audience": former}).audience == today
    for lang in LANGUAGES:
        assert broadcasts.audience_name(former, lang) == broadcasts.audience_name(today, lang)


def test_an_audience_never_offered_is_refused() -> None:
    with pytest.raises(ValidationError):
        broadcasts.Draft.model_validate({"audience": "everyone"})
