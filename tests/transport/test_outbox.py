"""The outbox dispatcher against the emulator: 429, 403, 400 and timeouts injected.

Nothing is lost, nothing is sent twice, and each outcome is recorded.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.app import App, build_application
from bot.clock import FrozenClock
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.transport.outbox import Dispatcher, enqueue, text_payload
from bot.transport.request import AiohttpRequest, NotSent, PatientRateLimiter
from storage.db import Database
from storage.models import Account, GroupChat, OutboxMessage
from tests.support.clock import FakeTime, pacer_on
from tests.support.process import TOKEN
from tests.support.settings import emulated_settings


@pytest.fixture
async def app_services(
    db_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[tuple[App, Services]]:
    settings = emulated_settings(
        db_url,
        emulator.base_url,
        tmp_path,
        request_timeout=1.0,
        send_rate_global=500,
        send_rate_private=100,
    )
    services = Services(settings=settings, db=Database(db_url), clock=clock)
    from bot.ledger.checklist import prepare_database

    await prepare_database(services)
    app = build_application(services)
    await app.initialize()
    yield app, services
    await app.shutdown()
    await services.close()


async def put(services: Services, key: str, chat_id: int, text: str = "通知") -> bool:
    async with services.db.uow() as tx:
        return await enqueue(
            tx, key=key, chat_id=chat_id, purpose="notice", payload=text_payload(text),
            now=services.now(),
        )  # fmt: skip


async def rows(services: Services) -> dict[str, OutboxMessage]:
    async with services.db.sessions() as session:
        found = (await session.scalars(select(OutboxMessage))).all()
    return {r.dedupe_key: r for r in found}


async def drain(dispatcher: Dispatcher, clock: FrozenClock, rounds: int = 20) -> None:
    """Run rounds until nothing is due, moving the clock past any retry_after."""
    for _ in range(rounds):
        handled = await dispatcher.run_once()
        if handled == 0:
            clock.advance(timedelta(seconds=5))
            if await dispatcher.run_once() == 0:
                return


async def test_each_outcome_is_recorded_and_nothing_is_doubled(
    app_services: tuple[App, Services], sandbox: SandboxClient, clock: FrozenClock
) -> None:
    app, services = app_services
    ok_users = [101, 102, 103, 104]
    for user in [*ok_users, 105, 106]:
        await sandbox.add_user(user_id=user, first_name=f"u{user}", started=True)
    await sandbox.add_user(user_id=107, first_name="never", started=False)
    await sandbox.block(106)
    for user in [*ok_users, 105, 106, 107]:
        assert await put(services, f"notice:{user}", user)
    assert await put(services, "notice:nochat", 999_999) is True
    assert await put(services, "notice:101", 101) is False  # the same intended message
    # 429 once for 102; a timeout for 105 where Telegram did deliver; a 5xx once for 104.
    await sandbox.inject_fault("sendMessage", 429, chat_id=102, retry_after=2)
    await sandbox.inject_fault("sendMessage", "timeout", chat_id=105, delay=3, deliver=True)
    await sandbox.inject_fault("sendMessage", 500, chat_id=104)

    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="test")
    await drain(dispatcher, clock)

    found = await rows(services)
    states = {key: row.state for key, row in found.items()}
    assert states == {
        "notice:101": "sent",
        "notice:102": "sent",
        "notice:103": "sent",
        "notice:104": "sent",
        "notice:105": "unknown",
        "notice:106": "unreachable",
        "notice:107": "unreachable",
        "notice:nochat": "failed",
    }
    assert found["notice:102"].attempts == 2
    assert found["notice:104"].attempts == 2
    assert found["notice:nochat"].error == "Chat not found"
    assert "blocked" in (found["notice:106"].error or "")
    assert found["notice:101"].message_id is not None
    # Each reachable person got exactly one message; the timed-out one was delivered once
    # by Telegram and never sent again.
    for user in [*ok_users, 105]:
        assert len(await sandbox.messages(user)) == 1, user
    async with services.db.sessions() as session:
        unreachable = {
            a.user_id
            for a in (await session.scalars(select(Account))).all()
            if a.unreachable_since
        }
    assert unreachable == {106, 107}
    # /metrics saw Telegram's 429 once and its 403 for the two people it could not reach.
    metrics = services.metrics.registry
    assert metrics.get_sample_value("liaison_bot_api_responses_total", {"status": "429"}) == 1
    assert metrics.get_sample_value("liaison_bot_api_responses_total", {"status": "403"}) == 2
    # More rounds later change nothing.
    clock.advance(timedelta(hours=1))
    assert await dispatcher.run_once() == 0
    assert len(await sandbox.messages(105)) == 1


async def test_a_dead_workers_rows_are_recovered_or_marked_unknown(
    app_services: tuple[App, Services], sandbox: SandboxClient, clock: FrozenClock
) -> None:
    app, services = app_services
    for user in (201, 202):
        await sandbox.add_user(user_id=user, first_name="u", started=True)
        await put(services, f"notice:{user}", user)
    # A worker claimed 201 and died before sending; another died while sending 202.
    async with services.db.uow() as tx:
        for row in (await tx.scalars(select(OutboxMessage))).all():
            row.state = "claimed" if row.chat_id == 201 else "sending"
            row.claimed_by, row.lease_until = "dead", services.now() + timedelta(seconds=30)
    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="alive")
    assert await dispatcher.run_once() == 0  # leases still valid: hands off
    clock.advance(timedelta(seconds=31))
    await drain(dispatcher, clock)
    states = {k: r.state for k, r in (await rows(services)).items()}
    assert states == {"notice:201": "sent", "notice:202": "unknown"}
    assert len(await sandbox.messages(201)) == 1
    assert await sandbox.messages(202) == []


async def test_one_message_per_chat_per_round(
    app_services: tuple[App, Services], sandbox: SandboxClient
) -> None:
    """Several messages to one chat are spread over rounds (the per-chat pace)."""
    app, services = app_services
    await sandbox.add_user(user_id=301, first_name="u", started=True)
    for n in range(3):
        await put(services, f"notice:301:{n}", 301, text=f"第{n}条")
    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="w")
    claimed = await dispatcher.claim()
    assert [r.dedupe_key for r in claimed] == ["notice:301:0"]


async def test_a_message_no_longer_wanted_is_cancelled(
    app_services: tuple[App, Services], sandbox: SandboxClient
) -> None:
    app, services = app_services
    await sandbox.add_user(user_id=401, first_name="u", started=True)
    await put(services, "notice:401", 401)

    async def never(tx: Any, row: OutboxMessage) -> bool:
        return False

    dispatcher = Dispatcher(
        services=services, bot=app.bot, worker_id="w", checks={"notice": never}
    )
    await dispatcher.run_once()
    assert (await rows(services))["notice:401"].state == "cancelled"
    assert await sandbox.messages(401) == []


async def test_a_429_pauses_the_whole_dispatcher(
    app_services: tuple[App, Services], sandbox: SandboxClient
) -> None:
    """After Telegram's 429 for one chat, no other chat is sent to until retry_after passed."""
    app, services = app_services
    for user in (501, 502):
        await sandbox.add_user(user_id=user, first_name="u", started=True)
        await put(services, f"notice:{user}", user)
    await sandbox.inject_fault("sendMessage", 429, chat_id=501, retry_after=3)
    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="w")
    fake = FakeTime()
    dispatcher.pacer = pacer_on(fake)
    await dispatcher.run_once()  # 501 is refused; 502 goes back to the outbox
    assert await sandbox.messages(502) == []
    await dispatcher.run_once()  # 502 waits out the pause first
    assert sum(fake.slept) == pytest.approx(3.0)
    assert len(await sandbox.messages(502)) == 1
    assert (await rows(services))["notice:501"].state == "pending"


