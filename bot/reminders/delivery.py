"""At delivery: is a reminder still wanted, and who is next when a chat is unreachable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ledger.status import UnitObligations, load_obligations
from bot.reminders.ladder import staff_chats
from bot.reminders.planner import contact_language, reminder_payload
from bot.reminders.policy import DIGEST, REMINDER, ROLLCALL, TASK, Policy, Why, office_now
from bot.reminders.rendering import render_reminder, render_rollcall, render_task
from bot.services import Services
from bot.transport.outbox import StillWanted, enqueue
from storage.models import (
    GroupChat,
    OutboxMessage,
)

# A still-wanted check of one of our messages, given its meta.
Check = Callable[[AsyncSession, OutboxMessage, dict[str, Any]], Awaitable[bool]]


class ReminderDelivery:
    """The dispatcher's side of reminders: `checks` and the `on_unreachable` hook."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def checks(self) -> dict[str, StillWanted]:
        return {
            REMINDER: self._ours(self.reminder_wanted),
            TASK: self._ours(self.task_wanted),
            DIGEST: self.digest_wanted,
            ROLLCALL: self._ours(self.rollcall_wanted),
        }

    def _ours(self, check: Check) -> StillWanted:
        """A check of our own messages: a row that is not one goes as it is; a scheduled one
        that is held goes not at all; else `check` decides, with the row's meta."""

        async def wanted(tx: AsyncSession, row: OutboxMessage) -> bool:
            meta = row.payload.get("meta")
            if not isinstance(meta, dict):
                return True  # not one of ours
            if self._held(meta):
                return False
            return await check(tx, row, meta)

        return wanted

    def _held(self, meta: dict[str, Any]) -> bool:
        """A scheduled message waits for nothing: after its day or in quiet hours it is moot."""
        if meta.get("kind") != "scheduled":
            return False
        local = office_now(self.services)
        return meta.get("day") != local.date().isoformat() or Policy.of(
            self.services.settings
        ).quiet(local)

    async def _dues(self, tx: AsyncSession, unit_id: int | None) -> UnitObligations | None:
        if unit_id is None:
            return None
        found = await load_obligations(tx, [unit_id])
        return found[0] if found else None

    async def reminder_wanted(
        self, tx: AsyncSession, row: OutboxMessage, meta: dict[str, Any]
    ) -> bool:
        """Send only if the unit still owes something, to whoever still holds the role;
        re-render it so it names exactly what is owed now."""
        today = self.services.today()
        dues = await self._dues(tx, row.unit_id)
        if dues is None or not dues.owes or dues.paused_on(today):
            return False
        contact = dues.holder(str(meta.get("role")))
        if (
            contact is None
            or contact.person_id != meta.get("person")
            or contact.user_id != row.chat_id
        ):
            return False
        text, markup = render_reminder(
            dues,
            role=contact.role,
            lang=contact_language(contact, self.services.settings),
            today=today,
            why=meta.get("why"),
            count=int(meta.get("count") or 0),
        )
        row.payload = reminder_payload(text, markup, meta)
        return True

    async def task_wanted(
        self, tx: AsyncSession, row: OutboxMessage, meta: dict[str, Any]
    ) -> bool:
        dues = await self._dues(tx, row.unit_id)
        return dues is not None and dues.owes and not dues.paused_on(self.services.today())

    async def digest_wanted(self, tx: AsyncSession, row: OutboxMessage) -> bool:
        meta = row.payload.get("meta")
        return not isinstance(meta, dict) or meta.get("day") == self.services.today().isoformat()

    async def rollcall_wanted(
        self, tx: AsyncSession, row: OutboxMessage, meta: dict[str, Any]
    ) -> bool:
        """A roll call names the units outstanding when it is posted, not when it was asked."""
        today = self.services.today()
        scheduled = meta.get("kind") == "scheduled"
        in_parts = int(meta.get("parts") or 1) > 1
        if in_parts and not scheduled:
            return True  # a long roll call in parts is sent as it was cut
        dues = await load_obligations(tx, detail=False)
        if scheduled and not any(d.owes and not d.paused_on(today) for d in dues):
            return False
        if in_parts:
            return True
        parts = render_rollcall(dues, today=today, lang=self.services.settings.language)
        if len(parts) == 1:
            row.payload = reminder_payload(parts[0], None, meta)
        return True

    async def on_unreachable(self, tx: AsyncSession, row: OutboxMessage, now: datetime) -> None:
        """A 403: tell the next person on the ladder instead (lead's chat, else staff)."""
        if row.purpose == ROLLCALL:
            group = await tx.get(GroupChat, row.chat_id)
            if group is not None and group.rollcall_enabled:
                group.rollcall_enabled = False  # the bot was removed from the group
            return
        meta = row.payload.get("meta")
        if row.purpose != REMINDER or not isinstance(meta, dict):
            return
        dues = await self._dues(tx, row.unit_id)
        if dues is None or not dues.owes:
            return
        failed = dues.holder(str(meta.get("role")))
        lead = dues.lead
        settings = self.services.settings
        if (
            meta.get("role") == "liaison"
            and lead is not None
            and lead.chat
            and lead.chat != row.chat_id
        ):
            day = self.services.today().isoformat()
            own = await tx.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.dedupe_key == f"reminder:{dues.unit_id}:{lead.person_id}:{day}"
                )
            )
            if own is not None:
                return  # the lead has their own reminder today: one message a day, not two
            why: Why = "liaison_unreachable"
            text, markup = render_reminder(
                dues,
                role="lead",
                lang=contact_language(lead, settings),
                today=self.services.today(),
                why=why,
            )
            fallback = {
                **meta,
                "kind": meta.get("kind"),
                "person": lead.person_id,
                "role": "lead",
                "why": why,
            }
            await _fall_back(
                tx, row, lead.chat, REMINDER, reminder_payload(text, markup, fallback), now
            )
            return
        for member in await staff_chats(tx, self.services):
            if member.user_id == row.chat_id:
                continue
            text = render_task(dues, failed=failed, lang=member.language)
            payload = reminder_payload(text, None, {**meta, "failed": row.chat_id})
            await _fall_back(tx, row, member.user_id, TASK, payload, now)


async def _fall_back(
    tx: AsyncSession,
    row: OutboxMessage,
    chat_id: int,
    purpose: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue, once, what goes to another chat in place of a reminder that could not be sent."""
    await enqueue(
        tx,
        key=f"fallback:{row.id}:{chat_id}",
        chat_id=chat_id,
        purpose=purpose,
        payload=payload,
        now=now,
        unit_id=row.unit_id,
    )
