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
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import roster
from bot.context import BotData, Context, Tick, add_tick
from bot.ledger.checklist import ensure_default_checklist
from bot.reminders.delivery import ReminderDelivery
from bot.reminders.planner import planner_job
from bot.retention import EVERY as HOUSEKEEPING_EVERY
from bot.retention import housekeeping_job
from bot.services import Services
from bot.transport.intake import Intake, record_failure
from bot.transport.outbox import Dispatcher
from bot.transport.polling import Poller
from bot.transport.request import AiohttpRequest, PatientRateLimiter
from bot.transport.supervisor import Step, Supervisor
from handlers import broadcast, common, contacts, flows, ledger, registration, reminders, review
from handlers import staff as staff_console
from messages import LANGUAGES, t
from storage.models import Setting

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, BotData, Any]

EVERYONE_COMMANDS = ("start", "help", "language", "cancel")
MEMBER_COMMANDS = ("status", "submit", "contacts")
STAFF_COMMANDS = (
    "outstanding", "unit", "invite", "remind", "broadcast", "review", "export", "stats", "audit",
)  # fmt: skip
GROUP_COMMANDS = ("rollcall",)


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
            AiohttpRequest(read_timeout=settings.request_timeout, proxy=settings.telegram_proxy)
        )
        .get_updates_request(
            AiohttpRequest(
                connection_pool_size=2,
                read_timeout=settings.request_timeout,
                proxy=settings.telegram_proxy,
            )
        )
        .rate_limiter(PatientRateLimiter())
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                tzinfo=settings.tz,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .context_types(ContextTypes(bot_data=BotData))
        .updater(None)
        .job_queue(None)  # the ticks run under our supervisor (bot/transport/supervisor.py)
        .build()
    )
    app.bot_data.services = services
    register_handlers(app)
    return app


def register_handlers(app: App) -> None:
    """Every handler, in order of precedence."""
    # group -1: a person in a conversation has every update handed to that conversation.
    app.add_handler(TypeHandler(Update, flows.route), group=-1)
    # group 0: commands and buttons; the first that matches answers.
    app.add_handler(CommandHandler("start", common.start))
    app.add_handler(CommandHandler("help", common.help_command))
    app.add_handler(CommandHandler("cancel", flows.cancel))
    app.add_handler(CommandHandler("language", common.language))
    app.add_handler(CallbackQueryHandler(common.language_chosen, pattern=r"^lang:(zh|en)$"))
    # Feature handlers: each feature module adds its own in group 0 through register(app).
    # (one line per feature, in this order)
    ledger.register(app)
    review.register(app)
    registration.register(app)
    contacts.register(app)
    staff_console.register(app)
    broadcast.register(app)
    reminders.register(app)
    # Catch-alls last: whatever no feature took.
    app.add_handler(MessageHandler(filters.COMMAND, common.unknown_command))
    app.add_handler(CallbackQueryHandler(common.stale_button))
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & ~filters.COMMAND, common.not_understood)
    )
    app.add_error_handler(on_error)


async def on_error(update: object, context: Context) -> None:
    """Hand the failure to the intake, which retries the update or keeps it as a dead letter;
    in any case stop the update here, so that no general handler takes it instead."""
    if record_failure(context.error):
        raise ApplicationHandlerStop
    # Outside the intake (an update processed directly): log it and tell the person.
    log.error("handling an update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_message:
        lang = await common.language_for(update, context)
        try:
            await update.effective_message.reply_text(t(lang, "common.error"))
        except Exception:
            log.warning("could not tell the person about the failure")
    raise ApplicationHandlerStop


def _commands(lang: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(name, t(lang, f"commands.{name}")) for name in names]


async def setup_commands(app: App) -> None:
    """Give each kind of person the menu of their own commands (setMyCommands per scope)."""
    services = app.bot_data.services
    bot = app.bot
    for lang in LANGUAGES:
        code = None if lang == services.settings.language else lang
        await bot.set_my_commands(
            _commands(lang, EVERYONE_COMMANDS),
            scope=BotCommandScopeAllPrivateChats(),
            language_code=code,
        )
        await bot.set_my_commands(
            _commands(lang, ("help", *GROUP_COMMANDS)),
            scope=BotCommandScopeAllGroupChats(),
            language_code=code,
        )
    for staff in await roster.list_staff(services=services):
        await set_person_menu(app, staff.user_id, staff=True)


async def set_person_menu(
    app: App, user_id: int, *, staff: bool = False, member: bool = False
) -> None:
    """The menu of one person: everyone's commands plus their role's."""
    services = app.bot_data.services
    lang = await roster.language_of(services=services, user_id=user_id, language_code=None)
    names = (
        EVERYONE_COMMANDS + (MEMBER_COMMANDS if member else ()) + (STAFF_COMMANDS if staff else ())
    )
    try:
        await app.bot.set_my_commands(_commands(lang, names), scope=BotCommandScopeChat(user_id))
    except Exception as exc:  # a staff member who never opened the bot has no chat yet
        log.info("menu for %s not set: %s", user_id, exc)


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
    """Run until SIGINT/SIGTERM (or `stop`): take updates, deliver the outbox, run the ticks.

    Raise `Fatal` when a task could not go on (see bot/transport/supervisor.py)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await prepare_database(services)
    app = build_application(services)
    add_tick(app, "reminder planner", 60, planner_job)
    add_tick(app, "housekeeping", HOUSEKEEPING_EVERY, housekeeping_job)
    poller: Poller | None = None
    async with app:
        await app.start()
        await remember_username(app)
        if take_updates:
            await setup_commands(app)
            if webhook is None:
                await app.bot.delete_webhook(drop_pending_updates=False)
        supervisor = Supervisor(give_up_after=services.settings.task_give_up_seconds)
        app.bot_data.supervisor = supervisor
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
                Intake(app),
                supervisor,
                url=webhook.url,
                listen=webhook.listen,
                port=webhook.port,
            )
            supervisor.add("webhook", server.step)
        elif take_updates:
            poller = Poller(app, Intake(app))
            supervisor.add("updates", poller.step)
        log.info("serving (updates: %s; tasks: %s)", take_updates, ", ".join(supervisor.names))
        try:
            await supervisor.run(stop)
        finally:
            if poller is not None:
                await poller.confirm()
            await app.stop()


def _tick_step(app: App, tick: Tick) -> Step:
    """One run of a tick, then rest until the next."""

    async def step(stop: asyncio.Event) -> float:
        await tick.run(app.context_types.context(application=app))
        return tick.every

    return step
