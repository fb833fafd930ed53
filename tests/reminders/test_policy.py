"""Reminder policy, in-process with an injected clock: who is reminded of what, and when.

The planner and the real outbox dispatcher run against the database (SQLite and PostgreSQL);
a recording bot stands in for Telegram. Simulated days are driven by the FrozenClock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from telegram import Chat, InlineKeyboardMarkup, Message
from telegram.error import Forbidden
from telegram.ext import ExtBot

from bot import holidays as holidays_module
from bot import retention
from bot.clock import FrozenClock
from bot.enums import ItemState, Role
from bot.errors import BadInput, NotStaff
from bot.holidays import load_calendar
from bot.ledger.checklist import set_deadline
from bot.ledger.report import build_report
from bot.ledger.status import Holder, ItemStatus, UnitObligations, load_obligations
from bot.registration import invites
from bot.reminders import delivery as reminder_delivery
from bot.reminders import (
    ladder,
    pause,
    planner,
    rendering,
    rollcall,
    rounds,
)
from bot.reminders.policy import REMINDER
from bot.services import Services
from bot.transport.outbox import Dispatcher
from bot.transport.pacing import Intervals, Pacer
from bot.workdays import WorkCalendar
from messages import format_short_date, join, join_clauses, kind_name
from storage import repositories as repo
from storage.db import Database
from storage.models import (
    GroupChat,
    HolidayYear,
    Invite,
    OutboxMessage,
    Person,
    Setting,
    Submission,
    Unit,
)
from tests.support.checklist import item_count
from tests.support.cli import run_cli
from tests.support.messages import label, mentions, says
from tests.support.settings import START, staff_on_both_lists, with_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF = 900  # the `services` fixture's STAFF_IDS


@dataclass
class Sent:
    day: date
    chat_id: int
    text: str
    markup: dict[str, Any] | None


@dataclass
class RecordingBot:
    """Stands in for Telegram: records each message; chats in `blocked` answer 403."""

    clock: FrozenClock
    sent: list[Sent] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    documents: list[Sent] = field(default_factory=list)  # 督办 tasks carry a 催办通知

    async def send_message(
        self,
        chat_id: int,
        text: str,
        reply_markup: InlineKeyboardMarkup | None = None,
        **_: Any,
    ) -> Message:
        if chat_id in self.blocked:
            raise Forbidden("Forbidden: bot was blocked by the user")
        day = self.clock.now().astimezone(SHANGHAI).date()
        markup = reply_markup.to_dict() if reply_markup else None
        self.sent.append(Sent(day, chat_id, text, markup))
        chat = Chat(id=chat_id, type=Chat.GROUP if chat_id < 0 else Chat.PRIVATE)
        return Message(message_id=len(self.sent), date=self.clock.now(), chat=chat)

    async def send_document(
        self, chat_id: int, document: object, caption: str | None = None, **_: Any
    ) -> Message:
        day = self.clock.now().astimezone(SHANGHAI).date()
        self.documents.append(Sent(day, chat_id, caption or "", None))
        chat = Chat(id=chat_id, type=Chat.PRIVATE)
        return Message(
            message_id=1_000_000 + len(self.documents), date=self.clock.now(), chat=chat
        )


class World:
    """Services, a recording bot and the real dispatcher, moved through simulated days."""

    def __init__(self, services: Services) -> None:
        assert isinstance(services.clock, FrozenClock)
        self.services = services
        self.clock: FrozenClock = services.clock
        self.bot = RecordingBot(self.clock)
        delivery = reminder_delivery.ReminderDelivery(services)
        self.dispatcher = Dispatcher(
            services=services,
            bot=cast(ExtBot[Any], self.bot),
            worker_id="test",
            checks=delivery.checks(),
            on_unreachable=[delivery.on_unreachable],
        )
        self.dispatcher.pacer = Pacer(
            Intervals.of(per_second=10_000, private_per_second=1_000, group_per_minute=60_000)
        )

    def at(self, day: date, moment: time = time(9, 30)) -> None:
        self.clock.set(datetime.combine(day, moment, tzinfo=SHANGHAI))

    async def drain(self) -> list[Sent]:
        """Deliver everything due now; return what was sent."""
        before = len(self.bot.sent)
        while await self.dispatcher.run_once():
            pass
        return self.bot.sent[before:]

    async def day(self, day: date, moment: time = time(9, 30)) -> list[Sent]:
        """One planner tick at `moment` of `day`, then delivery."""
        self.at(day, moment)
        await planner.plan_tick(services=self.services)
        return await self.drain()

    async def load_year(self, year: int) -> None:
        """A year's holiday schedule loaded in the chat (here: New Year's Day off)."""
        async with self.services.db.uow() as tx:
            tx.add(
                HolidayYear(
                    year=year,
                    days={"holidays": [f"{year}-01-01"], "workdays": []},
                    file_name=f"{year}.csv",
                    loaded_at=self.clock.now(),
                    loaded_by=STAFF,
                )
            )

    # -- the database, written directly (as registration and the ledger would leave it) --

    async def unit(self, name: str, kind: str = "member") -> int:
        async with self.services.db.uow() as tx:
            unit = Unit(name=name, kind=kind, created_at=self.clock.now())
            tx.add(unit)
            await tx.flush()
            return unit.id

    async def person(
        self,
        unit_id: int,
        role: str,
        name: str,
        *,
        user_id: int | None,
        since: datetime | None = None,
    ) -> int:
        async with self.services.db.uow() as tx:
            person = Person(
                unit_id=unit_id,
                role=role,
                name=name,
                post="科员" if role == "liaison" else "副局长",
                phone=f"1390954{unit_id:04d}" if role == "liaison" else f"1380954{unit_id:04d}",
                telegram_user_id=user_id,
                since=since or datetime(2026, 9, 1, tzinfo=UTC),
                until=None,
                entered_by=user_id,
            )
            tx.add(person)
            await tx.flush()
            return person.id

    async def items(self, kind: str = "member") -> list[tuple[int, str]]:
        async with self.services.db.uow() as tx:
            return [(i.id, i.title) for i in await repo.checklist(tx) if i.kind == kind]

    async def submit(
        self,
        unit_id: int,
        item_ids: list[int],
        state: str,
        *,
        note: str | None = None,
        at: datetime | None = None,
    ) -> None:
        at = at or self.clock.now()
        async with self.services.db.uow() as tx:
            for item_id in item_ids:
                tx.add(
                    Submission(
                        unit_id=unit_id,
                        item_id=item_id,
                        state=state,
                        answer_kind="text",
                        text="材料",
                        submitted_by=1,
                        created_at=at,
                        submitted_at=at,
                        reviewed_by=STAFF if state in ("accepted", "returned") else None,
                        reviewed_at=at if state in ("accepted", "returned") else None,
                        review_note=note,
                    )
                )

    async def set_state(self, unit_id: int, item_id: int, state: str, note: str | None) -> None:
        """Staff review a pending submission (accept or send back)."""
        async with self.services.db.uow() as tx:
            found = await tx.scalar(
                select(Submission).where(
                    Submission.unit_id == unit_id,
                    Submission.item_id == item_id,
                    Submission.state == "pending",
                )
            )
            assert found is not None
            found.state, found.review_note = state, note
            found.reviewed_at, found.reviewed_by = self.clock.now(), STAFF

    async def rows(self, purpose: str | None = None) -> list[OutboxMessage]:
        async with self.services.db.uow() as tx:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if purpose:
                query = query.where(OutboxMessage.purpose == purpose)
            return list((await tx.scalars(query)).all())


def working_days(start: date, end: date) -> list[date]:
    days = []
    cal = WorkCalendar()
    day = start
    while day <= end:
        if cal.is_workday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def digest_sections(text: str) -> dict[str, set[str]]:
    """The units a digest names, per section (unregistered / call / supervise)."""
    sections: dict[str, set[str]] = defaultdict(set)
    current = ""
    for line in text.splitlines():
        if mentions(line, "reminders.digest.unregistered"):
            current = "unregistered"
        elif mentions(line, "reminders.digest.call"):
            current = "call"
        elif mentions(line, "reminders.digest.supervise"):
            current = "supervise"
        elif line.startswith("· "):
            sections[current].add(line[2:].split("：")[0].split("（")[0])
    return dict(sections)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


# ---- six weeks across National Day 2026 ----------------------------------------------------

# Every second working day after the last reminder; daily in the last three working days up to
# the deadline (Friday 16 October) and after it. Mid-Autumn (25 September) and National Day
# (1–7 October) are skipped; the make-up working days (Sunday 20 September, Saturday
# 10 October) count: without the 10th, 12 October would be one working day after the 9th.
CADENCE = [
    d(9, 14), d(9, 16), d(9, 18), d(9, 21), d(9, 23), d(9, 28), d(9, 30), d(10, 9),
    d(10, 12), d(10, 14), d(10, 15), d(10, 16), d(10, 19), d(10, 20), d(10, 21),
    d(10, 22), d(10, 23),
]  # fmt: skip
DEADLINE = d(10, 16)


async def test_six_weeks_across_national_day(services: Services) -> None:
    world = World(services)
    world.at(d(9, 1))
    await set_deadline(services=services, due=DEADLINE)
    items = await world.items()
    item_ids = [i for i, _ in items]

    # A: a liaison who never answers; the lead is on record but has not linked the bot.
    a = await world.unit("市民政局")
    await world.person(a, "liaison", "王伟", user_id=1001)
    await world.person(a, "lead", "李强", user_id=None)
    await world.submit(a, item_ids[:4], "accepted", at=datetime(2026, 9, 1, tzinfo=UTC))
    # B: the same, but the lead has linked the bot: escalation reaches the lead's chat.
    b = await world.unit("市卫健委")
    await world.person(b, "liaison", "张敏", user_id=1002)
    await world.person(b, "lead", "刘军", user_id=2002)
    # C: completes its ledger on 23 September, after that day's reminder was queued.
    c = await world.unit("市交通运输局")
    await world.person(c, "liaison", "陈静", user_id=1003)
    await world.person(c, "lead", "杨涛", user_id=None)
    # D: nobody registered (one of the notice's 13): staff get it in the daily digest.
    await world.unit("市税务局")
    # E: everything open awaits review; on 9 October one item is sent back.
    e = await world.unit("团市委")
    await world.person(e, "liaison", "黄霞", user_id=1005)
    await world.person(e, "lead", "赵明", user_id=None)
    await world.submit(e, item_ids[:-2], "accepted", at=datetime(2026, 9, 1, tzinfo=UTC))
    await world.submit(e, item_ids[-2:], "pending", at=datetime(2026, 9, 1, tzinfo=UTC))

    sent: list[Sent] = []
    digests: dict[date, dict[str, set[str]]] = {}
    day = d(9, 14)
    while day <= d(10, 25):
        world.at(day)
        await planner.plan_tick(services=services)
        if day == d(9, 23):
            # C's reminder was planned at 09:30 and waits in the outbox; C finishes first.
            await world.submit(c, item_ids, "accepted")
        today = await world.drain()
        sent += today
        for s in today:
            if s.chat_id == STAFF:
                digests[day] = digest_sections(s.text)
        if day == d(9, 23):
            [row] = [
                r
                for r in await world.rows("reminder")
                if r.dedupe_key.endswith(":2026-09-23") and r.chat_id == 1003
            ]
            assert (row.state, row.error) == ("cancelled", "no longer wanted")
        if day == d(10, 9):
            world.at(day, time(15, 0))
            await world.set_state(e, item_ids[-2], "returned", "缺少盖章页")
        # A second tick the same day (another process, a restart) plans nothing new.
        world.at(day, time(16, 0))
        assert not (await planner.plan_tick(services=services)).planned
        assert await world.drain() == []
        day += timedelta(days=1)

    by_chat: dict[int, list[date]] = defaultdict(list)
    for s in sent:
        by_chat[s.chat_id].append(s.day)

    assert by_chat[1001] == CADENCE
    assert by_chat[1002] == CADENCE
    assert by_chat[2002] == CADENCE[CADENCE.index(d(9, 21)) :]  # after 3 silent reminders
    assert by_chat[1003] == [d(9, 14), d(9, 16), d(9, 18), d(9, 21)]
    assert by_chat[1005] == [
        d(10, 10), d(10, 13), d(10, 14), d(10, 15), d(10, 16),
        d(10, 19), d(10, 20), d(10, 21), d(10, 22), d(10, 23),
    ]  # fmt: skip
    # Staff: one digest a working day, nothing on holidays and weekends.
    workdays = working_days(d(9, 14), d(10, 25))
    assert d(9, 20) in workdays
    assert d(10, 10) in workdays
    assert d(10, 1) not in workdays
    assert by_chat[STAFF] == workdays
    assert set(by_chat) == {1001, 1002, 2002, 1003, 1005, STAFF}

    for day, sections in digests.items():
        assert sections.get("unregistered") == {"市税务局"}, day
        call = {"市民政局"} if d(9, 20) <= day <= d(10, 20) else set()
        if d(9, 20) <= day <= d(9, 23):  # the 23rd's digest was written at 09:30
            call.add("市交通运输局")
        if d(10, 15) <= day <= d(10, 20):
            call.add("团市委")
        assert sections.get("call", set()) == call, day
        supervise = {"市民政局", "市卫健委", "团市委"} if day >= d(10, 21) else set()
        assert sections.get("supervise", set()) == supervise, day
    # The 督办 task: each supervised unit's 催办通知, once, on the day supervision began.
    assert [(s.day, s.chat_id) for s in world.bot.documents] == [(d(10, 21), STAFF)] * 3
    assert {s.text.split("：")[1].split("报送截止")[0] for s in world.bot.documents} == {
        "市民政局", "市卫健委", "团市委",
    }  # fmt: skip

    first = next(s for s in sent if s.chat_id == 1001)
    assert "市民政局" in first.text
    deadline = format_short_date(DEADLINE, DEADLINE, "zh")
    assert mentions(first.text, "reminders.due_by", date=deadline)
    assert first.markup == {
        "inline_keyboard": [
            [{"text": label("reminders.button_submit"), "callback_data": f"sub:start:{a}"}]
        ]
    }
    assert "！" not in first.text
    assert "!" not in first.text
    lead = next(s for s in sent if s.chat_id == 2002)
    assert "刘军" in lead.text
    assert mentions(lead.text, "reminders.why_count", count=3)
    returned = next(s for s in sent if s.chat_id == 1005)
    assert items[-2][1] in returned.text
    assert "缺少盖章页" in returned.text
    assert items[-1][1] not in returned.text  # awaiting review: not named
    assert mentions(returned.text, "reminders.pending", count=1)
    overdue = [s for s in sent if s.chat_id == 1001][-1]
    assert mentions(overdue.text, "reminders.overdue", date=deadline)

    report = {u.name: u for u in (await build_report(services=services)).units}
    assert report["市民政局"].reminders_sent == len(CADENCE)
    assert report["市卫健委"].reminders_sent == len(CADENCE) * 2 - 3
    assert report["市交通运输局"].reminders_sent == 4
    assert report["市税务局"].reminders_sent == 0


# ---- the calendar ----------------------------------------------------------------------------


async def _one_unit(world: World, *, liaison: int = 1001) -> int:
    unit = await world.unit("市民政局")
    await world.person(unit, "liaison", "王伟", user_id=liaison)
    await world.person(unit, "lead", "李强", user_id=None)
    return unit


async def test_a_holiday_file_overrides_the_package(services: Services, tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.json"
    # The office declares Thursday 8 October off and works Sunday 11 October instead.
    holidays.write_text(
        json.dumps({"year": 2026, "holidays": ["2026-10-08"], "workdays": ["2026-10-11"]})
    )
    services = with_settings(services, holiday_file=holidays, reminder_every_workdays=1)
    world = World(services)
    world.at(d(9, 28))
    await _one_unit(world)
    days = []
    for n in range(16):
        day = d(9, 28) + timedelta(days=n)
        if [s for s in await world.day(day) if s.chat_id == 1001]:
            days.append(day)
    assert days == [
        d(9, 28), d(9, 29), d(9, 30), d(10, 9), d(10, 10), d(10, 11), d(10, 12), d(10, 13)
    ]  # fmt: skip


async def test_a_year_nobody_knows_is_monday_to_friday_with_one_warning_a_day(
    services: Services,
) -> None:
    services = with_settings(services, reminder_every_workdays=1)
    world = World(services)
    world.at(d(12, 30))
    await set_deadline(services=services, due=date(2027, 1, 8))
    await _one_unit(world)

    def warnings(sent: list[Sent]) -> list[Sent]:
        return [s for s in sent if s.chat_id == STAFF and "2027年的节假日安排尚未载入" in s.text]

    # 30 December 2026: counting to the deadline crosses into 2027, which nobody knows yet.
    sent = await world.day(d(12, 30))
    assert len(warnings(sent)) == 1
    # Friday 1 January 2027: Monday–Friday says it is a working day (a file would say not).
    sent = await world.day(date(2027, 1, 1))
    assert len(warnings(sent)) == 1
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [1001]
    # Later that day, and on the weekend: no second warning, no reminder.
    assert await world.day(date(2027, 1, 1), time(15)) == []
    assert await world.day(date(2027, 1, 2)) == []


def _calendar_warnings(sent: list[Sent], key: str) -> list[str]:
    return [s.text for s in sent if s.chat_id == STAFF and says(s.text, key)]


async def test_next_years_schedule_is_asked_for_every_working_day_from_1_december(
    services: Services,
) -> None:
    """The first warning of a year nobody knows came on 1 January, with the New Year's Day
    reminders: a deadline of 31 December never reached into it."""
    services = with_settings(services, reminder_every_workdays=1)
    world = World(services)
    world.at(d(11, 27))
    await set_deadline(services=services, due=d(12, 31))
    await _one_unit(world)
    ahead = "reminders.calendar_next_year_unknown"
    assert _calendar_warnings(await world.day(d(11, 30)), ahead) == []
    for day in (d(12, 1), d(12, 2)):
        [warning] = _calendar_warnings(await world.day(day), ahead)
        assert says(warning, ahead, years="2027")
    assert await world.day(d(12, 5)) == []  # a Saturday: no round, no warning
    # Once the year is loaded (here in the chat), the warning stops.
    await world.load_year(2027)
    sent = await world.day(d(12, 7))
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [1001]
    assert _calendar_warnings(sent, ahead) == []


async def test_next_years_warning_needs_no_deadline(services: Services) -> None:
    services = with_settings(services, reminder_every_workdays=1)
    world = World(services)
    world.at(d(12, 1))
    await _one_unit(world)
    [warning] = _calendar_warnings(
        await world.day(d(12, 1)), "reminders.calendar_next_year_unknown"
    )
    assert says(warning, "reminders.calendar_next_year_unknown", years="2027")


HOLIDAYS_2027 = "日期,类型\n2027-01-01,休\n" + "".join(
    f"2027-02-{day:02d},休\n" for day in range(5, 12)
)


async def test_a_holiday_file_spoiled_while_running_keeps_its_last_version_and_staff_are_told(
    services: Services, tmp_path: Path
) -> None:
    """A bad row saved (or the file deleted) failed every planner tick, until the process gave
    up; a restart then refused the setting: no updates, no reminders, and no word to staff."""
    holidays = tmp_path / "2027.csv"
    holidays.write_text(HOLIDAYS_2027, encoding="utf-8")
    services = with_settings(services, holiday_file=holidays, reminder_every_workdays=1)
    world = World(services)
    world.at(d(12, 1))
    await _one_unit(world)
    sent = await world.day(d(12, 1))
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [1001]
    assert [s for s in sent if s.chat_id == STAFF and "HOLIDAY_FILE" in s.text] == []

    holidays.write_text(HOLIDAYS_2027 + "2027-02-30,休\n2027-02-12,上午\n", encoding="utf-8")
    # In the quiet hours nothing is said; once they end, staff hear it, once that day.
    assert await world.day(d(12, 2), time(7)) == []
    sent = await world.day(d(12, 2), time(8))
    [notice] = [s.text for s in sent if mentions(s.text, "calendar.file_bad")]
    assert mentions(notice, "calendar.file_bad", file=holidays, count=2)
    assert mentions(notice, "uploads.problem_row", row=10)
    assert mentions(notice, "uploads.problem_row", row=11)
    assert mentions(notice, "calendar.file_kept")
    assert [s.chat_id for s in sent] == [STAFF]
    sent = await world.day(d(12, 2))  # the round goes out, on the version read before
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [1001]
    assert not [s for s in sent if mentions(s.text, "calendar.file_bad")]
    assert _calendar_warnings(sent, "reminders.calendar_next_year_unknown") == []
    cal = await load_calendar(services=services)
    assert not cal.is_workday(date(2027, 2, 8))  # Spring Festival, as the file said
    assert await world.day(d(12, 2), time(15)) == []
    sent = await world.day(d(12, 3))
    assert len([s for s in sent if mentions(s.text, "calendar.file_bad")]) == 1

    holidays.unlink()  # moved away, or deleted
    sent = await world.day(d(12, 4))
    [notice] = [s.text for s in sent if mentions(s.text, "calendar.file_missing")]
    assert mentions(notice, "calendar.file_missing", file=holidays)
    assert mentions(notice, "calendar.file_kept")
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [1001]

    holidays.write_text(HOLIDAYS_2027, encoding="utf-8")
    sent = await world.day(d(12, 7))
    assert [s.chat_id for s in sent] == [1001, STAFF]  # the reminder and the digest


async def test_a_holiday_file_wrong_throughout_is_told_in_one_message_telegram_takes(
    services: Services, tmp_path: Path
) -> None:
    """Every row of a year's file was listed: 336 rows written 休息日 made 9,439 characters,
    which Telegram refuses (4,096 at most), so staff were never told."""
    holidays = tmp_path / "2027.csv"
    days = [date(2027, 1, 1) + timedelta(days=n) for n in range(336)]
    holidays.write_text("日期,类型\n" + "".join(f"{day},休息日\n" for day in days), "utf-8")
    services = with_settings(services, holiday_file=holidays)
    world = World(services)
    world.at(d(12, 1))
    await _one_unit(world)
    [notice] = [s.text for s in await world.day(d(12, 1)) if mentions(s.text, "calendar.file_bad")]
    assert mentions(notice, "calendar.file_bad", file=holidays, count=336)
    assert mentions(notice, "uploads.problems_more", count=336 - holidays_module.MESSAGE_PROBLEMS)
    assert len(notice) <= 4096


async def test_a_holiday_file_bad_from_the_start_leaves_the_package_and_the_chat(
    services: Services, tmp_path: Path
) -> None:
    holidays = tmp_path / "2027.json"
    holidays.write_text(json.dumps({"year": 2027, "holidays": ["2027-02-30"]}))
    services = with_settings(services, holiday_file=holidays, reminder_every_workdays=1)
    world = World(services)
    world.at(d(12, 1))
    await _one_unit(world)
    sent = await world.day(d(12, 1))
    [notice] = [s.text for s in sent if mentions(s.text, "calendar.file_bad")]
    assert mentions(notice, "calendar.file_unused")
    # Nothing knows 2027 now: staff are asked for it as well.
    assert len(_calendar_warnings(sent, "reminders.calendar_next_year_unknown")) == 1
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [1001]


# ---- until, and never after ------------------------------------------------------------------


async def test_awaiting_review_is_never_named_and_sent_back_is(services: Services) -> None:
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    await set_deadline(services=services, due=d(12, 31))
    unit = await _one_unit(world)
    items = await world.items()
    ids = [i for i, _ in items]
    await world.submit(unit, ids[:3], "accepted")
    await world.submit(unit, [ids[3]], "pending")
    await world.submit(unit, [ids[4]], "returned", note="请加盖公章 <b>")
    [reminder] = await world.day(d(11, 30))
    assert reminder.chat_id == 1001
    text = reminder.text
    assert items[3][1] not in text  # awaiting review
    # Golden text: the reminder's wording, as the office writes it (特此提醒).
    assert f"· {items[4][1]}（已退回：请加盖公章 &lt;b&gt;）" in text  # escaped
    assert items[5:]
    for _, title in items[5:]:  # the items not submitted at all
        assert f"· {title}" in text
    assert "另有1项已报送、正在审核，无需重复报送。" in text
    assert "请于12月31日前报送。" in text
    assert "特此提醒" in text

    # All open items submitted: nothing owed but review, so no reminder on its next day.
    await world.submit(unit, ids[4:], "pending")
    assert await world.day(d(12, 2)) == []
    # Review sends one back: reminders come back, naming it.
    await world.set_state(unit, ids[-1], "returned", None)
    [back] = await world.day(d(12, 3))
    assert mentions(back.text, "reminders.item_returned_plain", title=items[-1][1])
    assert items[4][1] not in back.text


async def test_an_item_received_but_never_submitted_is_named_as_such(
    services: Services,
) -> None:
    """Files kept after 暂时跳过 or /cancel were named like an item with nothing sent, while
    /status said to press 本项已报齐."""
    world = World(services)
    world.at(d(11, 30))
    await set_deadline(services=services, due=d(12, 31))
    unit = await _one_unit(world)
    items = await world.items()
    await world.submit(unit, [items[0][0]], "draft")
    [reminder] = await world.day(d(11, 30))
    assert mentions(reminder.text, "reminders.item_draft_text", title=items[0][1])
    assert mentions(reminder.text, "reminders.item_missing", title=items[1][1])


async def test_a_queued_round_reminder_that_became_moot_is_not_sent(services: Services) -> None:
    world = World(services)
    world.at(d(11, 30), time(22, 0))  # a round asked for is not held for quiet hours
    unit = await _one_unit(world)
    ids = [i for i, _ in await world.items()]
    out = await rounds.queue_round(services=services)
    assert out.queued == 1
    await world.submit(unit, ids, "accepted")
    assert await world.drain() == []
    [row] = await world.rows("reminder")
    assert (row.state, row.error) == ("cancelled", "no longer wanted")


async def test_a_reminder_names_what_is_owed_when_it_is_sent(services: Services) -> None:
    world = World(services)
    world.at(d(11, 30))
    unit = await _one_unit(world)
    items = await world.items()
    await planner.plan_tick(services=services)
    await world.submit(unit, [items[0][0]], "pending")  # submitted between planning and sending
    [reminder] = await world.drain()
    assert items[0][1] not in reminder.text
    assert items[1][1] in reminder.text


async def test_a_planned_round_is_summed_up_in_one_info_line(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(services)
    world.at(d(11, 30))
    await _one_unit(world)
    caplog.set_level(logging.INFO, logger="bot.reminders.planner")
    assert (await planner.plan_tick(services=services)).reminders == 1
    await planner.plan_tick(services=services)  # the round is planned once a day
    [line] = [r for r in caplog.records if r.name == "bot.reminders.planner"]
    assert line.levelno == logging.INFO
    summary = line.getMessage()
    assert "\n" not in summary
    assert summary.startswith("reminders for 2026-11-30: ")
    assert "'reminders': 1" in summary


async def test_scheduled_reminders_keep_to_hours_and_their_day(services: Services) -> None:
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30), time(9, 0))
    await _one_unit(world)
    assert (await planner.plan_tick(services=services)).reason == "not_yet"
    world.at(d(11, 30), time(21, 0))
    assert (await planner.plan_tick(services=services)).reason == "quiet"
    world.at(d(12, 5))  # a Saturday
    assert (await planner.plan_tick(services=services)).reason == "not_workday"
    # Planned at 19:59, still waiting at 20:00: quiet hours make it moot, not late.
    world.at(d(11, 30), time(19, 59))
    assert (await planner.plan_tick(services=services)).planned
    world.at(d(11, 30), time(20, 0))
    assert await world.drain() == []
    # Tomorrow's reminder is a new one; yesterday's is never sent a day late.
    [row] = await world.rows("reminder")
    assert row.state == "cancelled"
    assert [s.chat_id for s in await world.day(d(12, 1), time(10, 0))] == [1001]


# ---- the ladder ------------------------------------------------------------------------------


async def test_at_the_deadline_the_lead_hears_too(services: Services) -> None:
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(12, 31))
    await set_deadline(services=services, due=d(12, 31))
    unit = await world.unit("市民政局")
    await world.person(unit, "liaison", "王伟", user_id=1001)
    await world.person(unit, "lead", "李强", user_id=2001)
    sent = await world.day(d(12, 31))
    assert sorted(s.chat_id for s in sent) == [1001, 2001]
    lead = next(s for s in sent if s.chat_id == 2001)
    assert mentions(lead.text, "reminders.owed_lead", name="李强", post="副局长")
    assert mentions(lead.text, "reminders.why_deadline")


async def test_unreachable_falls_to_the_lead_then_to_staff(services: Services) -> None:
    world = World(services)
    world.at(d(11, 30))
    a = await world.unit("市民政局")
    await world.person(a, "liaison", "王伟", user_id=1001)
    await world.person(a, "lead", "李强", user_id=2001)
    b = await world.unit("市卫健委")
    await world.person(b, "liaison", "张敏", user_id=1002)
    await world.person(b, "lead", "刘军", user_id=None)
    world.bot.blocked = {1001, 1002}
    sent = await world.day(d(11, 30))
    to_lead = [s for s in sent if s.chat_id == 2001]
    assert len(to_lead) == 1
    assert mentions(to_lead[0].text, "reminders.why_liaison_unreachable", name="王伟")
    [task] = [s for s in sent if s.chat_id == STAFF and mentions(s.text, "reminders.task.heading")]
    liaison, lead = label("common.role_liaison"), label("common.role_lead")
    assert mentions(
        task.text, "reminders.task.unreachable", unit="市卫健委", role=liaison, name="张敏"
    )
    assert mentions(
        task.text, "reminders.contact", role=lead, name="刘军", post="副局长", phone="13809540002"
    )
    # The next round skips the unreachable liaisons and goes to the next rung at once.
    sent = await world.day(d(12, 2))
    assert [s.chat_id for s in sent if s.chat_id != STAFF] == [2001]
    digest = next(s for s in sent if s.chat_id == STAFF)
    assert digest_sections(digest.text)["call"] == {"市卫健委"}
    report = {u.name: u for u in (await build_report(services=services)).units}
    assert report["市民政局"].unreachable
    assert report["市卫健委"].unreachable
    assert report["市民政局"].reminders_sent == 2  # the lead's two


async def test_staff_on_both_lists_get_one_task_and_one_digest_each(services: Services) -> None:
    """STAFF_IDS and the staff added on the command line are one list, in order of id."""
    services = await staff_on_both_lists(services)
    world = World(services)
    unit = await world.unit("市卫健委")
    await world.person(unit, "liaison", "张敏", user_id=1002)
    await world.person(unit, "lead", "刘军", user_id=None)
    world.bot.blocked = {1002}
    await world.day(d(11, 30))
    await world.day(d(12, 2))  # the unreachable liaison goes to the office's digest
    for purpose in ("reminder_task", "reminder_digest"):
        assert [r.chat_id for r in await world.rows(purpose)] == [STAFF, 901, 902], purpose


async def test_the_digest_brings_fresh_invite_links_and_old_ones_stay_valid(
    services: Services,
) -> None:
    world = World(services)
    world.at(d(11, 30), time(8, 0))
    registered = await world.unit("市民政局")
    await world.person(registered, "liaison", "王伟", user_id=1001)
    nobody = {name: await world.unit(name) for name in ("市税务局", "市气象局")}
    async with services.db.uow() as tx:
        tx.add(Setting(key="bot_username", value="liaison_test_bot"))
        unit = await tx.get(Unit, nobody["市税务局"])
        assert unit is not None
        earlier = await invites.issue(
            tx, services=services, unit=unit, role="liaison", actor_id=STAFF
        )
    await world.day(d(11, 30))  # Monday, a working day, at the reminder hour
    [row] = await world.rows("reminder_digest")
    digest = str(row.payload["text"])
    links = dict(re.findall(r"· (\S+)：https://t\.me/liaison_test_bot\?start=(\S+)", digest))
    assert set(links) == set(nobody)  # one link per unit with nobody registered, no other
    assert "市民政局" not in digest_sections(digest).get("unregistered", set())
    assert links["市税务局"] != earlier.token  # fresh, not the one sent before
    async with services.db.uow() as tx:
        now = services.now()
        old = await invites.find(tx, earlier.token)
        assert invites.problem_of(old, now=now) is None  # still usable
        for name, token in links.items():
            invite = await invites.find(tx, token)
            assert invite is not None
            assert invite.unit_id == nobody[name]
            assert invites.problem_of(invite, now=now) is None
        assert old is not None
        assert await invites.redeem(tx, old, user_id=5001, now=now)


async def test_a_unit_has_one_digest_link_per_validity_period(services: Services) -> None:
    """The digest shows the same link every day of a period (one invite row, not one a day),
    a new one in the next period, and the next one when staff revoked the current one."""
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30), time(8, 0))
    unit_id = await world.unit("市税务局")
    async with services.db.uow() as tx:
        tx.add(Setting(key="bot_username", value="liaison_test_bot"))
    link = re.compile(r"· 市税务局：https://t\.me/liaison_test_bot\?start=(\S+) （(.+)前有效）")

    async def shown(day: date) -> tuple[str, str]:
        sent = await world.day(day)
        [digest] = [s.text for s in sent if s.chat_id == STAFF]
        found = link.search(digest)
        assert found is not None, digest
        return found.group(1), found.group(2)

    async def rows() -> int:
        async with services.db.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(Invite).where(Invite.unit_id == unit_id)
                )
                or 0
            )

    # 23 November to 6 December 2026 is one period of 14 days (INVITE_TTL_DAYS).
    first, until = await shown(d(11, 30))
    assert until.startswith("12月6日")
    assert (await shown(d(12, 1)))[0] == first
    assert (await shown(d(12, 4)))[0] == first
    assert await rows() == 1
    second, until = await shown(d(12, 7))  # the next period
    assert second != first
    assert until.startswith("12月20日")
    assert await rows() == 2
    async with services.db.uow() as tx:
        now = services.now()
        assert invites.problem_of(await invites.find(tx, first), now=now) == "expired"
        assert invites.problem_of(await invites.find(tx, second), now=now) is None
    await invites.revoke_invites(services=services, units=["市税务局"], actor_id=STAFF)
    third = (await shown(d(12, 8)))[0]
    assert third not in (first, second)
    assert (await shown(d(12, 9)))[0] == third
    assert await rows() == 3
    async with services.db.uow() as tx:
        invite = await invites.find(tx, third)
        assert invite is not None
        assert invites.problem_of(invite, now=services.now()) is None


async def test_activity_resets_the_escalation(services: Services) -> None:
    services = with_settings(services, reminder_every_workdays=1, escalate_lead_after=2)
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    unit = await world.unit("市民政局")
    await world.person(unit, "liaison", "王伟", user_id=1001)
    await world.person(unit, "lead", "李强", user_id=2001)
    ids = [i for i, _ in await world.items()]
    assert [s.chat_id for s in await world.day(d(11, 30))] == [1001]
    assert [s.chat_id for s in await world.day(d(12, 1))] == [1001]
    assert sorted(s.chat_id for s in await world.day(d(12, 2))) == [1001, 2001]
    await world.submit(unit, [ids[0]], "pending")  # the unit moves
    assert [s.chat_id for s in await world.day(d(12, 3))] == [1001]


async def test_the_cap_hands_a_unit_to_the_office(services: Services) -> None:
    services = with_settings(
        services, reminder_every_workdays=1, reminder_cap=2, escalate_lead_after=5
    )
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    await _one_unit(world)
    got = [[s.chat_id for s in await world.day(day)] for day in (d(11, 30), d(12, 1), d(12, 2))]
    assert got == [[1001], [1001], [STAFF]]
    sections = digest_sections(world.bot.sent[-1].text)
    assert sections["call"] == {"市民政局"}
    assert mentions(world.bot.sent[-1].text, "reminders.digest.reason_capped", count=2)


@pytest.mark.parametrize("kind", [None, "member"])
async def test_a_new_deadline_starts_a_new_count(services: Services, kind: str | None) -> None:
    services = with_settings(
        services, reminder_every_workdays=1, reminder_cap=2, escalate_lead_after=5
    )
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30), time(8))
    await set_deadline(services=services, due=d(12, 1))
    await _one_unit(world)
    got = [sorted(s.chat_id for s in await world.day(day)) for day in (d(11, 30), d(12, 1))]
    assert got == [[1001], [STAFF, 1001]]  # on the deadline the office hears there is no lead
    assert [s.chat_id for s in await world.day(d(12, 2))] == [STAFF]
    world.at(d(12, 3), time(8))
    await set_deadline(services=services, due=d(12, 31), kind=kind)  # a new campaign
    got = [[s.chat_id for s in await world.day(day)] for day in (d(12, 3), d(12, 4), d(12, 7))]
    assert got == [[1001], [1001], [STAFF]]  # counted again from the new deadline, capped again
    assert mentions(world.bot.sent[-1].text, "reminders.digest.reason_capped", count=2)


async def test_the_same_deadline_set_again_does_not_start_a_new_count(services: Services) -> None:
    """Setting the date it already had (a command run twice) brought every capped unit's
    reminders back at once."""
    services = with_settings(services, reminder_every_workdays=1, reminder_cap=2)
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30), time(8))
    await set_deadline(services=services, due=d(12, 31))
    await _one_unit(world)
    got = [[s.chat_id for s in await world.day(day)] for day in (d(11, 30), d(12, 1), d(12, 2))]
    assert got == [[1001], [1001], [STAFF]]
    world.at(d(12, 3), time(8))
    await set_deadline(services=services, due=d(12, 31))
    assert [s.chat_id for s in await world.day(d(12, 3))] == [STAFF]  # still capped


async def test_pruning_the_outbox_keeps_the_reminders_and_their_cap(services: Services) -> None:
    services = with_settings(
        services, reminder_every_workdays=1, reminder_cap=2, outbox_retention_days=1
    )
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    await _one_unit(world)
    got = []
    for day in working_days(d(11, 30), d(12, 11)):
        got.append([s.chat_id for s in await world.day(day)])
        await retention.prune(services=services)
    assert got[:2] == [[1001], [1001]]
    assert all(chats == [STAFF] for chats in got[2:]), got  # the cap holds
    report = {u.name: u for u in (await build_report(services=services)).units}
    assert report["市民政局"].reminders_sent == 2
    assert len(await world.rows(REMINDER)) == 2


# ---- pause and resume ------------------------------------------------------------------------


async def test_pause_holds_and_resume_restores(services: Services) -> None:
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    await _one_unit(world)
    assert [s.chat_id for s in await world.day(d(11, 30))] == [1001]
    paused = await pause.pause_unit(
        services=services, unit_name="民政", until=d(12, 8), reason="联络员休假"
    )
    assert (paused.unit, paused.paused_until) == ("市民政局", d(12, 8))
    for day in (d(12, 2), d(12, 4), d(12, 7), d(12, 8)):
        assert await world.day(day) == [], day
    assert (await rounds.queue_round(services=services)).paused == ["市民政局"]
    resumed = await pause.resume_unit(services=services, unit_name="市民政局")
    assert resumed.changed
    # Due at once: its last reminder was long enough ago.
    world.at(d(12, 8), time(11))
    assert [s.chat_id for s in await world.day(d(12, 9))] == [1001]


async def test_a_pause_lapses_by_itself(services: Services) -> None:
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    await _one_unit(world)
    await pause.pause_unit(services=services, unit_name="市民政局", until=d(12, 1))
    assert await world.day(d(11, 30)) == []
    assert await world.day(d(12, 1)) == []
    assert [s.chat_id for s in await world.day(d(12, 2))] == [1001]


async def test_pause_cannot_end_in_the_past(services: Services) -> None:
    world = World(services)
    world.at(d(11, 30))
    await _one_unit(world)
    with pytest.raises(BadInput):
        await pause.pause_unit(services=services, unit_name="市民政局", until=d(11, 29))


# ---- rounds and roll calls ---------------------------------------------------------------------


async def test_a_round_asked_for_goes_out_at_once_even_on_a_holiday_night(
    services: Services,
) -> None:
    world = World(services)
    world.at(d(10, 3), time(23, 0))  # National Day, in the quiet hours
    await _one_unit(world)
    await world.unit("市税务局")
    preview = await rounds.preview_round(services=services, actor_id=STAFF)
    assert [(r.unit, r.role, r.chat_id) for r in preview.reminders] == [
        ("市民政局", "liaison", 1001)
    ]
    assert preview.no_chat == ["市税务局"]
    assert preview.round_id is not None
    done = await rounds.confirm_round(
        services=services, actor_id=STAFF, preview_id=preview.round_id
    )
    assert done.queued == 1
    [sent] = await world.drain()
    assert sent.chat_id == 1001
    again = await rounds.confirm_round(
        services=services, actor_id=STAFF, preview_id=preview.round_id
    )
    assert again.queued == 0
    assert again.already
    assert await world.drain() == []
    with pytest.raises(NotStaff):
        await rounds.preview_round(services=services, actor_id=1001)


async def test_group_roll_call_on_the_reminder_schedule(services: Services) -> None:
    world = World(services)
    world.at(d(11, 30))
    await set_deadline(services=services, due=d(12, 31))
    unit = await _one_unit(world)
    await world.unit("市税务局")
    assert await rollcall.set_rollcall(
        services=services, actor_id=STAFF, chat_id=-100, title="联络员群", enabled=True
    )
    posts = []
    for day in (d(11, 30), d(12, 1), d(12, 2)):
        posts += [s for s in await world.day(day) if s.chat_id == -100]
    assert [p.day for p in posts] == [d(11, 30), d(12, 2)]
    text = posts[0].text
    assert mentions(text, "reminders.rollcall.contacts", count=1, units="市税务局")
    owing = join(
        "zh",
        [
            label("reminders.rollcall.item_unit", unit=u, count=item_count("member"))
            for u in ("市民政局", "市税务局")
        ],
    )
    assert mentions(text, "reminders.rollcall.items", count=2, units=owing)
    closing = format_short_date(d(12, 31), d(11, 30), "zh")
    assert mentions(text, "reminders.rollcall.closing", date=closing)
    # Asked for in the group: posted now, with the units outstanding at posting time.
    world.at(d(12, 2), time(15))
    ids = [i for i, _ in await world.items()]
    await world.submit(unit, ids, "accepted")
    await rollcall.rollcall_now(
        services=services, actor_id=STAFF, chat_id=-100, title="联络员群", request_id=7
    )
    [now] = await world.drain()
    assert "市民政局" not in now.text
    assert "市税务局" in now.text
    await rollcall.set_rollcall(
        services=services, actor_id=STAFF, chat_id=-100, title="联络员群", enabled=False
    )
    async with services.db.uow() as tx:
        group = await tx.get(GroupChat, -100)
        assert group is not None
        assert not group.rollcall_enabled


async def test_pruning_the_outbox_keeps_the_roll_call_cadence(services: Services) -> None:
    services = with_settings(services, reminder_every_workdays=3, outbox_retention_days=1)
    world = World(services)
    world.at(d(11, 30))
    await set_deadline(services=services, due=d(12, 31))
    await _one_unit(world)
    await rollcall.set_rollcall(
        services=services, actor_id=STAFF, chat_id=-100, title="联络员群", enabled=True
    )
    posts = []
    for day in (d(11, 30), d(12, 1), d(12, 2), d(12, 3)):
        posts += [s.day for s in await world.day(day) if s.chat_id == -100]
        world.at(day, time(23))
        await retention.prune(services=services)
    assert posts == [d(11, 30), d(12, 3)]


async def test_a_roll_call_states_each_kinds_deadline_where_they_differ(
    services: Services,
) -> None:
    """Counties due on 12月20日, member units on 12月31日: the roll call says both, and only
    the counties' date once only counties are named."""
    world = World(services)
    world.at(d(11, 30))
    await set_deadline(services=services, due=d(12, 31))
    await set_deadline(services=services, due=d(12, 20), kind="county")
    member = await _one_unit(world)
    await world.unit("西吉县", kind="county")

    async def roll_call(request_id: int) -> str:
        await rollcall.rollcall_now(
            services=services,
            actor_id=STAFF,
            chat_id=-100,
            title="联络员群",
            request_id=request_id,
        )
        [posted] = await world.drain()
        return posted.text

    dates = join_clauses(
        "zh",
        [
            label("formats.kind_date", kind=kind_name("zh", kind, plural=True), date=day)
            for kind, day in (("county", "12月20日"), ("member", "12月31日"))
        ],
    )
    assert mentions(await roll_call(1), "reminders.rollcall.closing_kinds", dates=dates)

    await world.submit(member, [i for i, _ in await world.items()], "accepted")
    text = await roll_call(2)
    assert "市民政局" not in text
    assert mentions(text, "reminders.rollcall.closing", date="12月20日")


