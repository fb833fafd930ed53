"""The command menu each kind of person sees (setMyCommands), and the outbox call that sets it.

Which commands each audience has is defined once, by the handlers' command registry
(`handlers/registry.py` calls `define()` when the application is built); an outbox row asks for
"the menu of a member, or of staff" and the dispatcher writes the commands when it sends, so a
row queued by the command line gets the running bot's menu.
"""

from __future__ import annotations

from typing import Any

from telegram import BotCommand

from messages import t

_MENUS: dict[str, tuple[str, ...]] = {"everyone": (), "member": (), "staff": (), "group": ()}


def define(menus: dict[str, tuple[str, ...]]) -> None:
    """Set the commands of each audience (everyone, member, staff, group)."""
    _MENUS.update(menus)


def audience_commands(audience: str) -> tuple[str, ...]:
    return _MENUS[audience]


def person_commands(*, member: bool, staff: bool) -> tuple[str, ...]:
    """The commands of one person's private menu: everyone's plus their role's."""
    extra = (_MENUS["member"] if member else ()) + (_MENUS["staff"] if staff else ())
    return _MENUS["everyone"] + extra


def bot_commands(lang: str, names: tuple[str, ...]) -> list[BotCommand]:
    """The menu entries of these commands, described in the person's language."""
    return [BotCommand(name, t(lang, f"commands.{name}")) for name in names]


def menu_payload(lang: str, *, member: bool, staff: bool) -> dict[str, Any]:
    """An outbox row's call that sets one person's menu (the dispatcher scopes it to the chat)."""
    return {"method": "setMyCommands", "language": lang, "member": member, "staff": staff}
