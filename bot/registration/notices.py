"""Telling office staff of registrations: at once, or in the daily digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.holidays import office_calendar
from bot.services import Services
from bot.transport.outbox import enqueue, text_payload
from bot.workdays import WorkCalendar
from messages import Markup, role_name, t
from storage.models import OutboxMessage


async def notify(
    tx: AsyncSession, chat_id: int, text: str, *, key: str, now: datetime, unit_id: int
) -> None:
    """Queue a notice about a unit to one chat (sent once, by its key)."""
    await enqueue(
        tx,
        key=key,
        chat_id=chat_id,
        purpose="notice",
        payload=text_payload(text),
        now=now,
        unit_id=unit_id,
    )


def next_digest_at(services: Services, calendar: WorkCalendar) -> datetime:
    """The next working day's reminder time (office time), when the digest goes out."""
    now = services.now()
    local = now.astimezone(services.settings.tz)
    day = calendar.next_workday(local.date(), include_today=True)
    moment = datetime.combine(day, services.settings.reminder_time, tzinfo=services.settings.tz)
    if moment <= now:
        day = calendar.next_workday(local.date())
        moment = datetime.combine(
            day, services.settings.reminder_time, tzinfo=services.settings.tz
        )
    return moment


async def tell_staff(
    tx: AsyncSession,
    services: Services,
    *,
    event_key: str,
    unit_id: int,
    message: str,
    values: dict[str, str],
) -> None:
    """A completed registration, to every member of staff: now, or in the next digest."""
    now = services.now()
    languages = await roster.languages_in(tx, services, await roster.staff_ids(tx, services))
    for staff_id, lang in languages.items():
        line = t(lang, message, **{**values, "role": role_name(lang, values["role"])})
        if services.settings.staff_notifications == "digest" and await _add_to_digest(
            tx, services, staff_id=staff_id, lang=lang, line=line
        ):
            continue
        await notify(tx, staff_id, line, key=f"{event_key}:{staff_id}", now=now, unit_id=unit_id)


async def _add_to_digest(
    tx: AsyncSession, services: Services, *, staff_id: int, lang: str, line: str
) -> bool:
    """Add a line to the staff member's pending digest; False if it is already on its way."""
    due = next_digest_at(services, await office_calendar(tx, services.settings))
    key = f"registration-digest:{due.date().isoformat()}:{staff_id}"
    row = await tx.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    if row is not None and row.state != "pending":
        return False
    lines = [*(row.payload.get("lines", []) if row is not None else []), line]
    payload = text_payload(
        t(lang, "registration.staff_digest", count=len(lines), lines=Markup("\n".join(lines)))
    )
    payload["lines"] = lines
    if row is None:
        return await enqueue(
            tx,
            key=key,
            chat_id=staff_id,
            purpose="notice",
            payload=payload,
            now=services.now(),
            due_at=due,
        )
    row.payload = payload
    return True
