"""Reminders end to end: the bot as real processes against the emulator.

A round asked for (`/remind`, `liaison-bot remind`) goes out at once, so these tests drive
rounds; the scheduled planner is switched off (SCHEDULED_REMINDERS=false) because these
processes run on the real clock. The policy itself is tested in tests/test_reminders_policy.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.demo.simulation import Person as SimPerson
from bot.ledger.checklist import prepare_database
from bot.ledger.report import build_report
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from storage.db import Database
from storage.models import OutboxMessage, Person, Unit
from tests.support.checklist import item_count
from tests.support.cli import run_cli
from tests.support.messages import label, mentions, says
from tests.support.process import STAFF_ID, BotProcess
from tests.support.settings import make_settings
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

FAST = {
    "SCHEDULED_REMINDERS": "false",
    "SEND_RATE_GLOBAL": "200",
    "SEND_RATE_PRIVATE": "50",
    "OUTBOX_LEASE_SECONDS": "5",
}
OPEN = ("pending", "claimed", "sending")


async def seeded(url: str, units: list[tuple[str, int | None, int | None]]) -> Services:
    """A database with units, each with a liaison (and a lead, linked or not) on record."""
    services = Services(settings=make_settings(url), db=Database(url))
    await prepare_database(services)
    since = datetime(2026, 9, 1, tzinfo=UTC)
    async with services.db.uow() as tx:
        for index, (name, liaison, lead) in enumerate(units):
            unit = Unit(name=name, kind="member", created_at=since)
            tx.add(unit)
            await tx.flush()
            if liaison is None:
                continue
            for role, user_id, surname in (("liaison", liaison, "李"), ("lead", lead, "王")):
                tx.add(
                    Person(
                        unit_id=unit.id,
                        role=role,
                        name=f"{surname}{index}",
                        post="科员" if role == "liaison" else "副局长",
                        phone=f"1390954{index:04d}"
                        if role == "liaison"
                        else f"1380954{index:04d}",
                        telegram_user_id=user_id,
                        since=since,
                        until=None,
                        entered_by=None,
                    )
                )
    return services


async def outbox_states(services: Services, purpose: str = "reminder") -> Counter[str]:
    async with services.db.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.purpose == purpose)
            .group_by(OutboxMessage.state)
        )
        return Counter(dict(rows.all()))


async def settled(services: Services, *, total: int) -> Counter[str]:
    """Wait until every reminder row has its outcome (none pending, claimed or sending)."""

    async def all_done() -> Counter[str] | None:
        states = await outbox_states(services)
        if sum(states.values()) >= total and not any(states[s] for s in OPEN):
            return states
        return None

    return await eventually(all_done, seconds=120, every=0.2)


async def delivered(sandbox: SandboxClient) -> Counter[int]:
    """Messages Telegram accepted, per chat."""
    calls = await sandbox.calls("sendMessage")
    return Counter(int(c.params["chat_id"]) for c in calls if c.ok)


@pytest.fixture
def cli_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], None]:
    """Point the in-process command line at a database."""

    def point(url: str) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("LANGUAGE", "zh")
        monkeypatch.setenv("STAFF_IDS", str(STAFF_ID))

    return point


async def test_remind_preview_confirm_and_unreachable_falls_back(
    make_bot: Callable[..., BotProcess],
    sandbox: SandboxClient,
    tmp_path: Path,
    cli_on: Callable[[str], None],
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = await seeded(
        url,
        [
            ("市民政局", 5001, None),  # a liaison who reads the bot
            ("市卫健委", 5002, 6002),  # a liaison who never started it; the lead linked
            ("市税务局", 5003, None),  # nobody reachable by chat: a task for staff
        ],
    )
    for user_id in (5001, 6002):
        await sandbox.add_user(user_id=user_id, first_name=str(user_id), started=True)
    await sandbox.add_user(user_id=5002, first_name="5002")  # never pressed Start: 403
    await sandbox.add_user(user_id=5003, first_name="5003")
    await sandbox.add_user(user_id=STAFF_ID, first_name="办公室", language_code="zh-hans")
    bot = make_bot(**FAST)
    await bot.start()
    staff = SimPerson(sandbox, STAFF_ID, "办公室")
    await staff.start()

    [preview] = await staff.say("/remind")
    text = preview.text or ""
    liaison, lead = label("common.role_liaison"), label("common.role_lead")
    assert mentions(text, "reminders.round.summary", count=3, units=3)
    owed = label("reminders.summary_items", count=item_count("member"))
    assert mentions(
        text, "reminders.round.line", unit="市民政局", role=liaison, name="李0", owed=owed
    )
    confirm = label("reminders.round.button_confirm")
    assert preview.button_texts() == [confirm, label("reminders.round.button_cancel")]
    await sandbox.press(STAFF_ID, button_text=confirm)
    done = await staff.edited(preview.message_id)
    assert says(done.text, "reminders.round.queued", count=3)

    [reminder] = await sandbox.wait_messages(5001, 1)
    assert mentions(reminder.text, "reminders.owed_liaison", unit="市民政局")
    assert reminder.button_texts() == [label("reminders.button_submit")]
    [to_lead] = await sandbox.wait_messages(6002, 1)
    assert mentions(to_lead.text, "reminders.why_liaison_unreachable", name="李1")
    tasks = await sandbox.wait_messages(STAFF_ID, 3)  # welcome, preview, and the task
    task = next(m.text or "" for m in tasks if mentions(m.text, "reminders.task.heading"))
    assert mentions(task, "reminders.task.unreachable", unit="市税务局", role=liaison, name="李2")
    numbers = label("reminders.and").join(
        (
            label("reminders.contact", role=lead, name="王2", post="副局长", phone="13809540002"),
            label("reminders.contact", role=liaison, name="李2", post="科员", phone="13909540002"),
        )
    )
    assert mentions(task, "reminders.task.call", numbers=numbers)
    assert await sandbox.messages(5002) == []

    report = {u.name: u for u in (await build_report(services=services)).units}
    assert report["市卫健委"].unreachable
    assert report["市卫健委"].reminders_sent == 1  # the lead's
    assert not report["市民政局"].unreachable

    # The next round (from the command line) goes to the lead at once, not to the liaison.
    cli_on(url)
    done_cli = await run_cli("remind")
    assert done_cli.code == 0, done_cli.err
    assert mentions(done_cli.out, "reminders.cli.queued", count=2, units=2)
    assert len(await sandbox.wait_messages(6002, 2)) == 2
    assert len(await sandbox.wait_messages(5001, 2)) == 2
    await settled(services, total=6)
    assert await sandbox.messages(5002) == []
    calls_to_5002 = [
        c for c in await sandbox.calls("sendMessage") if int(c.params["chat_id"]) == 5002
    ]
    assert len(calls_to_5002) == 1  # found unreachable once, skipped afterwards
    assert await sandbox.warnings() == []
    await services.close()


async def test_a_liaison_who_blocks_the_bot_is_passed_over_before_any_send(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> None:
    """The emulator's block sends my_chat_member: the unit is unreachable at once and /remind
    plans the lead's reminder; unblocked, the liaison's again."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = await seeded(url, [("市民政局", 5001, 6001)])
    for user_id in (5001, 6001):
        await sandbox.add_user(user_id=user_id, first_name=str(user_id), started=True)
    await sandbox.add_user(user_id=STAFF_ID, first_name="办公室", language_code="zh-hans")
    bot = make_bot(**FAST)
    await bot.start()
    staff = SimPerson(sandbox, STAFF_ID, "办公室")
    await staff.start()

    async def unreachable() -> bool:
        [unit] = (await build_report(services=services)).units
        return unit.unreachable

    async def reachable() -> bool:
        return not await unreachable()

    async def planned_role() -> str:
        [preview] = await staff.say("/remind")
        for role in ("liaison", "lead"):
            name = label(f"common.role_{role}")
            if mentions(preview.text, "reminders.round.line", unit="市民政局", role=name):
                return role
        raise AssertionError(preview.text)

    assert await planned_role() == "liaison"
    await sandbox.block(5001)
    await eventually(unreachable, seconds=30, every=0.1)
    assert await planned_role() == "lead"
    await sandbox.unblock(5001)
    await eventually(reachable, seconds=30, every=0.1)
    assert await planned_role() == "liaison"
    sent = await sandbox.calls("sendMessage")
    assert [c for c in sent if int(c.params["chat_id"]) == 5001] == []  # no send found it out
    assert await sandbox.warnings() == []
    await services.close()


