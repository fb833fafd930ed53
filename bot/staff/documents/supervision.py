"""督办: when a unit reaches the office step of the reminder ladder, staff get its 催办通知
ready to print, once per unit and deadline (the daily digest keeps naming the unit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reminders.policy import TASK
from bot.services import Services
from bot.staff.documents.data import units_owing
from bot.staff.documents.notices import write_urge_in
from bot.transport.outbox import enqueue
from messages import format_date, t
from storage.models import OutboxMessage


def supervision_key(unit_id: int, deadline: date, staff_id: int) -> str:
    return f"supervise:{unit_id}:{deadline.isoformat()}:{staff_id}"


async def enqueue_supervision(
    tx: AsyncSession,
    *,
    services: Services,
    units: Sequence[tuple[int, date]],
    staff: Sequence[tuple[int, str]],
    today: date,
    now: datetime,
) -> int:
    """Queue, for each (unit, deadline) under 督办, its 催办通知 to each staff member (user
    id, language) who has not had it yet; return how many were queued."""
    keys = {
        supervision_key(unit_id, deadline, user_id)
        for unit_id, deadline in units
        for user_id, _ in staff
    }
    if not keys:
        return 0
    known = set(
        (
            await tx.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))
            )
        ).all()
    )
    todo = [
        (unit_id, deadline)
        for unit_id, deadline in units
        if any(supervision_key(unit_id, deadline, user_id) not in known for user_id, _ in staff)
    ]
    if not todo:
        return 0
    owing = {u.unit_id: u for u in await units_owing(tx, [unit_id for unit_id, _ in todo])}
    folder = services.settings.data_dir / "notices" / "supervision"
    queued = 0
    for unit_id, deadline in todo:
        unit = owing.get(unit_id)
        if unit is None or not unit.owes:
            continue
        path = await write_urge_in(tx, services=services, unit=unit, folder=folder, signed=today)
        for user_id, lang in staff:
            key = supervision_key(unit_id, deadline, user_id)
            if key in known:
                continue
            caption = t(
                lang,
                "notice.caption_supervise",
                unit=unit.name,
                deadline=format_date(deadline, lang),
            )
            payload = {
                "method": "sendDocument",
                "path": str(path),
                "filename": path.name,
                "caption": caption,
                "meta": {"kind": "scheduled", "day": today.isoformat(), "unit": unit_id},
            }
            queued += await enqueue(
                tx,
                key=key,
                chat_id=user_id,
                purpose=TASK,
                payload=payload,
                now=now,
                unit_id=unit_id,
            )
    return queued
