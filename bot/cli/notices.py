"""`liaison-bot notice bulletin|urge`: the office's documents as Word files (公文 layout)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from bot.cli.common import Command, Subparsers, say
from bot.errors import BadInput
from bot.services import Services


def add_parsers(sub: Subparsers) -> None:
    """Add the `notice` command and its two actions."""
    notice = sub.add_parser(
        "notice",
        help="the 通报 and the 催办通知 as Word documents (GB/T 9704 layout)",
    ).add_subparsers(dest="action", required=True)
    bulletin = notice.add_parser(
        "bulletin",
        help="the 通报 of the current situation",
        description=(
            "Write the 通报 of the units with lead or liaison not reported and those still owing "
            "ledger items, counties first, then member units, with the numbers of `report`."
        ),
    )
    bulletin.add_argument("file", type=Path, metavar="FILE.docx")
    bulletin.add_argument(
        "--number", default=None, help="the document number: 8, or 固双拥办发〔2026〕8号"
    )
    bulletin.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="成文日期")
    urge = notice.add_parser(
        "urge",
        help="a 催办通知 per unit",
        description=(
            "Write a 催办通知 to each unit named (the last argument is a .docx file for one "
            "unit, else a folder), or to every unit still outstanding (--all-outstanding DIR)."
        ),
    )
    urge.add_argument("names", nargs="*", metavar="UNIT… FILE.docx|DIR")
    urge.add_argument(
        "--all-outstanding", type=Path, metavar="DIR", default=None, help="every unit owing"
    )
    urge.add_argument("--number", default=None, help="the document number, as for bulletin")
    urge.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="成文日期")


def _signed(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput("cli.bad_date") from None


def _folder_exists(path: Path) -> None:
    parent = path.parent
    if parent != Path() and not parent.is_dir():
        raise BadInput("export.cli_no_folder", folder=str(parent))


def _make_folder(path: Path) -> None:
    _folder_exists(path)
    path.mkdir(exist_ok=True)


async def cmd_notice(services: Services, args: argparse.Namespace) -> int:
    """Write the documents and say where."""
    # Imported here: the Word libraries are not needed by the other commands.
    from bot.staff.documents.notices import write_bulletin, write_urges

    signed = _signed(args.date)
    if args.action == "bulletin":
        path: Path = args.file
        if path.suffix.lower() != ".docx":
            raise BadInput("notice.cli_not_docx")
        _folder_exists(path)
        done = await write_bulletin(
            services=services,
            actor_id=None,
            path=path,
            number=args.number,
            signed=signed,
            via="cli",
        )
        print(say(services, "notice.cli_written", path=str(done.path), **done.totals.model_dump()))
        return 0
    if args.all_outstanding is not None:
        if args.names:
            raise BadInput("notice.cli_units_or_all")
        names: list[str] = []
        target: Path = args.all_outstanding
    elif len(args.names) < 2:
        raise BadInput("notice.cli_need_units")
    else:
        *names, where = args.names
        target = Path(where)
    if target.suffix.lower() == ".docx":
        if len(names) != 1:
            raise BadInput("notice.cli_one_file")
        _folder_exists(target)
    else:
        _make_folder(target)
    written = await write_urges(
        services=services,
        actor_id=None,
        unit_names=names,
        all_outstanding=args.all_outstanding is not None,
        target=target,
        number=args.number,
        signed=signed,
        via="cli",
    )
    for out in written:
        print(say(services, "notice.cli_urge_written", path=str(out.path), unit=out.unit))
    return 0


COMMANDS: dict[str, Command] = {"notice": cmd_notice}
