"""The command line: `liaison-bot COMMAND …` (the same as `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli import console, invites, notices, ops, reminders, runtime
from bot.cli.common import Command, Feature, say
from bot.enums import UnitKind
from bot.errors import BadInput, DomainError
from bot.importing import ImportRejected, reason_in
from bot.logs import configure_logging
from bot.services import Services
from bot.settings import Settings, SettingsError, load_settings
from messages import LANGUAGES, join, kind_name, plain, strip_html
from storage.db import Database, DatabaseUnavailable, Migrated, WalRefused, sqlite_file

if TYPE_CHECKING:
    from bot.roster import ImportResult

log = logging.getLogger("liaison-bot")


def build_parser() -> argparse.ArgumentParser:
    """Every command and option (docs/reference.md describes them)."""
    parser = argparse.ArgumentParser(prog="liaison-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve Telegram: updates, reminders, the outbox")
    run.add_argument("--no-updates", action="store_true", help="plan and deliver only")
    run.add_argument("--webhook", metavar="URL", help="take updates by webhook at this URL")
    run.add_argument("--listen", default="127.0.0.1", help="address the webhook listens on")
    run.add_argument("--port", type=int, default=8080, help="port the webhook listens on")

    demo = sub.add_parser("demo", help="the offline demonstration (no token, no network)")
    demo.add_argument("--lang", choices=LANGUAGES, default=None)
    demo.add_argument("--keep", type=Path, default=None, help="keep the demo's database here")

    db = sub.add_parser("db", help="the database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")

    units = sub.add_parser("units", help="the roster").add_subparsers(dest="action", required=True)
    units.add_parser("import").add_argument("file", type=Path)
    units.add_parser("list").add_argument("--json", action="store_true")

    checklist = sub.add_parser("checklist", help="the required ledger items").add_subparsers(
        dest="action", required=True
    )
    checklist.add_parser("import").add_argument("file", type=Path)
    checklist.add_parser("list").add_argument("--json", action="store_true")
    exempt = checklist.add_parser("exempt")
    exempt.add_argument("unit")
    exempt.add_argument("title")
    exempt.add_argument("--reason", required=True)
    add = checklist.add_parser("add")
    add.add_argument("unit")
    add.add_argument("title")
    add.add_argument("--description", default="")

    deadline = sub.add_parser("deadline", help="the collection's deadline").add_subparsers(
        dest="action", required=True
    )
    set_deadline = deadline.add_parser("set")
    set_deadline.add_argument("date")
    set_deadline.add_argument("--kind", choices=[k.value for k in UnitKind], default=None)
    deadline.add_parser("show")
    deadline.add_parser("clear").add_argument(
        "--kind", choices=[k.value for k in UnitKind], required=True
    )

    staff = sub.add_parser("staff", help="office staff").add_subparsers(
        dest="action", required=True
    )
    staff.add_parser("add").add_argument("user_id", type=int)
    staff.add_parser("remove").add_argument("user_id", type=int)
    staff.add_parser("list")

    report = sub.add_parser("report", help="who is outstanding")
    report.add_argument("--json", action="store_true")

    for feature in FEATURES:
        feature.add_parsers(sub)
    return parser


async def cmd_db(services: Services, args: argparse.Namespace) -> int:
    from bot.ledger.checklist import prepare_database

    path = sqlite_file(services.db.url)
    made = path.absolute() if path is not None and not path.exists() else None
    migrated = await prepare_database(services)
    if migrated.applied:
        print(migration_line(services, migrated, made))
    else:
        print(say(services, "setup.up_to_date", revision=migrated.after))
    return 0


def migration_line(services: Services, migrated: Migrated, made: Path | None = None) -> str:
    """One line saying what applying the migrations did: made the SQLite file `made`, made
    the tables, or upgraded from one revision to another."""
    if made is not None:
        return say(services, "setup.database_created", path=made, revision=migrated.after)
    if migrated.before is None:
        return say(services, "setup.tables_created", revision=migrated.after)
    return say(services, "setup.upgraded", before=migrated.before, after=migrated.after)


async def cmd_units(services: Services, args: argparse.Namespace) -> int:
    from bot import roster

    if args.action == "import":
        result = await roster.import_units(services=services, path=args.file, actor="cli")
        print(
            say(
                services,
                "cli.units_imported",
                count=result.count,
                added=result.added,
                updated=result.updated,
            )
        )
        for line in changed_units(services, result):
            print(line)
        return 0
    units = await roster.list_units(services=services)
    if args.json:
        print(json.dumps([u.model_dump() for u in units], ensure_ascii=False, indent=2))
    elif not units:
        print(say(services, "cli.no_units"))
    else:
        for unit in units:
            print(f"{unit.name}\t{kind_name(services.settings.language, unit.kind)}")
    return 0


async def cmd_checklist(services: Services, args: argparse.Namespace) -> int:
    from bot.ledger import checklist

    if args.action == "import":
        result = await checklist.import_checklist(services=services, path=args.file)
        print(say(services, "cli.checklist_imported", **result.model_dump()))
    elif args.action == "list":
        items = await checklist.list_checklist(services=services)
        if args.json:
            print(json.dumps([i.model_dump() for i in items], ensure_ascii=False, indent=2))
        for item in [] if args.json else items:
            scope = item.unit or kind_name(services.settings.language, item.kind or "")
            print(f"{scope}\t{item.title}\t{item.description}")
    elif args.action == "exempt":
        unit, title = await checklist.exempt(
            services=services, unit_name=args.unit, title=args.title, reason=args.reason
        )
        print(say(services, "cli.exempted", unit=unit, title=title, reason=args.reason))
    else:
        added = await checklist.add_item(
            services=services, unit_name=args.unit, title=args.title, description=args.description
        )
        key = "cli.item_added" if added.added else "checklist_cli.item_exists"
        print(say(services, key, unit=added.unit, title=added.title))
    return 0


async def cmd_deadline(services: Services, args: argparse.Namespace) -> int:
    from bot.ledger import checklist
    from messages import format_date

    lang = services.settings.language
    if args.action == "set":
        try:
            due = date.fromisoformat(args.date)
        except ValueError:
            raise BadInput("cli.bad_date") from None
        result = await checklist.set_deadline(services=services, due=due, kind=args.kind)
        print(
            say(
                services,
                "cli.deadline_set",
                date=format_date(due, lang),
                scope=scope_name(services, result.scope),
            )
        )
        if result.replaced:
            kinds = [kind_name(lang, d.scope, plural=True) for d in result.replaced]
            print(say(services, "cli.deadline_kinds_replaced", kinds=kinds))
        return 0
    if args.action == "clear":
        removed = await checklist.clear_deadline(services=services, kind=args.kind)
        scope = kind_name(lang, args.kind, plural=True)
        if removed is None:
            print(say(services, "cli.deadline_not_own", scope=scope))
            return 0
        shown = {d.scope: d for d in await checklist.show_deadlines(services=services)}
        everyone = checklist.deadline_for(args.kind, shown)  # all units', the kind's own gone
        if everyone is None:
            print(say(services, "cli.deadline_cleared_none", scope=scope))
        else:
            date_ = format_date(everyone, lang)
            print(say(services, "cli.deadline_cleared", scope=scope, date=date_))
        return 0
    deadlines = await checklist.show_deadlines(services=services)
    if not deadlines:
        print(say(services, "cli.deadline_none"))
    for d in deadlines:
        print(
            say(
                services,
                "cli.deadline_line",
                scope=scope_name(services, d.scope),
                date=format_date(d.due, lang),
            )
        )
    return 0


def changed_units(services: Services, result: ImportResult) -> list[str]:
    """Return a line naming the units an import renamed, one those it gave another kind, one
    saying it listed the units in another order, and one naming the rows it read by a unit's
    former name."""
    lang = services.settings.language
    lines = []
    if result.renamed:
        names = [
            plain(lang, "uploads.units_renamed_one", former=c.former or "", name=c.name)
            for c in result.renamed
        ]
        lines.append(say(services, "cli.units_renamed", count=len(names), names=join(lang, names)))
    if result.retyped:
        names = [
            plain(
                lang,
                "uploads.units_retyped_one",
                name=c.name,
                before=kind_name(lang, c.former_kind or ""),
                after=kind_name(lang, c.kind),
            )
            for c in result.retyped
        ]
        lines.append(say(services, "cli.units_retyped", count=len(names), names=join(lang, names)))
    if result.reordered:
        lines.append(say(services, "cli.units_reordered"))
    if result.by_former:
        names = [
            plain(lang, "uploads.units_by_former_one", former=c.former or "", name=c.name)
            for c in result.by_former
        ]
        lines.append(
            say(services, "cli.units_by_former", count=len(names), names=join(lang, names))
        )
    return lines


def scope_name(services: Services, scope: str) -> str:
    if scope == "all":
        return say(services, "cli.deadline_scope_all")
    return kind_name(services.settings.language, scope)


async def cmd_staff(services: Services, args: argparse.Namespace) -> int:
    from bot import roster

    if args.action == "add":
        await roster.add_staff(services=services, user_id=args.user_id, actor="cli")
        print(say(services, "cli.staff_added", user_id=args.user_id))
    elif args.action == "remove":
        await roster.remove_staff(services=services, user_id=args.user_id)
        print(say(services, "cli.staff_removed", user_id=args.user_id))
    else:
        for member in await roster.list_staff(services=services):
            source = say(services, f"cli.staff_source_{member.source}")
            print(say(services, "cli.staff_line", user_id=member.user_id, source=source))
    return 0


async def cmd_report(services: Services, args: argparse.Namespace) -> int:
    from bot.ledger.report import build_report, render_report, write_report_json

    report = await build_report(services=services)
    if args.json:
        write_report_json(report, sys.stdout)
    else:
        print(strip_html(render_report(report, services.settings.language)))
    return 0


async def cmd_run(services: Services, args: argparse.Namespace) -> int:
    from bot.app import WebhookOptions, serve
    from bot.transport.supervisor import Fatal

    if not services.settings.token:
        print(say(services, "cli.no_token"), file=sys.stderr)
        return 2
    webhook = WebhookOptions(args.webhook, args.listen, args.port) if args.webhook else None

    def tell(key: str) -> None:
        print(say(services, key), file=sys.stderr)

    try:
        await serve(
            services,
            take_updates=not args.no_updates,
            webhook=webhook,
            started=lambda: tell("cli.running"),  # only once it really serves
            waiting=lambda exc: tell("runtime.waiting_for_telegram"),
        )
    except Fatal as exc:
        print(say(services, exc.key, **exc.values), file=sys.stderr)
        return 1
    print(say(services, "cli.stopped"), file=sys.stderr)
    return 0


async def cmd_demo(services: Services, args: argparse.Namespace) -> int:
    from bot.demo.run import run_demo

    return await run_demo(lang=args.lang or services.settings.language, keep=args.keep)


# Feature modules that bring their own commands (one line each).
FEATURES: list[Feature] = [invites, console, reminders, notices, ops, runtime]

COMMANDS: dict[str, Command] = {
    "db": cmd_db,
    "units": cmd_units,
    "checklist": cmd_checklist,
    "deadline": cmd_deadline,
    "staff": cmd_staff,
    "report": cmd_report,
    "run": cmd_run,
    "demo": cmd_demo,
}


def rejection(settings: Settings, exc: ImportRejected) -> str:
    """One line saying which row of a file is wrong and why."""
    lang = settings.language
    if exc.code == "not_found":
        return plain(lang, "cli.import_not_found", file=exc.details.get("file", ""))
    reason = reason_in(lang, exc.code, exc.details, fallback=str(exc))
    if exc.row:
        return plain(lang, "cli.import_rejected_row", row=exc.row, reason=reason)
    return plain(lang, "cli.import_rejected", reason=reason)


# The set-up commands: they may make the database when it is not set up (a SQLite file that
# is not there, a database without the bot's tables): a first installation, or a restore on a
# new machine. Every other command stops and names the database it looked at; `run` too (a
# disk not mounted yet must not start the bot on a new, empty database), with status 1.
CREATING = {
    ("demo",),
    ("restore",),
    ("db", "upgrade"),
    ("units", "import"),
    ("checklist", "import"),
}
# Commands that apply the migrations themselves and say so.
# `run` migrates once it holds the running mark (a restore in progress first ends).
SELF_MIGRATING = ("demo", "db", "run", *ops.UNMIGRATED)


# What `run` says when the database is not set up: status 1, which systemd tries again.
RUN_RETRIES = {
    "cli.database_unreachable",
    "setup.run_database_missing",
    "setup.run_database_empty",
}


def creating(args: argparse.Namespace) -> bool:
    """Whether the command may make the database (the SQLite file, the tables)."""
    return (args.command,) in CREATING or (args.command, getattr(args, "action", None)) in CREATING


def not_set_up(db: Database, command: str) -> DatabaseUnavailable:
    """The refusal of a database not set up: a SQLite file not there (run from another folder,
    the default URL names a file there; a disk not mounted), or one without the bot's tables."""
    path = sqlite_file(db.url)
    run = command == "run"
    if path is not None and not path.exists():
        key = "setup.run_database_missing" if run else "setup.database_missing"
        return DatabaseUnavailable(key, path=path.absolute())
    key = "setup.run_database_empty" if run else "setup.database_empty"
    return DatabaseUnavailable(key, database=db.shown())


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    services = Services(
        settings=settings,
        db=Database(settings.database_url, busy_timeout=settings.sqlite_busy_timeout),
    )
    try:
        if args.command != "demo":
            await services.db.reach()
        if not creating(args) and await services.db.revision() is None:
            # Making it would give an empty database that looks like the office's.
            raise not_set_up(services.db, args.command)
        path = sqlite_file(settings.database_url)
        new_file = path.absolute() if path is not None and not path.exists() else None
        if args.command not in SELF_MIGRATING:
            from bot.ledger.checklist import prepare_database

            migrated = await prepare_database(services)
            if migrated.applied:
                print(migration_line(services, migrated, new_file), file=sys.stderr)
        commands = dict(COMMANDS)
        for feature in FEATURES:
            commands.update(feature.COMMANDS)
        return await commands[args.command](services, args)
    finally:
        await services.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; stop quietly (141, as SIGPIPE would) when its reader goes away."""
    try:
        code = _command(argv)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught here
    except BrokenPipeError:
        # `liaison-bot units list | head -1`: what is left to print goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


def _command(argv: Sequence[str] | None) -> int:
    """Parse the command line, read the settings, run the command; 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(
            plain(exc.lang, "cli.bad_setting", variable=exc.variable, reason=exc.reason),
            file=sys.stderr,
        )
        return 2
    configure_logging(settings)
    from bot.holidays import start_warning

    warning = start_warning(settings)  # a warning, not a stop: the calendar does without it
    if warning is not None:
        print(warning, file=sys.stderr)
    try:
        return asyncio.run(_main(args, settings))
    except ImportRejected as exc:
        print(rejection(settings, exc), file=sys.stderr)
    except DatabaseUnavailable as exc:
        print(plain(settings.language, exc.key, **exc.values), file=sys.stderr)
        if args.command == "run" and exc.key in RUN_RETRIES:
            # A server not up yet (a reboot, a restart), a disk not mounted yet: 1, so that
            # systemd tries again; its unit does not restart after 2, which no retry mends.
            return 1
    except DomainError as exc:
        print(plain(settings.language, exc.key, **exc.values), file=sys.stderr)
    except WalRefused as exc:
        print(plain(settings.language, exc.key, **exc.values), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
