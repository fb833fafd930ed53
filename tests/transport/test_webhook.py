"""Taking updates by webhook: a run of failures ends only once the failed updates are done.

Telegram posts updates to the webhook app (`build_webhook_app`) served on a free port; another
program takes SQLite's write lock now and then, as a database going away and coming back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_application
from bot.ledger.checklist import prepare_database
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.transport import intake
from bot.transport.intake import Intake
from bot.transport.supervisor import Fatal, Supervisor
from bot.transport.webhook import RECEIVER, SECRET_HEADER, build_webhook_app, webhook_secret
from messages import t
from storage.db import Database
from tests.support.process import TOKEN
from tests.support.settings import emulated_settings
from tests.support.waiting import eventually
from tests.test_intake import hold_write_lock, release, replies, text_update

PEOPLE = (7601, 7602, 7603, 7604)


@dataclass
class Hook:
    supervisor: Supervisor
    post: Callable[[dict[str, object]], Awaitable[int]]

    def problem(self) -> str:
        """What /healthz says of the webhook ("" when it works)."""
        found = [p for p in self.supervisor.problems() if p.startswith(f"{RECEIVER}: ")]
        return found[0] if found else ""


@asynccontextmanager
async def hook(
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
    *,
    give_up_after: float = 60,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncIterator[Hook]:
    """The webhook served on a free port, under a supervisor (its clock `monotonic`), on a
    SQLite database that gives up waiting for a lock after 0.2 s."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = emulated_settings(
        url, emulator.base_url, tmp_path / "data", sqlite_busy_timeout=0.2
    )
    services = Services(settings=settings, db=Database(url, busy_timeout=0.2))
    await prepare_database(services)
    app = build_application(services)
    supervisor = Supervisor(give_up_after=give_up_after, monotonic=monotonic)
    runner = web.AppRunner(build_webhook_app(app, "/hook", Intake(app), supervisor))
    for user in PEOPLE:
        await sandbox.add_user(
            user_id=user, first_name="李", language_code="zh-hans", started=True
        )
    try:
        async with app, aiohttp.ClientSession() as http:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            address = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

            async def post(update: dict[str, object]) -> int:
                headers = {SECRET_HEADER: webhook_secret(TOKEN)}
                async with http.post(address, json=update, headers=headers) as answer:
                    return answer.status

            yield Hook(supervisor, post)
    finally:
        await runner.cleanup()
        await services.close()


async def test_a_database_going_away_again_and_again_is_one_run_until_the_failed_update_is_done(
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another update handled between two tries of the failed one is not working again: the
    log said "working again" and "failing" at each, and /healthz's try count stayed at 1."""
    caplog.set_level(logging.INFO, logger="bot.transport.supervisor")
    now = [0.0]
    async with hook(emulator, sandbox, tmp_path, monotonic=lambda: now[0]) as webhook:
        failed = text_update(41, PEOPLE[0], "/start")
        for tries, other in enumerate(PEOPLE[1:], start=1):
            lock = await hold_write_lock(tmp_path / "bot.db")
            try:
                assert await webhook.post(failed) == 500  # Telegram sends it again later
            finally:
                await release(lock)
            now[0] += 5
            assert await webhook.post(text_update(41 + tries, other, "/start")) == 200
            assert webhook.problem().startswith(
                f"{RECEIVER}: failing for {5 * tries} s ({tries} tries): "
            ), tries
            assert "database is locked" in webhook.problem()
        assert await webhook.post(failed) == 200
        assert webhook.problem() == ""
    assert await replies(sandbox, PEOPLE[0]) == [t("zh", "start.welcome")]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{RECEIVER} ")]
    [again] = [line for line in lines if line.startswith(f"{RECEIVER} working again")]
    assert again == f"{RECEIVER} working again after 15 s (3 failed tries)"
    assert lines.index(again) == len(lines) - 1  # once, after the failed update went through


async def test_an_update_telegram_stops_sending_again_does_not_hold_the_run_open(
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Telegram gives up sending a failed update again after some tries: once others go
    through and it has not come back for ALONE_AFTER, the webhook works again."""
    monkeypatch.setattr(intake, "ALONE_AFTER", 1.0)
    async with hook(emulator, sandbox, tmp_path) as webhook:
        stop = asyncio.Event()
        supervising = asyncio.create_task(webhook.supervisor.run(stop))
        try:
            lock = await hold_write_lock(tmp_path / "bot.db")
            try:
                assert await webhook.post(text_update(51, PEOPLE[0], "/start")) == 500
            finally:
                await release(lock)
            assert await webhook.post(text_update(52, PEOPLE[1], "/start")) == 200
            assert webhook.problem().startswith(f"{RECEIVER}: failing for ")

            async def working() -> bool:
                return webhook.problem() == ""

            await eventually(working, seconds=10)
        finally:
            stop.set()
            await supervising


async def test_an_outage_still_ends_the_process_when_telegram_stops_sending_again(
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Updates Telegram no longer sends do not make an outage look over: nothing went through,
    so the supervisor gives up after its time as for any task."""
    monkeypatch.setattr(intake, "ALONE_AFTER", 0.2)
    async with hook(emulator, sandbox, tmp_path, give_up_after=2) as webhook:
        lock = await hold_write_lock(tmp_path / "bot.db")
        try:
            assert await webhook.post(text_update(61, PEOPLE[0], "/start")) == 500
            assert await webhook.post(text_update(62, PEOPLE[1], "/start")) == 500
            with pytest.raises(Fatal) as ended:
                await asyncio.wait_for(webhook.supervisor.run(asyncio.Event()), 10)
        finally:
            await release(lock)
    assert f"{RECEIVER} has failed for more than 2 s" in str(ended.value)
    assert "database is locked" in str(ended.value)
