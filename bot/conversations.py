"""Where each person is in a conversation: saved with the data of the step, in one transaction.

A flow (registration, submission, …) keeps its step and its draft here, not in PTB's
memory, so a restart of the bot at any moment loses nothing a person entered.

A step left alone for STEP_EXPIRES takes nothing more: the next update closes it (the person
is told once) and is answered as if no step were open (handlers/flows.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import Services
from storage.models import ConversationStep

# A step left this long no longer takes what the person sends. Office work answers a question
# the same day or the next; a message a day later (「王科长，请问…」 to a /submit opened weeks
# before) is about something else, and must not be filed as the answer of an old step.
STEP_EXPIRES = timedelta(hours=24)
# A step taking updates is marked as touched at most this often (one write, not one per update).
TOUCH_EVERY = timedelta(hours=1)


class StepOut(BaseModel):
    user_id: int
    flow: str
    step: str
    data: dict[str, Any]
    updated_at: datetime | None = None  # when the person last moved or used the step

    def expired(self, now: datetime) -> bool:
        """Whether the step was left alone too long to take anything more."""
        return self.updated_at is not None and now - self.updated_at >= STEP_EXPIRES


async def current_step(*, services: Services, user_id: int) -> StepOut | None:
    """The step a person is at, if any."""
    async with services.db.sessions() as session:
        found = await session.get(ConversationStep, user_id)
        if found is None:
            return None
        return StepOut(
            user_id=user_id,
            flow=found.flow,
            step=found.step,
            data=dict(found.data),
            updated_at=found.updated_at,
        )


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
    return StepOut(user_id=user_id, flow=flow, step=step, data=dict(data), updated_at=now)


async def end_step(tx: AsyncSession, user_id: int) -> bool:
    """Leave any flow; tell whether there was one."""
    result = await tx.execute(delete(ConversationStep).where(ConversationStep.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def cancel(*, services: Services, user_id: int) -> bool:
    """`/cancel`: leave whatever flow the person is in."""
    async with services.db.uow() as tx:
        return await end_step(tx, user_id)


async def close_expired(*, services: Services, user_id: int) -> bool:
    """Close a person's step left alone too long; tell whether there was one to close."""
    before = services.now() - STEP_EXPIRES
    # Bookkeeping: the update is recorded as handled by whatever then answers it.
    async with services.db.uow(bookkeeping=True) as tx:
        result = await tx.execute(
            delete(ConversationStep).where(
                ConversationStep.user_id == user_id, ConversationStep.updated_at <= before
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(*, services: Services, step: StepOut) -> None:
    """Mark a step as in use (the person sent it something), at most once every TOUCH_EVERY."""
    now = services.now()
    if step.updated_at is not None and now - step.updated_at < TOUCH_EVERY:
        return
    async with services.db.uow(bookkeeping=True) as tx:
        await tx.execute(
            update(ConversationStep)
            .where(ConversationStep.user_id == step.user_id, ConversationStep.flow == step.flow)
            .values(updated_at=now)
        )
