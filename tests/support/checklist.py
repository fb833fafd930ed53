"""The shipped default checklist (bot/data/default_checklist.csv), read by the bot's own loader.

Tests whose point is not the checklist's content (every owed item is listed, the walk ends after
the last item, a unit's count in a summary) take its size, order and titles from here, so that a
new line in the CSV only touches the tests about the checklist itself.
"""

from __future__ import annotations

from functools import cache

from bot.importing import ChecklistRow, parse_checklist
from bot.ledger.checklist import default_checklist_path


@cache
def shipped_checklist() -> tuple[ChecklistRow, ...]:
    """Every row of the shipped checklist, in the file's order."""
    return tuple(parse_checklist(default_checklist_path()))


def titles(kind: str) -> list[str]:
    """The titles a unit of that kind owes, in the checklist's order."""
    return [row.title for row in shipped_checklist() if row.kind == kind]


def item_count(kind: str) -> int:
    """How many items a unit of that kind owes."""
    return len(titles(kind))
