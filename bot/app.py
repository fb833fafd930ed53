"""The application: build it, wire the handlers, and serve (updates, outbox, ticks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

from telegram import (
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
)

from bot.context import BotData, Context
from bot.ledger.checklist import ensure_default_checklist
from bot.ops.runtime import start_operations
from bot.reminders.delivery import ReminderDelivery
from bot.reminders.planner import planner_job
from bot.services import Services
from bot.transport.outbox import Dispatcher
from bot.transport.polling import poll_forever
from bot.transport.request import AiohttpRequest, PatientRateLimiter
from handlers import registry
from handlers.shared import language_for
from messages import t
from storage.models import Setting

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, BotData, Any]


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
        .build()
    )
    app.bot_data.services = services
    registry.register_handlers(app)
    app.add_error_handler(on_error)
    return app


async def on_error(update: object, context: Context) -> None:
    """Log the failure with its traceback; tell the person something went wrong."""
    from storage.db import UpdateAlreadyHandled

    duplicate = isinstance(context.error, UpdateAlreadyHandled)
    if isinstance(update, Update):
        context.bot_data.services.metrics.mark_update(
            update.update_id, "duplicate" if duplicate else "failed"
        )
    if duplicate:
        log.info("update %s was already applied; skipped", context.error)
        return
    log.error("handling %s failed", update, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_message:
        lang = await language_for(update, context)
        try:
            await update.effective_message.reply_text(t(lang, "common.error"))
        except Exception:
            log.warning("could not tell the person about the failure")


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


async def prepare_database(services: Services) -> None:
    """Apply migrations and load the shipped checklist on first start."""
    await services.db.upgrade()
    await ensure_default_checklist(services=services)


async def serve(
    services: Services,
    *,
    take_updates: bool = True,
    stop: asyncio.Event | None = None,
    webhook: WebhookOptions | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop`): take updates, deliver the outbox, run the ticks."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await prepare_database(services)
    app = build_application(services)
    async with app:
        await app.start()
        await remember_username(app)
        if take_updates:
            await registry.setup_commands(app)
            if webhook is None:
                await app.bot.delete_webhook(drop_pending_updates=False)
        delivery = ReminderDelivery(services)
        dispatcher = Dispatcher(
            services=services,
            bot=app.bot,
            worker_id=f"{socket.gethostname()}:{os.getpid()}",
            checks=delivery.checks(),
            on_unreachable=[delivery.on_unreachable],
        )
        app.bot_data.dispatcher = dispatcher
        if app.job_queue is not None:  # the reminder planner: a stateless tick
            app.job_queue.run_repeating(planner_job, interval=60, first=0, name="reminders")
        tasks = [asyncio.create_task(dispatcher.run_forever(stop), name="outbox")]
        operations = await start_operations(app, stop)  # the daily backup, the health server
        tasks.extend(operations.tasks)
        if take_updates and webhook is not None:
            from bot.transport.webhook import serve_webhook

            tasks.append(
                asyncio.create_task(
                    serve_webhook(
                        app, stop, url=webhook.url, listen=webhook.listen, port=webhook.port
                    ),
                    name="webhook",
                )
            )
        elif take_updates:
            tasks.append(asyncio.create_task(poll_forever(app, stop), name="updates"))
        log.info("serving (updates: %s)", take_updates)
        try:
            await stop.wait()
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await operations.close()
            await app.stop()
