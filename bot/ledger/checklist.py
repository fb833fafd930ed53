"""Use-cases of the ledger checklist (资料台账) and the collection's deadline (限时整改)."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.enums import KIND_ORDER, UnitKind
from bot.errors import BadInput, ItemAmbiguous, ItemNotFound
from bot.importing import ChecklistRow, parse_checklist
from bot.roster import ImportResult, find_unit, require_staff
from bot.services import Services
from messages import format_date
from storage import repositories as repo
from storage.db import Migrated
from storage.models import ChecklistItem, Deadline, Exemption, Submission, Unit


class ChecklistItemOut(BaseModel):
    id: int
    kind: str | None
    unit: str | None
    title: str
    description: str


# The state of a submission closed because its unit was excused from the item while it was
# still a draft or awaiting review: no longer reviewed, counted or kept (like "returned", it
# is history). Everything that reads Submission.state looks for draft/pending/accepted/
# returned, so a withdrawn submission is closed everywhere without further checks.
WITHDRAWN = "withdrawn"


class ItemAddedOut(BaseModel):
    unit: str
    title: str
    added: bool  # False: the unit already had an item of that title; nothing changed


class DeadlineOut(BaseModel):
    scope: str  # all | member | county
    due: date
    # Setting the deadline for all units: the kinds' own deadlines it took the place of.
    replaced: list[DeadlineOut] = []


def default_checklist_path() -> Path:
    """The built-in checklist (a new default item is a line there; the two guides in docs/
    quote how many items each kind owes)."""
    return Path(str(resources.files("bot") / "data" / "default_checklist.csv"))


async def import_checklist(
    *, services: Services, path: Path, actor_id: int | None = None
) -> ImportResult:
    """Replace the per-kind checklist with a file's; items left out are retired, not deleted."""
    rows = parse_checklist(path)
    async with services.db.uow() as tx:
        result = await _apply_checklist(tx, rows)
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "checklist_import",
            file=path.name,
            added=result.added,
            updated=result.updated,
        )
    return result


class ItemChange(BaseModel):
    kind: str
    title: str


class ChecklistPlan(BaseModel):
    """What a checklist file changes: items required anew, items retired, items reworded."""

    count: int
    by_kind: dict[str, int]  # items of the file for each kind of unit, in UnitKind's order
    added: list[ItemChange]
    retired: list[ItemChange]
    changed: int  # a new description or place in the list

    @property
    def changes(self) -> bool:
        return bool(self.added or self.retired or self.changed)