# ---- several planners --------------------------------------------------------------------------


async def test_two_planners_at_once_plan_each_message_once(
    services: Services, migrated_url: str
) -> None:
    world = World(services)
    world.at(d(11, 30))
    for n in range(20):
        unit = await world.unit(f"单位{n:02d}")
        await world.person(unit, "liaison", f"联络员{n}", user_id=3000 + n)
    await world.unit("市税务局")
    other = Services(settings=services.settings, db=Database(migrated_url), clock=services.clock)
    try:
        results = await asyncio.gather(
            *(planner.plan_tick(services=s) for s in (services, other, services, other))
        )
    finally:
        await other.close()
    assert sum(r.planned for r in results) == 1
    rows = await world.rows()
    assert sorted(r.chat_id for r in rows if r.purpose == "reminder") == list(range(3000, 3020))
    assert len([r for r in rows if r.purpose == "reminder_digest"]) == 1
    async with services.db.uow() as tx:
        marks = await tx.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.chat_id == STAFF)
        )
    assert marks == 1


def test_a_reminder_of_a_missing_lead_says_to_send_contacts() -> None:
    liaison = Holder(1, Role.LIAISON, "王伟", "办公室主任", "13912345678", 1001, None)

    def dues(state: ItemState) -> UnitObligations:
        return UnitObligations(
            unit_id=1,
            name="市民政局",
            kind="member",
            created_at=START,
            liaison=liaison,
            lead=None,
            every_item=[ItemStatus(1, "年度工作计划", "", state)],
            deadline=None,
            paused_until=None,
            pause_reason=None,
        )

    owing, _ = rendering.render_reminder(
        dues(ItemState.MISSING), role="liaison", lang="zh", today=d(11, 30)
    )
    assert mentions(owing, "reminders.lead_missing")
    assert mentions(owing, "reminders.how_submit_contacts")
    assert not mentions(owing, "reminders.how_submit")
    done, markup = rendering.render_reminder(
        dues(ItemState.ACCEPTED), role="liaison", lang="zh", today=d(11, 30)
    )
    assert mentions(done, "reminders.how_contacts")
    assert markup is None
    # Only the liaison missing: the lead is not told to report the lead's details.
    lead = Holder(2, Role.LEAD, "唐强", "副局长", "13912345679", 1002, None)
    no_liaison = dataclasses.replace(dues(ItemState.ACCEPTED), liaison=None, lead=lead)
    text, _ = rendering.render_reminder(no_liaison, role="lead", lang="zh", today=d(11, 30))
    assert mentions(text, "reminders.liaison_missing")
    assert mentions(text, "reminders.how_liaison")
    assert not mentions(text, "reminders.how_contacts")