async def test_kill_9_in_the_middle_of_a_round_of_500(
    make_bot: Callable[..., BotProcess],
    sandbox: SandboxClient,
    tmp_path: Path,
    cli_on: Callable[[str], None],
) -> None:
    total = 500
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    liaisons = list(range(800_000, 800_000 + total))
    services = await seeded(url, [(f"单位{n:03d}", uid, None) for n, uid in enumerate(liaisons)])
    for uid in liaisons:
        await sandbox.add_user(user_id=uid, first_name=str(uid), started=True)
    await sandbox.set_limits(global_per_second=200, private_limit=50, private_window=1.0)
    # The 171st message reaches its chat, but Telegram's answer is held back for 8 s: the
    # kill lands while the bot waits for it, in the middle of a batch of 25.
    in_flight = liaisons[170]
    await sandbox.inject_fault("sendMessage", "timeout", chat_id=in_flight, delay=8, deliver=True)
    bot = make_bot(**FAST)
    await bot.start()

    cli_on(url)
    queued = await run_cli("remind")
    assert queued.code == 0, queued.err
    assert mentions(queued.out, "reminders.cli.queued", count=total)
    await sandbox.wait_messages(in_flight, 1, timeout=60)
    await bot.kill()
    at_kill = sum((await delivered(sandbox)).values())
    states_at_kill = await outbox_states(services)
    await bot.start()
    states = await settled(services, total=total)
    got = Counter({chat: len(await sandbox.messages(chat)) for chat in liaisons})

    async with services.db.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.state).where(
                    OutboxMessage.purpose == "reminder"
                )
            )
        ).all()
    unknown = {chat for chat, state in rows if state == "unknown"}
    sent = {chat for chat, state in rows if state == "sent"}
    doubled = sorted(chat for chat, n in got.items() if n > 1)
    lost = sorted(chat for chat in liaisons if got[chat] == 0)
    print(
        f"\ncrash test: {total} reminders; kill -9 with {at_kill} answered and 1 in flight "
        f"(outbox at the kill: {dict(states_at_kill)}); after restart: outbox {dict(states)}; "
        f"chats with one message: {sum(1 for n in got.values() if n == 1)}, "
        f"doubled: {len(doubled)}, lost: {len(lost)}, outcome unknown: {len(unknown)} "
        f"(of which in fact delivered: {sum(1 for c in unknown if got[c])})"
    )
    assert len(rows) == total
    assert states_at_kill["sending"] == 1  # the kill landed in the middle of a send
    assert 0 < states_at_kill["sent"] < total
    assert states == Counter({"sent": total - 1, "unknown": 1})
    assert unknown == {in_flight}  # counted as outcome unknown, never sent again by itself
    assert doubled == []  # nothing sent twice
    assert set(lost) <= unknown  # nothing lost but what is counted as outcome unknown
    assert all(got[chat] == 1 for chat in sent)
    assert got[in_flight] == 1
    await services.close()


