"""Domain errors: each names the message key that tells a person what went wrong."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the person should read: `key` in messages/, with its values."""

    key = "common.error"
    chat_key: str | None = None  # the same refusal worded for the chat, where it differs

    def __init__(self, **values: object) -> None:
        super().__init__(f"{self.key} {values}")
        self.values = values


class BadInput(DomainError):
    """Command-line input that cannot be used (exit status 2)."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(**values)
        self.key = key


class UnitNotFound(DomainError):
    key = "cli.unit_not_found"
    chat_key = "common.unit_not_found"


class UnitAmbiguous(DomainError):
    """Several units match a name: `matches` names the first few of `count`."""

    key = "cli.unit_ambiguous"
    chat_key = "common.unit_ambiguous"

    def __init__(self, *, name: str, matches: tuple[str, ...], count: int) -> None:
        super().__init__(name=name, matches=matches, count=count)
        if count > len(matches):  # "…等12家"
            self.key, self.chat_key = f"{self.key}_more", f"{self.chat_key}_more"


class UnitGone(DomainError):
    """A unit that a button or a step refers to is no longer on the roster."""

    key = "common.unit_gone"


class ItemGone(DomainError):
    """A checklist item that a button or a step refers to no longer applies or exists."""

    key = "common.item_gone"


class ItemNotFound(DomainError):
    key = "cli.item_not_found"


class ItemAmbiguous(DomainError):
    """Several of a unit's items hold the words given: `matches` names them."""

    key = "cli.item_ambiguous"


class NotStaff(DomainError):
    key = "common.staff_only"


class StaffNotFound(DomainError):
    key = "cli.staff_not_found"
