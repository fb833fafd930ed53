"""The bot as a process with HEALTH_PORT and BACKUP_DIR: its /healthz, its /metrics across a
broadcast, the daily backup made by the running process, and `restore` refused meanwhile."""

from __future__ import annotations

import asyncio
import tarfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.sandbox.client import SandboxClient
from storage.models import OutboxMessage
from tests.support.cli import run_cli
from tests.support.messages import mentions, says
from tests.support.network import free_port
from tests.support.office import NOTICE, Office, compose_and_send, start_office, until
from tests.support.process import STAFF_ID, BotProcess


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with http.get(f"{base}/metrics") as response:
        assert response.status == 200
        body = await response.text()
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def archived(folder: Path) -> bool:
    return bool(await asyncio.to_thread(lambda: list(folder.glob("liaison-bot-*.tar.gz"))))


async def broadcast_done(office: Office) -> bool:
    async with office.services.db.sessions() as session:
        states = (
            await session.scalars(
                select(OutboxMessage.state).where(OutboxMessage.purpose == "broadcast")
            )
        ).all()
    return len(states) == 37 and all(s in ("sent", "unreachable") for s in states)


async def test_health_metrics_and_the_daily_backup_of_a_running_bot(
    make_bot: Callable[..., BotProcess],
    sandbox: SandboxClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    backups = tmp_path / "backups"
    office, services = await start_office(
        make_bot,
        sandbox,
        tmp_path,
        HEALTH_PORT=str(port),
        BACKUP_DIR=str(backups),
        BACKUP_TIME="00:00",  # due at once: the running process makes today's backup
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                # (a note may follow: in December, next year's holidays if nobody knows them)
                assert response.status == 200
                assert says((await response.text()).splitlines()[0], "ops.health_ok")

            staff = await office.person(STAFF_ID, "市双拥办")
            liaisons = [user for user, _ in await office.liaisons()]
            for user in liaisons:
                await office.person(user, f"联络员{user % 100}")
            blocked = liaisons[:2]
            for user in blocked:
                await sandbox.block(user)
            # Blocking sends the bot updates of its own: let it handle them before counting.
            await sandbox.wait_confirmed((await sandbox.state()).last_update_id, timeout=30)
            before = await scrape(http, base)
            await compose_and_send(staff, NOTICE)
            await until(lambda: broadcast_done(office))
            await staff.wait(1)  # the final report to staff
            after = await scrape(http, base)

            def moved(name: str) -> float:
                return after.get(name, 0.0) - before.get(name, 0.0)

            # A broadcast to 37: 35 delivered, 2 refused (403), counted once each.
            sent = 'liaison_bot_outbox_sends_total{outcome="sent",purpose="broadcast"}'
            refused = 'liaison_bot_outbox_sends_total{outcome="unreachable",purpose="broadcast"}'
            assert moved(sent) == 35
            assert moved(refused) == 2
            assert moved('liaison_bot_api_responses_total{status="403"}') == 2
            # /broadcast, the notice's text, two buttons: four updates handled.
            assert moved('liaison_bot_updates_total{outcome="handled"}') == 4
            assert moved('liaison_bot_replies_total{outcome="sent"}') >= 2
            assert after["liaison_bot_outbox_depth"] == 0
            assert after['liaison_bot_outbox_messages{state="sent"}'] >= 35

            # The daily backup was made by the running process, and the metrics know its age.
            await until(lambda: archived(backups))
            [archive] = list(backups.glob("liaison-bot-*.tar.gz"))
            with tarfile.open(archive) as tar:
                names = tar.getnames()
            assert names[0] == "database.sqlite3"
            assert names[-1] == "manifest.json"
            assert "liaison_bot_backup_age_seconds" in after

            # Restoring it under the running bot is refused.
            monkeypatch.setenv("DATABASE_URL", services.db.url)
            monkeypatch.setenv("DATA_DIR", str(office.bot.workdir / "data"))
            monkeypatch.setenv("LANGUAGE", "zh")
            under_bot = await run_cli("restore", str(archive), "--force")
            assert under_bot.code == 2
            assert says(under_bot.err, "ops.bot_running"), under_bot.err
    finally:
        await office.bot.stop()
        await services.close()


async def test_a_bad_holiday_file_is_said_and_the_bot_runs_on(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> None:
    """A bad row saved in HOLIDAY_FILE stopped the bot for good: the planner failed each tick
    until the process gave up (status 1), and a restart refused the setting (status 2, which
    systemd does not restart); staff were never told."""
    holidays = tmp_path / "2027.csv"
    holidays.write_text("日期,类型\n2027-01-01,休\n2027-02-30,休\n", encoding="utf-8")
    port = free_port()
    await sandbox.add_user(user_id=STAFF_ID, first_name="市双拥办", started=True)
    bot = make_bot(
        HOLIDAY_FILE=str(holidays),
        HEALTH_PORT=str(port),
        QUIET_HOURS="00:00-00:01",  # staff are told at once, whatever the hour of the test
    )
    await bot.start()
    [notice] = await sandbox.wait_messages(STAFF_ID, 1, timeout=30)
    assert mentions(notice.text, "calendar.file_bad", file=holidays, count=1)
    assert mentions(notice.text, "uploads.problem_row", row=3)
    assert mentions(notice.text, "calendar.file_unused")
    healthz = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(healthz) as response:
        assert response.status == 503
        assert mentions(await response.text(), "calendar.file_bad_line", file=holidays)
    assert await bot.stop() == 0
    # Said once at start, on one line (and not again by the planner).
    assert sum(str(holidays) in line for line in bot.logs().splitlines()) == 1
