"""Starting `liaison-bot run`: a setting that is wrong stops it at once with one line and
status 2, the token never shown; Telegram out of reach is waited for; "started" is said only
once the bot really serves."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from bot import app as app_module
from bot.app import CONNECTING, serve
from bot.ops.running import RunningMark
from bot.sandbox.server import Emulator
from bot.services import Services
from messages import catalogue
from storage.db import Database
from tests.support.cli import Done, run_cli
from tests.support.messages import mentions, says
from tests.support.network import free_port
from tests.support.proxies import Relay
from tests.support.settings import emulated_settings, run_against_emulator
from tests.support.waiting import eventually

WRONG_TOKEN = "999:wrongtoken-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def environment(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_sqlite_url: str
) -> pytest.MonkeyPatch:
    """The settings of `run` against the emulator, in the environment, on a set-up database."""
    run_against_emulator(
        monkeypatch,
        emulator.base_url,
        tmp_path,
        DATABASE_URL=migrated_sqlite_url,
        LOG_LEVEL="INFO",
    )
    return monkeypatch


def one_line_and_no_start(done: Done, key: str, **values: object) -> None:
    """Status 2; the last line is `key`; no traceback, no "started"."""
    assert done.code == 2, done.err
    assert says(done.err.strip().splitlines()[-1], key, **values), done.err
    assert "Traceback" not in done.err
    assert "Error:" not in done.err  # no exception's name either (RuntimeError, …)
    assert not mentions(done.err, "cli.running")


async def test_a_token_telegram_refuses_stops_run_with_one_line_and_never_shows_it(
    environment: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    environment.setenv("BOT_TOKEN", WRONG_TOKEN)

    done = await run_cli("run")

    one_line_and_no_start(done, "runtime.token_rejected", api=emulator.base_url)
    assert "wrongtoken" not in done.err + done.out


async def test_a_health_port_in_use_stops_run_with_one_line(
    environment: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        environment.setenv("HEALTH_PORT", str(taken.getsockname()[1]))

        done = await run_cli("run")

    one_line_and_no_start(done, "ops.health_cannot_listen")
    assert "Unclosed" not in done.err


async def test_a_data_dir_that_takes_no_file_stops_run_with_one_line(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As a disk mounted read-only does (a folder under a file refuses even root)."""
    (tmp_path / "plain-file").write_text("not a folder")
    environment.setenv("DATA_DIR", str(tmp_path / "plain-file" / "data"))

    done = await run_cli("run")

    one_line_and_no_start(
        done, "runtime.data_dir_unwritable", reason=catalogue("zh")["runtime.disk_not_folder"]
    )


async def test_telegram_out_of_reach_at_start_is_waited_for_and_started_said_after(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The network or the proxy not up yet at boot: `run` ended with a traceback, status 1."""
    caplog.set_level(logging.INFO, logger="bot.transport.supervisor")
    host, port = emulator.base_url.removeprefix("http://").split(":")
    relay = Relay(target_host=host, target_port=int(port), port=free_port())  # not listening
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = emulated_settings(url, f"http://127.0.0.1:{relay.port}", tmp_path / "data")
    services = Services(settings=settings, db=Database(url))
    said: list[str] = []
    stop = asyncio.Event()
    running = asyncio.create_task(
        serve(
            services,
            stop=stop,
            started=lambda: said.append("started"),
            waiting=lambda exc: said.append("waiting"),
        )
    )
    try:

        async def failing_twice() -> bool:
            if running.done():
                running.result()
            return f"{CONNECTING} failing" in caplog.text and caplog.text.count("NotSent") >= 1

        await eventually(failing_twice, seconds=20)
        await asyncio.sleep(1.5)  # a second try, still out of reach
        assert said == ["waiting"]
        assert caplog.text.count(f"{CONNECTING} failing") == 1

        await relay.start()

        async def started() -> bool:
            if running.done():
                running.result()
            return said == ["waiting", "started"]

        await eventually(started, seconds=20)
        assert f"{CONNECTING} working again" in caplog.text
    finally:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        await relay.close()
        await services.close()
    running.result()  # stopped cleanly


async def test_run_holds_the_running_mark_before_it_migrates_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run started during a restore migrated the old database, then waited for the restore,
    which put back an older schema that it served unmigrated."""
    order: list[str] = []

    async def hold(self: RunningMark) -> None:
        order.append("hold")

    async def release(self: RunningMark) -> None:
        order.append("release")

    class Stopped(Exception):
        pass

    async def migrate(services: Services) -> None:
        order.append("migrate")
        raise Stopped

    monkeypatch.setattr(RunningMark, "hold", hold)
    monkeypatch.setattr(RunningMark, "release", release)
    monkeypatch.setattr(app_module, "prepare_database", migrate)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = Services(
        settings=emulated_settings(url, "http://127.0.0.1:9", tmp_path / "data"),
        db=Database(url),
    )
    try:
        with pytest.raises(Stopped):
            await serve(services, stop=asyncio.Event())
    finally:
        await services.close()
    assert order == ["hold", "migrate", "release"]
