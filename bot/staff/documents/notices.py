"""Use-cases: write the 通报 and the 催办通知 as .docx files (staff only, audited)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.errors import BadInput, DomainError
from bot.ledger.report import Totals, build_report
from bot.registration import invites
from bot.roster import require_staff
from bot.services import Services
from bot.staff.archive import safe_name
from bot.staff.documents.data import (
    BulletinData,
    Letterhead,
    UnitOwing,
    UrgeData,
    bulletin_from,
    units_owing,
)
from bot.staff.documents.render import document_number, render_bulletin, render_urge
from bot.staff.outputs import audit_file, stamped_name
from storage import repositories as repo
from storage.models import Unit

_BARE_NUMBER = re.compile(r"^\d{1,5}$")
_ZERO_NUMBER = re.compile(r"〕0+号$")  # 〔2026〕0号: no document is numbered 0
_BRACKETS = str.maketrans({"[": "〔", "]": "〕", "【": "〔", "】": "〕", "(": "〔", ")": "〕"})


class NothingOwed(DomainError):
    key = "notice.nothing_owed"


class NothingOutstanding(DomainError):
    key = "notice.cli_none_outstanding"


class BulletinOut(BaseModel):
    path: Path
    number: str
    totals: Totals
    unreachable: int


class UrgeOut(BaseModel):
    path: Path
    unit: str
    unit_id: int


def parse_number(services: Services, text: str | None, year: int) -> str:
    """Make the 发文字号: "8" becomes 固双拥办发〔2026〕8号, a full number is kept (〔〕)."""
    prefix = services.settings.notice_number_prefix
    if text is None or not text.strip():
        return document_number(prefix, year, None)
    wanted = text.strip()
    if _BARE_NUMBER.match(wanted) and int(wanted) >= 1:  # documents are numbered from 1
        return document_number(prefix, year, str(int(wanted)))
    full = wanted.translate(_BRACKETS)
    if (
        "〔" in full
        and "〕" in full
        and full.endswith("号")
        and len(full) <= 40
        and not _ZERO_NUMBER.search(full)
    ):
        return full
    raise BadInput("notice.cli_bad_number")


def _folder(services: Services) -> Path:
    return services.settings.data_dir / "notices"


def _save_bulletin(data: BulletinData, path: Path, lang: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_bulletin(data, lang).doc.save(str(path))


def _save_urge(data: UrgeData, path: Path, lang: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_urge(data, lang).doc.save(str(path))


async def write_bulletin(
    *,
    services: Services,
    actor_id: int | None,
    path: Path | None = None,
    number: str | None = None,
    signed: date | None = None,
    via: str = "chat",
) -> BulletinOut:
    """Write the 通报 of the current situation to `path` (or under DATA_DIR/notices)."""
    if actor_id is not None:
        await require_staff(services=services, actor_id=actor_id)
    lang = services.settings.language
    today = services.today()
    signed = signed or today
    head = Letterhead.of(services.settings, parse_number(services, number, signed.year))
    report = await build_report(services=services)
    async with services.db.sessions() as session:
        data = await bulletin_from(session, report, head=head, as_of=today, signed=signed)
    target = path or _folder(services) / stamped_name(services, "notice.bulletin_file")
    await asyncio.to_thread(_save_bulletin, data, target, lang)
    await audit_file(
        services=services,
        actor_id=actor_id,
        action="notice",
        what="bulletin",
        via=via,
        file=target.name,
        units=report.totals.units,
    )
    return BulletinOut(
        path=target, number=head.number, totals=report.totals, unreachable=data.unreachable
    )


async def urge_data(
    tx: AsyncSession,
    *,
    services: Services,
    unit: UnitOwing,
    head: Letterhead,
    signed: date,
    actor_id: int | None,
) -> UrgeData:
    """Gather a unit's 催办通知, with a fresh invite link where it has no liaison (older links
    stay valid); without a known bot username the notice says to ask the office for one."""
    username: str | None
    try:
        username = await invites.bot_username(tx, services)
    except invites.NoBotUsername:
        username = None
    data = UrgeData(
        head=head,
        as_of=services.today(),
        signed=signed,
        deadline=unit.deadline,
        unit=unit,
        bot_username=username,
    )
    if unit.liaison_missing and username is not None:
        row = await tx.get(Unit, unit.unit_id)
        if row is not None:
            made = await invites.issue(
                tx,
                services=services,
                unit=row,
                role="liaison",
                actor_id=actor_id,
                username=username,
            )
            data.invite_link = made.link
            data.invite_expires = made.expires_at.astimezone(services.settings.tz).date()
    return data


def urge_file_name(services: Services, unit: str) -> str:
    """Name the file: 催办通知_市民政局_20261204_0930.docx (valid on every system)."""
    return stamped_name(services, "notice.urge_file", unit=safe_name(unit))


def _audit_urge(
    tx: AsyncSession,
    services: Services,
    actor_id: int | None,
    data: UrgeData,
    path: Path,
    via: str,
) -> None:
    """Log a unit's 催办通知 as the file `path` (in the caller's transaction)."""
    repo.audit(
        tx,
        services.now(),
        actor_id,
        "notice",
        unit_id=data.unit.unit_id,
        what="urge",
        via=via,
        file=path.name,
    )


async def write_urges(
    *,
    services: Services,
    actor_id: int | None,
    unit_names: Sequence[str] = (),
    unit_ids: Sequence[int] = (),
    all_outstanding: bool = False,
    target: Path | None = None,
    number: str | None = None,
    signed: date | None = None,
    via: str = "chat",
) -> list[UrgeOut]:
    """Write a 催办通知 per unit into `target` (a .docx for one unit, else a folder), or under
    DATA_DIR/notices; refuse a named unit that owes nothing."""
    if actor_id is not None:
        await require_staff(services=services, actor_id=actor_id)
    lang = services.settings.language
    signed = signed or services.today()
    head = Letterhead.of(services.settings, parse_number(services, number, signed.year))
    one_file = target is not None and target.suffix.lower() == ".docx"
    written: list[tuple[UrgeData, Path]] = []
    async with services.db.uow() as tx:
        ids = list(unit_ids)
        for name in unit_names:
            ids.append((await roster.find_unit(tx, name)).id)
        if all_outstanding:
            ids = [u.id for u in await repo.units(tx)]
        units = [u for u in await units_owing(tx, ids) if u.owes or not all_outstanding]
        for unit in units:
            if not unit.owes:
                raise NothingOwed(unit=unit.name)
        if not units:
            raise NothingOutstanding()
        if one_file and len(units) > 1:
            raise BadInput("notice.cli_one_file")
        for unit in units:
            data = await urge_data(
                tx, services=services, unit=unit, head=head, signed=signed, actor_id=actor_id
            )
            if one_file:
                assert target is not None
                path = target
            else:
                path = (target or _folder(services)) / urge_file_name(services, unit.name)
            written.append((data, path))
            _audit_urge(tx, services, actor_id, data, path, via)
    for data, path in written:
        await asyncio.to_thread(_save_urge, data, path, lang)
    return [UrgeOut(path=p, unit=d.unit.name, unit_id=d.unit.unit_id) for d, p in written]


async def write_urge_in(
    tx: AsyncSession,
    *,
    services: Services,
    unit: UnitOwing,
    folder: Path,
    signed: date,
) -> Path:
    """Write one 催办通知 inside the caller's transaction (the 督办 step of the reminders)."""
    head = Letterhead.of(services.settings, parse_number(services, None, signed.year))
    data = await urge_data(
        tx, services=services, unit=unit, head=head, signed=signed, actor_id=None
    )
    path = folder / urge_file_name(services, unit.name)
    await asyncio.to_thread(_save_urge, data, path, services.settings.language)
    _audit_urge(tx, services, None, data, path, "supervision")
    return path
