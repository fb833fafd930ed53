"""Who may act for a unit: its liaison or lead, or office staff."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.ledger.errors import NotAMember, NotYourUnit
from bot.ledger.status import UnitObligations, load_obligations
from bot.services import Services
from storage import repositories as repo
from storage.models import (
    UNIT_ORDER,
    Person,
    Unit,
)


class UnitRef(BaseModel):
    unit_id: int
    name: str
    kind: str


async def member_units(session: AsyncSession, actor_id: int) -> list[Unit]:
    ids = sorted({p.unit_id for p in await repo.roles_of_user(session, actor_id)})
    if not ids:
        return []
    query = select(Unit).where(Unit.id.in_(ids)).order_by(*UNIT_ORDER)
    return list((await session.scalars(query)).all())


async def require_member(session: AsyncSession, actor_id: int, unit_id: int) -> Unit:
    """The unit, if the actor is its liaison or lead now (checked on every action)."""
    holds = await session.scalar(
        select(Person.id).where(
            Person.unit_id == unit_id,
            Person.telegram_user_id == actor_id,
            Person.until.is_(None),
        )
    )
    unit = await session.get(Unit, unit_id) if holds is not None else None
    if unit is None:
        raise NotYourUnit()
    return unit


async def my_units(*, services: Services, actor_id: int) -> list[UnitRef]:
    """The units a person is liaison or lead of now."""
    async with services.db.sessions() as session:
        return [
            UnitRef(unit_id=u.id, name=u.name, kind=u.kind)
            for u in await member_units(session, actor_id)
        ]


async def my_ledgers(
    *, services: Services, actor_id: int, unit_ids: Sequence[int] | None = None
) -> list[UnitObligations]:
    """`/status`: the ledger of each unit the person acts for (NotAMember if none); given
    `unit_ids` (the person's units as read for this update, in order), they are not read again."""
    async with services.db.sessions() as session:
        if unit_ids is None:
            unit_ids = [u.id for u in await member_units(session, actor_id)]
        if not unit_ids:
            raise NotAMember()
        return await load_obligations(session, list(unit_ids))


async def unit_ledger(*, services: Services, actor_id: int, unit_id: int) -> UnitObligations:
    """One unit's ledger, for its own liaison or lead, or for staff."""
    async with services.db.sessions() as session:
        if not await roster.staff_in(session, services, actor_id):
            await require_member(session, actor_id, unit_id)
        found = await load_obligations(session, [unit_id])
    if not found:
        raise NotYourUnit()
    return found[0]
