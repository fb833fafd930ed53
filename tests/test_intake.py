"""Intake never dies: a transient failure is waited out, a bug becomes a dead letter.

The bot serves in-process (`serve()`, as `liaison-bot run` does) against the emulator; the
tests break its database, its handlers and its Bot API, and watch what people receive."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from telegram import Update

from bot import app as app_module
from bot.app import build_application, serve
from bot.context import Context
from bot.conversations import StepOut
from bot.deadletters import list_dead_letters
from bot.ledger.checklist import prepare_database
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.transport import intake
from bot.transport.intake import Intake
from bot.transport.supervisor import Supervisor
from bot.transport.webhook import SECRET_HEADER, build_webhook_app, webhook_secret
from handlers import flows, registry
from messages import plain, t
from storage.db import Database
from storage.models import AuditEvent, ConversationStep
from tests.support.messages import says
from tests.support.process import TOKEN
from tests.support.settings import emulated_settings


@dataclass
class Running:
    services: Services
    task: asyncio.Task[None]
    stop: asyncio.Event


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    """Wait until `check()` holds (polling the emulator or the log)."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def start_bot(
    emulator: Emulator, sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Start `serve()` on a database (SQLite in tmp_path by default) and wait until it polls."""
    started: list[Running] = []

    async def start(database_url: str | None = None, **values: Any) -> Running:
        url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        values.setdefault("staff_ids", "900")
        settings = emulated_settings(
            url,
            emulator.base_url,
            tmp_path / "data",
            scheduled_reminders=False,
            request_timeout=5,
            **values,
        )
        services = Services(
            settings=settings, db=Database(url, busy_timeout=settings.sqlite_busy_timeout)
        )
        stop = asyncio.Event()
        running = Running(services, asyncio.create_task(serve(services, stop=stop)), stop)
        started.append(running)

        async def polling() -> bool:
            if running.task.done():
                running.task.result()
            return (await sandbox.state()).polling

        await until(polling, "the bot to poll")
        return running

    yield start
    for running in started:
        running.stop.set()
        await asyncio.gather(running.task, return_exceptions=True)
        await running.services.close()


async def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Take SQLite's write lock as another program would (off the event loop, which the bot
    needs to finish the transaction it may have open)."""
    lock = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    await asyncio.to_thread(lock.execute, "BEGIN IMMEDIATE")
    return lock


async def release(lock: sqlite3.Connection) -> None:
    await asyncio.to_thread(lock.execute, "COMMIT")
    lock.close()


async def replies(sandbox: SandboxClient, user: int) -> list[str]:
    return [m.text or "" for m in await sandbox.messages(user)]


