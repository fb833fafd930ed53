"""`liaison-bot export FILE.xlsx [--archive DIR]`: the status workbook, and the materials."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import Command, Subparsers, say
from bot.errors import BadInput
from bot.services import Services


def add_parsers(sub: Subparsers) -> None:
    """The `export` command."""
    parser = sub.add_parser(
        "export",
        help="the status workbook (.xlsx)",
        description=(
            "Write the status workbook: a summary, the units with their contacts, units × "
            "items with state and dates, the reminder log, the notices with their deliveries. "
            "With --archive DIR, also zip the collected materials (单位/资料项/文件) into DIR, "
            "in parts under Telegram's 50 MB upload limit."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE.xlsx")
    parser.add_argument("--archive", type=Path, metavar="DIR", default=None)


async def cmd_export(services: Services, args: argparse.Namespace) -> int:
    """Write the workbook (and the archive) and say where."""
    path: Path = args.file
    if path.suffix.lower() != ".xlsx":
        raise BadInput("export.cli_not_xlsx")
    if path.parent and not path.parent.exists():
        raise BadInput("export.cli_no_folder", folder=str(path.parent))
    # Imported here: the workbook's libraries are not needed by the other commands.
    from bot.staff.archive import build_archive
    from bot.staff.export import export_workbook

    done = await export_workbook(services=services, actor_id=None, path=path, via="cli")
    print(say(services, "export.cli_written", path=str(done.path), **done.totals.model_dump()))
    if args.archive is not None:
        archive = await build_archive(
            services=services, actor_id=None, out_dir=args.archive, via="cli"
        )
        for part in archive.parts:
            print(say(services, "export.cli_archive_part", path=str(part.path), files=part.files))
        if archive.missing:
            print(say(services, "export.cli_archive_missing", count=len(archive.missing)))
    return 0


COMMANDS: dict[str, Command] = {"export": cmd_export}
