"""The command menu each kind of person sees (setMyCommands), and the outbox row that sets it."""

from __future__ import annotations

from typing import Any

from messages import t

EVERYONE_COMMANDS = ("start", "help", "language", "cancel")
MEMBER_COMMANDS = ("status", "submit", "contacts")
STAFF_COMMANDS = (
    "outstanding", "unit", "invite", "remind", "broadcast", "review", "export", "stats", "audit",
)  # fmt: skip
GROUP_COMMANDS = ("rollcall",)


def person_commands(*, member: bool, staff: bool) -> tuple[str, ...]:
    """The commands of one person's private menu: everyone's plus their role's."""
    extra = (MEMBER_COMMANDS if member else ()) + (STAFF_COMMANDS if staff else ())
    return EVERYONE_COMMANDS + extra


def menu_payload(lang: str, *, member: bool, staff: bool) -> dict[str, Any]:
    """An outbox row's call that sets one person's menu (the dispatcher scopes it to the chat)."""
    return {
        "method": "setMyCommands",
        "commands": [
            {"command": name, "description": t(lang, f"commands.{name}")}
            for name in person_commands(member=member, staff=staff)
        ],
    }