# ---- outcomes as Telegram means them ----------------------------------------------------------


def _black_hole() -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket whose accept queue is full: a connect to it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(server.getsockname())
        fillers.append(filler)
    return server, fillers


async def test_a_request_that_never_connected_is_not_sent_not_unknown() -> None:
    """A connect timeout or a refused connection: the request never left, so retry is safe."""
    server, fillers = _black_hole()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    request = AiohttpRequest(connect_timeout=0.3, read_timeout=2)
    await request.initialize()
    try:
        for port in (server.getsockname()[1], refused_port):
            with pytest.raises(NotSent) as raised:
                await request.do_request(
                    f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage",
                    "POST",
                    RequestData([RequestParameter("text", "x", None)]),
                )
            assert not isinstance(raised.value, TimedOut)
            assert TOKEN not in str(raised.value)
    finally:
        await request.shutdown()
        for sock in (server, *fillers):
            sock.close()


async def test_rows_never_sent_wait_and_go_once_the_bot_api_is_back(
    app_services: tuple[App, Services],
    emulator: Emulator,
    sandbox: SandboxClient,
    clock: FrozenClock,
) -> None:
    """A connect that times out, then a refused one: the row is retried, never "unknown"."""
    app, services = app_services
    await sandbox.add_user(user_id=601, first_name="u", started=True)
    await put(services, "notice:601", 601)
    server, fillers = _black_hole()
    unreachable = ExtBot(
        TOKEN,
        base_url=f"http://127.0.0.1:{server.getsockname()[1]}/bot",
        request=AiohttpRequest(connect_timeout=0.3, read_timeout=1),
        rate_limiter=PatientRateLimiter(),
    )
    await unreachable.request.initialize()
    try:
        await Dispatcher(services=services, bot=unreachable, worker_id="w").run_once()
    finally:
        await unreachable.request.shutdown()
        for sock in (server, *fillers):
            sock.close()
    row = (await rows(services))["notice:601"]
    assert (row.state, row.attempts) == ("pending", 1)
    assert (row.error or "").startswith("not sent: ConnectionTimeoutError")
    assert row.due_at > services.now()  # backing off

    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="w")
    await emulator.go_offline()
    with contextlib.suppress(NetworkError):  # let the client notice its dropped connections
        await app.bot.get_me()
    try:
        clock.advance(timedelta(minutes=1))
        await dispatcher.run_once()
        row = (await rows(services))["notice:601"]
        assert (row.state, row.attempts) == ("pending", 2)
        assert (row.error or "").startswith("not sent: ClientConnectorError")
    finally:
        await emulator.go_online()
    clock.advance(timedelta(minutes=1))
    await drain(dispatcher, clock)
    assert (await rows(services))["notice:601"].state == "sent"
    assert len(await sandbox.messages(601)) == 1


