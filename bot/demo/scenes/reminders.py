"""Demo scene: simulated working days of reminders, across the National Day holiday.

The demo's FrozenClock is moved to 09:30 of each day; the planner is ticked as PTB's job
queue would; the running bot delivers over HTTP to the emulator. The scene shows what each
kind of unit receives (a liaison, a county, a liaison who never opened the bot, a unit
awaiting review and then sent back, a unit that completes), the staff's daily digest with
invite links, the escalation after three silent reminders, and the holiday skipped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.holidays import load_calendar
from bot.ledger.status import UnitObligations, load_obligations
from bot.reminders.planner import plan_tick
from bot.reminders.policy import DIGEST, REMINDER, TASK
from bot.services import Services
from messages import format_short_date, plain
from storage.models import OutboxMessage, Submission

if TYPE_CHECKING:
    from bot.demo.run import Stage

DAYS = 15  # Monday 28 September to Monday 12 October 2026, with 国庆 in between
ROUND_TIME = time(9, 30)
OPEN = ("pending", "claimed", "sending")


@dataclass
class Cast:
    """The units the scene follows."""

    watched: UnitObligations  # a member unit: its reminders are shown in full
    county: UnitObligations  # a county (longer checklist)
    blocked: UnitObligations  # its liaison never opened the bot: 403, then staff are told
    reviewed: UnitObligations  # submits everything, waits for review, has one item sent back
    completing: UnitObligations  # completes, and its reminders stop
    others: list[UnitObligations]


def _pick(candidates: list[UnitObligations], *names: str, taken: set[int]) -> UnitObligations:
    """The first of `names` among the candidates not yet taken, else the first one left."""
    free = [d for d in candidates if d.unit_id not in taken]
    chosen = next((d for name in names for d in free if d.name == name), None) or free[0]
    taken.add(chosen.unit_id)
    return chosen


async def cast_of(services: Services) -> Cast:
    async with services.db.sessions() as session:
        dues = await load_obligations(session)
    owing = [d for d in dues if d.open_items and d.liaison and d.liaison.user_id]
    counties = [d for d in owing if d.kind == "county"]
    taken: set[int] = set()
    county = _pick(counties or owing, "原州区", taken=taken)
    watched = _pick(owing, "市交通运输局", taken=taken)
    blocked = _pick(owing, "固原火车站", taken=taken)
    # 团市委 has completed its ledger in the demo's scene before this one.
    reviewed = _pick(owing, "团市委", "彭阳县", taken=taken)
    completing = _pick(owing, "市公安局", taken=taken)
    others = [d for d in owing if d.unit_id not in taken]
    return Cast(watched, county, blocked, reviewed, completing, others)


async def _settle(services: Services, clock: FrozenClock) -> None:
    """Wait until the running bot has delivered what is due (simulated time moves past a
    429's retry_after rather than waiting for it)."""
    for _ in range(600):
        async with services.db.sessions() as session:
            rows = (
                await session.scalars(select(OutboxMessage).where(OutboxMessage.state.in_(OPEN)))
            ).all()
        if not rows:
            return
        later = [r.due_at for r in rows if r.state == "pending" and r.due_at > clock.now()]
        if later and len(later) == len(rows):
            clock.set(min(later))
        await asyncio.sleep(0.1)
    raise RuntimeError("the outbox did not empty")


async def _sent_since(services: Services, since: datetime) -> dict[str, int]:
    async with services.db.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.created_at >= since, OutboxMessage.state == "sent"
                )
            )
        ).all()
    counts = {"liaison": 0, "lead": 0, "digest": 0, "task": 0}
    for row in rows:
        meta: dict[str, Any] = row.payload.get("meta") or {}
        if row.purpose == REMINDER:
            counts["lead" if meta.get("role") == "lead" else "liaison"] += 1
        elif row.purpose == DIGEST:
            counts["digest"] += 1
        elif row.purpose == TASK:
            counts["task"] += 1
    return counts


