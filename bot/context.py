"""Typed state for handlers: `context.bot_data` is a `BotData`; `context.actor` the person."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.roster import ActorOut
from bot.services import Services
from bot.transport.outbox import Dispatcher

if TYPE_CHECKING:
    from bot.transport.supervisor import Supervisor


@dataclass(frozen=True)
class Tick:
    """A stateless job run every `every` seconds under the supervisor (planner, progress)."""

    name: str
    every: float
    run: Callable[[Context], Awaitable[None]]


class BotData:
    """What every handler reaches through `context.bot_data` (set in build_application)."""

    services: Services
    username: str = ""
    dispatcher: Dispatcher | None = None
    # Every long-running task runs under it; `problems()` says which are failing.
    supervisor: Supervisor | None = None

    def __init__(self) -> None:
        self.ticks: list[Tick] = []


class Context(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]):
    """The context of one update, shared by every handler that sees it."""

    # The person acting, read once per update (handlers.shared.actor_of).
    actor: ActorOut | None = None


def add_tick(
    app: Application[Any, Any, Any, Any, BotData, Any],
    name: str,
    every: float,
    run: Callable[[Context], Awaitable[None]],
) -> None:
    """Run `run` every `every` seconds while the bot serves (a failure is retried)."""
    app.bot_data.ticks.append(Tick(name, every, run))
