"""Holding and resuming one unit's reminders."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from bot import roster
from bot.errors import BadInput
from bot.services import Services
from messages import format_date
from storage import repositories as repo


class PauseOut(BaseModel):
    unit: str
    paused_until: date | None
    reason: str | None
    changed: bool


async def pause_unit(
    *,
    services: Services,
    unit_name: str,
    until: date,
    reason: str | None = None,
    actor_id: int | None = None,
) -> PauseOut:
    """Hold a unit's reminders through `until` (inclusive): its liaison is on leave, say."""
    await roster.require_staff(services=services, actor_id=actor_id)
    today = services.today()
    if until < today:
        raise BadInput(
            "reminders.cli.pause_past", today=format_date(today, services.settings.language)
        )
    reason = (reason or "").strip()[:200] or None
    async with services.db.uow() as tx:
        unit = await roster.find_unit(tx, unit_name)
        unit.paused_until, unit.pause_reason = until, reason
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "reminders_paused",
            unit_id=unit.id,
            until=until.isoformat(),
            reason=reason,
        )
        return PauseOut(unit=unit.name, paused_until=until, reason=reason, changed=True)


async def resume_unit(
    *, services: Services, unit_name: str, actor_id: int | None = None
) -> PauseOut:
    """Lift a pause: the unit is reminded again at the next round it is due."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        unit = await roster.find_unit(tx, unit_name)
        changed = unit.paused_until is not None and unit.paused_until >= services.today()
        unit.paused_until, unit.pause_reason = None, None
        repo.audit(tx, services.now(), actor_id, "reminders_resumed", unit_id=unit.id)
        return PauseOut(unit=unit.name, paused_until=None, reason=None, changed=changed)
