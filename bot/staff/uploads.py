"""A roster, checklist or holiday file staff send in the chat: checked, previewed, applied.

The bot tells the kind of file by its columns (or asks), checks it with the rules of
`units import`, `checklist import` and `HOLIDAY_FILE` (every bad row named, nothing written),
and shows what would change. The file is kept under DATA_DIR/uploads/ with the fingerprint of
that change (`basis`). A confirmation applies it in one transaction, and only if the same
check run again still shows the same change; otherwise the staff member is shown the change
as it now stands, to confirm instead. Every change is audited: who, when, which file, counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.errors import DomainError
from bot.holidays import holiday_file_of, setting_file, store_year
from bot.importing import (
    CHECKLIST_COLUMNS,
    UNIT_COLUMNS,
    ChecklistRow,
    Column,
    ImportRejected,
    Numbered,
    UnitRow,
    has_columns,
    parse_checklist,
    problems_of,
    read_sheet,
    read_units,
)
from bot.ledger.checklist import ChecklistPlan, apply_checklist, plan_checklist
from bot.ledger.files import Fetch
from bot.roster import RosterPlan, apply_roster, plan_roster
from bot.services import Services
from bot.workdays import HOLIDAY_COLUMNS, HolidayFile, WorkCalendar, load_holiday_file
from storage import repositories as repo
from storage.models import HolidayYear, StaffUpload

Kind = Literal["units", "checklist", "holidays"]
KINDS: tuple[Kind, ...] = ("units", "checklist", "holidays")
SUFFIXES = (".xlsx", ".csv", ".json")
FOLDER = "uploads"

_COLUMNS: dict[Kind, tuple[Column, ...]] = {
    "units": UNIT_COLUMNS,
    "checklist": CHECKLIST_COLUMNS,
    "holidays": HOLIDAY_COLUMNS,
}

Parsed = Numbered[UnitRow] | list[ChecklistRow] | HolidayFile
Plan = RosterPlan | ChecklistPlan


class UploadGone(DomainError):
    """The upload is not on record, or its file is no longer in DATA_DIR."""

    key = "uploads.gone"


class Problem(BaseModel):
    """One thing wrong with a file: its row (None: the file as a whole), code and details."""

    row: int | None
    code: str
    details: dict[str, str]


class HolidayPlan(BaseModel):
    """A year's schedule as a file gives it, and what it replaces."""

    year: int
    holidays: list[date]
    workdays: list[date]
    # what decided the year's working days until now: a file loaded in the chat before,
    # HOLIDAY_FILE, the chinese-calendar package, or nothing (Monday to Friday)
    replaces: Literal["chat", "setting", "package", "none"]
    previous_file: str = ""
    same: bool = False  # the year loaded before lists the same dates


class UploadOut(BaseModel):
    """What the bot found in a file: its kind, and the change, or what is wrong with it."""

    upload_id: int
    file_name: str
    kind: Kind | None
    # previewed: waiting for the staff member's confirmation; unchanged: nothing to do;
    # rejected: problems; undecided: the kind could not be told from the columns
    state: Literal["previewed", "unchanged", "rejected", "undecided"]
    columns: list[str] = []
    problems: list[Problem] = []
    roster: RosterPlan | None = None
    checklist: ChecklistPlan | None = None
    holidays: HolidayPlan | None = None


class AppliedOut(BaseModel):
    """The result of a confirmation."""

    # applied; outdated (the data changed since the preview: `fresh` is the new preview);
    # decided (the upload was applied, cancelled or replaced before: `state` says which)
    outcome: Literal["applied", "outdated", "decided"]
    file_name: str
    kind: Kind | None
    state: str
    roster: RosterPlan | None = None
    checklist: ChecklistPlan | None = None
    holidays: HolidayPlan | None = None
    removed: int = 0
    people_removed: list[int] = []  # Telegram ids of people whose roles ended with a unit
    fresh: UploadOut | None = None


def is_upload_name(file_name: str | None) -> bool:
    """Whether a document may be a roster, checklist or holiday file (by its extension)."""
    return Path(file_name or "").suffix.lower() in SUFFIXES


def detect_kind(path: Path) -> tuple[Kind | None, list[str]]:
    """The kind of file its columns show (None when none or several fit), and its columns."""
    if path.suffix.lower() == ".json":
        return "holidays", []
    table = read_sheet(path, _COLUMNS.values())
    fits = [kind for kind, columns in _COLUMNS.items() if has_columns(table, columns)]
    return (fits[0] if len(fits) == 1 else None), list(table.columns)


def _read(path: Path, kind: Kind) -> Parsed:
    """The file read by the rules of its kind (ImportRejected names what is wrong)."""
    if kind == "units":
        return read_units(path, strict=False)
    if kind == "checklist":
        return parse_checklist(path)
    return load_holiday_file(path)


def _problems(error: ImportRejected) -> list[Problem]:
    return [Problem(row=p.row, code=p.code, details=p.details) for p in problems_of(error)]


