"""Who is told what: the liaison, then the lead, then the office (the escalation ladder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.ledger.status import Holder, UnitObligations
from bot.reminders.history import History
from bot.reminders.policy import Policy, Why
from bot.services import Services
from bot.workdays import WorkCalendar
from storage.models import (
    Account,
)


@dataclass(frozen=True)
class Recipient:
    contact: Holder
    why: Why | None  # why a lead hears of it


CallReason = Literal["escalated", "no_lead", "no_chat", "capped"]


@dataclass
class Decision:
    """What one unit gets today: reminders to its people, and what staff should know."""

    dues: UnitObligations
    silent: int = 0
    reminders: list[Recipient] = field(default_factory=list)
    call: CallReason | None = None  # staff should phone the unit
    supervise: bool = False  # 督办
    unregistered: bool = False  # nobody on record: staff send an invite link


def decide(
    dues: UnitObligations,
    history: History,
    *,
    today: date,
    policy: Policy,
    cal: WorkCalendar,
    scheduled: bool,
) -> Decision:
    """Walk the ladder for one unit (a scheduled round, or a round asked for)."""
    out = Decision(dues=dues, silent=history.silent)
    if not dues.owes or dues.paused_on(today):
        return out
    if dues.unregistered:
        out.unregistered = True
        return out
    liaison = dues.liaison if dues.liaison and dues.liaison.chat else None
    lead = dues.lead if dues.lead and dues.lead.chat else None
    escalated = history.silent >= policy.lead_after or (
        dues.deadline is not None and today >= dues.deadline
    )
    out.supervise = policy.supervised(cal, today, dues.deadline)
    primary = liaison or lead

    def capped(contact: Holder) -> bool:
        return scheduled and history.sent_by_chat.get(contact.chat or 0, 0) >= policy.cap

    due = not scheduled or policy.due(cal, today, dues.deadline, history.last_day)
    if primary is not None and due and not capped(primary):
        why: Why | None = None
        if primary is lead:
            why = "no_liaison" if dues.liaison is None else "liaison_unreachable"
        out.reminders.append(Recipient(primary, why))
        if escalated and primary is liaison and lead is not None and not capped(lead):
            lead_why: Why = "count" if history.silent >= policy.lead_after else "deadline"
            out.reminders.append(Recipient(lead, lead_why))
    if primary is None:
        out.call = "no_chat"
    elif capped(primary):
        out.call = "capped"
    elif escalated and not (primary is liaison and lead is not None):
        out.call = "no_lead" if not dues.lead_registered else "escalated"
    return out


@dataclass(frozen=True)
class StaffChat:
    user_id: int
    language: str


async def staff_chats(session: AsyncSession, services: Services) -> list[StaffChat]:
    """Office staff the bot can write to (those found unreachable are skipped)."""
    ids = await roster.staff_ids(session, services)
    if not ids:
        return []
    accounts = {
        a.user_id: a
        for a in (await session.scalars(select(Account).where(Account.user_id.in_(ids)))).all()
    }
    result = []
    for user_id in ids:
        account = accounts.get(user_id)
        if account is not None and account.unreachable_since is not None:
            continue
        lang = account.language if account and account.language else services.settings.language
        result.append(StaffChat(user_id, lang))
    return result
