"""The planner: a stateless tick that queues each working day's reminders in the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup

from bot.context import Context
from bot.errors import DomainError
from bot.holidays import load_calendar, setting_file_trouble, unknown_years
from bot.ledger.checklist import overall_deadline
from bot.ledger.status import Holder, UnitObligations, deadlines, gc_paused, load_obligations
from bot.registration import invites
from bot.reminders.history import History, load_history
from bot.reminders.ladder import decide, staff_chats
from bot.reminders.policy import (
    _HAPPENED,
    DIGEST,
    DIGEST_LIMIT,
    REMINDER,
    ROLLCALL,
    WARNING,
    Policy,
)
from bot.reminders.rendering import render_digest, render_rollcall
from bot.services import Services
from bot.settings import Settings
from bot.transport.outbox import enqueue, enqueue_many, text_payload
from bot.workdays import WorkCalendar
from messages import join, t
from storage import repositories as repo
from storage.db import insert_ignore
from storage.models import (
    GroupChat,
    OutboxMessage,
    Setting,
)

log = logging.getLogger(__name__)


class TickOut(BaseModel):
    """What one planner tick did."""

    day: date
    planned: bool
    reason: Literal["planned", "off", "not_workday", "not_yet", "quiet", "done"]
    reminders: int = 0
    tasks: int = 0
    digests: int = 0
    rollcalls: int = 0
    warnings: int = 0


def reminder_payload(
    text: str, markup: InlineKeyboardMarkup | None, meta: dict[str, Any]
) -> dict[str, Any]:
    """An outbox payload with our own `meta` (the dispatcher sends only text and markup)."""
    return {**text_payload(text, markup), "meta": meta}


def contact_language(contact: Holder, settings: Settings) -> str:
    return contact.language or settings.language


async def plan_tick(*, services: Services) -> TickOut:
    """Plan today's scheduled round once: reminders, staff digest, roll calls, warnings.

    Stateless and safe to run from any number of processes: the day is claimed with a
    unique marker in the same transaction that enqueues the round, and every message has
    its dedupe key.
    """
    told = await tell_holiday_file_trouble(services)
    out = await _plan_round(services)
    out.warnings += told
    return out


async def tell_holiday_file_trouble(services: Services) -> int:
    """Tell every member of staff, once a day and not in the quiet hours, what is wrong with
    HOLIDAY_FILE (the bot goes on with the last version it read); return how many notices."""
    settings = services.settings
    trouble = setting_file_trouble(settings)
    now = services.now()
    local = now.astimezone(settings.tz)
    if trouble is None or Policy.of(settings).quiet(local):
        return 0
    day = local.date().isoformat()
    queued = 0
    async with services.db.uow() as tx:
        for member in await staff_chats(tx, services):
            queued += await enqueue(
                tx,
                key=f"holiday-file:{day}:{member.user_id}",
                chat_id=member.user_id,
                purpose=WARNING,
                payload=text_payload("\n".join(trouble.lines(member.language))),
                now=now,
            )
    return queued


async def _plan_round(services: Services) -> TickOut:
    settings = services.settings
    policy = Policy.of(settings)
    now = services.now()
    local = now.astimezone(settings.tz)
    today = local.date()
    if not settings.scheduled_reminders:
        return TickOut(day=today, planned=False, reason="off")
    cal = await load_calendar(services=services)
    if not cal.is_workday(today):
        return TickOut(day=today, planned=False, reason="not_workday")
    if policy.quiet(local):
        return TickOut(day=today, planned=False, reason="quiet")
    if not policy.round_time(local):
        return TickOut(day=today, planned=False, reason="not_yet")
    async with services.db.uow() as tx:
        marker = insert_ignore(services.db.dialect, Setting).values(
            key=f"reminders_planned:{today.isoformat()}", value=now.isoformat()
        )
        if not (await tx.execute(marker)).rowcount:  # type: ignore[attr-defined]
            return TickOut(day=today, planned=False, reason="done")
        with gc_paused():  # a country's round is a few hundred thousand objects at once
            out = await _plan_day(tx, services, today=today, now=now, policy=policy, cal=cal)
        repo.audit(
            tx,
            now,
            None,
            "reminders_planned",
            day=today.isoformat(),
            reminders=out.reminders,
            digests=out.digests,
            rollcalls=out.rollcalls,
        )
    if out.reminders or out.digests:
        log.info("reminders for %s: %s", today, out.model_dump(exclude={"day"}))
    return out


async def _plan_day(
    tx: AsyncSession,
    services: Services,
    *,
    today: date,
    now: datetime,
    policy: Policy,
    cal: WorkCalendar,
) -> TickOut:
    settings = services.settings
    out = TickOut(day=today, planned=True, reason="planned")
    dues = await load_obligations(tx, detail=False)
    history = await load_history(tx, settings)
    decisions = [
        decide(
            d,
            history.get(d.unit_id, History()),
            today=today,
            policy=policy,
            cal=cal,
            scheduled=True,
        )
        for d in dues
    ]
    day = today.isoformat()
    # The words are written when each reminder is sent (ReminderDelivery renders what the
    # unit owes at that moment), so a round of any size is one set of inserts.
    rows = [
        {
            "key": f"reminder:{decision.dues.unit_id}:{r.contact.person_id}:{day}",
            "chat_id": r.contact.chat,
            "purpose": REMINDER,
            "payload": reminder_payload(
                "",
                None,
                {
                    "kind": "scheduled",
                    "day": day,
                    "unit": decision.dues.unit_id,
                    "person": r.contact.person_id,
                    "role": r.contact.role,
                    "why": r.why,
                    "count": decision.silent,
                },
            ),
            "unit_id": decision.dues.unit_id,
        }
        for decision in decisions
        for r in decision.reminders
    ]
    out.reminders = await enqueue_many(tx, rows, now=now)
    staff = await staff_chats(tx, services)
    unregistered = [d.dues for d in decisions if d.unregistered][:DIGEST_LIMIT]
    links = await _invite_links(tx, services, unregistered) if staff else {}
    for member in staff:
        parts = render_digest(today=today, decisions=decisions, links=links, lang=member.language)
        for index, text in enumerate(parts, start=1):
            out.digests += await enqueue(
                tx,
                key=f"digest:{day}:{member.user_id}:{index}",
                chat_id=member.user_id,
                purpose=DIGEST,
                payload=reminder_payload(text, None, {"kind": "digest", "day": day}),
                now=now,
            )
    supervised = [
        (d.dues.unit_id, d.dues.deadline)
        for d in decisions
        if d.supervise and not d.unregistered and d.dues.deadline is not None
    ]
    if staff and supervised:  # 督办: each unit's 催办通知, ready to print
        from bot.staff.documents.supervision import enqueue_supervision

        out.tasks += await enqueue_supervision(
            tx,
            services=services,
            units=supervised[:DIGEST_LIMIT],
            staff=[(m.user_id, m.language) for m in staff],
            today=today,
            now=now,
        )
    counted, ahead = unknown_years(cal, today, await deadlines(tx))
    if counted or ahead:
        # Years the reminders count Monday to Friday already, or only next year, not loaded.
        key = "reminders.calendar_unknown" if counted else "reminders.calendar_next_year_unknown"
        years = join(settings.language, [str(y) for y in sorted({*counted, *ahead})])
        for member in staff:
            out.warnings += await enqueue(
                tx,
                key=f"calendar:{day}:{member.user_id}",
                chat_id=member.user_id,
                purpose=WARNING,
                payload=text_payload(t(member.language, key, years=years)),
                now=now,
            )
    out.rollcalls = await _plan_rollcalls(
        tx, services, dues=dues, today=today, now=now, policy=policy, cal=cal
    )
    return out


async def _plan_rollcalls(
    tx: AsyncSession,
    services: Services,
    *,
    dues: Sequence[UnitObligations],
    today: date,
    now: datetime,
    policy: Policy,
    cal: WorkCalendar,
) -> int:
    """The group roll calls switched on with `/rollcall on`, on the reminder cadence."""
    groups = (
        await tx.scalars(select(GroupChat).where(GroupChat.rollcall_enabled.is_(True)))
    ).all()
    if not groups or not any(d.owes and not d.paused_on(today) for d in dues):
        return 0
    deadline = overall_deadline(await deadlines(tx))
    last_posts = dict(
        (
            await tx.execute(
                select(OutboxMessage.chat_id, func.max(OutboxMessage.created_at))
                .where(
                    OutboxMessage.purpose == ROLLCALL,
                    OutboxMessage.chat_id.in_([g.chat_id for g in groups]),
                    OutboxMessage.state.in_(_HAPPENED),
                )
                .group_by(OutboxMessage.chat_id)
            )
        ).all()
    )
    count = 0
    tz = services.settings.tz
    for group in groups:
        last = last_posts.get(group.chat_id)
        last_day = last.astimezone(tz).date() if last else None
        if not policy.due(cal, today, deadline, last_day):
            continue
        lang = services.settings.language
        parts = render_rollcall(dues, today=today, lang=lang)
        for index, text in enumerate(parts, start=1):
            meta = {
                "kind": "scheduled",
                "day": today.isoformat(),
                "part": index,
                "parts": len(parts),
            }
            count += await enqueue(
                tx,
                key=f"rollcall:{group.chat_id}:{today.isoformat()}:{index}",
                chat_id=group.chat_id,
                purpose=ROLLCALL,
                payload=reminder_payload(text, None, meta),
                now=now,
            )
    return count


async def _invite_links(
    tx: AsyncSession, services: Services, units: Sequence[UnitObligations]
) -> dict[int, tuple[str, date]]:
    """The current liaison invite link of each unit with nobody registered: one per unit for
    each validity period, shown again every day of it (links staff asked for stay valid)."""
    if not units:
        return {}
    try:
        username = await invites.bot_username(tx, services)
    except DomainError:
        log.warning("no bot username known yet: the digest lists units without invite links")
        return {}
    made = await invites.current_links(
        tx,
        services=services,
        units=[(d.unit_id, d.name) for d in units],
        role="liaison",
        username=username,
    )
    tz = services.settings.tz
    # Valid up to the period's end (office midnight): the last whole day is the one before.
    return {
        unit_id: (out.link, (out.expires_at - timedelta(seconds=1)).astimezone(tz).date())
        for unit_id, out in made.items()
    }


async def planner_job(context: Context) -> None:
    """Tick the planner (a failure is the supervisor's to retry); wake the dispatcher."""
    out = await plan_tick(services=context.bot_data.services)
    dispatcher = context.bot_data.dispatcher
    if (out.planned or out.warnings) and dispatcher is not None:
        dispatcher.wake()
