"""`liaison-bot deadletters [--json]`: the updates the bot could not handle, for staff, and
(in the text) the messages it could not deliver."""

from __future__ import annotations

import argparse
import json

from bot.cli.common import Command, Subparsers, say
from bot.services import Services
from messages import format_time, plain


def add_parsers(sub: Subparsers) -> None:
    """The `deadletters` command."""
    parser = sub.add_parser(
        "deadletters",
        help="updates that failed on every try (kept, confirmed, the person told)",
        description=(
            "List the latest updates whose handling failed on every try: each was kept with "
            "its error and confirmed, so the updates behind it went on. Then the latest "
            "messages the bot could not deliver (failed, or outcome unknown); --json lists "
            "the dead letters only."
        ),
    )
    parser.add_argument("--json", action="store_true")


async def cmd_deadletters(services: Services, args: argparse.Namespace) -> int:
    """Print the dead letters, newest first, then the messages not delivered."""
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
    await _print_undelivered(services)
    return 0


async def _print_undelivered(services: Services) -> None:
    """The outbox messages that failed or whose outcome is unknown, if any."""
    from bot.deadletters import list_undelivered

    rows = await list_undelivered(services=services)
    if not rows:
        return
    lang = services.settings.language
    print()
    print(say(services, "runtime.undelivered_heading", count=len(rows)))
    for row in rows:
        purpose = plain(lang, f"export.purpose_{row.purpose}")
        print(
            say(
                services,
                "runtime.undelivered_line",
                id=row.id,
                time=format_time(row.at.astimezone(services.settings.tz), lang),
                purpose=purpose,
                chat=row.chat_id,
                state=plain(lang, f"export.state_{row.state}"),
                error=row.error or "-",
            )
        )
    if any(row.state == "unknown" for row in rows):
        print(say(services, "runtime.undelivered_unknown_hint"))


COMMANDS: dict[str, Command] = {"deadletters": cmd_deadletters}