def title_key(title: str) -> str:
    """A title as a file's is matched with the stored one: half- and full-width forms, curly
    and straight quotes and spaces aside (年度工作计划(含双拥工作内容) is the same item)."""
    folded = unicodedata.normalize("NFKC", title)
    for curly, straight in (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'")):
        folded = folded.replace(curly, straight)
    return "".join(folded.split())


Key = tuple[str | None, str]


async def _stored_by_key(tx: AsyncSession) -> tuple[dict[Key, ChecklistItem], list[ChecklistItem]]:
    """The kinds' items by kind and folded title. Where several fold alike (an older import
    kept both spellings), the active one stands, else the newest; the others are doubles."""
    query = select(ChecklistItem).where(ChecklistItem.unit_id.is_(None))
    items = sorted((await tx.scalars(query)).all(), key=lambda i: (i.active, i.id))
    stands: dict[Key, ChecklistItem] = {}
    for item in items:  # the later wins: active over retired, then the newest
        stands[(item.kind, title_key(item.title))] = item
    doubles = [i for i in items if stands[(i.kind, title_key(i.title))] is not i]
    return stands, doubles


async def plan_checklist(tx: AsyncSession, rows: list[ChecklistRow]) -> ChecklistPlan:
    """What `_apply_checklist` would change, without writing anything."""
    existing, doubles = await _stored_by_key(tx)
    added: list[ItemChange] = []
    changed = 0
    for position, row in enumerate(rows):
        item = existing.get((row.kind, title_key(row.title)))
        if item is None or not item.active:
            added.append(ItemChange(kind=row.kind, title=row.title))
        elif (item.title, item.description, item.position) != (
            row.title,
            row.description,
            position,
        ):
            changed += 1
    wanted = {(row.kind, title_key(row.title)) for row in rows}
    retired = [
        ItemChange(kind=item.kind or "", title=item.title)
        for key, item in existing.items()
        if key not in wanted and item.active
    ] + [ItemChange(kind=i.kind or "", title=i.title) for i in doubles if i.active]
    counts = Counter(row.kind for row in rows)
    return ChecklistPlan(
        count=len(rows),
        by_kind={kind.value: counts[kind] for kind in UnitKind},
        added=added,
        retired=retired,
        changed=changed,
    )


async def apply_checklist(tx: AsyncSession, rows: list[ChecklistRow]) -> ImportResult:
    """Replace the per-kind checklist in the caller's transaction (items left out retire)."""
    return await _apply_checklist(tx, rows)


async def _apply_checklist(tx: AsyncSession, rows: list[ChecklistRow]) -> ImportResult:
    existing, doubles = await _stored_by_key(tx)
    added = updated = 0
    seen: set[tuple[str | None, str]] = set()
    for position, row in enumerate(rows):
        key: tuple[str | None, str] = (row.kind, title_key(row.title))
        seen.add(key)
        item = existing.get(key)
        if item is None:
            tx.add(
                ChecklistItem(
                    kind=row.kind,
                    unit_id=None,
                    title=row.title,
                    description=row.description,
                    position=position,
                    active=True,
                )
            )
            added += 1
        elif (item.title, item.description, item.position, item.active) != (
            row.title,
            row.description,
            position,
            True,
        ):  # the same item, its title perhaps written with other brackets or quotes
            item.title, item.description = row.title, row.description
            item.position, item.active = position, True
            updated += 1
    for key, item in existing.items():
        if key not in seen and item.active:
            item.active = False
            updated += 1
    for item in doubles:  # one item a title: a second spelling retires
        if item.active:
            item.active = False
            updated += 1
    return ImportResult(count=len(rows), added=added, updated=updated)


async def prepare_database(services: Services) -> Migrated:
    """Apply migrations and load the shipped checklist on first start; say what was applied."""
    migrated = await services.db.upgrade()
    await ensure_default_checklist(services=services)
    return migrated


async def ensure_default_checklist(*, services: Services) -> bool:
    """Load the shipped checklist on first start (when there is none); tell if it did."""
    async with services.db.uow() as tx:
        if await tx.scalar(select(func.count()).select_from(ChecklistItem)):
            return False
        await _apply_checklist(tx, parse_checklist(default_checklist_path()))
        repo.audit(tx, services.now(), None, "checklist_default")
        return True


async def list_checklist(*, services: Services) -> list[ChecklistItemOut]:
    async with services.db.uow() as tx:
        names = {u.id: u.name for u in await repo.units(tx)}
        return [
            ChecklistItemOut(
                id=i.id,
                kind=i.kind,
                unit=names.get(i.unit_id) if i.unit_id else None,
                title=i.title,
                description=i.description,
            )
            for i in await repo.checklist(tx)
        ]


async def _item_for_unit(
    tx: AsyncSession, unit: Unit, title: str, *, words: bool = True
) -> ChecklistItem:
    """The unit's item by its title, brackets and quotes aside, or (`words`) by the one title
    that holds the words given (年度工作计划 for 年度工作计划（含双拥工作内容）)."""
    wanted = title_key(title)
    own = [i for i in await repo.checklist(tx) if i.kind == unit.kind or i.unit_id == unit.id]
    same = [i for i in own if i.title == title.strip()]
    exact = same or [i for i in own if title_key(i.title) == wanted]
    found = exact or [i for i in own if words and wanted and wanted in title_key(i.title)]
    if len(found) == 1:
        return found[0]
    if found:
        raise ItemAmbiguous(title=title, matches=tuple(i.title for i in found))
    raise ItemNotFound(title=title)


async def exempt(
    *, services: Services, unit_name: str, title: str, reason: str, actor_id: int | None = None
) -> tuple[str, str]:
    """Excuse one unit from one item; return (unit, item) as named on the roster.

    The unit's drafts and submissions of the item awaiting review are withdrawn in the same
    transaction, so /review, /status and the report agree that nothing of it is open. Staff
    only (the command line, with no actor, is trusted).
    """
    async with services.db.uow() as tx:
        await require_staff(services=services, actor_id=actor_id, session=tx)
        unit = await find_unit(tx, unit_name)
        item = await _item_for_unit(tx, unit, title)
        closed = await tx.execute(
            update(Submission)
            .where(
                Submission.unit_id == unit.id,
                Submission.item_id == item.id,
                Submission.state.in_(("draft", "pending")),
            )
            .values(state=WITHDRAWN)
            .execution_options(synchronize_session=False)
        )
        found = await tx.scalar(
            select(Exemption).where(Exemption.unit_id == unit.id, Exemption.item_id == item.id)
        )
        if found is None:
            tx.add(
                Exemption(
                    unit_id=unit.id,
                    item_id=item.id,
                    reason=reason,
                    created_at=services.now(),
                    created_by=actor_id,
                )
            )
        else:
            found.reason = reason
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "exempt",
            unit_id=unit.id,
            item=item.title,
            reason=reason,
            withdrawn=int(closed.rowcount),  # type: ignore[attr-defined]
        )
        return unit.name, item.title


