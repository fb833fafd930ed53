"""Typed shared state for handlers: `context.bot_data` is a `BotData`."""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackContext, ExtBot

from bot.services import Services
from bot.transport.outbox import Dispatcher


class BotData:
    """What every handler reaches through `context.bot_data` (set in build_application)."""

    services: Services
    username: str = ""
    dispatcher: Dispatcher | None = None


Context = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]
