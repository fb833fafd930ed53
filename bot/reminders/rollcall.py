"""The group roll call (点名通报): the units still outstanding, named in a group chat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.ledger.status import load_obligations
from bot.reminders.planner import reminder_payload
from bot.reminders.policy import ROLLCALL
from bot.reminders.rendering import render_rollcall
from bot.services import Services
from bot.transport.outbox import enqueue
from storage import repositories as repo
from storage.models import (
    GroupChat,
)


async def _group(tx: AsyncSession, chat_id: int, title: str, now: datetime) -> GroupChat:
    group = await tx.get(GroupChat, chat_id)
    if group is None:
        group = GroupChat(chat_id=chat_id, title=title[:255], rollcall_enabled=False, added_at=now)
        tx.add(group)
    elif title and group.title != title:
        group.title = title[:255]
    return group


async def rollcall_now(
    *, services: Services, actor_id: int, chat_id: int, title: str, request_id: int
) -> bool:
    """Post the units still outstanding in a group now (through the outbox: 20/min a group)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        await _group(tx, chat_id, title, now)
        dues = await load_obligations(tx, detail=False)
        parts = render_rollcall(dues, today=services.today(), lang=services.settings.language)
        queued = 0
        for index, text in enumerate(parts, start=1):
            queued += await enqueue(
                tx,
                key=f"rollcall:{chat_id}:ask:{request_id}:{index}",
                chat_id=chat_id,
                purpose=ROLLCALL,
                payload=reminder_payload(
                    text, None, {"kind": "asked", "part": index, "parts": len(parts)}
                ),
                now=now,
            )
        repo.audit(tx, now, actor_id, "rollcall", chat_id=chat_id)
    return bool(queued)


async def set_rollcall(
    *, services: Services, actor_id: int, chat_id: int, title: str, enabled: bool
) -> bool:
    """Switch the scheduled roll call of a group on or off; tell whether it changed."""
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        group = await _group(tx, chat_id, title, now)
        changed = group.rollcall_enabled != enabled
        group.rollcall_enabled = enabled
        repo.audit(
            tx, now, actor_id, "rollcall_on" if enabled else "rollcall_off", chat_id=chat_id
        )
    return changed
