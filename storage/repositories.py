"""Queries the use-cases share. Repositories read and add; they never commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import (
    UNIT_ORDER,
    Account,
    AuditEvent,
    Base,
    ChecklistItem,
    Deadline,
    Exemption,
    OutboxMessage,
    Person,
    StaffMember,
    Submission,
    Unit,
)

RowT = TypeVar("RowT", bound=Base)


async def insert(session: AsyncSession, row: RowT) -> RowT:
    """Add a row and flush it, so that it has its id; return it."""
    session.add(row)
    await session.flush()
    return row


async def units(session: AsyncSession) -> Sequence[Unit]:
    """All units, in the roster's order (UNIT_ORDER)."""
    result = await session.scalars(select(Unit).order_by(*UNIT_ORDER))
    return result.all()


async def unit_by_name(session: AsyncSession, name: str) -> Unit | None:
    return await session.scalar(select(Unit).where(Unit.name == name))


async def current_people(session: AsyncSession) -> Sequence[Person]:
    """Everyone holding a role now."""
    return (await session.scalars(select(Person).where(Person.until.is_(None)))).all()


async def current_holder(session: AsyncSession, *, unit_id: int, role: str) -> Person | None:
    return await session.scalar(
        select(Person).where(
            Person.unit_id == unit_id, Person.role == role, Person.until.is_(None)
        )
    )


async def roles_of_user(session: AsyncSession, user_id: int) -> Sequence[Person]:
    """The roles a Telegram user holds now."""
    query = select(Person).where(Person.telegram_user_id == user_id, Person.until.is_(None))
    return (await session.scalars(query)).all()


_CHECKLIST = (
    select(ChecklistItem)
    .where(ChecklistItem.active.is_(True))
    .order_by(ChecklistItem.unit_id.is_not(None), ChecklistItem.position, ChecklistItem.id)
)
_DEADLINES = select(Deadline)


async def checklist(session: AsyncSession) -> Sequence[ChecklistItem]:
    """Active items: per kind first, then each unit's additions, in file order."""
    return (await session.scalars(_CHECKLIST)).all()


async def exemptions(session: AsyncSession) -> Sequence[Exemption]:
    return (await session.scalars(select(Exemption))).all()


async def deadlines(session: AsyncSession) -> dict[str, Deadline]:
    return {d.scope: d for d in (await session.scalars(_DEADLINES)).all()}


async def open_submissions(session: AsyncSession) -> Sequence[Submission]:
    """Submissions that count: awaiting review or accepted."""
    query = select(Submission).where(Submission.state.in_(("pending", "accepted")))
    return (await session.scalars(query)).all()


async def reminders_sent_by_unit(session: AsyncSession) -> dict[int, int]:
    query = (
        select(OutboxMessage.unit_id, func.count())
        .where(OutboxMessage.purpose == "reminder", OutboxMessage.state == "sent")
        .group_by(OutboxMessage.unit_id)
    )
    return {unit_id: count for unit_id, count in (await session.execute(query)).all() if unit_id}


async def unreachable_users(session: AsyncSession) -> set[int]:
    query = select(Account.user_id).where(Account.unreachable_since.is_not(None))
    return set((await session.scalars(query)).all())


async def staff_members(session: AsyncSession) -> Sequence[StaffMember]:
    return (await session.scalars(select(StaffMember).order_by(StaffMember.user_id))).all()


def audit(
    session: AsyncSession,
    at: datetime,
    actor_id: int | None,
    action: str,
    /,
    unit_id: int | None = None,
    **details: Any,
) -> None:
    """Add one entry to the audit log (in the caller's transaction): when, who (None: the bot
    itself), what, and the details the entry keeps."""
    session.add(
        AuditEvent(at=at, actor_id=actor_id, action=action, unit_id=unit_id, details=details)
    )


async def in_parts(
    tx: AsyncSession | AsyncConnection,
    query: Select[*tuple[Any, ...]],
    size: int,
    params: Mapping[str, Any] | None = None,
) -> AsyncIterator[Sequence[Any]]:
    """A query's rows, `size` at a time, streamed (a country's rows never all in memory)."""
    result = await tx.stream(query.execution_options(yield_per=size), params)
    async for part in result.partitions():
        yield part


# Ids bound in one `IN (…)`: PostgreSQL's driver takes at most 32,767 parameters a statement.
IN_CHUNK = 10_000


async def rows_in(
    tx: AsyncSession,
    query: Callable[[Sequence[Any]], Select[*tuple[Any, ...]]],
    ids: Sequence[Any],
) -> list[Row[*tuple[Any, ...]]]:
    """The rows of `query(part)` for each part of `ids` small enough for one `IN (…)`."""
    rows: list[Row[*tuple[Any, ...]]] = []
    for start in range(0, len(ids), IN_CHUNK):
        rows += (await tx.execute(query(ids[start : start + IN_CHUNK]))).all()
    return rows
