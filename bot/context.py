"""Typed state for handlers: `context.bot_data` is a `BotData`; `context.actor` the person."""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackContext, ExtBot

from bot.roster import ActorOut
from bot.services import Services
from bot.transport.outbox import Dispatcher


class BotData:
    """What every handler reaches through `context.bot_data` (set in build_application)."""

    services: Services
    username: str = ""
    dispatcher: Dispatcher | None = None


class Context(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]):
    """The context of one update, shared by every handler that sees it."""

    # The person acting, read once per update (handlers.shared.actor_of).
    actor: ActorOut | None = None
