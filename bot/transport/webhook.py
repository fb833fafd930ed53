"""Taking updates by webhook: answer Telegram 200 only once the update is handled.

Telegram sends each update again until it gets a 2xx, so an update whose handling failed
for want of the database is answered 500 and comes back; one already handled is skipped."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.transport.polling import handle_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(token: str) -> str:
    """The secret Telegram sends back with every update (derived from the token)."""
    return hashlib.sha256(f"liaison-bot webhook {token}".encode()).hexdigest()[:48]


def build_webhook_app(
    app: Application[Any, Any, Any, Any, Any, Any], path: str
) -> web.Application:
    """The aiohttp application that receives Telegram's POSTs on `path`."""
    secret = webhook_secret(app.bot.token)
    order = asyncio.Lock()  # one update at a time, in the order they arrive

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != secret:
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, app.bot)
        except (json.JSONDecodeError, TypeError, KeyError, ValueError):
            return web.Response(status=400)
        async with order:
            try:
                await handle_update(app, update)
            except Exception:
                log.exception("update %s could not be handled; Telegram will send it again",
                              update.update_id)  # fmt: skip
                return web.Response(status=500)
        return web.Response(status=200)

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post(path, receive)
    return web_app


async def serve_webhook(
    app: Application[Any, Any, Any, Any, Any, Any],
    stop: asyncio.Event,
    *,
    url: str,
    listen: str,
    port: int,
) -> None:
    """Register the webhook with Telegram and serve it until `stop` is set."""
    path = urlsplit(url).path or "/"
    runner = web.AppRunner(build_webhook_app(app, path), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, listen, port)
    await site.start()
    try:
        await app.bot.set_webhook(
            url, secret_token=webhook_secret(app.bot.token), allowed_updates=Update.ALL_TYPES
        )
        log.info("webhook at %s (listening on %s:%s)", url, listen, port)
        await stop.wait()
    finally:
        await runner.cleanup()
