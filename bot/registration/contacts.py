"""/contacts: a unit's liaison and lead, corrections, a lead's link, and unregistering."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.conversations import StepOut
from bot.errors import NotStaff
from bot.registration import invites
from bot.registration.flow import (
    LEAD_NAME,
    SUMMARY,
    ContactsOut,
    LeadAlreadyLinked,
    NoHolder,
    NotLiaison,
    NotRegistered,
    PersonOut,
    UnregisteredOut,
    _begin,
    _person_out,
    details_of,
)
from bot.registration.handover import end_rights, tell_former_holder
from bot.registration.invites import InviteOut, Role
from bot.services import Services
from storage import repositories as repo
from storage.models import Person, Unit


async def _contacts(tx: AsyncSession, unit: Unit, *, history: bool) -> ContactsOut:
    liaison = await repo.current_holder(tx, unit_id=unit.id, role="liaison")
    lead = await repo.current_holder(tx, unit_id=unit.id, role="lead")
    past: list[PersonOut] = []
    if history:
        rows = await tx.scalars(
            select(Person).where(Person.unit_id == unit.id).order_by(Person.since, Person.id)
        )
        past = [_person_out(p) for p in rows.all()]
    return ContactsOut(
        unit_id=unit.id,
        unit=unit.name,
        kind=unit.kind,
        liaison=_person_out(liaison) if liaison else None,
        lead=_person_out(lead) if lead else None,
        history=past,
    )


async def my_contacts(*, services: Services, user_id: int) -> ContactsOut:
    """The contacts of the one unit this person holds a role in (NotRegistered otherwise)."""
    async with services.db.sessions() as session:
        roles = list(await repo.roles_of_user(session, user_id))
        if not roles:
            raise NotRegistered()
        unit = await session.get(Unit, roles[0].unit_id)
        if unit is None:
            raise NotRegistered()
        found = await _contacts(session, unit, history=False)
    mine = "liaison" if any(p.role == "liaison" for p in roles) else roles[0].role
    return found.model_copy(update={"my_role": mine})


async def unit_contacts(*, services: Services, actor_id: int, unit_name: str) -> ContactsOut:
    """Staff: any unit's contacts with the history of who held each role when."""
    if not await roster.is_staff(services=services, user_id=actor_id):
        raise NotStaff()
    async with services.db.sessions() as session:
        unit = await roster.find_unit(session, unit_name)
        return await _contacts(session, unit, history=True)


async def begin_edit(*, services: Services, user_id: int, what: Literal["me", "lead"]) -> StepOut:
    """`/contacts` buttons: correct my own details, or (the liaison) re-enter the lead."""
    async with services.db.uow() as tx:
        roles = list(await repo.roles_of_user(tx, user_id))
        if not roles:
            raise NotRegistered()
        person = next((p for p in roles if p.role == "liaison"), roles[0])
        unit = await tx.get(Unit, person.unit_id)
        if unit is None:
            raise NotRegistered()
        base = {"unit_id": unit.id, "unit": unit.name, "role": person.role}
        if what == "me":
            data = {**base, "mode": "self", **details_of(person)}
            return await _begin(tx, services, user_id, SUMMARY, data)
        if person.role != "liaison":
            raise NotLiaison()
        return await _begin(tx, services, user_id, LEAD_NAME, {**base, "mode": "lead"})


async def lead_invite(
    *, services: Services, user_id: int, username: str | None = None
) -> InviteOut:
    """The liaison asks for a link to forward to their lead."""
    async with services.db.uow() as tx:
        liaison = next(
            (p for p in await repo.roles_of_user(tx, user_id) if p.role == "liaison"), None
        )
        if liaison is None:
            raise NotLiaison()
        unit = await tx.get(Unit, liaison.unit_id)
        if unit is None:
            raise NotLiaison()
        lead = await repo.current_holder(tx, unit_id=unit.id, role="lead")
        if lead is not None and lead.telegram_user_id is not None:
            raise LeadAlreadyLinked(name=lead.name)
        return await invites.issue(
            tx, services=services, unit=unit, role="lead", actor_id=user_id, username=username
        )


async def unregister(
    *, services: Services, unit_name: str, role: Role, actor_id: int | None = None
) -> UnregisteredOut:
    """Staff end a person's registration (so they may register for another unit), and with it
    everything the person could still do or receive for the unit."""
    if actor_id is not None and not await roster.is_staff(services=services, user_id=actor_id):
        raise NotStaff()
    now = services.now()
    async with services.db.uow() as tx:
        unit = await roster.find_unit(tx, unit_name)
        await invites.lock_unit(tx, unit.id)
        holder = await repo.current_holder(tx, unit_id=unit.id, role=role)
        if holder is None:
            raise NoHolder(unit=unit.name, role=role)
        holder.until = now
        await end_rights(tx, services, unit=unit, person=holder, now=now)
        repo.audit(
            tx, now, actor_id, "unregistered", unit_id=unit.id, role=role, person_id=holder.id
        )
        await tell_former_holder(tx, services, unit, holder, "unregistered", now=now)
        return UnregisteredOut(unit=unit.name, person=_person_out(holder))
