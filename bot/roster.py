"""Use-cases of the roster: units, office staff, and the accounts the bot has met."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.conversations import StepOut
from bot.errors import NotStaff, StaffNotFound, UnitAmbiguous, UnitNotFound
from bot.importing import (
    ImportProblems,
    ImportRejected,
    Numbered,
    RejectCode,
    UnitRow,
    read_units,
)
from bot.services import Services
from messages import LANGUAGES, normalize_language
from storage import repositories as repo
from storage.models import (
    UNIT_ORDER,
    Account,
    ConversationStep,
    OutboxMessage,
    Person,
    StaffMember,
    Unit,
    UnitFormerName,
    listed_order,
)

AMBIGUOUS_SHOWN = 8  # units named when a name matches several


class ImportResult(BaseModel):
    count: int
    added: int
    updated: int
    renamed: list[UnitChange] = []
    retyped: list[UnitChange] = []  # a kind changed (a renamed unit's too)
    reordered: bool = False  # units on record are listed in another order now
    by_former: list[UnitChange] = []  # rows that name a unit by a former name


class UnitChange(BaseModel):
    """A unit a roster adds, renames (from `former`) or gives another kind (`former_kind`);
    or, in `RosterPlan.by_former`, a unit a row names by its former name (`former`)."""

    name: str
    kind: str
    former: str | None = None
    former_kind: str | None = None


class AbsentUnit(BaseModel):
    """A unit on record that a roster file does not list, and what hangs on it."""

    id: int
    name: str
    kind: str
    people: int  # liaisons and leads holding the role now
    accepted: int  # items accepted (as the unit's card counts them)
    pending: int  # items awaiting review, none of their materials accepted


class RosterPlan(BaseModel):
    """What a roster file changes: checked against the database, nothing written yet."""

    count: int
    added: list[UnitChange]
    renamed: list[UnitChange]
    retyped: list[UnitChange]
    absent: list[AbsentUnit]  # in the order they are listed now
    # Rows naming a unit by a name it had before (no unit has it now, no 原单位名称): the
    # unit under its current name, neither renamed back nor added again.
    by_former: list[UnitChange] = []
    listed: list[str] = []  # the file's units, in its order (the order they will be listed in)
    reordered: bool = False  # units on record come to be listed in another order

    @property
    def changes(self) -> bool:
        return bool(self.added or self.renamed or self.retyped or self.reordered)


class UnitOut(BaseModel):
    id: int
    name: str
    kind: str


class RoleOut(BaseModel):
    unit_id: int
    unit: str
    kind: str
    role: str


class StaffOut(BaseModel):
    user_id: int
    source: str  # "env" | "db"


async def import_units(
    *, services: Services, path: Path, actor: str | None = None
) -> ImportResult:
    """Upsert the units of a roster file (renames by 原单位名称 included; units it leaves out
    stay); a bad file raises ImportRejected and writes nothing."""
    rows = read_units(path, strict=False)
    now = services.now()
    async with services.db.uow() as tx:
        plan = await plan_roster(tx, rows)
        await apply_roster(tx, plan, now=now, remove_absent=False)
        repo.audit(
            tx,
            now,
            None,
            "units_import",
            file=path.name,
            by=actor,
            added=len(plan.added),
            renamed=len(plan.renamed),
            updated=len(plan.retyped),
        )
    return ImportResult(
        count=plan.count,
        added=len(plan.added),
        updated=len(plan.renamed) + len(plan.retyped),
        renamed=plan.renamed,
        retyped=[c for c in plan.renamed + plan.retyped if c.former_kind],
        reordered=plan.reordered,
        by_former=plan.by_former,
    )


async def plan_roster(session: AsyncSession, parsed: Numbered[UnitRow]) -> RosterPlan:
    """What a roster changes against the units on record; ImportProblems naming every bad
    row (those the file read left out, and each rename that cannot be done)."""
    by_name = {u.name: u for u in await repo.units(session)}
    by_id = {u.id: u for u in by_name.values()}
    was = {n: by_id[i] for n, i in await former_names(session) if n not in by_name}
    names = {row.name for _, row in parsed.rows}
    former_column = parsed.headers.get("former_name", "former_name")
    problems: list[ImportRejected] = []
    renamed_at: dict[str, int] = {}
    claimed: set[int] = set()
    added: list[UnitChange] = []
    renamed: list[UnitChange] = []
    retyped: list[UnitChange] = []
    by_former: dict[int, tuple[int, UnitChange]] = {}  # unit id: the row naming it so
    listed: list[str] = []
    for number, row in parsed.rows:
        unit = by_name.get(row.name)
        former = by_name.get(row.former_name) if row.former_name != row.name else None
        if unit is None and row.name in was and row.former_name in ("", row.name):
            unit = was[row.name]  # an older roster's name: the unit as it is called now
            by_former[unit.id] = (
                number,
                UnitChange(name=unit.name, kind=row.kind, former=row.name),
            )
        listed.append(unit.name if unit is not None else row.name)
        problem: RejectCode | None = None
        if row.former_name and row.former_name != row.name:
            if unit is not None and former is not None:
                problem = "rename_taken"
            elif unit is None and former is None:
                problem = "unknown_former"
            elif unit is None and row.former_name in names:
                problem = "former_listed"
        if problem is not None:
            value = row.name if problem == "rename_taken" else row.former_name
            column = parsed.headers["name"] if problem == "rename_taken" else former_column
            problems.append(ImportRejected(number, problem, {"column": column, "value": value}))
            continue
        if unit is None and former is not None:
            if row.former_name in renamed_at:
                problems.append(
                    ImportRejected(
                        number,
                        "duplicate",
                        {
                            "column": former_column,
                            "value": row.former_name,
                            "first_row": str(renamed_at[row.former_name]),
                        },
                    )
                )
                continue
            if former.id in by_former:  # listed by a former name too
                problems.append(_twice(parsed, by_former[former.id], former))
                continue
            renamed_at[row.former_name] = number
            claimed.add(former.id)
            renamed.append(
                UnitChange(
                    name=row.name,
                    kind=row.kind,
                    former=former.name,
                    former_kind=former.kind if former.kind != row.kind else None,
                )
            )
        elif unit is None:
            added.append(UnitChange(name=row.name, kind=row.kind))
        else:
            if unit.id in claimed and unit.id in by_former:  # by its name and a former one
                problems.append(_twice(parsed, by_former[unit.id], unit))
                continue
            claimed.add(unit.id)
            if unit.kind != row.kind:
                retyped.append(UnitChange(name=unit.name, kind=row.kind, former_kind=unit.kind))
    problems = sorted([*parsed.problems, *problems], key=lambda p: p.row or 0)
    if problems:
        raise ImportProblems(problems)
    left = [u for u in by_name.values() if u.id not in claimed]
    return RosterPlan(
        count=len(parsed.rows),
        added=added,
        renamed=renamed,
        retyped=retyped,
        absent=await _absent(session, left),
        listed=listed,
        reordered=_reordered(list(by_name.values()), parsed, listed, left, was),
        by_former=[change for _, change in by_former.values()],
    )


def _twice(parsed: Numbered[UnitRow], row: tuple[int, UnitChange], unit: Unit) -> ImportRejected:
    """A row naming a unit by a former name that the file also lists by its name, or renames."""
    number, change = row
    details = {"column": parsed.headers["name"], "value": change.former or "", "name": unit.name}
    return ImportRejected(number, "former_of_listed", details)


def _positions(listed: Sequence[str], absent: Sequence[str]) -> dict[str, int]:
    """Each unit's position after a roster import, by name: the file's units in its order,
    then those it leaves out, in the order they were listed in."""
    return {name: n for n, name in enumerate([*listed, *absent], 1)}


def _reordered(
    units: Sequence[Unit],
    parsed: Numbered[UnitRow],
    listed: Sequence[str],
    left: Sequence[Unit],
    was: dict[str, Unit],
) -> bool:
    """Whether a roster lists the units on record in another order than today's (`units`,
    in that order), each counted under the name (`listed`, a row's each) and kind the file
    gives it; `was`: the units by former names."""
    by_name = {u.name: u for u in units}
    name = {u.id: u.name for u in units}
    kind = {u.id: u.kind for u in units}
    for (_, row), listed_as in zip(parsed.rows, listed, strict=True):
        unit = by_name.get(row.name) or by_name.get(row.former_name) or was.get(row.name)
        if unit is not None:
            name[unit.id], kind[unit.id] = listed_as, row.kind
    at = _positions(listed, [u.name for u in left])
    before = [u.id for u in sorted(units, key=lambda u: kind[u.id])]  # stable: today's order
    after = sorted(name, key=lambda i: listed_order(kind[i], at[name[i]], i))
    return before != after


async def _absent(session: AsyncSession, units: Sequence[Unit]) -> list[AbsentUnit]:
    """The units a roster file leaves out, with what they hold, as their card counts it (the
    read model of obligations: people on record, items accepted, items awaiting review)."""
    from bot.ledger.status import load_obligations  # the ledger is built on the roster

    if not units:
        return []
    dues = {
        d.unit_id: d for d in await load_obligations(session, [u.id for u in units], detail=False)
    }
    absent = []
    for u in units:
        d = dues[u.id]
        people = sum(1 for holder in (d.liaison, d.lead) if holder is not None)
        absent.append(
            AbsentUnit(
                id=u.id,
                name=u.name,
                kind=u.kind,
                people=people,
                accepted=d.accepted,
                pending=d.pending_review,
            )
        )
    return absent


async def apply_roster(
    session: AsyncSession, plan: RosterPlan, *, now: datetime, remove_absent: bool
) -> list[int]:
    """Write a roster's changes in the caller's transaction; with `remove_absent`, delete the
    units it leaves out (their people, invites and materials go with them; their messages
    still waiting in the outbox are cancelled). Return the Telegram ids of the people removed."""
    by_name = {u.name: u for u in await repo.units(session)}
    # A name a unit has now is no unit's former name (a unit renamed back, or another unit
    # taking it); each renamed unit's name now becomes its own former name.
    taken = [c.name for c in plan.renamed + plan.added] + [c.former or "" for c in plan.renamed]
    if taken:
        await session.execute(
            delete(UnitFormerName)
            .where(UnitFormerName.name.in_(taken))
            .execution_options(synchronize_session=False)
        )
    for change in plan.renamed:
        assert change.former is not None
        unit = by_name[change.former]
        session.add(UnitFormerName(unit_id=unit.id, name=unit.name, renamed_at=now))
        unit.name, unit.kind = change.name, change.kind
    for change in plan.retyped:
        by_name[change.name].kind = change.kind
    at = _positions(plan.listed, [u.name for u in plan.absent])
    for unit in by_name.values():
        if unit.name in at and unit.position != at[unit.name]:
            unit.position = at[unit.name]
    for change in plan.added:
        unit = Unit(name=change.name, kind=change.kind, position=at[change.name], created_at=now)
        session.add(unit)
    if not remove_absent or not plan.absent:
        return []
    ids = [u.id for u in plan.absent]
    users = (
        await session.scalars(
            select(Person.telegram_user_id).where(Person.unit_id.in_(ids), Person.until.is_(None))
        )
    ).all()
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.unit_id.in_(ids), OutboxMessage.state == "pending")
        .values(state="cancelled", error="unit removed from the roster")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Unit).where(Unit.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return [u for u in users if u]


async def list_units(*, services: Services) -> list[UnitOut]:
    async with services.db.uow() as tx:
        return [UnitOut(id=u.id, name=u.name, kind=u.kind) for u in await repo.units(tx)]


async def former_names(session: AsyncSession) -> list[tuple[str, int]]:
    """The names units had before a roster renamed them, each with the unit's id."""
    rows = await session.execute(select(UnitFormerName.name, UnitFormerName.unit_id))
    return [(name, unit_id) for name, unit_id in rows]


@dataclass(frozen=True)
class FoundUnit:
    """The unit a person meant, and the former name they knew it by (if they wrote one)."""

    unit: Unit
    former: str | None = None


async def find_unit(session: AsyncSession, name: str) -> Unit:
    """The unit a person means: the exact name, else the unit that had that name before a
    rename, else the one name that contains the words, else the one whose pinyin initials
    contain them (市民政局: smzj)."""
    return (await lookup_unit(session, name)).unit


async def lookup_unit(session: AsyncSession, name: str) -> FoundUnit:
    """`find_unit`, saying whether the name was the unit's former name."""
    wanted = name.strip()
    exact = await session.scalar(select(Unit).where(Unit.name == wanted))
    if exact is not None:
        return FoundUnit(unit=exact)
    was = await session.scalar(
        select(Unit)
        .join(UnitFormerName, UnitFormerName.unit_id == Unit.id)
        .where(UnitFormerName.name == wanted)
    )
    if was is not None:
        return FoundUnit(unit=was, former=wanted)
    matches: list[tuple[int, str]] = []  # ids and names only: a short query matches many
    if wanted:
        # The database finds the candidates (LIKE ignores ASCII case); the exact test keeps
        # those that contain the words as typed.
        found = await session.execute(
            select(Unit.id, Unit.name)
            .where(Unit.name.contains(wanted, autoescape=True))
            .order_by(*UNIT_ORDER)
        )
        matches = [(unit_id, unit_name) for unit_id, unit_name in found if wanted in unit_name]
    if not matches and wanted:
        initials = wanted.lower()
        names = await session.execute(select(Unit.id, Unit.name).order_by(*UNIT_ORDER))
        matches = [(i, unit_name) for i, unit_name in names if initials in _initials(unit_name)]
    if len(matches) == 1:
        unit = await session.get(Unit, matches[0][0])
        if unit is not None:  # else removed since (another process): not found
            return FoundUnit(unit=unit)
        matches = []
    if not matches:
        raise UnitNotFound(name=wanted)
    shown = tuple(name for _, name in matches[:AMBIGUOUS_SHOWN])
    raise UnitAmbiguous(name=wanted, matches=shown, count=len(matches))


@lru_cache(maxsize=200_000)
def _initials(name: str) -> str:
    """Pinyin initials of a Chinese name (市民政局 → smzj), for quick typing."""
    from pypinyin import Style, lazy_pinyin

    return "".join(p[0] for p in lazy_pinyin(name, style=Style.FIRST_LETTER) if p)


class ActorOut(BaseModel):
    """The person an update comes from: their language, whether staff, their roles."""

    user_id: int
    language: str
    staff: bool
    roles: list[RoleOut]
    unreachable: bool = False  # a message to them failed with 403 (blocked, never started)
    step: StepOut | None = None  # the conversation step they are at, as the update began

    @property
    def member(self) -> bool:
        return bool(self.roles)


# The person acting, read for every update: built once, each run binds `user_id`.
_ACCOUNT = select(
    *(
        select(column)
        .where(Account.user_id == bindparam("user_id"))
        .scalar_subquery()
        .label(f"account_{column.key}")
        for column in (Account.language, Account.unreachable_since, Account.name)
    ),
    select(StaffMember.user_id)
    .where(StaffMember.user_id == bindparam("user_id"))
    .scalar_subquery()
    .label("staff"),
    *(
        select(column)
        .where(ConversationStep.user_id == bindparam("user_id"))
        .scalar_subquery()
        .label(f"step_{column.key}")
        for column in (
            ConversationStep.flow,
            ConversationStep.step,
            ConversationStep.data,
            ConversationStep.updated_at,
        )
    ),
)
_ROLES = (
    select(Unit.id, Unit.name, Unit.kind, Person.role)
    .join(Person, Person.unit_id == Unit.id)
    .where(Person.telegram_user_id == bindparam("user_id"), Person.until.is_(None))
    .order_by(*UNIT_ORDER)
)


async def actor(
    *, services: Services, user_id: int, language_code: str | None, name: str | None = None
) -> ActorOut:
    """Who is acting, read once per update: language, staff, roles. A staff member's Telegram
    `name` is kept when new or changed (the audit log and the review name them)."""
    who = {"user_id": user_id}
    async with services.db.sessions() as session:
        row = (await session.execute(_ACCOUNT, who)).one()
        language, unreachable, stored_name, stored_staff, flow, step, data, moved = tuple(row)
        held = (await session.execute(_ROLES, who)).all()
    staff = user_id in services.settings.staff_ids or stored_staff is not None
    if staff and name and name[:200] != stored_name:
        async with services.db.uow(bookkeeping=True) as tx:
            (await _account(tx, user_id, services.now())).name = name[:200]
    return ActorOut(
        user_id=user_id,
        language=language or _default_language(services, language_code),
        staff=staff,
        roles=[RoleOut(unit_id=u, unit=n, kind=kind, role=role) for u, n, kind, role in held],
        unreachable=unreachable is not None,
        step=StepOut(
            user_id=user_id, flow=flow, step=step, data=dict(data or {}), updated_at=moved
        )
        if flow is not None
        else None,
    )


async def staff_names(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    """The Telegram names of staff members, where the bot has seen them."""
    return await _kept(session, Account.name, user_ids)


async def _kept(
    session: AsyncSession, column: InstrumentedAttribute[str | None], user_ids: Sequence[int]
) -> dict[int, str]:
    """One thing kept on the accounts of many people (their language, their name), for those
    who have it, in one statement a chunk of ids."""
    kept: dict[int, str] = dict(
        await repo.rows_in(
            session,
            lambda part: select(Account.user_id, column).where(
                Account.user_id.in_(part), column.is_not(None)
            ),
            user_ids,
        )
    )
    return kept


async def reachable_again(*, services: Services, user_id: int) -> None:
    """A person marked unreachable wrote to the bot or pressed its button: clear the mark."""
    async with services.db.uow(bookkeeping=True) as tx:
        account = await tx.get(Account, user_id)
        if account is not None:
            _reachable(account, services.now())


# Telegram's words when a message is sent to a person who has blocked the bot (403).
BLOCKED = "Forbidden: bot was blocked by the user"


async def set_blocked(*, services: Services, user_id: int, blocked: bool) -> None:
    """A person blocked the bot (unreachable, as a message refused with 403 marks them) or
    unblocked it (reachable again)."""
    async with services.db.uow() as tx:
        now = services.now()
        if blocked:
            await mark_unreachable(tx, user_id, now, BLOCKED)
        else:
            _reachable(await _account(tx, user_id, now), now)


async def mark_unreachable(
    session: AsyncSession, user_id: int, now: datetime, reason: str
) -> None:
    """Mark, in the caller's transaction, that the bot cannot write to a person (since the
    first time it could not; why, the latest reason)."""
    account = await _account(session, user_id, now)
    if account.unreachable_since is None:
        account.unreachable_since = now
    account.unreachable_reason = reason[:200]


async def is_staff(*, services: Services, user_id: int) -> bool:
    """Whether a person is office staff (STAFF_IDS, or added with `staff add`)."""
    if user_id in services.settings.staff_ids:
        return True
    async with services.db.sessions() as session:
        return await staff_in(session, services, user_id)


async def staff_in(session: AsyncSession, services: Services, user_id: int) -> bool:
    """`is_staff`, read in the caller's transaction."""
    if user_id in services.settings.staff_ids:
        return True
    return await session.get(StaffMember, user_id) is not None


async def staff_ids(session: AsyncSession, services: Services) -> list[int]:
    """Everyone who is office staff (STAFF_IDS and those added with `staff add`), by id."""
    stored = [s.user_id for s in await repo.staff_members(session)]
    return sorted({*services.settings.staff_ids, *stored})


async def require_staff(
    *, services: Services, actor_id: int | None, session: AsyncSession | None = None
) -> None:
    """The one staff check of every staff use-case: the command line (no actor) is trusted;
    anyone else must be office staff, or NotStaff is raised."""
    if actor_id is None:
        return
    if session is not None:
        allowed = await staff_in(session, services, actor_id)
    else:
        allowed = await is_staff(services=services, user_id=actor_id)
    if not allowed:
        raise NotStaff()


async def add_staff(*, services: Services, user_id: int, actor: str | None = None) -> None:
    async with services.db.uow() as tx:
        if await tx.get(StaffMember, user_id) is None:
            tx.add(StaffMember(user_id=user_id, added_at=services.now(), added_by=actor))
        repo.audit(tx, services.now(), None, "staff_add", user_id=user_id)


async def remove_staff(*, services: Services, user_id: int) -> None:
    async with services.db.uow() as tx:
        result = await tx.execute(delete(StaffMember).where(StaffMember.user_id == user_id))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise StaffNotFound(user_id=user_id)
        repo.audit(tx, services.now(), None, "staff_remove", user_id=user_id)


async def list_staff(*, services: Services) -> list[StaffOut]:
    async with services.db.uow() as tx:
        ids = await staff_ids(tx, services)
    env = set(services.settings.staff_ids)
    return [StaffOut(user_id=u, source="env" if u in env else "db") for u in ids]


async def greet(*, services: Services, user_id: int, language_code: str | None) -> str:
    """Record that a person has started the bot; return the language to answer in."""
    async with services.db.uow() as tx:
        account = await seen(tx, user_id, services.now(), language_code)
        return account.language or _default_language(services, language_code)


async def _account(session: AsyncSession, user_id: int, now: datetime) -> Account:
    """A person's account, made the first time the bot meets them."""
    account = await session.get(Account, user_id)
    if account is None:
        account = Account(user_id=user_id, first_seen=now, last_seen=now)
        session.add(account)
    return account


async def seen(
    session: AsyncSession, user_id: int, now: datetime, language_code: str | None = None
) -> Account:
    """Record, in the caller's transaction, that a person started the bot now (/start, an
    invite link); keep their Telegram app's language if they have not chosen one, so that
    what the bot sends them unasked later (reminders, review results) is written in it."""
    account = await _account(session, user_id, now)
    _reachable(account, now)
    if account.language is None:
        account.language = _supported(language_code)
    return account


def _reachable(account: Account, now: datetime) -> None:
    """Seen now: a person who writes to the bot can be reached again."""
    account.last_seen = now
    account.unreachable_since = None
    account.unreachable_reason = None


async def language_of(*, services: Services, user_id: int, language_code: str | None) -> str:
    """The language a person chose, else their Telegram app's, else the office default."""
    async with services.db.sessions() as session:
        return await language_in(session, services, user_id, language_code)


async def language_in(
    session: AsyncSession, services: Services, user_id: int, language_code: str | None = None
) -> str:
    """`language_of`, read in the caller's transaction."""
    chosen = await session.scalar(select(Account.language).where(Account.user_id == user_id))
    return chosen or _default_language(services, language_code)


async def languages_in(
    session: AsyncSession, services: Services, user_ids: Sequence[int]
) -> dict[int, str]:
    """`language_in` for many people at once: each one's chosen language, else the office's."""
    chosen = await _kept(session, Account.language, user_ids)
    return {u: chosen.get(u) or services.settings.language for u in user_ids}


def _supported(language_code: str | None) -> str | None:
    """The catalogue of a Telegram app's language, if the bot speaks it."""
    short = (language_code or "").split("-")[0].lower()
    return short if short in LANGUAGES else None


def _default_language(services: Services, language_code: str | None) -> str:
    if language_code:
        return normalize_language(language_code)
    return services.settings.language


async def set_language(*, services: Services, user_id: int, language: str) -> str:
    """Remember the language a person chose."""
    now = services.now()
    async with services.db.uow() as tx:
        account = await _account(tx, user_id, now)
        account.language = normalize_language(language)
        account.last_seen = now
        return account.language


async def roles_of(*, services: Services, user_id: int) -> list[RoleOut]:
    """The roles a Telegram user holds now, with their units."""
    async with services.db.sessions() as session:
        people = await repo.roles_of_user(session, user_id)
        result = []
        for person in people:
            unit = await session.get(Unit, person.unit_id)
            if unit is not None:
                result.append(
                    RoleOut(unit_id=unit.id, unit=unit.name, kind=unit.kind, role=person.role)
                )
        return result
