"""Several dispatchers on one database: fair claims, one writer per chat, shared limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_application
from bot.clock import FrozenClock
from bot.ledger.checklist import prepare_database
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.transport.outbox import Dispatcher, enqueue, text_payload
from bot.transport.pacing import Intervals, SharedPacer
from storage.db import Database
from storage.models import OutboxMessage
from tests.support.settings import emulated_settings


class SharedTime:
    """Wall-clock time that moves only when a dispatcher sleeps (the same for all)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def processes_on(
    url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[tuple[App, list[Services]]]:
    """Two sets of services on one database (as two processes have), and a bot."""
    made = []
    for _ in range(2):
        settings = emulated_settings(
            url,
            emulator.base_url,
            tmp_path,
            send_rate_global=10,
            send_rate_private=1,
            send_rate_group_per_minute=20,
        )
        made.append(Services(settings=settings, db=Database(url), clock=clock))
    await prepare_database(made[0])
    app = build_application(made[0])
    await app.initialize()
    try:
        yield app, made
    finally:
        await app.shutdown()
        for services in made:
            await services.close()


@pytest.fixture
async def two_processes(
    db_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[tuple[App, list[Services]]]:
    async with processes_on(db_url, emulator, clock, tmp_path) as made:
        yield made


@pytest.fixture
async def two_on_postgresql(
    pg_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[tuple[App, list[Services]]]:
    """Two processes on PostgreSQL, where several dispatchers may run (SQLite has one)."""
    async with processes_on(pg_url, emulator, clock, tmp_path) as made:
        yield made


async def put(services: Services, key: str, chat_id: int, **extra: Any) -> None:
    async with services.db.uow() as tx:
        await enqueue(
            tx, key=key, chat_id=chat_id, purpose="notice", payload=text_payload(key),
            now=services.now(), **extra,
        )  # fmt: skip


async def test_a_backlog_to_a_few_chats_does_not_starve_the_others(
    two_processes: tuple[App, list[Services]], clock: FrozenClock
) -> None:
    app, (services, _) = two_processes
    staff = [900, 901, 902]
    for n in range(300):  # 300 staff notices, queued first
        await put(services, f"staff:{n}", staff[n % 3])
    clock.advance(timedelta(seconds=1))
    for user in range(2001, 2021):  # then one message each to 20 other people
        await put(services, f"notice:{user}", user)

    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="a")
    claimed = await dispatcher.claim()

    assert sorted(r.chat_id for r in claimed) == [*staff, *range(2001, 2021)]
    assert [r.dedupe_key for r in claimed[:3]] == ["staff:0", "staff:1", "staff:2"]


async def test_two_dispatchers_never_write_to_one_chat_at_once(
    two_processes: tuple[App, list[Services]],
) -> None:
    app, (one, two) = two_processes
    for user in range(3001, 3006):
        await put(one, f"first:{user}", user)
        await put(one, f"second:{user}", user)
    a = Dispatcher(services=one, bot=app.bot, worker_id="a")
    b = Dispatcher(services=two, bot=app.bot, worker_id="b")

    claimed_a, claimed_b = await asyncio.gather(a.claim(), b.claim())

    chats_a = {r.chat_id for r in claimed_a}
    chats_b = {r.chat_id for r in claimed_b}
    assert not chats_a & chats_b
    assert chats_a | chats_b == set(range(3001, 3006))
    assert {r.dedupe_key.split(":")[0] for r in claimed_a + claimed_b} == {"first"}
    # While those are in hand, neither takes a chat's second message.
    assert await a.claim() == []
    assert await b.claim() == []


async def test_concurrent_reservations_of_two_pacers_never_share_a_slot(db_url: str) -> None:
    """The slot rows are taken atomically: 40 sends from two processes at once."""
    frozen = 1_800_000_000.0
    moments: list[float] = []

    async def record(seconds: float) -> None:
        moments.append(frozen + seconds)

    dbs = [Database(db_url), Database(db_url)]
    await dbs[0].upgrade()
    pacers = [
        SharedPacer(
            db,
            Intervals.of(per_second=20, private_per_second=1, group_per_minute=20),
            clock=lambda: frozen,
            sleep=record,
        )
        for db in dbs
    ]

    async def sends(pacer: SharedPacer, chats: list[int]) -> None:
        for chat_id in chats:
            await pacer.wait(chat_id)

    try:
        await asyncio.gather(
            sends(pacers[0], [4001, 4002] * 10), sends(pacers[1], [4002, 4003] * 10)
        )
    finally:
        for db in dbs:
            await db.dispose()
    # Every send but the very first had to wait for its own slot, 50 ms after the last.
    moments.sort()
    assert len(moments) == 39
    assert all(b - a >= 0.05 - 1e-6 for a, b in itertools.pairwise(moments))


@pytest.mark.postgres
async def test_two_dispatchers_on_postgresql_share_the_overall_and_per_chat_rates(
    two_on_postgresql: tuple[App, list[Services]], sandbox: SandboxClient, clock: FrozenClock
) -> None:
    app, (one, two) = two_on_postgresql
    people = list(range(5001, 5006))
    for user in people:
        await sandbox.add_user(user_id=user, first_name="u", started=True)
        for n in range(3):
            await put(one, f"notice:{user}:{n}", user)
    time = SharedTime()
    sent: list[tuple[float, int]] = []
    dispatchers = []
    for services, name in ((one, "a"), (two, "b")):
        dispatcher = Dispatcher(
            services=services,
            bot=app.bot,
            worker_id=name,
            clock=time.clock,
            sleep=time.sleep,
        )
        send = dispatcher._send

        async def recording(row: OutboxMessage, send: Any = send) -> int:
            sent.append((time.now, row.chat_id))
            return int(await send(row))

        dispatcher._send = recording  # type: ignore[method-assign]
        dispatchers.append(dispatcher)

    for _ in range(10):  # the two take turns, as two processes would
        for dispatcher in dispatchers:
            await dispatcher.run_once()
            clock.advance(timedelta(seconds=1))

    assert len(sent) == 15
    moments = sorted(at for at, _ in sent)
    assert all(b - a >= 0.1 - 1e-6 for a, b in itertools.pairwise(moments))
    by_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat in sent:
        by_chat[chat].append(at)
    for chat, times in by_chat.items():
        assert all(b - a >= 1.0 - 1e-6 for a, b in itertools.pairwise(times)), chat
    for user in people:
        assert len(await sandbox.messages(user)) == 3
