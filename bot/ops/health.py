"""The health server: `/healthz` (200, or 503 with the reasons) and `/metrics` (Prometheus).

Healthy means: the database answers, the Bot API answered recently (when it has been quiet
for a while, a `getMe` asks it), the task supervisor, where there is one, reports no
problem, and the last daily backup (with BACKUP_DIR) did not fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.ops.backup import sqlite_file
from bot.services import Services
from messages import plain

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
        found.extend(await backup_problems(self.services) if database is None else [])
        return found

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
    from bot.ops.backup import RETRY_AFTER, backup_failure
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
        return web.Response(text=plain(lang, "ops.health_ok") + "\n")

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
