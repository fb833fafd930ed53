"""Invite links (登记链接): one unit and one role each, single use, expiring, revocable.

A token is 192 random bits written URL-safe (32 characters; Telegram allows 64 in a deep
link). Only its SHA-256 is stored, so a copy of the database cannot register anybody.
Several open invites of one unit and role may exist at once (one posted in the office's
group, one forwarded by the liaison). An invite is redeemed when a registration through it is
completed (the summary confirmed), not when it is opened or the unit confirmed: someone who
opens a link and gives up leaves it valid. Redeeming one revokes the others.

A used link is dead for everyone, the person who used it included: taking a role back
needs a new link from the office. A revoked link keeps why it was revoked, so whoever opens
it later is told the true reason (the office withdrew it, or someone else registered)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.errors import DomainError
from bot.ledger.report import unit_statuses
from bot.services import Services
from storage import repositories as repo
from storage.models import Invite, Setting, Unit

T = TypeVar("T")

Role = Literal["liaison", "lead"]
ROLES: tuple[Role, ...] = ("liaison", "lead")
TOKEN_BYTES = 24  # 192 bits
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Why an invite cannot be used, in the order they are checked.
Problem = Literal[
    "unknown", "revoked", "taken", "lead_replaced", "creator_ended", "used", "expired"
]
# Why an invite was revoked (Invite.revoked_reason).
BY_STAFF = "staff"
REDEEMED_ANOTHER = "redeemed_another"  # the role was registered through another link
LEAD_REPLACED = "lead_replaced"  # the liaison entered another lead
HOLDER_ENDED = "holder_ended"  # made by a liaison who no longer holds the role
REVOKED_PROBLEMS: dict[str, Problem] = {
    REDEEMED_ANOTHER: "taken",
    LEAD_REPLACED: "lead_replaced",
    HOLDER_ENDED: "creator_ended",
}


class NoBotUsername(DomainError):
    """Links need the bot's @username, and neither BOT_USERNAME nor a remembered one exists."""

    key = "invite.no_username"


class InviteOut(BaseModel):
    """A new invite, with its token: the only moment the token is known."""

    id: int
    unit_id: int
    unit: str
    role: Role
    token: str
    link: str
    expires_at: datetime
    open_before: int = 0  # links of this unit and role made before and still open
    holder: str | None = None  # who holds the role now: registering through the link replaces them


class RevokedOut(BaseModel):
    unit: str
    count: int


def new_token() -> str:
    """A fresh random token (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(text: str) -> bool:
    """A deep-link payload that could be a token (length and alphabet)."""
    return TOKEN_PATTERN.fullmatch(text) is not None


def invite_link(username: str, token: str) -> str:
    """The deep link that opens the bot with the token."""
    return f"https://t.me/{username}?start={token}"


async def bot_username(session: AsyncSession, services: Services) -> str:
    """BOT_USERNAME, else the @username the running bot remembered from getMe."""
    if services.settings.bot_username:
        return services.settings.bot_username
    stored = await session.get(Setting, "bot_username")
    if stored is None or not stored.value:
        raise NoBotUsername()
    return stored.value


async def issue(
    tx: AsyncSession,
    *,
    services: Services,
    unit: Unit,
    role: Role,
    actor_id: int | None,
    username: str | None = None,
) -> InviteOut:
    """Create one invite in the caller's transaction (audited; the token is not)."""
    now = services.now()
    username = username or await bot_username(tx, services)
    token = new_token()
    expires_at = now + timedelta(days=services.settings.invite_ttl_days)
    invite = await _add_invite(
        tx, unit.id, role, hash_token(token), actor_id=actor_id, now=now, expires_at=expires_at
    )
    return _invite_out(invite, unit.name, role, token, username)


