"""The command line of operations: `backup FILE` and `restore FILE [--force]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import Command, Subparsers, say
from bot.ledger.files import size_text
from bot.services import Services
from messages import format_clock, format_date, join

# Commands that must see the database as it is, not migrated first.
UNMIGRATED = ("backup", "restore")


def add_parsers(sub: Subparsers) -> None:
    """`backup FILE` and `restore FILE [--force]`."""
    backup = sub.add_parser("backup", help="archive the database and DATA_DIR while the bot runs")
    backup.add_argument("file", type=Path)
    restore = sub.add_parser("restore", help="put an archive made by backup back")
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--force", action="store_true", help="overwrite a database that already holds data"
    )


async def cmd_backup(services: Services, args: argparse.Namespace) -> int:
    from bot.ops.backup import create_backup  # (its outbox brings in Telegram's library)

    out = await create_backup(services=services, target=args.file)
    print(
        say(
            services,
            "ops.backup_done",
            path=out.path,
            size=size_text(out.size),
            archived=len(out.manifest.files),
            **out.manifest.counts.model_dump(),
        )
    )
    if out.missing:  # the backup is made and usable; the exit status stays 0
        shown = out.missing[:3] + (["…"] if len(out.missing) > 3 else [])
        print(
            say(
                services,
                "ops.backup_missing_files",
                count=len(out.missing),
                data_dir=services.settings.data_dir,
                names=join(services.settings.language, shown),
            ),
            file=sys.stderr,
        )
    return 0


async def cmd_restore(services: Services, args: argparse.Namespace) -> int:
    from bot.ops.backup import restore_backup

    out = await restore_backup(services=services, source=args.file, force=args.force)
    lang = services.settings.language
    made = out.manifest.created_at.astimezone(services.settings.tz)
    print(
        say(
            services,
            "ops.restore_done",
            date=format_date(made.date(), lang),
            time=format_clock(made, lang),
            archived=len(out.manifest.files),
            data_dir=out.data_dir,
            **out.manifest.counts.model_dump(),
        )
    )
    return 0


COMMANDS: dict[str, Command] = {"backup": cmd_backup, "restore": cmd_restore}