async def receive_upload(
    *, services: Services, actor_id: int, file_id: str, file_name: str, fetch: Fetch
) -> UploadOut:
    """Download a file staff sent, keep it, and preview the change it makes (or ask its kind)."""
    await roster.require_staff(services=services, actor_id=actor_id)
    suffix = Path(file_name).suffix.lower()
    data = await fetch(file_id)
    now = services.now()
    relative = f"{FOLDER}/{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}{suffix}"
    path = services.settings.data_dir / relative
    await asyncio.to_thread(_write, path, data)
    kind: Kind | None = None
    columns: list[str] = []
    parsed: Parsed | None = None
    problems: list[Problem] = []
    try:
        kind, columns = await asyncio.to_thread(detect_kind, path)
        if kind is not None:
            parsed = await asyncio.to_thread(_read, path, kind)
    except ImportRejected as error:
        problems = _problems(error)
    async with services.db.uow() as tx:
        upload = await repo.insert(
            tx,
            StaffUpload(
                user_id=actor_id,
                file_name=file_name[:255],
                path=relative,
                kind=kind,
                state="received",
                created_at=now,
            ),
        )
        if problems:
            upload.state, upload.decided_at = "rejected", now
            return _out(upload, "rejected", problems=problems)
        if kind is None or parsed is None:
            return _out(upload, "undecided", columns=columns)
        return await _preview(tx, services, upload, kind, parsed)


async def choose_kind(
    *, services: Services, actor_id: int, upload_id: int, kind: Kind
) -> UploadOut:
    """Read a file whose kind the staff member chose, and preview the change it makes."""
    upload = await _upload(services, upload_id)
    if upload.state != "received":
        raise UploadGone()
    path = _path(services, upload)
    try:
        parsed: Parsed | None = await asyncio.to_thread(_read, path, kind)
        problems: list[Problem] = []
    except ImportRejected as error:
        parsed, problems = None, _problems(error)
    async with services.db.uow() as tx:
        await roster.require_staff(services=services, actor_id=actor_id, session=tx)
        found = await tx.get(StaffUpload, upload_id, with_for_update=True)
        if found is None or found.state != "received":
            raise UploadGone()
        found.kind = kind
        if parsed is None:
            found.state, found.decided_at = "rejected", services.now()
            return _out(found, "rejected", problems=problems)
        return await _preview(tx, services, found, kind, parsed)


async def cancel_upload(*, services: Services, actor_id: int, upload_id: int) -> str:
    """Set a file aside unapplied; return its name (UploadGone once it was decided)."""
    async with services.db.uow() as tx:
        await roster.require_staff(services=services, actor_id=actor_id, session=tx)
        upload = await tx.get(StaffUpload, upload_id, with_for_update=True)
        if upload is None or upload.state not in ("received", "previewed"):
            raise UploadGone()
        upload.state, upload.decided_at = "cancelled", services.now()
        return upload.file_name


async def apply_upload(
    *, services: Services, actor_id: int, upload_id: int, remove_absent: bool = False
) -> AppliedOut:
    """Apply a previewed file if the change is still the one shown; else preview it afresh.

    `remove_absent` (rosters): also remove the units on record that the file leaves out.
    """
    await roster.require_staff(services=services, actor_id=actor_id)  # before reading the file
    upload = await _upload(services, upload_id)
    kind = _kind(upload)
    if upload.state != "previewed" or kind is None:
        return AppliedOut(
            outcome="decided", file_name=upload.file_name, kind=kind, state=upload.state
        )
    try:
        parsed = await asyncio.to_thread(_read, _path(services, upload), kind)
    except ImportRejected as error:  # the kept file changed on disk: nothing to apply
        raise UploadGone() from error
    now = services.now()
    async with services.db.uow() as tx:
        await roster.require_staff(services=services, actor_id=actor_id, session=tx)
        found = await tx.get(StaffUpload, upload_id, with_for_update=True)
        if found is None or found.state != "previewed":
            state = found.state if found is not None else "cancelled"
            return AppliedOut(
                outcome="decided", file_name=upload.file_name, kind=kind, state=state
            )
        try:
            plan = await _plan(tx, services, kind, parsed)
        except ImportRejected as error:
            plan, problems = None, _problems(error)
        if plan is None or _basis(kind, plan) != found.basis:
            found.state, found.decided_at = "outdated", now
            fresh = await repo.insert(
                tx,
                StaffUpload(
                    user_id=actor_id,
                    file_name=found.file_name,
                    path=found.path,
                    kind=kind,
                    state="received",
                    created_at=now,
                ),
            )
            if plan is None:
                fresh.state, fresh.decided_at = "rejected", now
                preview = _out(fresh, "rejected", problems=problems)
            else:
                preview = _previewed(fresh, kind, plan)
            return AppliedOut(
                outcome="outdated",
                file_name=found.file_name,
                kind=kind,
                state="outdated",
                fresh=preview,
            )
        out = AppliedOut(outcome="applied", file_name=found.file_name, kind=kind, state="applied")
        details: dict[str, Any] = {"file": found.file_name, "via": "chat"}
        if isinstance(plan, RosterPlan):
            removing = remove_absent and bool(plan.absent)
            out.people_removed = await apply_roster(tx, plan, now=now, remove_absent=remove_absent)
            out.roster, out.removed = plan, len(plan.absent) if removing else 0
            details |= {
                "added": len(plan.added),
                "renamed": len(plan.renamed),
                "updated": len(plan.retyped),
                "removed": out.removed,
            }
            action = "units_import"
        elif isinstance(plan, ChecklistPlan):
            assert isinstance(parsed, list)
            await apply_checklist(tx, parsed)
            out.checklist = plan
            details |= {
                "added": len(plan.added),
                "retired": len(plan.retired),
                "updated": plan.changed,
            }
            action = "checklist_import"
        else:
            assert isinstance(parsed, HolidayFile)
            stored = await tx.get(HolidayYear, parsed.year, with_for_update=True)
            store_year(tx, stored, parsed, file_name=found.file_name, at=now, actor_id=actor_id)
            out.holidays = plan
            details |= {
                "year": parsed.year,
                "holidays": len(parsed.holidays),
                "workdays": len(parsed.workdays),
            }
            action = "holidays_import"
        found.state, found.decided_at = "applied", now
        repo.audit(tx, now, actor_id, action, **details)
        return out