async def _add_invite(
    tx: AsyncSession,
    unit_id: int,
    role: Role,
    token_hash: str,
    *,
    actor_id: int | None,
    now: datetime,
    expires_at: datetime,
) -> Invite:
    """Store one invite and audit it (the token is not stored, only its hash)."""
    invite = await repo.insert(
        tx,
        Invite(
            unit_id=unit_id,
            role=role,
            token_hash=token_hash,
            created_at=now,
            created_by=actor_id,
            expires_at=expires_at,
        ),
    )
    repo.audit(
        tx,
        now,
        actor_id,
        "invite_created",
        unit_id=unit_id,
        role=role,
        invite_id=invite.id,
        expires_at=invite.expires_at.isoformat(),
    )
    return invite


def _invite_out(invite: Invite, unit: str, role: Role, token: str, username: str) -> InviteOut:
    """A stored invite as shown with its token and link."""
    return InviteOut(
        id=invite.id,
        unit_id=invite.unit_id,
        unit=unit,
        role=role,
        token=token,
        link=invite_link(username, token),
        expires_at=invite.expires_at,
    )


# Links the daily digest shows are one per unit and role for each validity period
# (INVITE_TTL_DAYS days, counted from this day), not a new one every day.
PERIOD_EPOCH = date(2026, 1, 5)
# A period's link that staff revoked (or that expired early) is followed by the next one.
MAX_GENERATIONS = 20


def period_start(day: date, ttl_days: int) -> date:
    """The first day of the validity period that `day` (an office date) falls in."""
    return PERIOD_EPOCH + timedelta(days=(day - PERIOD_EPOCH).days // ttl_days * ttl_days)


def period_token(secret: bytes, *, unit_id: int, role: str, start: date, generation: int) -> str:
    """The token of a unit's link for one period: derived, so that it can be shown again
    every day of the period while only its hash is stored (32 URL-safe characters)."""
    message = f"{unit_id}:{role}:{start.isoformat()}:{generation}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def _period_secret(services: Services) -> bytes | None:
    """A key for period tokens, derived from the bot token (None without one)."""
    token = services.settings.token
    if not token:
        return None
    return hashlib.sha256(b"liaison-bot period invite links\0" + token.encode()).digest()


async def current_links(
    tx: AsyncSession,
    *,
    services: Services,
    units: Sequence[tuple[int, str]],
    role: Role = "liaison",
    username: str,
) -> dict[int, InviteOut]:
    """The current period's link of each unit (id, name), made the first time it is asked
    for in the period and shown again on later days; empty without a bot token."""
    secret = _period_secret(services)
    if secret is None or not units:
        return {}
    now = services.now()
    ttl = services.settings.invite_ttl_days
    start = period_start(now.astimezone(services.settings.tz).date(), ttl)
    end = datetime.combine(start + timedelta(days=ttl), time(0), tzinfo=services.settings.tz)
    names = dict(units)
    found: dict[int, InviteOut] = {}
    pending = dict.fromkeys(names, 0)
    while pending:
        tokens = {
            unit_id: period_token(
                secret, unit_id=unit_id, role=role, start=start, generation=generation
            )
            for unit_id, generation in pending.items()
        }
        hashes = {hash_token(token): unit_id for unit_id, token in tokens.items()}
        stored = {
            invite.token_hash: invite
            for invite in (
                await tx.scalars(select(Invite).where(Invite.token_hash.in_(list(hashes))))
            ).all()
        }
        later: dict[int, int] = {}
        for token_hash, unit_id in hashes.items():
            invite = stored.get(token_hash)
            if invite is None:
                invite = await _add_invite(
                    tx, unit_id, role, token_hash, actor_id=None, now=now, expires_at=end
                )
            elif problem_of(invite, now=now) is not None:
                if pending[unit_id] + 1 < MAX_GENERATIONS:
                    later[unit_id] = pending[unit_id] + 1
                continue
            found[unit_id] = _invite_out(invite, names[unit_id], role, tokens[unit_id], username)
        pending = later
    return found


async def find(tx: AsyncSession, token: str) -> Invite | None:
    """The invite a token belongs to, if any."""
    if not looks_like_token(token):
        return None
    return await tx.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))