async def test_updates_sent_while_the_database_is_locked_are_answered_after_once(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another program holds SQLite's write lock longer than the busy timeout."""
    caplog.set_level(logging.WARNING, logger="bot.transport.supervisor")
    await start_bot(sqlite_busy_timeout=0.2)
    users = [7001, 7002, 7003]
    for user in users:
        await sandbox.add_user(user_id=user, first_name=f"用户{user}", language_code="zh-hans")
    lock = await hold_write_lock(tmp_path / "bot.db")
    try:
        sent = [await sandbox.start(user) for user in users]

        async def failing() -> bool:
            return "updates failing" in caplog.text

        await until(failing, "the intake to fail on the lock")
        assert [await replies(sandbox, user) for user in users] == [[], [], []]
    finally:
        await release(lock)

    await sandbox.wait_confirmed(max(sent), timeout=30)
    welcome = t("zh", "start.welcome")
    for user in users:
        assert await replies(sandbox, user) == [welcome], user
    assert "database is locked" in caplog.text


async def test_a_database_locked_for_seconds_is_one_run_of_failures_until_updates_go_through(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Taking the update again is not working again: the log said "working again" and
    "failing (try 1)" every second, and /healthz's "failing for" never passed 1 s."""
    caplog.set_level(logging.INFO, logger="bot.transport.supervisor")
    supervisors: list[Supervisor] = []

    class Kept(Supervisor):
        def __init__(self, **values: Any) -> None:
            super().__init__(**values)
            supervisors.append(self)

    monkeypatch.setattr(app_module, "Supervisor", Kept)
    await start_bot(sqlite_busy_timeout=0.2)
    await sandbox.add_user(user_id=7011, first_name="用户", language_code="zh-hans")
    lock = await hold_write_lock(tmp_path / "bot.db")
    try:
        sent = await sandbox.start(7011)

        def updates_problem() -> str:
            found = [p for p in supervisors[0].problems() if p.startswith("updates: ")]
            return found[0] if found else ""

        async def tried_three_times() -> bool:
            return "(3 tries)" in updates_problem()

        await until(tried_three_times, "three failed tries in one run")
        assert updates_problem().startswith("updates: failing for ")
        assert "database is locked" in updates_problem()
    finally:
        await release(lock)
    await sandbox.wait_confirmed(sent, timeout=30)
    assert await replies(sandbox, 7011) == [t("zh", "start.welcome")]
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(("updates failing", "updates working"))
    ]
    assert sum(line.startswith("updates failing") for line in lines) == 1, lines
    [again] = [line for line in lines if line.startswith("updates working again")]
    assert lines.index(again) == len(lines) - 1  # once, after the update went through
    tries = int(again.split("(")[1].split()[0])
    assert tries >= 3
    assert updates_problem() == ""


async def test_a_handler_that_raises_ends_as_a_dead_letter_and_the_rest_go_on(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tries: list[int] = []
    original = registry.help_command

    async def broken_help(update: Update, context: Context) -> None:
        if update.effective_user is not None and update.effective_user.id == 7101:
            tries.append(update.update_id)
            raise ValueError("a bug in /help")
        await original(update, context)

    monkeypatch.setattr(registry, "help_command", broken_help)
    bot = await start_bot(update_max_attempts=3)
    for user in (7101, 7102, 7103):
        await sandbox.add_user(user_id=user, first_name="李", language_code="zh-hans")
    poisoned = await sandbox.send_text(7101, "/help")
    behind = [await sandbox.start(7102), await sandbox.send_text(7103, "/help")]

    await sandbox.wait_confirmed(max(behind), timeout=30)
    assert tries == [poisoned] * 3
    assert await replies(sandbox, 7102) == [t("zh", "start.welcome")]
    assert len(await replies(sandbox, 7103)) == 1
    await sandbox.wait_messages(7101, 1, timeout=10)
    assert await replies(sandbox, 7101) == [t("zh", "runtime.apology")]  # one, not one a try

    [letter] = await list_dead_letters(services=bot.services)
    assert (letter.update_id, letter.user_id, letter.attempts) == (poisoned, 7101, 3)
    assert letter.error == "ValueError: a bug in /help"
    assert letter.update["message"]["text"] == "/help"
    async with bot.services.db.sessions() as session:
        audited = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "dead_letter"))
        ).all()
    assert [(a.actor_id, a.details["dead_letter"]) for a in audited] == [(7101, letter.id)]
    # /metrics counts it once, and the two tries that came again before it
    metrics = bot.services.metrics.registry
    assert metrics.get_sample_value("liaison_bot_dead_letters_total") == 1
    assert metrics.get_sample_value("liaison_bot_updates_total", {"outcome": "retry"}) == 2


