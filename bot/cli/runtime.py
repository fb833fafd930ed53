"""`liaison-bot deadletters [--json]`: the updates the bot could not handle, for staff."""

from __future__ import annotations

import argparse
import json

from bot.cli.common import Command, Subparsers, say
from bot.services import Services
from messages import format_time


def add_parsers(sub: Subparsers) -> None:
    """The `deadletters` command."""
    parser = sub.add_parser(
        "deadletters",
        help="updates that failed on every try (kept, confirmed, the person told)",
        description=(
            "List the latest updates whose handling failed on every try (a bug): each was "
            "kept with its error and confirmed, so the updates behind it went on."
        ),
    )
    parser.add_argument("--json", action="store_true")


async def cmd_deadletters(services: Services, args: argparse.Namespace) -> int:
    """Print the dead letters, newest first."""
    from bot.deadletters import list_dead_letters  # (it brings in Telegram's library)

    letters = await list_dead_letters(services=services)
    if args.json:
        print(
            json.dumps([d.model_dump(mode="json") for d in letters], ensure_ascii=False, indent=2)
        )
        return 0
    if not letters:
        print(say(services, "runtime.deadletters_none"))
    for letter in letters:
        local = letter.at.astimezone(services.settings.tz)
        moment = format_time(local, services.settings.language)
        print(
            say(
                services,
                "runtime.deadletter_line",
                id=letter.id,
                time=moment,
                user=letter.user_id or "-",
                kind=letter.kind,
                error=letter.error,
                attempts=letter.attempts,
            )
        )
    return 0


COMMANDS: dict[str, Command] = {"deadletters": cmd_deadletters}