@pytest.mark.parametrize("carried_out", [True, False])
async def test_a_reset_after_the_request_was_written_is_unknown_and_never_sent_again(
    app_services: tuple[App, Services],
    sandbox: SandboxClient,
    clock: FrozenClock,
    carried_out: bool,
) -> None:
    app, services = app_services
    await sandbox.add_user(user_id=701, first_name="u", started=True)
    await put(services, "notice:701", 701)
    await sandbox.inject_fault("sendMessage", "reset", chat_id=701, deliver=carried_out)
    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="w")
    await drain(dispatcher, clock)
    clock.advance(timedelta(hours=1))
    await drain(dispatcher, clock)
    row = (await rows(services))["notice:701"]
    assert (row.state, row.attempts) == ("unknown", 1)
    assert "maybe sent" in (row.error or "")
    assert len(await sandbox.messages(701)) == (1 if carried_out else 0)


async def test_a_group_that_became_a_supergroup_gets_its_messages_at_the_new_id(
    app_services: tuple[App, Services], sandbox: SandboxClient, clock: FrozenClock
) -> None:
    app, services = app_services
    await sandbox.add_user(user_id=801, first_name="u", started=True)
    old = (await sandbox.add_group("各单位联络员群", [801])).id
    new = (await sandbox.add_group("各单位联络员群", [801], type="supergroup")).id
    async with services.db.uow() as tx:
        tx.add(GroupChat(chat_id=old, title="各单位联络员群", added_at=services.now()))
    await put(services, "rollcall:1", old, text="点名通报一")
    await put(services, "rollcall:2", old, text="点名通报二")
    await sandbox.inject_fault("sendMessage", 400, chat_id=old, migrate_to_chat_id=new, times=5)

    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="w")
    await drain(dispatcher, clock)

    found = await rows(services)
    assert {k: (r.state, r.chat_id) for k, r in found.items()} == {
        "rollcall:1": ("sent", new),
        "rollcall:2": ("sent", new),
    }
    assert [m.text for m in await sandbox.messages(new)] == ["点名通报一", "点名通报二"]
    async with services.db.sessions() as session:
        groups = (await session.scalars(select(GroupChat.chat_id))).all()
    assert groups == [new]


async def test_an_answer_that_is_not_the_bot_apis_leaves_no_row_sending(
    app_services: tuple[App, Services], sandbox: SandboxClient, clock: FrozenClock
) -> None:
    """A proxy answers with its own HTML page: the row is tried again, never stuck."""
    app, services = app_services
    await sandbox.add_user(user_id=901, first_name="u", started=True)
    await put(services, "notice:901", 901)
    await sandbox.inject_fault("sendMessage", "html", chat_id=901)
    dispatcher = Dispatcher(services=services, bot=app.bot, worker_id="w")
    await dispatcher.run_once()
    row = (await rows(services))["notice:901"]
    assert (row.state, row.error) == ("pending", "Invalid server response")
    await drain(dispatcher, clock, rounds=40)
    assert (await rows(services))["notice:901"].state == "sent"
    assert len(await sandbox.messages(901)) == 1
