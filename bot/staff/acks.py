"""Acknowledgements of a notice (收到): who pressed it, who did not, who it never reached, and
reminding those who did not (催收), once a round."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.services import Services
from bot.staff.broadcasts import (
    NUDGE_PURPOSE,
    PURPOSE,
    Progress,
    ack_markup,
    broadcast_row,
    progress_of,
    summary_of,
)
from bot.transport.outbox import enqueue_many, text_payload
from messages import format_short_date, t
from storage import repositories as repo
from storage.db import insert_ignore
from storage.models import BroadcastAck, OutboxMessage, Person, Unit, listed_order


class AckLine(BaseModel):
    unit: str
    name: str
    role: str


class AckStatus(BaseModel):
    progress: Progress
    not_acknowledged: list[AckLine]
    undelivered: list[AckLine]
    next_round: int


class NudgeOut(BaseModel):
    broadcast_id: int
    round: int
    queued: int


AckOutcome = Literal["recorded", "again", "not_recipient"]


async def acknowledge(*, services: Services, broadcast_id: int, user_id: int) -> AckOutcome:
    """A recipient pressed "收到": record it once."""
    async with services.db.uow() as tx:
        received = await tx.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.chat_id == user_id,
                OutboxMessage.purpose.in_((PURPOSE, NUDGE_PURPOSE)),
                OutboxMessage.state == "sent",
            )
        )
        if not received:
            return "not_recipient"
        result = await tx.execute(
            insert_ignore(tx.get_bind().dialect.name, BroadcastAck).values(
                broadcast_id=broadcast_id, user_id=user_id, at=services.now()
            )
        )
        return "recorded" if result.rowcount else "again"  # type: ignore[attr-defined]


async def _lines(tx: AsyncSession, rows: list[OutboxMessage]) -> list[AckLine]:
    users = sorted({r.chat_id for r in rows})
    people = [
        person
        for (person,) in await repo.rows_in(
            tx, lambda part: select(Person).where(Person.telegram_user_id.in_(part)), users
        )
    ]
    people.sort(key=lambda p: (p.since, p.id))
    by_user = {p.telegram_user_id: p for p in people}  # the latest role held wins
    unit_ids = sorted({row.unit_id for row in rows if row.unit_id is not None})
    units = {
        unit.id: unit
        for unit in await repo.rows_in(
            tx,
            lambda part: select(Unit.id, Unit.name, Unit.kind, Unit.position).where(
                Unit.id.in_(part)
            ),
            unit_ids,
        )
    }
    lines = []
    for row in rows:
        person = by_user.get(row.chat_id)
        unit = units.get(row.unit_id or 0)
        order = listed_order(unit.kind, unit.position, unit.id) if unit else ("", 0, 0)
        line = AckLine(
            unit=unit.name if unit else "",
            name=person.name if person else str(row.chat_id),
            role=person.role if person else "",
        )
        lines.append((order, line.role != "liaison", line))
    return [line for *_, line in sorted(lines, key=lambda entry: entry[:2])]


async def _rounds(tx: AsyncSession, broadcast_id: int) -> int:
    keys = (
        await tx.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.purpose == NUDGE_PURPOSE,
            )
        )
    ).all()
    return max((int(k.rsplit(":n", 1)[1]) for k in keys), default=0)


async def _unacknowledged(tx: AsyncSession, broadcast_id: int) -> list[OutboxMessage]:
    acked = select(BroadcastAck.user_id).where(BroadcastAck.broadcast_id == broadcast_id)
    return list(
        (
            await tx.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.broadcast_id == broadcast_id,
                    OutboxMessage.purpose == PURPOSE,
                    OutboxMessage.state == "sent",
                    OutboxMessage.chat_id.not_in(acked),
                )
                .order_by(OutboxMessage.id)
            )
        ).all()
    )


async def ack_status(*, services: Services, actor_id: int, broadcast_id: int) -> AckStatus:
    """Who has not acknowledged (among those it reached), and who it did not reach."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.sessions() as session:
        broadcast = await broadcast_row(session, broadcast_id)
        undelivered = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.broadcast_id == broadcast_id,
                    OutboxMessage.purpose == PURPOSE,
                    OutboxMessage.state.in_(("unreachable", "failed", "unknown")),
                )
            )
        ).all()
        return AckStatus(
            progress=await progress_of(session, broadcast),
            not_acknowledged=await _lines(session, await _unacknowledged(session, broadcast_id)),
            undelivered=await _lines(session, list(undelivered)),
            next_round=await _rounds(session, broadcast_id) + 1,
        )


async def nudge(
    *, services: Services, actor_id: int, broadcast_id: int, round_number: int
) -> NudgeOut:
    """Remind only those it reached who have not acknowledged (once per round)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        broadcast = await broadcast_row(tx, broadcast_id)
        rows = await _unacknowledged(tx, broadcast_id)
        languages = await roster.languages_in(tx, services, [r.chat_id for r in rows])
        sent_on = broadcast.created_at.astimezone(services.settings.tz).date()
        payloads = {
            lang: text_payload(
                t(
                    lang,
                    "ack.nudge",
                    date=format_short_date(sent_on, services.today(), lang),
                    summary=summary_of(broadcast),
                ),
                ack_markup(broadcast_id, lang),
            )
            for lang in set(languages.values())
        }
        queued = await enqueue_many(
            tx,
            [
                {
                    "key": f"broadcast:{broadcast_id}:{row.chat_id}:n{round_number}",
                    "chat_id": row.chat_id,
                    "purpose": NUDGE_PURPOSE,
                    "payload": payloads[languages[row.chat_id]],
                    "unit_id": row.unit_id,
                    "broadcast_id": broadcast_id,
                }
                for row in rows
            ],
            now=now,
        )
        if queued:
            repo.audit(
                tx,
                now,
                actor_id,
                "broadcast_nudge",
                broadcast_id=broadcast_id,
                round=round_number,
                recipients=queued,
            )
        return NudgeOut(broadcast_id=broadcast_id, round=round_number, queued=queued)
