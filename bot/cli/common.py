"""What every command module shares: a command's type, the sub-parsers it adds its commands
to, and its sentences in the office's language."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias

from bot.services import Services
from messages import plain

Command = Callable[[Services, argparse.Namespace], Awaitable[int]]
# A string: argparse's class cannot be subscripted at run time.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Feature(Protocol):
    """A feature module's commands: `add_parsers(sub)` and `COMMANDS` (name → function)."""

    COMMANDS: dict[str, Command]

    def add_parsers(self, sub: Subparsers) -> None: ...


def say(services: Services, key: str, /, **values: object) -> str:
    """A sentence for the terminal in the office's language."""
    return plain(services.settings.language, key, **values)