async def _submit(
    services: Services, unit: UnitObligations, state: str, user_id: int
) -> list[str]:
    """The unit sends every item it owes (as /submit would leave it): pending or accepted."""
    now = services.now()
    async with services.db.uow() as tx:
        from storage import repositories as repo

        items = {i.title: i.id for i in await repo.checklist(tx)}
        for owed in unit.open_items:
            tx.add(
                Submission(
                    unit_id=unit.unit_id,
                    item_id=items[owed.title],
                    state=state,
                    answer_kind="text",
                    text="（演示）已报送",
                    submitted_by=user_id,
                    created_at=now,
                    submitted_at=now,
                    reviewed_by=None,
                    reviewed_at=now if state == "accepted" else None,
                )
            )
    return [i.title for i in unit.open_items]


async def _send_back(services: Services, unit: UnitObligations, title: str, note: str) -> None:
    """Staff review one pending item and send it back with a reason."""
    async with services.db.uow() as tx:
        from storage import repositories as repo

        item_id = next(i.id for i in await repo.checklist(tx) if i.title == title)
        found = await tx.scalar(
            select(Submission).where(
                Submission.unit_id == unit.unit_id,
                Submission.item_id == item_id,
                Submission.state == "pending",
            )
        )
        if found is not None:
            found.state, found.review_note = "returned", note
            found.reviewed_at = services.now()


