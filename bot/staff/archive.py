"""The archive of collected materials (`/export` 资料, `liaison-bot export --archive DIR`):
folders 单位/资料项/文件, zipped in parts small enough for Telegram to carry."""

from __future__ import annotations

import asyncio
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select

from bot import roster
from bot.services import Services
from bot.staff.outputs import audit_file, stamped_name
from messages import plain
from storage import repositories as repo
from storage.models import Submission, SubmissionFile, Unit

PART_LIMIT = 45 * 1024 * 1024  # a part a bot may send (Telegram takes 50 MB)
ROWS_AT_A_TIME = 5_000


class ArchivePart(BaseModel):
    path: Path
    files: int
    size: int


class ArchiveOut(BaseModel):
    parts: list[ArchivePart]
    files: int
    missing: list[str]


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_name(name: str) -> str:
    """A file or folder name that is valid on Windows and cannot climb out of its folder."""
    cleaned = _UNSAFE.sub("_", name).strip().strip(".")
    return cleaned[:120] or "_"


@dataclass(slots=True)
class _Entry:
    arcname: str
    size: int  # -1: a stored file not yet looked at
    source: Path | None = None
    text: str | None = None


async def _entries(services: Services) -> tuple[list[_Entry], list[str]]:
    """Every kept file and text answer of the submissions awaiting review or accepted.

    Read as one join, a few thousand rows at a time (no list of ids is bound: a country's
    submissions are far more than a statement's parameters)."""
    data_dir = services.settings.data_dir
    lang = services.settings.language
    entries: list[_Entry] = []  # the files' sizes still to be measured
    taken: set[str] = set()

    def unique(arcname: str) -> str:
        base, dot, ext = arcname.rpartition(".")
        if not dot or "/" in ext:
            base, ext = arcname, ""
        candidate, n = arcname, 2
        while candidate in taken:
            candidate = f"{base} ({n}).{ext}" if ext else f"{base} ({n})"
            n += 1
        taken.add(candidate)
        return candidate

    query = (
        select(
            Submission.id,
            Submission.unit_id,
            Submission.item_id,
            Submission.text,
            SubmissionFile.file_name,
            SubmissionFile.path,
        )
        .outerjoin(SubmissionFile, SubmissionFile.submission_id == Submission.id)
        .where(Submission.state.in_(("pending", "accepted")))
        .order_by(Submission.unit_id, Submission.item_id, Submission.id, SubmissionFile.id)
    )
    async with services.db.snapshot() as tx:
        units = {unit_id: safe_name(name) for unit_id, name in await tx.execute(
            select(Unit.id, Unit.name)
        )}  # fmt: skip
        titles = {i.id: safe_name(i.title) for i in await repo.checklist(tx)}
        answer = plain(lang, "export.text_answer")
        last = None
        async for rows in repo.in_parts(tx, query, ROWS_AT_A_TIME):
            for submission_id, unit_id, item_id, text, file_name, path in rows:
                folder = f"{units.get(unit_id, str(unit_id))}/{titles.get(item_id, str(item_id))}"
                if submission_id != last:
                    last = submission_id
                    if text:
                        size = len(text.encode("utf-8"))
                        entries.append(_Entry(unique(f"{folder}/{answer}.txt"), size, text=text))
                if file_name is None:
                    continue
                source = Path(path) if path else None
                if source is not None and not source.is_absolute():
                    source = data_dir / source
                # Measured below, off the event loop; no source: missing.
                entries.append(_Entry(unique(f"{folder}/{safe_name(file_name)}"), -1, source))
    return await asyncio.to_thread(_measured, entries)


def _measured(listed: list[_Entry]) -> tuple[list[_Entry], list[str]]:
    """The entries with their files' sizes, and (in the same order) the files not found."""
    entries: list[_Entry] = []
    missing: list[str] = []
    for entry in listed:
        if entry.size < 0:
            if entry.source is None or not entry.source.is_file():
                missing.append(entry.arcname)
                continue
            entry.size = entry.source.stat().st_size
        entries.append(entry)
    return entries, missing


def _cost(size: int, arcname: str) -> int:
    """Bytes an entry may take in a zip: data (deflate never grows it by much), two headers."""
    return size + size // 1000 + 2 * len(arcname.encode("utf-8")) + 200


def _write_parts(
    entries: list[_Entry], missing: list[str], out_dir: Path, stem: str, limit: int, lang: str
) -> list[ArchivePart]:
    """Zip the entries into parts no bigger than `limit` (each file whole, in one part).

    The list of files that could not be found goes into the first part.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    listing_name = plain(lang, "export.missing_list") + ".txt"
    listing = "\n".join(missing) + "\n" if missing else ""
    used = _cost(len(listing.encode("utf-8")), listing_name) + 100 if missing else 100
    groups: list[list[_Entry]] = [[]]
    for entry in entries:
        cost = _cost(entry.size, entry.arcname)
        if groups[-1] and used + cost > limit:
            groups.append([])
            used = 100
        groups[-1].append(entry)
        used += cost
    parts: list[ArchivePart] = []
    for number, group in enumerate(groups, start=1):
        suffix = "" if len(groups) == 1 else plain(lang, "export.part_suffix", number=number)
        path = out_dir / f"{stem}{suffix}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            if missing and number == 1:
                archive.writestr(listing_name, listing)
            for entry in group:
                if entry.source is not None:
                    archive.write(entry.source, entry.arcname)
                else:
                    archive.writestr(entry.arcname, entry.text or "")
        parts.append(ArchivePart(path=path, files=len(group), size=path.stat().st_size))
    return parts


async def build_archive(
    *,
    services: Services,
    actor_id: int | None,
    out_dir: Path | None = None,
    limit: int = PART_LIMIT,
    via: str = "chat",
) -> ArchiveOut:
    """The collected materials in folders 单位/资料项/文件, zipped in parts under `limit`."""
    if actor_id is not None:
        await roster.require_staff(services=services, actor_id=actor_id)
    entries, missing = await _entries(services)
    lang = services.settings.language
    stem = stamped_name(services, "export.archive_name")
    target = out_dir or services.settings.data_dir / "exports"
    parts = await asyncio.to_thread(_write_parts, entries, missing, target, stem, limit, lang)
    await audit_file(
        services=services,
        actor_id=actor_id,
        action="export",
        what="archive",
        via=via,
        files=len(entries),
        parts=len(parts),
        missing=len(missing),
    )
    return ArchiveOut(parts=parts, files=len(entries), missing=missing)


async def missing_files(services: Services) -> list[str]:
    """The collected files the archive would list as missing (单位/资料项/文件): those the
    database keeps for a submission awaiting review or accepted that are not in DATA_DIR."""
    _, missing = await _entries(services)
    return missing
