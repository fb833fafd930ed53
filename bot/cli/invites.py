"""`liaison-bot invite UNIT… | --all-missing [--role liaison|lead] [--json]`.

Also `--revoke` (the units' unused links) and `--unregister --role R` (end the current
holder's registration, so that person may register for another unit)."""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli.common import Command, Subparsers, say
from bot.errors import BadInput
from bot.registration import invites
from bot.services import Services
from messages import format_date, role_name


def add_parsers(sub: Subparsers) -> None:
    """The `invite` command."""
    parser = sub.add_parser(
        "invite",
        help="new invite links (registration links) for units",
        description=(
            "Print new one-time registration links. Without --role, a unit named gets a "
            "liaison link; --all-missing makes a liaison link for every unit without a "
            "liaison and a lead link for every unit whose lead is not registered (with "
            "--role lead: whose lead has not linked their own chat)."
        ),
    )
    parser.add_argument("units", nargs="*", metavar="UNIT", help="unit names as on the roster")
    parser.add_argument(
        "--all-missing", action="store_true", help="every unit still lacking a liaison or lead"
    )
    parser.add_argument("--role", choices=invites.ROLES, default=None)
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--revoke", action="store_true", help="revoke the units' unused links instead"
    )
    action.add_argument(
        "--unregister",
        action="store_true",
        help="end the current holder's registration of --role instead",
    )


async def cmd_invite(services: Services, args: argparse.Namespace) -> int:
    """Make (or revoke) invite links and print them."""
    if args.units and args.all_missing:
        raise BadInput("invite_cli.units_or_all")
    if args.revoke or args.unregister:
        return await _revoke_or_unregister(services, args)
    if not args.units and not args.all_missing:
        raise BadInput("invite_cli.need_units")
    created = await invites.create_invites(
        services=services, units=args.units, all_missing=args.all_missing, role=args.role
    )
    tz, lang = services.settings.tz, services.settings.language
    if args.json:
        listed = [
            {
                "unit": i.unit,
                "role": i.role,
                "token": i.token,
                "link": i.link,
                "expires_at": i.expires_at.astimezone(tz).isoformat(),
                "open_before": i.open_before,
                "replaces": i.holder,
            }
            for i in created
        ]
        print(json.dumps(listed, ensure_ascii=False, indent=2))
        return 0
    if not created:
        print(say(services, "invite_cli.none_missing"))
    for invite in created:  # notes on stderr: the lines on stdout stay one link each
        if invite.holder is not None:
            note = say(
                services,
                "invite.replaces",
                unit=invite.unit,
                role=role_name(lang, invite.role),
                name=invite.holder,
            )
            print(note, file=sys.stderr)
        if invite.open_before:
            note = say(
                services,
                "invite_cli.open_before",
                unit=invite.unit,
                count=invite.open_before,
                role=role_name(lang, invite.role),
                code=invite.role,
            )
            print(note, file=sys.stderr)
    for invite in created:
        date = format_date(invite.expires_at.astimezone(tz).date(), lang)
        role = role_name(lang, invite.role)
        print(
            say(
                services,
                "invite_cli.line",
                unit=invite.unit,
                role=role,
                link=invite.link,
                date=date,
            )
        )
    return 0


async def _revoke_or_unregister(services: Services, args: argparse.Namespace) -> int:
    if not args.units:
        raise BadInput("invite_cli.need_units")
    if args.revoke:
        for revoked in await invites.revoke_invites(
            services=services, units=args.units, role=args.role
        ):
            print(say(services, "invite_cli.revoked", unit=revoked.unit, count=revoked.count))
        return 0
    if args.role is None:
        raise BadInput("invite_cli.unregister_needs_role")
    # Imported here: the conversation's modules are not needed by the other commands.
    from bot.registration import contacts, flow

    role = role_name(services.settings.language, args.role)
    for name in args.units:
        try:
            done = await contacts.unregister(services=services, unit_name=name, role=args.role)
        except flow.NoHolder as exc:
            raise BadInput(
                "invite_cli.no_holder",
                unit=exc.values["unit"],
                role=role,
            ) from None
        print(
            say(
                services,
                "invite_cli.unregistered",
                unit=done.unit,
                role=role,
                name=done.person.name,
            )
        )
    return 0


COMMANDS: dict[str, Command] = {"invite": cmd_invite}
