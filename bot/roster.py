"""Use-cases of the roster: units, office staff, and the accounts the bot has met."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotStaff, StaffNotFound, UnitAmbiguous, UnitNotFound
from bot.importing import parse_units
from bot.services import Services
from messages import normalize_language
from storage import repositories as repo
from storage.models import Account, Person, StaffMember, Unit


class ImportResult(BaseModel):
    count: int
    added: int
    updated: int


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
    """Upsert the units of a roster file; a bad file raises ImportRejected and writes nothing."""
    rows = parse_units(path)
    now = services.now()
    added = updated = 0
    async with services.db.uow() as tx:
        existing = {u.name: u for u in await repo.units(tx)}
        for row in rows:
            unit = existing.get(row.name)
            if unit is None:
                tx.add(Unit(name=row.name, kind=row.kind, created_at=now))
                added += 1
            elif unit.kind != row.kind:
                unit.kind = row.kind
                updated += 1
        repo.audit(
            tx,
            at=now,
            actor_id=None,
            action="units_import",
            file=path.name,
            by=actor,
            added=added,
            updated=updated,
        )
    return ImportResult(count=len(rows), added=added, updated=updated)


async def list_units(*, services: Services) -> list[UnitOut]:
    async with services.db.uow() as tx:
        return [UnitOut(id=u.id, name=u.name, kind=u.kind) for u in await repo.units(tx)]


async def find_unit(session: AsyncSession, name: str) -> Unit:
    """The unit a person means: the exact name, else the one name that contains the words,
    else the one whose pinyin initials contain them (市民政局: smzj)."""
    wanted = name.strip()
    exact = await session.scalar(select(Unit).where(Unit.name == wanted))
    if exact is not None:
        return exact
    matches: list[Unit] = []
    if wanted:
        # The database finds the candidates (LIKE ignores ASCII case); the exact test keeps
        # those that contain the words as typed.
        found = await session.scalars(
            select(Unit)
            .where(Unit.name.contains(wanted, autoescape=True))
            .order_by(Unit.kind, Unit.name)
        )
        matches = [u for u in found.all() if wanted in u.name]
    if not matches and wanted:
        initials = wanted.lower()
        names = await session.execute(select(Unit.id, Unit.name).order_by(Unit.kind, Unit.name))
        ids = [unit_id for unit_id, unit_name in names if initials in _initials(unit_name)]
        if ids:
            found = await session.scalars(
                select(Unit).where(Unit.id.in_(ids[:9])).order_by(Unit.kind, Unit.name)
            )
            matches = list(found.all())
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UnitNotFound(name=wanted)
    raise UnitAmbiguous(name=wanted, matches="、".join(u.name for u in matches[:8]))


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

    @property
    def member(self) -> bool:
        return bool(self.roles)


async def actor(*, services: Services, user_id: int, language_code: str | None) -> ActorOut:
    """Who is acting, read once per update in one query: language, staff, roles."""
    async with services.db.sessions() as session:
        language, unreachable, stored_staff = (
            await session.execute(
                select(
                    select(Account.language)
                    .where(Account.user_id == user_id)
                    .scalar_subquery()
                    .label("language"),
                    select(Account.unreachable_since)
                    .where(Account.user_id == user_id)
                    .scalar_subquery()
                    .label("unreachable"),
                    select(StaffMember.user_id)
                    .where(StaffMember.user_id == user_id)
                    .scalar_subquery()
                    .label("staff"),
                )
            )
        ).one()
        held = (
            await session.execute(
                select(Unit.id, Unit.name, Unit.kind, Person.role)
                .join(Person, Person.unit_id == Unit.id)
                .where(Person.telegram_user_id == user_id, Person.until.is_(None))
                .order_by(Unit.kind, Unit.name)
            )
        ).all()
    return ActorOut(
        user_id=user_id,
        language=language or _default_language(services, language_code),
        staff=user_id in services.settings.staff_ids or stored_staff is not None,
        roles=[RoleOut(unit_id=u, unit=n, kind=kind, role=role) for u, n, kind, role in held],
        unreachable=unreachable is not None,
    )


async def reachable_again(*, services: Services, user_id: int) -> None:
    """A person marked unreachable wrote to the bot or pressed its button: clear the mark."""
    async with services.db.uow() as tx:
        account = await tx.get(Account, user_id)
        if account is not None:
            account.unreachable_since = None
            account.unreachable_reason = None
            account.last_seen = services.now()


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
        repo.audit(tx, at=services.now(), actor_id=None, action="staff_add", user_id=user_id)


async def remove_staff(*, services: Services, user_id: int) -> None:
    async with services.db.uow() as tx:
        result = await tx.execute(delete(StaffMember).where(StaffMember.user_id == user_id))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise StaffNotFound(user_id=user_id)
        repo.audit(tx, at=services.now(), actor_id=None, action="staff_remove", user_id=user_id)


async def list_staff(*, services: Services) -> list[StaffOut]:
    async with services.db.uow() as tx:
        stored = [s.user_id for s in await repo.staff_members(tx)]
    staff = [StaffOut(user_id=u, source="env") for u in services.settings.staff_ids]
    staff += [
        StaffOut(user_id=u, source="db") for u in stored if u not in services.settings.staff_ids
    ]
    return staff


async def greet(*, services: Services, user_id: int, language_code: str | None) -> str:
    """Record that a person has started the bot; return the language to answer in."""
    now = services.now()
    async with services.db.uow() as tx:
        account = await tx.get(Account, user_id)
        if account is None:
            account = Account(
                user_id=user_id,
                language=None,
                first_seen=now,
                last_seen=now,
            )
            tx.add(account)
        account.last_seen = now
        # A person who writes to the bot can be reached again.
        account.unreachable_since = None
        account.unreachable_reason = None
        return account.language or _default_language(services, language_code)


async def language_of(*, services: Services, user_id: int, language_code: str | None) -> str:
    """The language a person chose, else their Telegram app's, else the office default."""
    async with services.db.sessions() as session:
        chosen = await session.scalar(select(Account.language).where(Account.user_id == user_id))
    return chosen or _default_language(services, language_code)


def _default_language(services: Services, language_code: str | None) -> str:
    if language_code:
        return normalize_language(language_code)
    return services.settings.language


async def set_language(*, services: Services, user_id: int, language: str) -> str:
    """Remember the language a person chose."""
    now = services.now()
    async with services.db.uow() as tx:
        account = await tx.get(Account, user_id)
        if account is None:
            account = Account(user_id=user_id, first_seen=now, last_seen=now)
            tx.add(account)
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