def test_long_digests_and_roll_calls_fit_in_telegram_messages() -> None:
    dues = [
        UnitObligations(
            unit_id=n,
            name=f"测试单位{n:04d}",
            kind="member",
            created_at=START,
            liaison=None,
            lead=None,
            every_item=[ItemStatus(1, "年度工作计划", "", ItemState.MISSING)],
            deadline=None,
            paused_until=None,
            pause_reason=None,
        )
        for n in range(2000)
    ]
    decisions = [ladder.Decision(dues=unit, unregistered=True) for unit in dues]
    [digest] = rendering.render_digest(today=d(11, 30), decisions=decisions, links={}, lang="zh")
    assert mentions(digest, "reminders.digest.unregistered", count=2000)
    assert "测试单位0049" in digest
    assert "测试单位0050" not in digest
    assert mentions(digest, "reminders.digest.more", count=1950)
    parts = rendering.render_rollcall(dues, today=d(11, 30), lang="zh")
    assert len(parts) > 2
    assert all(len(part) <= 4096 for part in parts)
    # The first 500 units named in each list (contacts, items), none cut in half between two
    # messages, then how many more: a country's roll call does not name every unit.
    named = re.findall(r"测试单位\d{4}(?=[、。（…])", "\n".join(parts))
    assert len(named) == 1000
    assert len(set(named)) == 500
    assert "\n".join(parts).count("……另有1500家") == 2


