"""Where each person is in a conversation: saved with the data of the step, in one transaction.

A flow (registration, submission, …) keeps its step and its draft here, not in PTB's
memory, so a restart of the bot at any moment loses nothing a person entered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import Services
from storage.models import ConversationStep


class StepOut(BaseModel):
    user_id: int
    flow: str
    step: str
    data: dict[str, Any]


async def current_step(*, services: Services, user_id: int) -> StepOut | None:
    """The step a person is at, if any."""
    async with services.db.sessions() as session:
        found = await session.get(ConversationStep, user_id)
        if found is None:
            return None
        return StepOut(user_id=user_id, flow=found.flow, step=found.step, data=dict(found.data))


async def load_step(tx: AsyncSession, user_id: int) -> ConversationStep | None:
    return await tx.get(ConversationStep, user_id)


async def save_step(
    tx: AsyncSession,
    *,
    user_id: int,
    flow: str,
    step: str,
    data: dict[str, Any],
    now: datetime,
) -> StepOut:
    """Move a person to a step, with the flow's data (in the caller's transaction)."""
    found = await tx.get(ConversationStep, user_id)
    if found is None:
        found = ConversationStep(user_id=user_id, flow=flow, step=step, data=data, updated_at=now)
        tx.add(found)
    else:
        found.flow, found.step, found.data, found.updated_at = flow, step, dict(data), now
    return StepOut(user_id=user_id, flow=flow, step=step, data=dict(data))


async def end_step(tx: AsyncSession, user_id: int) -> bool:
    """Leave any flow; tell whether there was one."""
    result = await tx.execute(delete(ConversationStep).where(ConversationStep.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def cancel(*, services: Services, user_id: int) -> bool:
    """`/cancel`: leave whatever flow the person is in."""
    async with services.db.uow() as tx:
        return await end_step(tx, user_id)