async def scene_reminders(stage: Stage) -> None:
    """Simulated working days: reminders, escalation, a holiday skipped, a unit completing."""
    services, sandbox, lang = stage.services, stage.sandbox, stage.lang
    clock = services.clock
    if not isinstance(clock, FrozenClock):
        raise RuntimeError("the reminders scene needs the demo's FrozenClock")
    tz = services.settings.tz
    cal = await load_calendar(services=services)
    start = clock.now().astimezone(tz).date()
    days = [start + timedelta(days=n) for n in range(DAYS)]
    workdays = [d for d in days if cal.is_workday(d)]
    cast = await cast_of(services)
    weekdays = plain(lang, "demo_reminders.weekdays").split(",")

    def when(day: date) -> str:
        return format_short_date(day, day, lang)

    stage.say(
        "demo_reminders.intro",
        days=len(workdays),
        start=when(days[0]),
        end=when(days[-1]),
    )
    people = [cast.watched, cast.county, cast.blocked, cast.reviewed, cast.completing]
    known = {u.id for u in await sandbox.users()}  # e.g. who registered in an earlier scene
    for unit in people + cast.others:
        assert unit.liaison is not None
        assert unit.liaison.user_id is not None
        if unit.liaison.user_id in known:
            continue
        await sandbox.add_user(
            user_id=unit.liaison.user_id,
            first_name=unit.liaison.name,
            language_code={"zh": "zh-hans", "en": "en"}[lang],
            started=unit is not cast.blocked,
        )
    stage.say(
        "demo_reminders.setup",
        count=len(people) + len(cast.others),
        blocked=cast.blocked.name,
    )
    shown: dict[int, int] = {}

    async def show(chat: int, who: str, *, only_new: bool = True, contains: str = "") -> int:
        """Narrate the bot's new messages in one chat (those containing `contains`)."""
        messages = await sandbox.messages(chat)
        new = messages[shown.get(chat, 0) :] if only_new else messages[-1:]
        shown[chat] = len(messages)
        picked = [m for m in new if contains in (m.text or "")]
        for message in picked:
            stage.narrate(who, "bot", message.text or "")
        return len(picked)

    def liaison_chat(unit: UnitObligations) -> int:
        assert unit.liaison is not None
        assert unit.liaison.user_id is not None
        return unit.liaison.user_id

    def label(unit: UnitObligations, role: str = "liaison") -> str:
        return plain(lang, f"demo_reminders.{role}_of", unit=unit.name)

    staff_name = plain(lang, "demo.staff_name")
    staff_chat = next(iter(services.settings.staff_ids))
    shown[staff_chat] = len(await sandbox.messages(staff_chat))
    for unit in people:
        shown[liaison_chat(unit)] = 0
    async with services.db.sessions() as session:
        for unit in await load_obligations(session):
            if unit.lead is not None and unit.lead.chat is not None:
                shown[unit.lead.chat] = len(await sandbox.messages(unit.lead.chat))
    skipped: list[date] = []
    returned_title = cast.reviewed.open_items[0].title
    waiting_review = completed = escalation_shown = lead_shown = False
    total = 0
    for day in days:
        if not cal.is_workday(day):
            skipped.append(day)
            continue
        if len(skipped) == 1:
            stage.say("demo_reminders.skipped_one", date=when(skipped[0]))
        elif skipped:
            stage.say("demo_reminders.skipped", start=when(skipped[0]), end=when(skipped[-1]))
        skipped = []
        clock.set(datetime.combine(day, ROUND_TIME, tzinfo=tz))
        note = plain(lang, "demo_reminders.makeup") if day.weekday() >= 5 else ""
        stage.say("demo_reminders.day", date=when(day), weekday=weekdays[day.weekday()], note=note)
        since = clock.now()
        await plan_tick(services=services)  # what PTB's job queue does every minute
        await _settle(services, clock)
        counts = await _sent_since(services, since)
        total += counts["liaison"] + counts["lead"]
        stage.say("demo_reminders.sent", **counts)

        if day == workdays[0]:
            await show(liaison_chat(cast.watched), label(cast.watched))
            await show(liaison_chat(cast.county), label(cast.county))
            await show(staff_chat, staff_name)  # the digest with invite links, the 403 task
        elif not escalation_shown and await show(
            staff_chat, staff_name, contains=plain(lang, "demo_reminders.call_marker")
        ):
            stage.say("demo_reminders.escalated")
            escalation_shown = True
        got = await show(liaison_chat(cast.reviewed), label(cast.reviewed))
        if waiting_review and not got and counts["liaison"]:
            stage.say("demo_reminders.quiet", unit=cast.reviewed.name)
        if completed:
            quiet = not await show(liaison_chat(cast.completing), label(cast.completing))
            if quiet and counts["liaison"]:
                stage.say("demo_reminders.stopped", unit=cast.completing.name)
                completed = False  # said once
        async with services.db.sessions() as session:
            leads = [d for d in await load_obligations(session) if d.lead and d.lead.chat]
        for unit in leads:
            assert unit.lead is not None
            assert unit.lead.chat is not None
            if await show(unit.lead.chat, label(unit, "lead")) and not lead_shown:
                stage.say("demo_reminders.lead_chat", unit=unit.name)
                lead_shown = True
        seen = (staff_chat, liaison_chat(cast.watched), liaison_chat(cast.county))
        for chat in (*seen, liaison_chat(cast.completing)):
            shown[chat] = len(await sandbox.messages(chat))  # seen, not narrated again

        # What the units and the office do during the day.
        if day == workdays[1]:
            clock.set(datetime.combine(day, time(11, 0), tzinfo=tz))
            await _submit(services, cast.reviewed, "pending", liaison_chat(cast.reviewed))
            stage.say("demo_reminders.pending", unit=cast.reviewed.name)
            waiting_review = True
        if day == workdays[3]:
            clock.set(datetime.combine(day, time(16, 0), tzinfo=tz))
            await _submit(services, cast.completing, "accepted", liaison_chat(cast.completing))
            stage.say("demo_reminders.completed", unit=cast.completing.name)
            completed = True
        if day == workdays[4]:
            clock.set(datetime.combine(day, time(15, 0), tzinfo=tz))
            reason = plain(lang, "demo_reminders.returned_note")
            await _send_back(services, cast.reviewed, returned_title, reason)
            stage.say(
                "demo_reminders.returned",
                unit=cast.reviewed.name,
                title=returned_title,
                note=reason,
            )
            waiting_review = False
    async with services.db.sessions() as session:
        still = sum(1 for d in await load_obligations(session) if d.owes)
    stage.say("demo_reminders.summary", count=total, units=still)