@pytest.mark.postgres
async def test_one_run_and_one_run_no_updates_on_postgresql_send_each_once(
    emulator: Emulator,
    sandbox: SandboxClient,
    pg_url: str,
    tmp_path: Path,
    cli_on: Callable[[str], None],
) -> None:
    total = 300
    liaisons = list(range(810_000, 810_000 + total))
    services = await seeded(
        pg_url, [(f"单位{n:03d}", uid, None) for n, uid in enumerate(liaisons)]
    )
    for uid in liaisons:
        await sandbox.add_user(user_id=uid, first_name=str(uid), started=True)
    await sandbox.set_limits(global_per_second=200, private_limit=50, private_window=1.0)
    env = {**FAST, "SEND_RATE_GLOBAL": "50"}  # each process alone would take 6 s
    processes = []
    for name, args in (("updates", ()), ("no-updates", ("--no-updates",))):
        workdir = tmp_path / name
        workdir.mkdir()
        process = BotProcess(
            api_url=emulator.base_url,
            database_url=pg_url,
            workdir=workdir,
            sandbox=sandbox,
            staff_ids=str(STAFF_ID),
            extra_env=env,
        )
        await process.start(*args)
        processes.append(process)
    try:
        cli_on(pg_url)
        queued = await run_cli("remind")
        assert queued.code == 0, queued.err
        states = await settled(services, total=total)
        got = await delivered(sandbox)
        async with services.db.sessions() as session:
            workers = Counter(
                (
                    await session.scalars(
                        select(OutboxMessage.claimed_by).where(OutboxMessage.state == "sent")
                    )
                ).all()
            )
    finally:
        for process in processes:
            await process.stop()
    print(f"\ntwo processes on PostgreSQL: {dict(states)}; sent by worker: {dict(workers)}")
    assert states == Counter({"sent": total})
    assert sorted(got) == liaisons
    assert set(got.values()) == {1}
    assert len(workers) == 2  # both processes delivered part of the round
    await services.close()


async def test_rollcall_in_the_group(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = await seeded(url, [("市民政局", 5001, None), ("市税务局", None, None)])
    await sandbox.add_user(user_id=STAFF_ID, first_name="办公室", started=True)
    await sandbox.add_user(user_id=5001, first_name="联络员", started=True)
    group = await sandbox.add_group("联络员工作群", [STAFF_ID, 5001])
    bot = make_bot(**FAST)
    await bot.start()

    await sandbox.send_text(5001, "/rollcall", chat_id=group.id)
    [refused] = await sandbox.wait_messages(group.id, 1)
    assert says(refused.text, "common.staff_only")
    await sandbox.send_text(STAFF_ID, "/rollcall on", chat_id=group.id)
    [_, on] = await sandbox.wait_messages(group.id, 2)
    assert says(on.text, "reminders.rollcall.on")
    await sandbox.send_text(STAFF_ID, "/rollcall", chat_id=group.id)
    posts = await sandbox.wait_messages(group.id, 3)
    text = posts[-1].text or ""
    assert mentions(text, "reminders.rollcall.heading")
    # Golden text: the roll call names the units in the office's own words.
    assert "以下1家单位尚未报送分管领导和联络员：市税务局。" in text
    owed = item_count("member")  # neither unit has sent anything
    assert f"以下2家单位资料台账未报齐：市民政局（缺{owed}项）、市税务局（缺{owed}项）。" in text
    assert text.endswith("请上述单位尽快报送。特此通报。")
    await sandbox.send_text(STAFF_ID, "/rollcall off", chat_id=group.id)
    posts = await sandbox.wait_messages(group.id, 4)
    assert says(posts[-1].text, "reminders.rollcall.off")
    await services.close()
