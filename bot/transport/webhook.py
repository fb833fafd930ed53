"""Taking updates by webhook: answer Telegram 200 only once the update is handled.

Telegram sends an update again until it gets a 2xx, so an update whose handling failed (the
database locked or gone, or a bug not yet tried UPDATE_MAX_ATTEMPTS times) is answered 500
and comes back; one that failed every try is kept as a dead letter and answered 200; one
already handled is skipped.

Another update answered 200 is not working again (it may need neither the database nor the
network, or have been in hand before the failure): as with polling, a run of failures ends
once an update went through since the last failure and every update that failed has come
again and been handled, skipped or set aside. Telegram gives up sending an update again after
some tries, so one that has not come again for ALONE_AFTER seconds is no longer waited for;
an outage still fails every request, and the supervisor gives up on it in its time."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.transport import intake as intake_module
from bot.transport.intake import Intake, update_from
from bot.transport.polling import chat_of
from bot.transport.supervisor import Supervisor

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RECEIVER = "webhook requests"


def webhook_secret(token: str) -> str:
    """The secret Telegram sends back with every update (derived from the token)."""
    return hashlib.sha256(f"liaison-bot webhook {token}".encode()).hexdigest()[:48]


@dataclass(eq=False)
class Waiting:
    """The updates that failed and have not been handled since: what a run of failures of the
    webhook waits for."""

    monotonic: Callable[[], float] = time.monotonic
    _failed: dict[int, float] = field(default_factory=dict)  # update id: when it last failed
    _worked: bool = False  # an update went through since the last failure

    def failed(self, update_id: int) -> None:
        """Wait for this update to come again and go through."""
        self._failed[update_id] = self.monotonic()
        self._worked = False

    def done(self, update_id: int) -> None:
        """Note an update answered 200 (handled, skipped or set aside)."""
        self._failed.pop(update_id, None)
        self._worked = True

    def settled(self) -> bool:
        """Whether the webhook works again: an update went through since the last failure,
        and none that failed is still to come again."""
        now = self.monotonic()
        # Not sent again for ALONE_AFTER s: Telegram has given it up, so it is waited for no more.
        for update_id, since in list(self._failed.items()):
            if now - since >= intake_module.ALONE_AFTER:
                del self._failed[update_id]
        return self._worked and not self._failed


def build_webhook_app(
    app: Application[Any, Any, Any, Any, Any, Any],
    path: str,
    intake: Intake,
    supervisor: Supervisor | None = None,
) -> web.Application:
    """The aiohttp application that receives Telegram's POSTs on `path`."""
    secret = webhook_secret(app.bot.token)
    # One update of a chat at a time, in the order they arrive; chats at once.
    lanes: dict[Hashable, tuple[asyncio.Lock, list[int]]] = {}
    waiting = Waiting()
    if supervisor is not None:
        supervisor.watch(RECEIVER, settled=waiting.settled)

    async def handle(update: Update) -> web.Response:
        try:
            await intake.handle(update)
            await intake.flush()
        except Exception as exc:
            waiting.failed(update.update_id)
            if supervisor is not None:
                supervisor.failed(RECEIVER, exc)
            else:
                log.warning("update %s not handled: %s", update.update_id, exc)
            return web.Response(status=500)  # Telegram sends it again
        waiting.done(update.update_id)
        if supervisor is not None and waiting.settled():
            supervisor.succeeded(RECEIVER)
        return web.Response(status=200)

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != secret:
            return web.Response(status=403)
        try:
            data = await request.json()
            update = update_from(data, app.bot)
        except (json.JSONDecodeError, TypeError, KeyError, ValueError):
            return web.Response(status=400)
        chat = chat_of(update)
        lock, users = lanes.setdefault(chat, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                return await handle(update)
        finally:
            users[0] -= 1
            if not users[0]:
                del lanes[chat]

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post(path, receive)
    return web_app


@dataclass(eq=False)
class WebhookServer:
    """Registers the webhook with Telegram and serves it until stopped."""

    app: Application[Any, Any, Any, Any, Any, Any]
    intake: Intake
    supervisor: Supervisor
    _: KW_ONLY
    url: str
    listen: str
    port: int

    async def step(self, stop: asyncio.Event) -> float | None:
        """Listen, register the webhook, and serve until `stop`; a failure is retried."""
        path = urlsplit(self.url).path or "/"
        web_app = build_webhook_app(self.app, path, self.intake, self.supervisor)
        # On stop, the update in hand may finish; the supervisor's grace bounds the rest.
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.listen, self.port)
            await site.start()
            await self.app.bot.set_webhook(
                self.url,
                secret_token=webhook_secret(self.app.bot.token),
                allowed_updates=Update.ALL_TYPES,
            )
            log.info("webhook at %s (listening on %s:%s)", self.url, self.listen, self.port)
            await stop.wait()
        finally:
            await runner.cleanup()
        return None
