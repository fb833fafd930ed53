"""The health server: `/healthz` (200, or 503 with the reasons) and `/metrics` (Prometheus).

Healthy means: the database answers, the Bot API answered recently (when it has been quiet
for a while, a `getMe` asks it), the task supervisor, where there is one, reports no
problem, the last daily backup (with BACKUP_DIR) did not fail, HOLIDAY_FILE (if set) can be
read, DATA_DIR takes a file and has room for the largest one a liaison may send, and no outbox
message keeps failing. A healthy answer may carry notes below its first line: a year no holiday
schedule covers (the bot works: staff are warned each working day)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.errors import BadInput
from bot.holidays import setting_file_trouble, years_unknown_now
from bot.ops.backup import sqlite_file
from bot.services import Services
from bot.settings import Settings
from bot.transport.failures import disk_reason
from messages import join, plain

log = logging.getLogger(__name__)


class Supervisor(Protocol):
    """What the task supervisor tells: one line per task that is not running as it should."""

    def problems(self) -> list[str]: ...


@dataclass
class Health:
    """Decides whether this process is healthy, and why not."""

    services: Services
    supervisor: Callable[[], Supervisor | None] = lambda: None
    # Asks the Bot API something small (getMe) when it has been quiet for `api_quiet` seconds.
    probe: Callable[[], Awaitable[object]] | None = None
    api_quiet: float = 60.0
    timeout: float = 5.0

    async def problems(self) -> list[str]:
        """Every reason this process is not healthy, in the office's language; [] if none."""
        lang = self.services.settings.language
        database = await self.database_problem()
        found = [database] if database else []
        found.extend(await self._api_problems(lang))
        supervisor = self.supervisor()
        if supervisor is not None:
            found.extend(supervisor.problems())
        found.extend(await self._backup_problems() if database is None else [])
        found.extend(self.calendar_problems())
        found.extend(await self.storage_problems(database is None))
        return found

    def calendar_problems(self) -> list[str]:
        """HOLIDAY_FILE that cannot be read (the bot goes on with the version it read before)."""
        settings = self.services.settings
        trouble = setting_file_trouble(settings)
        return [] if trouble is None else [trouble.line(settings.language)]

    async def notes(self) -> list[str]:
        """What a healthy process still says: the years no holiday schedule covers."""
        try:
            years = await asyncio.wait_for(years_unknown_now(self.services), self.timeout)
        except Exception as exc:  # the database went away meanwhile: the next look says it
            log.info("health: the calendar could not be read: %s", _short(exc))
            return []
        if not years:
            return []
        lang = self.services.settings.language
        return [plain(lang, "calendar.health_year_unknown", years=join(lang, map(str, years)))]

    async def storage_problems(self, database_up: bool) -> list[str]:
        """DATA_DIR refusing files, and outbox messages that keep failing."""
        settings = self.services.settings
        found = [problem] if (problem := await data_dir_problem(settings)) else []
        if database_up:
            try:
                stuck = await asyncio.wait_for(self._stuck_outbox(), self.timeout)
            except Exception as exc:  # the database went away meanwhile: said above
                log.info("health: the outbox could not be read: %s", _short(exc))
            else:
                found.extend([stuck] if stuck else [])
        return found

    async def _backup_problems(self) -> list[str]:
        """`backup_problems`, bounded as the database's own check is."""
        try:
            return await asyncio.wait_for(backup_problems(self.services), self.timeout)
        except Exception as exc:  # the database went away meanwhile: said above
            log.info("health: the daily backup's state could not be read: %s", _short(exc))
            return []

    async def _stuck_outbox(self) -> str | None:
        from bot.ops.metrics import stuck_outbox

        stuck = await stuck_outbox(self.services.db, self.services.now())
        if stuck is None:
            return None
        return plain(
            self.services.settings.language,
            "runtime.health_outbox_stuck",
            count=stuck.count,
            minutes=f"{stuck.waited / 60:.0f}",
            error=stuck.error,
        )

    async def database_problem(self) -> str | None:
        """Why the database cannot be used now, or None when it answers."""
        lang = self.services.settings.language
        try:
            return await asyncio.wait_for(self._ping_database(), self.timeout)
        except TimeoutError:
            return plain(lang, "ops.health_database_slow", seconds=f"{self.timeout:g}")
        except Exception as exc:
            return plain(lang, "ops.health_database_down", reason=_short(exc))

    async def _ping_database(self) -> str | None:
        """Ask the database something; a problem if SQLite's file is gone from its place."""
        db = self.services.db
        if db.dialect == "sqlite":
            path = sqlite_file(db.url)
            # An open connection still reads a moved or deleted file: look at the path itself.
            if not await asyncio.to_thread(path.is_file):
                return plain(
                    self.services.settings.language, "ops.health_database_missing", path=path
                )
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return None

    async def _api_problems(self, lang: str) -> list[str]:
        metrics = self.services.metrics
        age = metrics.api_answer_age()
        if (age is None or age > self.api_quiet) and self.probe is not None:
            try:
                await asyncio.wait_for(self.probe(), self.timeout)
            except Exception as exc:
                log.info("health: getMe failed: %s", _short(exc))
            age = metrics.api_answer_age()
        if age is None:
            return [plain(lang, "ops.health_api_never")]
        if age > self.api_quiet:
            return [plain(lang, "ops.health_api_silent", seconds=f"{age:.0f}")]
        return []