async def test_an_update_failing_transiently_while_others_go_through_ends_as_a_dead_letter(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file name the disk refused counted as transient: the update was tried every second
    for ever while the rest of the bot worked, and its chat heard nothing."""
    tries: list[int] = []
    original = registry.help_command

    async def refused_help(update: Update, context: Context) -> None:
        if update.effective_user is not None and update.effective_user.id == 7201:
            tries.append(update.update_id)
            raise OSError(errno.ENOSPC, "No space left on device")  # transient, as a rule
        await original(update, context)

    monkeypatch.setattr(registry, "help_command", refused_help)
    monkeypatch.setattr(intake, "ALONE_AFTER", 1.5)
    bot = await start_bot(update_max_attempts=3, quiet_hours="")  # staff are told at once
    for user in (7201, 7202):
        await sandbox.add_user(user_id=user, first_name="李", language_code="zh-hans")
    await sandbox.add_user(user_id=900, first_name="办", language_code="zh-hans", started=True)
    poisoned = await sandbox.send_text(7201, "/help")

    async def tried() -> bool:
        return bool(tries)

    await until(tried, "the first try")
    behind = await sandbox.start(7202)  # handled after the first failure: the bot works
    await sandbox.wait_confirmed(behind, timeout=30)
    await sandbox.wait_confirmed(poisoned, timeout=30)
    assert len(tries) >= 2  # tried again while it might have passed
    assert await replies(sandbox, 7202) == [t("zh", "start.welcome")]
    await sandbox.wait_messages(7201, 1, timeout=10)
    assert await replies(sandbox, 7201) == [t("zh", "runtime.apology")]
    [letter] = await list_dead_letters(services=bot.services)
    assert (letter.update_id, letter.user_id) == (poisoned, 7201)
    assert letter.error == "OSError: [Errno 28] No space left on device"
    assert letter.attempts == len(tries)  # every try, not "tried once"
    # Staff (900) are told who lost what, and why, as the apology promised.
    await sandbox.wait_messages(900, 1, timeout=10)
    [told] = await replies(sandbox, 900)
    assert says(
        told,
        "runtime.dead_letter_staff_disk",
        who=plain("zh", "runtime.dead_letter_who_user", name="李", id=7201),
        what=plain("zh", "runtime.lost_text", text="/help"),
        reason=plain("zh", "runtime.disk_full"),
        id=letter.id,
        told=plain("zh", "runtime.dead_letter_told"),
    )


async def test_an_update_failing_transiently_with_nothing_else_to_do_is_set_aside_in_time(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk in a quiet hour: no other update goes through, so "alone" never counted;
    the run of failures lasted until the supervisor ended the process, after every restart.
    A disk's refusal is set aside after ALONE_AFTER all the same."""
    tries: list[int] = []

    async def refused_help(update: Update, context: Context) -> None:
        tries.append(update.update_id)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(registry, "help_command", refused_help)
    monkeypatch.setattr(intake, "ALONE_AFTER", 1.5)
    bot = await start_bot(update_max_attempts=3)
    await sandbox.add_user(user_id=7301, first_name="李", language_code="zh-hans")
    poisoned = await sandbox.send_text(7301, "/help")

    await sandbox.wait_confirmed(poisoned, timeout=30)
    await sandbox.wait_messages(7301, 1, timeout=10)
    assert await replies(sandbox, 7301) == [t("zh", "runtime.apology")]
    [letter] = await list_dead_letters(services=bot.services)
    assert (letter.update_id, letter.attempts) == (poisoned, len(tries))
    assert len(tries) >= 2


async def test_an_error_in_a_conversation_step_never_reaches_the_general_handlers(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[str] = []

    async def broken_step(update: Update, context: Context, step: StepOut) -> None:
        steps.append(step.step)
        raise RuntimeError("the step failed")

    monkeypatch.setitem(flows.FLOWS, "probe", broken_step)
    bot = await start_bot(update_max_attempts=1)
    await sandbox.add_user(user_id=7201, first_name="王", language_code="zh-hans", started=True)
    async with bot.services.db.uow() as tx:
        tx.add(
            ConversationStep(
                user_id=7201,
                flow="probe",
                step="ask_file",
                data={"draft": 1},
                updated_at=datetime.now(UTC),
            )
        )
    sent = await sandbox.send_text(7201, "这是我的回答")
    await sandbox.wait_confirmed(sent, timeout=30)
    await sandbox.wait_messages(7201, 1, timeout=10)

    # Only the apology: no "not understood", no stray-file handling, no generic error.
    assert await replies(sandbox, 7201) == [t("zh", "runtime.apology")]
    assert steps == ["ask_file"]
    async with bot.services.db.sessions() as session:
        kept = await session.get(ConversationStep, 7201)
    assert kept is not None
    assert (kept.flow, kept.step, kept.data) == (
        "probe",
        "ask_file",
        {"draft": 1},
    )


async def test_a_proxy_answering_html_or_any_telegram_error_does_not_end_intake(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.transport.supervisor")
    await start_bot()
    for user in (7301, 7302):
        await sandbox.add_user(user_id=user, first_name="赵", language_code="zh-hans")
    await sandbox.inject_fault("getUpdates", "html")
    await sandbox.inject_fault("getUpdates", 401, description="Unauthorized")
    # The poll in hand brings this one; the next two polls get the page and the 401.
    await sandbox.wait_confirmed(await sandbox.start(7301), timeout=30)
    last = await sandbox.start(7302)

    await sandbox.wait_confirmed(last, timeout=30)
    assert len(await replies(sandbox, 7302)) == 1
    triggered = [e for e in (await sandbox.faults()).history if e.action == "triggered"]
    assert [e.error for e in triggered] == ["html", 401]
    assert caplog.text.count("updates failing: TelegramError: Invalid server response") == 1
    assert caplog.text.count("updates failing: InvalidToken") == 1


PG_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"


def _pg_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="liaison-pg-restart."))
    folder.chmod(0o755)  # initdb runs as the postgres user when the tests run as root
    return folder


class OwnPostgres:
    """A PostgreSQL server of this test's own (.ci/postgres.sh), to stop and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = ""

    async def run(self, action: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(PG_SCRIPT), action, str(self.folder), stdout=asyncio.subprocess.PIPE, env=_pg_env()
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, f"postgres.sh {action} failed"
        return out.decode().strip()


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    if shutil.which("initdb") is None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if versions:
            env["PATH"] = f"{versions[-1]}:{env['PATH']}"
    return env


@pytest.fixture
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    if shutil.which("initdb", path=_pg_env()["PATH"]) is None:
        pytest.skip("initdb not installed")
    folder = _pg_folder()
    server = OwnPostgres(folder)
    try:
        server.url = await server.run("start")
        yield server
    finally:
        await server.run("stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.resilience
async def test_updates_sent_while_postgresql_is_down_are_answered_after_once(
    start_bot: Callable[..., Awaitable[Running]],
    sandbox: SandboxClient,
    own_postgres: OwnPostgres,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL stopped and started again mid-traffic."""
    caplog.set_level(logging.WARNING, logger="bot.transport.supervisor")
    await start_bot(own_postgres.url)
    users = [7401, 7402, 7403]
    for user in users:
        await sandbox.add_user(user_id=user, first_name=f"用户{user}", language_code="zh-hans")
    await sandbox.wait_confirmed(await sandbox.start(7401), timeout=30)

    await own_postgres.run("stop")
    sent = [await sandbox.start(7402), await sandbox.start(7403)]

    async def failing() -> bool:
        return "updates failing" in caplog.text

    await until(failing, "the intake to fail while PostgreSQL is down")
    assert await replies(sandbox, 7402) == []
    await own_postgres.run("resume")

    await sandbox.wait_confirmed(max(sent), timeout=60)
    welcome = t("zh", "start.welcome")
    for user in users:
        assert await replies(sandbox, user) == [welcome], user


def text_update(update_id: int, user_id: int, text: str) -> dict[str, object]:
    """An update as Telegram posts it to a webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_780_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "李"},
            "from": {"id": user_id, "is_bot": False, "first_name": "李", "language_code": "zh"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def test_the_webhook_answers_500_while_the_cause_passes_and_200_for_a_dead_letter(
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = registry.help_command

    async def broken_help(update: Update, context: Context) -> None:
        if update.effective_user is not None and update.effective_user.id == 7502:
            raise KeyError("a bug in /help")
        await original(update, context)

    monkeypatch.setattr(registry, "help_command", broken_help)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = emulated_settings(
        url, emulator.base_url, tmp_path / "data", sqlite_busy_timeout=0.2, update_max_attempts=2
    )
    services = Services(settings=settings, db=Database(url, busy_timeout=0.2))
    await prepare_database(services)
    app = build_application(services)
    supervisor = Supervisor(give_up_after=60)
    web_app = build_webhook_app(app, "/hook", Intake(app), supervisor)
    runner = web.AppRunner(web_app)
    for user in (7501, 7502):
        await sandbox.add_user(
            user_id=user, first_name="李", language_code="zh-hans", started=True
        )
    async with app:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        headers = {SECRET_HEADER: webhook_secret(TOKEN)}
        try:
            async with aiohttp.ClientSession() as http:

                async def post(update: dict[str, object]) -> int:
                    hook = f"http://127.0.0.1:{port}/hook"
                    async with http.post(hook, json=update, headers=headers) as answer:
                        return answer.status

                lock = await hold_write_lock(tmp_path / "bot.db")
                try:
                    assert await post(text_update(31, 7501, "/start")) == 500
                    assert supervisor.problems()[0].startswith("webhook requests: failing")
                finally:
                    await release(lock)
                assert await post(text_update(31, 7501, "/start")) == 200  # Telegram again
                assert await post(text_update(31, 7501, "/start")) == 200  # and once more
                assert supervisor.problems() == []
                assert await replies(sandbox, 7501) == [t("zh", "start.welcome")]

                assert await post(text_update(32, 7502, "/help")) == 500  # first try
                assert await post(text_update(32, 7502, "/help")) == 200  # kept aside
        finally:
            await runner.cleanup()
    [letter] = await list_dead_letters(services=services)
    assert (letter.update_id, letter.attempts) == (32, 2)
    await services.close()
