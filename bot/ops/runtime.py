"""What `run` adds for operations: the running mark, the daily backup task and the health
server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram.ext import Application

from bot.errors import BadInput
from bot.ops.daily_backup import BackupSchedule
from bot.ops.health import Health, Supervisor, serve_health
from bot.ops.running import RunningMark
from bot.services import Services
from bot.transport.supervisor import Supervisor as TaskSupervisor

log = logging.getLogger(__name__)


@dataclass
class Operations:
    """The health server started for operations, to stop at the end."""

    runner: web.AppRunner | None = None
    mark: RunningMark | None = None  # restore refuses while it is held

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.mark is not None:
            await self.mark.release()
            self.mark = None


async def start_operations(
    app: Application[Any, Any, Any, Any, Any, Any],
    supervisor: TaskSupervisor,
    mark: RunningMark | None = None,
) -> Operations:
    """Hold the running mark (restore refuses under it; `mark`: one held already, from before
    the migrations ran), and start what the settings ask for: the daily backup (BACKUP_DIR, a
    supervised task) and /healthz (HEALTH_PORT)."""
    services: Services = app.bot_data.services
    settings = services.settings
    if mark is None:
        mark = RunningMark(services.db)
        await mark.hold()
    started = Operations(mark=mark)
    if services.db.dialect == "postgresql":  # its connection may be lost: kept, taken again
        supervisor.add("running mark", mark.step)
    if settings.backup_dir is not None:

        def wake_outbox() -> None:
            dispatcher = getattr(app.bot_data, "dispatcher", None)
            if dispatcher is not None:
                dispatcher.wake()

        schedule = BackupSchedule(services, on_notice=wake_outbox)

        async def backup_step(stop: asyncio.Event) -> float:
            await schedule.run_once()
            return float(schedule.tick_seconds)

        supervisor.add("daily backup", backup_step)
    if settings.health_port is not None:

        def tasks() -> Supervisor | None:
            found: Supervisor | None = getattr(app.bot_data, "supervisor", None)
            return found

        health = Health(services=services, supervisor=tasks, probe=app.bot.get_me)
        try:
            started.runner = await serve_health(
                health, host=settings.health_host, port=settings.health_port
            )
        except OSError as exc:
            await started.close()
            raise BadInput(
                "ops.health_cannot_listen",
                host=settings.health_host,
                port=settings.health_port,
                reason=exc.strerror or exc,
            ) from None
    return started