# ---- the command line ------------------------------------------------------------------------


async def test_remind_pause_and_resume_on_the_command_line(
    services: Services, migrated_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    world = World(services)
    await _one_unit(world)
    await world.unit("市税务局")

    dry = await run_cli("remind", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    listed = json.loads(dry.out)
    assert (listed["round_id"], listed["dry_run"], listed["queued"]) == (None, True, 0)
    [line] = listed["reminders"]
    assert (line["unit"], line["role"], line["chat_id"]) == ("市民政局", "liaison", 1001)
    assert len(line["items"]) == item_count("member")
    assert listed["no_chat"] == ["市税务局"]
    text = await run_cli("remind", "--dry-run")
    assert mentions(text.out, "reminders.round.summary", count=1, units=1)
    assert mentions(text.out, "reminders.cli.dry_run")
    assert "<b>" not in text.out
    assert await world.rows() == []

    until = (datetime.now(SHANGHAI).date() + timedelta(days=30)).isoformat()
    paused = await run_cli("pause", "民政", "--until", until, "--reason", "联络员休假")
    assert paused.code == 0, paused.err
    reason = label("reminders.cli.pause_reason", reason="联络员休假")
    assert says(paused.out, "reminders.cli.paused", unit="市民政局", reason=reason)
    past = await run_cli("pause", "市民政局", "--until", "2020-01-01")
    assert past.code == 2
    assert says(past.err, "reminders.cli.pause_past")
    garbled = await run_cli("pause", "市民政局", "--until", "下周一")
    assert garbled.code == 2
    assert says(garbled.err, "cli.bad_date")
    nowhere = await run_cli("pause", "市不存在局", "--until", until)
    assert nowhere.code == 2
    assert says(nowhere.err, "cli.unit_not_found", name="市不存在局")
    assert json.loads((await run_cli("remind", "--dry-run", "--json")).out)["paused"] == [
        "市民政局"
    ]

    assert says(
        (await run_cli("resume", "市民政局")).out, "reminders.cli.resumed", unit="市民政局"
    )
    again = (await run_cli("resume", "市民政局")).out
    assert says(again, "reminders.cli.not_paused", unit="市民政局")
    sent = await run_cli("remind")
    assert sent.code == 0, sent.err
    assert mentions(sent.out, "reminders.cli.queued", count=1, units=1)
    [row] = await world.rows("reminder")
    assert row.dedupe_key.startswith("round:")
    assert row.dedupe_key.endswith(":1001:1")


async def test_roll_call_counts_as_the_report(services: Services) -> None:
    """A paused unit, and a unit whose remaining items all await review, still count as
    未报齐 in the report: the roll call quotes the same numbers."""
    from bot.demo.sample import seed_notice_situation

    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    report = await build_report(services=services)
    owing = [s for s in report.units if s.missing_items and not s.missing_contacts]
    paused, waiting = owing[0].name, owing[1].name
    async with services.db.uow() as tx:
        await tx.execute(update(Unit).where(Unit.name == paused).values(paused_until=d(12, 31)))
        unit = await repo.unit_by_name(tx, waiting)
        assert unit is not None
        titles = set(owing[1].missing_items)
        for item in await repo.checklist(tx):
            if item.title in titles and (item.kind == unit.kind or item.unit_id == unit.id):
                tx.add(
                    Submission(
                        unit_id=unit.id,
                        item_id=item.id,
                        state="pending",
                        answer_kind="files",
                        submitted_by=1,
                        created_at=services.now(),
                        submitted_at=services.now(),
                    )
                )
    report = await build_report(services=services)
    async with services.db.sessions() as session:
        dues = await load_obligations(session)
    text = "\n".join(rendering.render_rollcall(dues, today=d(11, 30), lang="zh"))
    totals = report.totals
    assert mentions(text, "reminders.rollcall.contacts", count=totals.missing_contacts)
    assert mentions(text, "reminders.rollcall.items", count=totals.missing_items)
    count = len(owing[1].missing_items)
    line = {"unit": waiting, "count": count, "pending": count}
    assert mentions(text, "reminders.rollcall.item_unit_pending", **line)
    assert paused in text
    assert mentions(text, "reminders.rollcall.items_pending", count=1)


async def test_a_lead_escalated_to_gets_one_reminder_a_day(services: Services) -> None:
    """Escalation has started and the liaison blocks the bot: the lead's own reminder of the
    day is enough, no second message "on behalf of" the unreachable liaison."""
    services = with_settings(services, reminder_every_workdays=1, escalate_lead_after=2)
    world = World(services)
    await world.load_year(2027)  # (else staff are asked for it each day of December)
    world.at(d(11, 30))
    unit = await world.unit("市民政局")
    await world.person(unit, "liaison", "王伟", user_id=1001)
    await world.person(unit, "lead", "李强", user_id=2001)
    assert [s.chat_id for s in await world.day(d(11, 30))] == [1001]
    assert [s.chat_id for s in await world.day(d(12, 1))] == [1001]
    world.bot.blocked.add(1001)
    sent = await world.day(d(12, 2))
    assert [s.chat_id for s in sent] == [2001]
    fallbacks = [r for r in await world.rows() if r.dedupe_key.startswith("fallback:")]
    assert fallbacks == []
