"""The application: build it, wire the handlers, and serve (updates, outbox, ticks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    ContextTypes,
    Defaults,
)

from bot.context import BotData, Context, Tick, add_tick
from bot.errors import BadInput
from bot.ledger.checklist import prepare_database
from bot.ops.health import require_writable_data_dir
from bot.ops.running import RunningMark
from bot.ops.runtime import start_operations
from bot.reminders.delivery import ReminderDelivery
from bot.reminders.planner import planner_job
from bot.retention import EVERY as HOUSEKEEPING_EVERY
from bot.retention import housekeeping_job
from bot.services import Services
from bot.transport.failures import is_transient
from bot.transport.intake import Intake, record_failure
from bot.transport.outbox import Dispatcher
from bot.transport.polling import Poller
from bot.transport.request import AiohttpRequest, PatientRateLimiter
from bot.transport.supervisor import Step, Supervisor
from handlers import registry
from handlers.shared import language_for
from messages import t
from storage.models import Setting

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, BotData, Any]
# The supervisor's name for reaching Telegram at start (in the log and /healthz).
CONNECTING = "connecting to Telegram"


@dataclass(frozen=True)
class WebhookOptions:
    """Where Telegram posts updates (`run --webhook URL`) and where the bot listens."""

    url: str
    listen: str = "127.0.0.1"
    port: int = 8080


def build_application(services: Services) -> App:
    """The PTB application, talking to TELEGRAM_API_URL through aiohttp, with our handlers."""
    settings = services.settings
    root = settings.telegram_api_url
    app: App = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .request(
            AiohttpRequest(
                read_timeout=settings.request_timeout,
                proxy=settings.telegram_proxy,
                observer=services.metrics,
            )
        )
        .get_updates_request(
            AiohttpRequest(
                connection_pool_size=2,
                read_timeout=settings.request_timeout,
                proxy=settings.telegram_proxy,
                observer=services.metrics,
            )
        )
        .rate_limiter(PatientRateLimiter(observer=services.metrics))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                tzinfo=settings.tz,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .context_types(ContextTypes(context=Context, bot_data=BotData))
        .updater(None)
        .job_queue(None)  # the ticks run under our supervisor (bot/transport/supervisor.py)
        .build()
    )
    app.bot_data.services = services
    registry.register_handlers(app)
    app.add_error_handler(on_error)
    return app


async def on_error(update: object, context: Context) -> None:
    """Hand the failure to the intake, which retries the update or keeps it as a dead letter;
    in any case stop the update here, so that no general handler takes it instead."""
    if record_failure(context.error):
        raise ApplicationHandlerStop
    # Outside the intake (an update processed directly): log it and tell the person.
    log.error("handling an update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_message:
        lang = await language_for(update, context)
        try:
            await update.effective_message.reply_text(t(lang, "common.error"))
        except Exception:
            log.warning("could not tell the person about the failure")
    raise ApplicationHandlerStop


async def remember_username(app: App) -> str:
    """The bot's @username: BOT_USERNAME, else getMe's, stored for the command line."""
    services = app.bot_data.services
    username = services.settings.bot_username or app.bot.username
    async with services.db.uow() as tx:
        stored = await tx.get(Setting, "bot_username")
        if stored is None:
            tx.add(Setting(key="bot_username", value=username))
        else:
            stored.value = username
    app.bot_data.username = username
    return username


async def serve(
    services: Services,
    *,
    take_updates: bool = True,
    stop: asyncio.Event | None = None,
    webhook: WebhookOptions | None = None,
    started: Callable[[], None] | None = None,
    waiting: Callable[[BaseException], None] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop`): take updates, deliver the outbox, run the ticks.

    What the settings get wrong stops it at once with `BadInput` (DATA_DIR not writable,
    HEALTH_PORT taken, the token refused); Telegram out of reach is waited for with back-off
    (`waiting` is told the first time); `started` is called once the bot really serves.
    Raise `Fatal` when a task could not go on (see bot/transport/supervisor.py)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # The running mark first: a restore in progress is waited for before the migrations
    # touch the database it is replacing (and the data it puts back is migrated after it).
    mark = RunningMark(services.db)
    await mark.hold()
    try:
        migrated = await prepare_database(services)
        if migrated.applied:
            log.info("database migrated from %s to %s", migrated.before, migrated.after)
        await require_writable_data_dir(services.settings)
    except BaseException:
        await mark.release()
        raise
    app = build_application(services)
    add_tick(app, "reminder planner", 60, planner_job)
    add_tick(app, "housekeeping", HOUSEKEEPING_EVERY, housekeeping_job)
    supervisor = Supervisor(give_up_after=services.settings.task_give_up_seconds)
    app.bot_data.supervisor = supervisor
    operations = await start_operations(app, supervisor, mark)  # daily backup, health server
    try:
        connected = await _connect(app, supervisor, stop, take_updates, webhook, waiting)
        if connected:
            await _serve_connected(app, supervisor, stop, take_updates, webhook, started)
    finally:
        await operations.close()


async def _connect(
    app: App,
    supervisor: Supervisor,
    stop: asyncio.Event,
    take_updates: bool,
    webhook: WebhookOptions | None,
    waiting: Callable[[BaseException], None] | None,
) -> bool:
    """Reach Telegram (getMe, the menus), waiting with back-off while it is out of reach; a
    refused token is `BadInput`. False if stopped first."""
    told: list[BaseException] = []

    async def connect(stop: asyncio.Event) -> None:
        refused = False
        try:
            await app.initialize()
            await remember_username(app)
            if take_updates:
                await registry.setup_commands(app)
                if webhook is None:
                    await app.bot.delete_webhook(drop_pending_updates=False)
        except InvalidToken:
            refused = True  # raised below, with no trace of PTB's error: it holds the token
        except Exception as exc:
            if waiting is not None and not told and is_transient(exc):
                told.append(exc)
                waiting(exc)
            raise
        if refused:
            api = app.bot_data.services.settings.telegram_api_url
            raise BadInput("runtime.token_rejected", api=api)

    try:
        if await supervisor.first(CONNECTING, connect, stop):
            return True
    except BaseException:
        await app.shutdown()
        await app.bot.shutdown()  # the HTTP sessions of a bot that never got its getMe
        raise
    await app.shutdown()
    await app.bot.shutdown()
    return False


async def _serve_connected(
    app: App,
    supervisor: Supervisor,
    stop: asyncio.Event,
    take_updates: bool,
    webhook: WebhookOptions | None,
    started: Callable[[], None] | None,
) -> None:
    """Start the tasks under the supervisor and run them until `stop`."""
    services = app.bot_data.services
    poller: Poller | None = None
    async with app:
        await app.start()
        try:
            delivery = ReminderDelivery(services)
            dispatcher = Dispatcher(
                services=services,
                bot=app.bot,
                worker_id=f"{socket.gethostname()}:{os.getpid()}",
                checks=delivery.checks(),
                on_unreachable=[delivery.on_unreachable],
            )
            app.bot_data.dispatcher = dispatcher
            supervisor.add("outbox", dispatcher.step)
            for tick in app.bot_data.ticks:
                supervisor.add(tick.name, _tick_step(app, tick))
            if take_updates and webhook is not None:
                from bot.transport.webhook import WebhookServer

                server = WebhookServer(
                    app,
                    Intake(app, look_up_every=True),
                    supervisor,
                    url=webhook.url,
                    listen=webhook.listen,
                    port=webhook.port,
                )
                supervisor.add("webhook", server.step)
            elif take_updates:
                poller = Poller(app, Intake(app))
                supervisor.add("updates", poller.step, settled=poller.settled)
            log.info("serving (updates: %s; tasks: %s)", take_updates, ", ".join(supervisor.names))
            if started is not None:
                started()
            try:
                await supervisor.run(stop)
            finally:
                if poller is not None:
                    await poller.confirm()
        finally:
            await app.stop()


def _tick_step(app: App, tick: Tick) -> Step:
    """One run of a tick, then rest until the next."""

    async def step(stop: asyncio.Event) -> float:
        await tick.run(app.context_types.context(application=app))
        return tick.every

    return step
