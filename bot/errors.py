"""Domain errors: each names the message key that tells a person what went wrong."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the person should read: `key` in messages/, with its values."""

    key = "common.error"

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


class UnitAmbiguous(DomainError):
    key = "cli.unit_ambiguous"


class ItemNotFound(DomainError):
    key = "cli.item_not_found"


class NotStaff(DomainError):
    key = "common.staff_only"


class StaffNotFound(DomainError):
    key = "cli.staff_not_found"
