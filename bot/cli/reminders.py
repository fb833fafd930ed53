"""The command line of reminders: `remind [--dry-run] [--json]`, `pause UNIT`, `resume UNIT`."""

from __future__ import annotations

import argparse
import json
from datetime import date

from bot.cli.common import Command, Subparsers, say
from bot.errors import BadInput
from bot.reminders import pause
from bot.services import Services
from messages import format_date, strip_html

TEXT_LINES = 200


def add_parsers(sub: Subparsers) -> None:
    """Add `remind`, `pause` and `resume`."""
    remind = sub.add_parser("remind", help="queue a round of reminders now")
    remind.add_argument("--dry-run", action="store_true", help="list who would get what")
    remind.add_argument("--json", action="store_true")
    pause = sub.add_parser("pause", help="hold a unit's reminders")
    pause.add_argument("unit")
    pause.add_argument("--until", required=True, metavar="YYYY-MM-DD")
    pause.add_argument("--reason", default=None)
    sub.add_parser("resume", help="reminders again for a paused unit").add_argument("unit")


async def cmd_remind(services: Services, args: argparse.Namespace) -> int:
    from bot.reminders import rounds  # (the planner brings in Telegram's library)

    out = await rounds.queue_round(services=services, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0
    lang = services.settings.language
    # The text names the first few hundred reminders; --json lists every one.
    print(strip_html(rounds.render_round(out, lang, limit=TEXT_LINES)))
    if args.dry_run:
        print(say(services, "reminders.cli.dry_run"))
    elif out.reminders:
        units = len({line.unit for line in out.reminders})
        print(say(services, "reminders.cli.queued", count=out.queued, units=units))
    return 0


async def cmd_pause(services: Services, args: argparse.Namespace) -> int:
    try:
        until = date.fromisoformat(args.until)
    except ValueError:
        raise BadInput("cli.bad_date") from None
    out = await pause.pause_unit(
        services=services, unit_name=args.unit, until=until, reason=args.reason
    )
    lang = services.settings.language
    reason = say(services, "reminders.cli.pause_reason", reason=out.reason) if out.reason else ""
    print(
        say(
            services,
            "reminders.cli.paused",
            unit=out.unit,
            date=format_date(until, lang),
            reason=reason,
        ).strip()
    )
    return 0


async def cmd_resume(services: Services, args: argparse.Namespace) -> int:
    out = await pause.resume_unit(services=services, unit_name=args.unit)
    key = "reminders.cli.resumed" if out.changed else "reminders.cli.not_paused"
    print(say(services, key, unit=out.unit))
    return 0


COMMANDS: dict[str, Command] = {"remind": cmd_remind, "pause": cmd_pause, "resume": cmd_resume}
