"""The end of a role: a handover to a new holder, or a registration ended by staff.

Whatever the former holder could still do or receive in the unit ends in the same transaction:
their unsent messages about it, their step in a conversation of it, the lead links they made,
and the member commands in their menu (every action is re-checked anyway; this leaves nothing
half-open). They are told of a handover through the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import conversations, roster
from bot.ledger.submitting import FLOW_SUBMIT
from bot.menus import menu_payload
from bot.registration import invites
from bot.registration.notices import notify
from bot.services import Services
from bot.transport.outbox import enqueue
from messages import role_name, t
from storage import repositories as repo
from storage.models import OutboxMessage, Person, Unit

FLOW = "registration"
# What a former holder is told, by why their role ended.
ENDED_MESSAGES = {
    "handover": "registration.old_holder",
    "unregistered": "registration.unregistered",
}


async def handed_over(
    tx: AsyncSession,
    services: Services,
    unit: Unit,
    old: Person,
    new: Person,
    *,
    actor_id: int | None,
) -> None:
    """Record a handover, end what the previous holder could do, and tell them (outbox)."""
    now = services.now()
    repo.audit(
        tx,
        now,
        actor_id,
        "handover",
        unit_id=unit.id,
        role=old.role,
        old_person_id=old.id,
        new_person_id=new.id,
    )
    if old.telegram_user_id is None or old.telegram_user_id == new.telegram_user_id:
        return
    await end_rights(tx, services, unit=unit, person=old, now=now)
    await tell_former_holder(tx, services, unit, old, "handover", now=now, name=new.name)


async def tell_former_holder(
    tx: AsyncSession,
    services: Services,
    unit: Unit,
    person: Person,
    why: Literal["handover", "unregistered"],
    *,
    now: datetime,
    **values: str,
) -> None:
    """Tell a person, in their language, that their role in the unit has ended (outbox)."""
    chat_id = person.telegram_user_id
    if chat_id is None:
        return
    lang = await roster.language_in(tx, services, chat_id)
    role = role_name(lang, person.role)
    text = t(lang, ENDED_MESSAGES[why], unit=unit.name, role=role, **values)
    await notify(tx, chat_id, text, key=f"{why}:{person.id}", now=now, unit_id=unit.id)


async def end_rights(
    tx: AsyncSession, services: Services, *, unit: Unit, person: Person, now: datetime
) -> None:
    """Everything a person whose role in the unit has ended could still do or receive: gone.

    Their unsent messages about the unit (reminders, review results, notices to liaisons),
    their step in a flow of the unit, the lead links they made as liaison (else they could
    take the lead's role with one), and the member commands in their menu. What they may
    still do is re-checked on every action anyway; this leaves nothing half-open.
    """
    user_id = person.telegram_user_id
    if user_id is None:
        return
    if person.role == "liaison":
        await invites.revoke_open(
            tx,
            unit_id=unit.id,
            role="lead",
            now=now,
            actor_id=None,
            created_by=user_id,
            why=invites.HOLDER_ENDED,
        )
    await tx.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.chat_id == user_id,
            OutboxMessage.unit_id == unit.id,
            OutboxMessage.state == "pending",
            OutboxMessage.purpose != "notice",
        )
        .values(state="cancelled", error="the recipient no longer holds a role in the unit")
    )
    row = await conversations.load_step(tx, user_id)
    if row is not None and row.flow in (FLOW, FLOW_SUBMIT) and row.data.get("unit_id") == unit.id:
        await conversations.end_step(tx, user_id)
    await tx.flush()
    member = bool(await repo.roles_of_user(tx, user_id))
    staff = await roster.staff_in(tx, services, user_id)
    lang = await roster.language_in(tx, services, user_id)
    await enqueue(
        tx,
        key=f"menu:{person.id}",
        chat_id=user_id,
        purpose="menu",
        payload=menu_payload(lang, member=member, staff=staff),
        now=now,
    )