# ---- previews ----------------------------------------------------------------------------


async def _preview(
    tx: AsyncSession, services: Services, upload: StaffUpload, kind: Kind, parsed: Parsed
) -> UploadOut:
    """Check a read file against the database and record its preview (in the transaction)."""
    try:
        plan = await _plan(tx, services, kind, parsed)
    except ImportRejected as error:
        upload.state, upload.decided_at = "rejected", services.now()
        return _out(upload, "rejected", problems=_problems(error))
    return _previewed(upload, kind, plan)


def _previewed(upload: StaffUpload, kind: Kind, plan: Plan | HolidayPlan) -> UploadOut:
    unchanged = (
        plan.same if isinstance(plan, HolidayPlan) else not plan.changes and not _absent(plan)
    )
    upload.kind = kind
    if unchanged:
        upload.state = "unchanged"
    else:
        upload.state, upload.basis = "previewed", _basis(kind, plan)
    out = _out(upload, "unchanged" if unchanged else "previewed")
    if isinstance(plan, RosterPlan):
        out.roster = plan
    elif isinstance(plan, ChecklistPlan):
        out.checklist = plan
    else:
        out.holidays = plan
    return out


def _absent(plan: Plan) -> bool:
    return isinstance(plan, RosterPlan) and bool(plan.absent)


async def _plan(
    tx: AsyncSession, services: Services, kind: Kind, parsed: Parsed
) -> Plan | HolidayPlan:
    if kind == "units":
        assert isinstance(parsed, Numbered)
        return await plan_roster(tx, parsed)
    if kind == "checklist":
        assert isinstance(parsed, list)
        return await plan_checklist(tx, parsed)
    assert isinstance(parsed, HolidayFile)
    return await _plan_holidays(tx, services, parsed)


async def _plan_holidays(
    tx: AsyncSession, services: Services, holiday_file: HolidayFile
) -> HolidayPlan:
    year = holiday_file.year
    plan = HolidayPlan(
        year=year,
        holidays=sorted(holiday_file.holidays),
        workdays=sorted(holiday_file.workdays),
        replaces="none",
    )
    found = await tx.get(HolidayYear, year)
    from_setting = setting_file(services.settings)
    if found is not None:
        before = holiday_file_of(found)
        plan.replaces, plan.previous_file = "chat", found.file_name
        plan.same = (sorted(before.holidays), sorted(before.workdays)) == (
            plan.holidays,
            plan.workdays,
        )
    elif from_setting is not None and from_setting.year == year:
        plan.replaces = "setting"
        plan.previous_file = Path(str(services.settings.holiday_file)).name
    elif not WorkCalendar().unknown_years(date(year, 1, 1), date(year, 1, 1)):
        plan.replaces = "package"
    return plan


def _basis(kind: Kind, plan: Plan | HolidayPlan) -> str:
    """The fingerprint of a change as shown: the same file and data give the same one."""
    return hashlib.sha256(f"{kind}\n{plan.model_dump_json()}".encode()).hexdigest()


def _out(upload: StaffUpload, state: str, **values: object) -> UploadOut:
    return UploadOut.model_validate(
        {
            "upload_id": upload.id,
            "file_name": upload.file_name,
            "kind": upload.kind,
            "state": state,
            **values,
        }
    )


# ---- helpers -----------------------------------------------------------------------------


async def _upload(services: Services, upload_id: int) -> StaffUpload:
    async with services.db.sessions() as session:
        upload = await session.get(StaffUpload, upload_id)
    if upload is None:
        raise UploadGone()
    return upload


def _kind(upload: StaffUpload) -> Kind | None:
    return next((k for k in KINDS if k == upload.kind), None)


def _path(services: Services, upload: StaffUpload) -> Path:
    path = services.settings.data_dir / upload.path
    if not path.is_file():
        raise UploadGone()
    return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