async def add_item(
    *,
    services: Services,
    unit_name: str,
    title: str,
    description: str = "",
    actor_id: int | None = None,
) -> ItemAddedOut:
    """Make one unit owe one more item, unless it already owes an item of that title (its
    own, or one of its kind's checklist): then nothing changes and `added` is False. Staff
    only (the command line, with no actor, is trusted)."""
    async with services.db.uow() as tx:
        await require_staff(services=services, actor_id=actor_id, session=tx)
        unit = await find_unit(tx, unit_name)
        title = title.strip()
        try:
            existing = await _item_for_unit(tx, unit, title, words=False)
        except ItemNotFound:
            existing = None
        if existing is not None:
            return ItemAddedOut(unit=unit.name, title=existing.title, added=False)
        tx.add(
            ChecklistItem(
                kind=None,
                unit_id=unit.id,
                title=title,
                description=description,
                position=0,
                active=True,
            )
        )
        repo.audit(tx, services.now(), actor_id, "item_add", unit_id=unit.id, item=title)
        return ItemAddedOut(unit=unit.name, title=title, added=True)


async def set_deadline(
    *, services: Services, due: date, kind: str | None = None, actor_id: int | None = None
) -> DeadlineOut:
    """Set the deadline for every unit, or for one kind of unit; never a day before today."""
    today = services.today()
    if due < today:
        raise BadInput("cli.deadline_past", today=format_date(today, services.settings.language))
    scope = kind or "all"
    replaced: list[DeadlineOut] = []
    async with services.db.uow() as tx:
        if scope == "all":  # all units means every unit: no kind keeps a date of its own
            for own in (d for d in (await repo.deadlines(tx)).values() if d.scope != "all"):
                replaced.append(DeadlineOut(scope=own.scope, due=own.due))
                await tx.delete(own)
        found = await tx.get(Deadline, scope)
        if found is None:
            tx.add(Deadline(scope=scope, due=due, set_at=services.now(), set_by=actor_id))
        elif found.due != due:  # a new date starts a new count of reminders; the same one not
            found.due, found.set_at, found.set_by = due, services.now(), actor_id
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "deadline_set",
            scope=scope,
            due=due.isoformat(),
            replaced=[d.scope for d in _in_kind_order(replaced)],
        )
    return DeadlineOut(scope=scope, due=due, replaced=_in_kind_order(replaced))


async def clear_deadline(
    *, services: Services, kind: str, actor_id: int | None = None
) -> DeadlineOut | None:
    """Take away one kind's own deadline (its units follow all units' again); the one removed."""
    async with services.db.uow() as tx:
        found = await tx.get(Deadline, kind)
        if found is None:
            return None
        removed = DeadlineOut(scope=found.scope, due=found.due)
        await tx.delete(found)
        repo.audit(tx, services.now(), actor_id, "deadline_cleared", scope=kind)
    return removed


async def show_deadlines(*, services: Services) -> list[DeadlineOut]:
    async with services.db.uow() as tx:
        found = await repo.deadlines(tx)
    return _in_kind_order([DeadlineOut(scope=d.scope, due=d.due) for d in found.values()])


def _in_kind_order(deadlines: list[DeadlineOut]) -> list[DeadlineOut]:
    """All units' deadline first, then the kinds' in UnitKind's order."""
    return sorted(
        deadlines,
        key=lambda d: -1 if d.scope == "all" else KIND_ORDER.get(d.scope, len(KIND_ORDER)),
    )


class Dated(Protocol):
    """A deadline as any layer holds it: a stored row, or the `DeadlineOut` a use-case returns."""

    @property
    def due(self) -> date: ...


def deadline_for(kind: str, deadlines: Mapping[str, Dated]) -> date | None:
    """A unit's deadline: the one for its kind, else the one for all units."""
    chosen = deadlines.get(kind) or deadlines.get("all")
    return chosen.due if chosen else None


def overall_deadline(deadlines: Mapping[str, Dated]) -> date | None:
    """The collection's deadline: the one for all units, else the latest of the kinds'."""
    overall = deadlines.get("all")
    dates = [d.due for d in deadlines.values()]
    return overall.due if overall else (max(dates) if dates else None)


def applies_to(item: ChecklistItem, unit_id: int, kind: str) -> bool:
    """An item applies to a unit when it is its kind's, or the unit's own addition."""
    return item.kind == kind or item.unit_id == unit_id