def problem_of(invite: Invite | None, *, now: datetime) -> Problem | None:
    """Why nobody can use the invite now (None: it is open)."""
    if invite is None:
        return "unknown"
    if invite.revoked_at is not None:
        return REVOKED_PROBLEMS.get(invite.revoked_reason or BY_STAFF, "revoked")
    if invite.used_at is not None:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return None


async def lock_unit(tx: AsyncSession, unit_id: int) -> None:
    """Hold the unit's row to the end of the transaction: its registrations go one at a time.

    Two people completing a registration for one unit at once would otherwise both see the
    role free. PostgreSQL locks the row (the second waits, then sees the first's commit);
    SQLite has no row locks but takes the database's write lock at BEGIN already.
    """
    await tx.execute(select(Unit.id).where(Unit.id == unit_id).with_for_update())


async def open_count(tx: AsyncSession, *, unit_id: int, role: str, now: datetime) -> int:
    """How many links of the unit and role could still be used."""
    found = await tx.scalar(
        select(func.count())
        .select_from(Invite)
        .where(
            Invite.unit_id == unit_id,
            Invite.role == role,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
    )
    return int(found or 0)


async def redeem(tx: AsyncSession, invite: Invite, *, user_id: int, now: datetime) -> bool:
    """Mark the invite used by this person; revoke the other open ones of its unit and role.

    Called when the registration is completed, not when the link is opened. False if it is
    used or revoked already: the row is claimed with one conditional UPDATE, so of two people
    finishing at once on one link exactly one wins.
    """
    if invite.used_at is not None:
        return False
    claimed = await tx.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(used_at=now, used_by=user_id)
        .execution_options(synchronize_session=False)
    )
    await tx.refresh(invite)
    if int(claimed.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    revoked = await revoke_open(
        tx,
        unit_id=invite.unit_id,
        role=invite.role,
        now=now,
        actor_id=user_id,
        keep_id=invite.id,
        why=REDEEMED_ANOTHER,
    )
    repo.audit(
        tx,
        now,
        user_id,
        "invite_redeemed",
        unit_id=invite.unit_id,
        role=invite.role,
        invite_id=invite.id,
        revoked_others=revoked,
    )
    return True


async def revoke_open(
    tx: AsyncSession,
    *,
    unit_id: int,
    role: str | None,
    now: datetime,
    actor_id: int | None,
    keep_id: int | None = None,
    created_by: int | None = None,
    why: str = BY_STAFF,
) -> int:
    """Revoke the unused, unrevoked invites of a unit (one role or both; those one person
    made); count them."""
    query = update(Invite).where(
        Invite.unit_id == unit_id, Invite.used_at.is_(None), Invite.revoked_at.is_(None)
    )
    if role is not None:
        query = query.where(Invite.role == role)
    if keep_id is not None:
        query = query.where(Invite.id != keep_id)
    if created_by is not None:
        query = query.where(Invite.created_by == created_by)
    result = await tx.execute(query.values(revoked_at=now, revoked_reason=why))
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        repo.audit(
            tx,
            now,
            actor_id,
            "invite_revoked",
            unit_id=unit_id,
            role=role,
            count=count,
            reason=why,
        )
    return count


async def missing_roles(
    session: AsyncSession, role: Role | None = None
) -> list[tuple[Unit, Role]]:
    """The invites `--all-missing` makes: one per unit still lacking a role.

    Without a role: a liaison invite where no liaison is registered, else a lead invite where
    the lead is not registered (the counting of `report`). With `lead`: every unit whose lead
    has not linked their own chat.
    """
    statuses = {s.name: s for s in await unit_statuses(session)}
    wanted: list[tuple[Unit, Role]] = []
    for unit in await repo.units(session):
        status = statuses[unit.name]
        if role == "liaison":
            if not status.liaison_registered:
                wanted.append((unit, "liaison"))
        elif role == "lead":
            if not status.lead_linked:
                wanted.append((unit, "lead"))
        elif not status.liaison_registered:
            wanted.append((unit, "liaison"))
        elif not status.lead_registered:
            wanted.append((unit, "lead"))
    return wanted


async def create_invites(
    *,
    services: Services,
    units: Sequence[str] = (),
    all_missing: bool = False,
    role: Role | None = None,
    actor_id: int | None = None,
    username: str | None = None,
) -> list[InviteOut]:
    """New invite links for the named units (liaison unless a role is given) or all missing."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        username = username or await bot_username(tx, services)
        if all_missing:  # nobody holds these roles
            targets, held = await missing_roles(tx, role), False
        else:
            found = [await roster.find_unit(tx, name) for name in units]
            targets, held = [(unit, role or "liaison") for unit in found], True
        return [
            await _issue_counted(
                tx,
                services=services,
                unit=unit,
                role=r,
                actor_id=actor_id,
                username=username,
                held=held,
            )
            for unit, r in targets
        ]


async def _issue_counted(
    tx: AsyncSession,
    *,
    services: Services,
    unit: Unit,
    role: Role,
    actor_id: int | None,
    username: str | None,
    held: bool = True,
) -> InviteOut:
    """A new invite, saying how many links of the unit and role are open besides it and whom
    it replaces (`held=False`: the caller knows nobody holds the role)."""
    before = await open_count(tx, unit_id=unit.id, role=role, now=services.now())
    holder = await repo.current_holder(tx, unit_id=unit.id, role=role) if held else None
    made = await issue(
        tx, services=services, unit=unit, role=role, actor_id=actor_id, username=username
    )
    return made.model_copy(
        update={"open_before": before, "holder": holder.name if holder is not None else None}
    )


async def revoke_invites(
    *,
    services: Services,
    units: Sequence[str],
    role: Role | None = None,
    actor_id: int | None = None,
) -> list[RevokedOut]:
    """Revoke the open invites of the named units (one role or both)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        result = []
        for name in units:
            unit = await roster.find_unit(tx, name)
            result.append(await _revoke_unit(tx, unit, role, now, actor_id))
        return result


async def _revoke_unit(
    tx: AsyncSession, unit: Unit, role: Role | None, now: datetime, actor_id: int | None
) -> RevokedOut:
    """Revoke a unit's open invites (one role or both), its row held meanwhile."""
    await lock_unit(tx, unit.id)
    count = await revoke_open(tx, unit_id=unit.id, role=role, now=now, actor_id=actor_id)
    return RevokedOut(unit=unit.name, count=count)


async def _on_unit(
    services: Services,
    unit_id: int,
    actor_id: int,
    act: Callable[[AsyncSession, Unit], Awaitable[T]],
) -> T | None:
    """Staff's button on a unit by its id: `act` in one transaction (None if the unit is gone)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        unit = await tx.get(Unit, unit_id)
        if unit is None:
            return None
        return await act(tx, unit)


async def revoke_unit_invites(
    *, services: Services, unit_id: int, actor_id: int
) -> RevokedOut | None:
    """Staff's button: revoke a unit's open invites by its id (None if the unit is gone)."""
    return await _on_unit(
        services,
        unit_id,
        actor_id,
        lambda tx, unit: _revoke_unit(tx, unit, None, services.now(), actor_id),
    )


async def create_unit_invite(
    *, services: Services, unit_id: int, role: Role, actor_id: int, username: str | None = None
) -> InviteOut | None:
    """Staff's button: a new invite for a unit by its id (None if the unit is gone)."""
    return await _on_unit(
        services,
        unit_id,
        actor_id,
        lambda tx, unit: _issue_counted(
            tx, services=services, unit=unit, role=role, actor_id=actor_id, username=username
        ),
    )
