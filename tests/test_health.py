"""/healthz and /metrics over HTTP: the database going away and coming back, a silent Bot API,
a task the supervisor reports, and the figures read from the database at scrape time."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.engine import make_url

from bot.app import App, build_application
from bot.clock import FrozenClock
from bot.errors import BadInput
from bot.ledger.checklist import prepare_database
from bot.ops import daily_backup
from bot.ops import health as health_checks
from bot.ops.health import Health, serve_health
from bot.ops.metrics import STUCK_AFTER_TRIES, Metrics, read_figures
from bot.ops.runtime import start_operations
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.transport.outbox import enqueue, text_payload
from bot.transport.supervisor import Supervisor
from messages import plain
from storage.db import Database
from storage.models import OutboxMessage, Setting
from tests.support.messages import mentions, says
from tests.support.network import free_port
from tests.support.proxies import Relay
from tests.support.settings import emulated_settings, make_settings


@dataclass
class Served:
    services: Services
    app: App
    health: Health
    base: str
    http: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.text()


class Usage(NamedTuple):
    total: int
    used: int
    free: int


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeSupervisor:
    found: list[str]

    def problems(self) -> list[str]:
        return list(self.found)


@asynccontextmanager
async def serving(
    url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[Served]:
    """The bot's application against the emulator, and its health server on a free port."""
    settings = emulated_settings(url, emulator.base_url, tmp_path)
    services = Services(
        settings=settings, db=Database(url), clock=clock, metrics=Metrics(clock=FakeClock())
    )
    await prepare_database(services)
    app = build_application(services)
    await app.initialize()  # getMe: the Bot API has answered
    health = Health(services=services, probe=app.bot.get_me, timeout=2.0)
    port = free_port()
    runner = await serve_health(health, host="127.0.0.1", port=port)
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(services, app, health, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
        await app.shutdown()
        await services.close()


@pytest.fixture
async def relay(db_url: str) -> AsyncIterator[tuple[str, Relay | None]]:
    """The database's URL; for PostgreSQL, through a relay the test can cut."""
    if db_url.startswith("sqlite"):
        yield db_url, None
        return
    parsed = make_url(db_url)
    relay = Relay(target_host=parsed.host or "127.0.0.1", target_port=parsed.port or 5432)
    port = await relay.start()
    yield parsed.set(port=port).render_as_string(hide_password=False), relay
    await relay.close()


async def test_healthz_turns_503_when_the_database_goes_away_and_200_when_it_returns(
    relay: tuple[str, Relay | None], emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> None:
    url, cut = relay
    async with serving(url, emulator, clock, tmp_path) as served:
        assert await served.get("/healthz") == (200, "运行正常。\n")
        if cut is None:  # SQLite: the file is moved away from under the running bot
            path = Path(make_url(url).database or "")
            os.replace(path, path.with_suffix(".moved"))
        else:
            await cut.close()
        status, body = await served.get("/healthz")
        assert status == 503
        assert body.startswith("数据库")
        assert "请检查" in body
        status, metrics = await served.get("/metrics")
        assert status == 200
        assert "liaison_bot_database_up 0.0" in metrics
        if cut is None:
            os.replace(path.with_suffix(".moved"), path)
        else:
            await cut.start()
        assert await served.get("/healthz") == (200, "运行正常。\n")


async def test_healthz_names_a_silent_bot_api_and_a_failing_task(
    sqlite_url: str,
    emulator: Emulator,
    sandbox: SandboxClient,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    async with serving(sqlite_url, emulator, clock, tmp_path) as served:
        fake: FakeClock = served.services.metrics.clock  # type: ignore[assignment]
        assert (await served.get("/healthz"))[0] == 200
        # Quiet for two minutes, and Telegram does not answer the probe either.
        fake.now += 120
        await sandbox.inject_fault("getMe", 502, times=1)
        status, body = await served.get("/healthz")
        assert status == 503
        assert (
            body
            == "Telegram 机器人接口（Bot API）已有120秒未应答，请检查网络和 TELEGRAM_PROXY。\n"
        )
        # The next probe gets its answer.
        assert (await served.get("/healthz"))[0] == 200

        supervisor = FakeSupervisor(["outbox: stopped after 5 failures"])
        served.health.supervisor = lambda: supervisor
        assert await served.get("/healthz") == (503, "outbox: stopped after 5 failures\n")
        supervisor.found.clear()
        assert (await served.get("/healthz"))[0] == 200


def samples(text: str) -> dict[str, float]:
    """`name{label="value",…}` → value, for every sample of the exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def test_metrics_read_the_outbox_and_the_last_backup_at_scrape_time(
    db_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serving(db_url, emulator, clock, tmp_path) as served:
        services = served.services
        now = services.now()
        async with services.db.uow() as tx:
            for n, age in enumerate((300, 30, 0, -600)):  # the last is due in ten minutes
                await enqueue(
                    tx, key=f"notice:{n}", chat_id=100 + n, purpose="notice",
                    payload=text_payload("通知"), now=now - timedelta(seconds=age),
                )  # fmt: skip
            for n in range(2):
                await enqueue(
                    tx, key=f"reminder:{n}", chat_id=200 + n, purpose="reminder",
                    payload=text_payload("提醒"), now=now,
                )  # fmt: skip
            made = (now - timedelta(hours=5)).isoformat()
            tx.add(Setting(key=daily_backup.LAST_BACKUP, value=made))
        async with services.db.uow() as tx:
            await tx.execute(
                update(OutboxMessage)
                .where(OutboxMessage.purpose == "reminder")
                .values(state="sent", sent_at=now)
            )
        status, body = await served.get("/metrics")
        assert status == 200
        found = samples(body)
        assert found["liaison_bot_database_up"] == 1
        assert found["liaison_bot_outbox_depth"] == 3
        assert found["liaison_bot_outbox_oldest_due_age_seconds"] == 300
        assert found['liaison_bot_outbox_messages{state="pending"}'] == 4
        assert found['liaison_bot_outbox_messages{state="sent"}'] == 2
        assert found["liaison_bot_reminders_sent_total"] == 2
        assert found["liaison_bot_backup_age_seconds"] == 5 * 3600
        assert found['liaison_bot_api_responses_total{status="200"}'] >= 1  # getMe
        assert all(name.startswith("liaison_bot_") for name in found)


async def test_the_backup_age_is_read_from_the_row_the_daily_backup_writes(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metrics.py named the row by a literal of its own: renamed in daily_backup.py alone,
    the backup's age would silently go absent from /metrics."""
    monkeypatch.setattr(daily_backup, "LAST_BACKUP", "daily_backup_made_at")
    now = services.now()
    await daily_backup._day_done(services, now.date(), now - timedelta(hours=2))
    figures = await read_figures(services.db, now)
    assert figures.backup_age == 2 * 3600


async def test_a_busy_health_port_stops_run_with_one_line(
    sqlite_url: str, emulator: Emulator, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = emulated_settings(sqlite_url, emulator.base_url, tmp_path, health_port=port)
        services = Services(settings=settings, db=Database(sqlite_url))
        app = build_application(services)
        try:
            with pytest.raises(BadInput) as caught:
                await start_operations(app, Supervisor(give_up_after=60))
        finally:
            await services.close()
    message = plain("zh", caught.value.key, **caught.value.values)
    assert message.startswith(f"健康检查服务无法在 127.0.0.1:{port} 上监听（")
    assert "HEALTH_PORT" in message


async def test_healthz_names_what_is_wrong_with_the_holiday_file(
    sqlite_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> None:
    """A bad HOLIDAY_FILE stopped the bot (after TASK_GIVE_UP_SECONDS), /healthz meanwhile 200."""
    holidays = tmp_path / "2027.csv"
    holidays.write_text("日期,类型\n2027-01-01,休\n", encoding="utf-8")
    async with serving(sqlite_url, emulator, clock, tmp_path) as served:
        settings = served.services.settings.model_copy(update={"holiday_file": holidays})
        served.health.services = dataclasses.replace(served.services, settings=settings)
        assert await served.get("/healthz") == (200, "运行正常。\n")
        holidays.write_text("日期,类型\n2027-01-01,休\n2027-02-30,休\n", encoding="utf-8")
        status, body = await served.get("/healthz")
        assert status == 503
        assert mentions(body, "calendar.file_bad_line", file=holidays, count=1)
        assert mentions(body, "uploads.problem_row", row=3)
        assert mentions(body, "calendar.file_kept")
        holidays.unlink()
        status, body = await served.get("/healthz")
        assert status == 503
        assert mentions(body, "calendar.file_missing", file=holidays)
        holidays.write_text("日期,类型\n2027-01-01,休\n", encoding="utf-8")
        assert await served.get("/healthz") == (200, "运行正常。\n")


async def test_healthz_notes_next_year_unknown_from_december_and_stays_200(
    sqlite_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> None:
    async with serving(sqlite_url, emulator, clock, tmp_path) as served:
        assert await served.get("/healthz") == (200, "运行正常。\n")  # 30 November
        clock.set(datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
        status, body = await served.get("/healthz")
        assert status == 200
        first, note = body.splitlines()
        assert says(first, "ops.health_ok")
        assert says(note, "calendar.health_year_unknown", years="2027")


async def test_healthz_says_when_data_dir_takes_no_file_or_has_no_room(
    sqlite_url: str,
    emulator: Emulator,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full or read-only DATA_DIR: /healthz said 运行正常。 while liaisons' files were lost."""
    async with serving(sqlite_url, emulator, clock, tmp_path) as served:
        assert (await served.get("/healthz"))[0] == 200
        folder = tmp_path / "refusing"
        folder.write_text("a file where the folder should be")
        served.services.settings = served.services.settings.model_copy(
            update={"data_dir": folder / "data"}
        )
        status, body = await served.get("/healthz")
        assert status == 503
        assert says(
            body,
            "runtime.health_data_dir_unwritable",
            folder=folder / "data",
            reason=plain("zh", "runtime.disk_not_folder"),
        )

        served.services.settings = served.services.settings.model_copy(
            update={"data_dir": tmp_path / "data"}
        )
        monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(100, 99, 1024 * 1024))
        status, body = await served.get("/healthz")
        assert status == 503
        assert says(body, "runtime.health_data_dir_low", free="1.0 MB")
        assert list((tmp_path / "data").iterdir()) == []  # the probe is gone


async def test_a_message_that_keeps_failing_shows_in_the_metrics_and_in_healthz(
    db_url: str, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> None:
    """sendMessage failing: each try moved due_at on, so the outbox looked empty (depth 0,
    oldest age 0) and /healthz said 200 for the 45 minutes before the message failed."""
    async with serving(db_url, emulator, clock, tmp_path) as served:
        services = served.services
        now = services.now()
        async with services.db.uow() as tx:
            await enqueue(
                tx, key="reminder:1", chat_id=301, purpose="reminder",
                payload=text_payload("提醒"), now=now - timedelta(minutes=20),
            )  # fmt: skip
            await tx.execute(
                update(OutboxMessage)
                .where(OutboxMessage.dedupe_key == "reminder:1")
                .values(
                    attempts=STUCK_AFTER_TRIES,
                    due_at=now + timedelta(seconds=64),
                    error="Internal Server Error",
                )
            )
        found = samples((await served.get("/metrics"))[1])
        assert found["liaison_bot_outbox_depth"] == 1
        assert found["liaison_bot_outbox_oldest_due_age_seconds"] == 20 * 60
        status, body = await served.get("/healthz")
        assert status == 503
        assert says(
            body,
            "runtime.health_outbox_stuck",
            count=1,
            minutes="20",
            error="Internal Server Error",
        )
        # Telegram asking to slow down (a large broadcast) is throttling, not a fault.
        async with services.db.uow() as tx:
            await tx.execute(
                update(OutboxMessage)
                .where(OutboxMessage.dedupe_key == "reminder:1")
                .values(error="429 retry after 3s")
            )
        status, _ = await served.get("/healthz")
        assert status == 200


@pytest.mark.parametrize(
    ("code", "starts"),
    [(errno.ENOSPC, True), (errno.EDQUOT, True), (errno.EROFS, False), (errno.EACCES, False)],
)
async def test_a_full_data_dir_does_not_stop_run_for_good_but_a_read_only_one_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int, starts: bool
) -> None:
    """Status 2 is not restarted: a disk full when the bot (re)started kept it down after the
    disk was cleared. A full disk starts (and /healthz says it); a setting that cannot work
    does not."""
    monkeypatch.setattr(health_checks, "_probe", lambda folder: OSError(code, os.strerror(code)))
    settings = make_settings("sqlite+aiosqlite://", data_dir=tmp_path / "data")
    if starts:
        await health_checks.require_writable_data_dir(settings)
    else:
        with pytest.raises(BadInput) as refused:
            await health_checks.require_writable_data_dir(settings)
        assert refused.value.key == "runtime.data_dir_unwritable"