async def backup_problems(services: Services) -> list[str]:
    """The daily backup's last try failed, and none has succeeded since (with BACKUP_DIR)."""
    from bot.ops.daily_backup import RETRY_AFTER, backup_failure
    from messages import format_clock, format_date

    settings = services.settings
    failed = await backup_failure(services) if settings.backup_dir is not None else None
    if failed is None:
        return []
    moment, reason = failed
    local = moment.astimezone(settings.tz)
    lang = settings.language
    return [
        plain(
            lang,
            "ops.health_backup_failed",
            date=format_date(local.date(), lang),
            time=format_clock(local, lang),
            reason=reason,
            minutes=int(RETRY_AFTER.total_seconds() // 60),
            folder=settings.backup_dir,
        )
    ]


# The probe written in DATA_DIR (".part": a backup passes over it, as over a file half written).
PROBE = ".write-check-{pid}.part"


async def data_dir_problem(settings: Settings) -> str | None:
    """Why DATA_DIR cannot keep the files people send now (it refuses a write, or has less
    room than the largest file), in the office's language; None when it can."""
    return await asyncio.to_thread(_data_dir_problem, settings)


def _data_dir_problem(settings: Settings) -> str | None:
    from bot.ledger.files import MAX_FILE_SIZE, size_text

    lang, folder = settings.language, settings.data_dir
    refused = _refused(folder, lang)
    if refused is not None:
        return plain(lang, "runtime.health_data_dir_unwritable", folder=folder, reason=refused)
    free = shutil.disk_usage(folder).free
    if free < MAX_FILE_SIZE:
        return plain(lang, "runtime.health_data_dir_low", folder=folder, free=size_text(free))
    return None


def _probe(folder: Path) -> OSError | None:
    """Write, sync and remove a small file in `folder` (made if missing); what refused it."""
    probe = folder / PROBE.format(pid=os.getpid())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as file:
            file.write(b"ok\n")
            file.flush()
            os.fsync(file.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        return exc
    return None


def _refused(folder: Path, lang: str) -> str | None:
    """Why `folder` does not take a file now, in the office's words; None when it does."""
    exc = _probe(folder)
    return None if exc is None else disk_reason(exc, lang) or _short(exc)


async def require_writable_data_dir(settings: Settings) -> None:
    """Refuse to start (BadInput, exit status 2) when DATA_DIR cannot take a file as it is set
    up (read-only, not a folder, no permission). A full disk passes: it is cleared without a
    change of settings, and a process that refused to start would never be started again
    (status 2 is not restarted); /healthz says it meanwhile."""
    exc = await asyncio.to_thread(_probe, settings.data_dir)
    if exc is None:
        return
    reason = disk_reason(exc, settings.language) or _short(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        log.warning("DATA_DIR %s is full (%s); started all the same", settings.data_dir, reason)
        return
    raise BadInput("runtime.data_dir_unwritable", folder=settings.data_dir, reason=reason)


def _short(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]


def build_health_app(health: Health) -> web.Application:
    """The two routes, on their own small aiohttp application."""
    services = health.services

    async def healthz(request: web.Request) -> web.Response:
        problems = await health.problems()
        lang = services.settings.language
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        lines = [plain(lang, "ops.health_ok"), *await health.notes()]
        return web.Response(text="\n".join(lines) + "\n")

    async def metrics(request: web.Request) -> web.Response:
        reachable = await health.database_problem() is None
        body = await services.metrics.render(
            services.db if reachable else None, services.now(), db_timeout=health.timeout
        )
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve_health(health: Health, *, host: str, port: int) -> web.AppRunner:
    """Listen on host:port; the caller cleans the runner up."""
    runner = web.AppRunner(build_health_app(health), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("health server on http://%s:%s (/healthz, /metrics)", host, port)
    return runner
