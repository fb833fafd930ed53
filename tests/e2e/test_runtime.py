"""The bot as a process: SIGTERM, a second process on the same token, and what it logs."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.sandbox.client import SandboxClient
from bot.transport.outbox import enqueue, text_payload
from storage.db import Database
from storage.models import OutboxMessage
from tests.support.databases import set_up_sqlite
from tests.support.process import TOKEN, BotProcess


async def queue(database_url: str, chat_ids: list[int]) -> None:
    """Put one notice per chat in the running bot's outbox, as the planner would."""
    from datetime import UTC, datetime

    db = Database(database_url)
    try:
        async with db.uow() as tx:
            for chat_id in chat_ids:
                await enqueue(
                    tx,
                    key=f"notice:{chat_id}",
                    chat_id=chat_id,
                    purpose="notice",
                    payload=text_payload(f"通知 {chat_id}"),
                    now=datetime.now(UTC),
                )
    finally:
        await db.dispose()


async def outbox_states(database_url: str) -> dict[int, str]:
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            found = (await session.scalars(select(OutboxMessage))).all()
            return {row.chat_id: row.state for row in found}
    finally:
        await db.dispose()


async def triggered(sandbox: SandboxClient) -> int:
    return sum(1 for e in (await sandbox.faults()).history if e.action == "triggered")


@pytest.mark.resilience
async def test_sigterm_finishes_the_update_in_hand_and_the_sends_in_flight(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient
) -> None:
    bot = make_bot()
    await bot.start()
    people = [6001, 6002, 6003, 6004, 6005, 6006]
    for user in people:
        await sandbox.add_user(user_id=user, first_name="李", language_code="zh", started=True)
        # Each answer takes Telegram two seconds (and is delivered).
        await sandbox.inject_fault("sendMessage", "timeout", chat_id=user, delay=2, deliver=True)
    await queue(bot.database_url, people[1:])
    update_id = await sandbox.start(6001)
    for _ in range(400):  # the reply to /start and the first notice are on their way
        if await triggered(sandbox) >= 2:
            break
        await asyncio.sleep(0.05)
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)

    code = await asyncio.wait_for(bot.process.wait(), 10)

    assert code == 0
    assert len(await sandbox.messages(6001)) == 1  # the update in hand was answered ...
    assert (await sandbox.state()).confirmed_offset > update_id  # ... and confirmed
    states = await outbox_states(bot.database_url)
    assert set(states.values()) <= {"sent", "pending"}, states  # none left "sending"
    assert "sent" in states.values()
    for user, state in states.items():
        assert len(await sandbox.messages(user)) == (1 if state == "sent" else 0)


@pytest.mark.resilience
async def test_a_second_process_on_the_same_token_stops_one_with_the_reason(
    make_bot: Callable[..., BotProcess],
    sandbox: SandboxClient,
    tmp_path: Path,
    sqlite_template: Path,
) -> None:
    first = make_bot()
    await first.start()
    (tmp_path / "second").mkdir()
    second = BotProcess(
        api_url=first.api_url,
        database_url=set_up_sqlite(sqlite_template, tmp_path / "second" / "bot.db"),
        workdir=tmp_path / "second",
        sandbox=sandbox,
    )
    try:
        await second.start()
        assert first.process is not None
        code = await asyncio.wait_for(first.process.wait(), 30)
        assert code == 1
        lines = [line for line in first.logs().splitlines() if "409" in line]
        assert lines == [
            "已停止：另一个进程正在用同一令牌接收消息（Telegram 返回 409）。同一令牌只能由一个"
            "进程接收消息，其余进程请用 run --no-updates 运行。"
        ]
        # The other one goes on taking updates.
        await sandbox.add_user(user_id=6101, first_name="王", language_code="zh")
        await sandbox.wait_confirmed(await sandbox.start(6101), timeout=30)
        assert len(await sandbox.messages(6101)) == 1
        assert second.process is not None
        assert second.process.returncode is None
    finally:
        assert await second.stop() == 0


async def test_the_log_has_one_line_an_event_and_nothing_secret(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient
) -> None:
    bot = make_bot()
    await bot.start()
    await sandbox.add_user(user_id=6201, first_name="赵", language_code="zh", started=True)
    started = await sandbox.start(6201)
    helped = await sandbox.send_text(6201, "/help")
    await sandbox.wait_confirmed(helped, timeout=30)
    await queue(bot.database_url, [6201])
    await sandbox.wait_messages(6201, 3, timeout=30)
    assert await bot.stop() == 0

    log = bot.logs()
    lines = log.splitlines()
    assert sum(f"update {started} message from 6201 /start: handled" in x for x in lines) == 1
    assert sum(f"update {helped} message from 6201 /help: handled" in x for x in lines) == 1
    assert sum("outbox #1 notice to 6201: sent" in x for x in lines) == 1
    assert not [x for x in lines if "apscheduler" in x or "Running job" in x]
    serving = next(x for x in lines if "serving (updates: True" in x)
    for task in ("updates", "outbox", "reminder planner", "broadcast progress", "housekeeping"):
        assert task in serving
    assert TOKEN.split(":")[1] not in log
