"""The daily backup: once BACKUP_TIME has passed, one process makes the day's archive in
BACKUP_DIR (bot/ops/backup.py) and keeps the newest BACKUP_KEEP of them.

The day is marked done only once the archive is made: a failure is told to staff (after the
quiet hours), shown by /healthz, and tried again RETRY_AFTER later the same day.

A backup may take longer than RETRY_AFTER (a large DATA_DIR, a slow disk): the process making
it holds a lock for as long as it writes, which the system drops the moment that process ends
(a `kill -9` included), so no process (this one or another) begins a second one meanwhile. On
SQLite it is an exclusive `flock` of the file beside the database (`liaison-bot.db.backup.lock`),
on PostgreSQL an advisory lock; a process that finds it taken skips and says so once.

Holding that lock, before it writes, the backup clears what one killed half way left in
BACKUP_DIR (its `.part` archive; a work folder `.liaison-backup-*` untouched for an hour, as one
of `backup FILE` by hand, which takes no lock, may be in use). Then it counts how much it may
write (bot/ops/backup.py `backup_size`, with a tenth more and 1 MB to spare) against the free
space of BACKUP_DIR's disk: short of room, it deletes the oldest daily archives, never the
newest, when that makes enough; else it is not begun, and fails as any other (staff told,
/healthz, tried again later) without filling the disk the bot itself writes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.errors import DomainError
from bot.ops.backup import (
    NO_ROOM,
    PARTIAL_PATTERN,
    SCHEDULED_PATTERN,
    WITH_CAUSE,
    WORK_PATTERN,
    BackupError,
    BackupOut,
    backup_size,
    create_backup,
)
from bot.ops.running import sole
from bot.services import Services
from bot.settings import after_quiet_hours
from bot.transport.outbox import enqueue, text_payload
from messages import t
from storage.db import insert_ignore
from storage.models import Setting

log = logging.getLogger(__name__)

# The settings rows of the daily backup: when the last one was made, the last day done, when a
# process last started one, and why the last one failed (empty once one succeeds).
LAST_BACKUP = "last_backup_at"
# The size of the last daily backup's database dump: what the next one's is measured by.
LAST_DUMP_SIZE = "last_backup_dump_size"
BACKUP_DAY = "backup_day"
BACKUP_ATTEMPT = "backup_attempt"
BACKUP_FAILURE = "backup_failure"
# A failed daily backup is tried again this long after its attempt began, the same day.
RETRY_AFTER = timedelta(minutes=30)
SCHEDULED_NAME = "liaison-bot-{moment:%Y%m%d-%H%M%S}.tar.gz"
# A work folder (WORK_PATTERN) a `backup FILE` by hand may be using unless untouched a while.
WORK_STALE_AFTER = 3600.0
# Room kept free beyond what a backup may write: a tenth of it, and 1 MB.
SPARE_SHARE, SPARE_BYTES = 10, 1 << 20
# The lock of a daily backup being made: beside a SQLite database, or PostgreSQL's advisory
# lock of this key ("backup" in ASCII; the running mark's is another).
LOCK_SUFFIX = ".backup.lock"
LOCK_KEY = 0x6261636B7570


async def _put(tx: AsyncSession, key: str, value: str) -> None:
    """Set one settings row, in the caller's transaction."""
    stored = await tx.get(Setting, key)
    if stored is None:
        tx.add(Setting(key=key, value=value))
    else:
        stored.value = value


async def _remember(services: Services, key: str, value: str) -> None:
    async with services.db.uow() as tx:
        await _put(tx, key, value)


async def last_backup_at(services: Services) -> datetime | None:
    """When the last daily backup into BACKUP_DIR was made (by any process), if ever."""
    async with services.db.sessions() as session:
        value = await session.scalar(select(Setting.value).where(Setting.key == LAST_BACKUP))
    return datetime.fromisoformat(value) if value else None


def _stamp(moment: datetime) -> str:
    """A UTC time as text that sorts as the time does."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _claim_day(services: Services, day: date) -> bool:
    """Take today's backup for this process; False if it is made, or another process (or
    this one) began it less than RETRY_AFTER ago."""
    now = services.now()
    async with services.db.uow() as tx:
        dialect = tx.get_bind().dialect.name
        for key in (BACKUP_DAY, BACKUP_ATTEMPT):
            await tx.execute(insert_ignore(dialect, Setting).values(key=key, value=""))
        done = await tx.scalar(select(Setting.value).where(Setting.key == BACKUP_DAY))
        if (done or "") >= day.isoformat():
            return False
        result = await tx.execute(
            update(Setting)
            .where(Setting.key == BACKUP_ATTEMPT, Setting.value < _stamp(now - RETRY_AFTER))
            .values(value=_stamp(now))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def _day_done(
    services: Services, day: date, made_at: datetime, dump: int | None = None
) -> None:
    """Today's backup is made (its database `dump` this size): no more tries today; the
    failure, if any, is over."""
    async with services.db.uow() as tx:
        await _put(tx, BACKUP_DAY, day.isoformat())
        await _put(tx, LAST_BACKUP, made_at.isoformat())
        if dump is not None:
            await _put(tx, LAST_DUMP_SIZE, str(dump))
        await _put(tx, BACKUP_FAILURE, "")


async def backup_failure(services: Services) -> tuple[datetime, str] | None:
    """When the last daily backup failed and why, while no daily backup has succeeded since."""
    async with services.db.sessions() as session:
        value = await session.scalar(select(Setting.value).where(Setting.key == BACKUP_FAILURE))
    if not value:
        return None
    moment, _, reason = value.partition("\t")
    return datetime.fromisoformat(moment), reason


def _archives(folder: Path) -> list[Path]:
    """The daily archives in `folder`, oldest first."""
    return sorted(
        path
        for path in folder.iterdir()
        if SCHEDULED_PATTERN.fullmatch(path.name) and path.is_file()
    )


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete the daily archives beyond the newest `keep`; return those deleted."""
    archives = _archives(folder)
    old = archives[:-keep] if len(archives) > keep else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _newest_change(folder: Path) -> float:
    """When a folder or anything directly in it last changed (wall-clock seconds)."""
    times = [folder.lstat().st_mtime]
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            times.append(path.lstat().st_mtime)
    return max(times)


def clear_leftovers(folder: Path) -> list[Path]:
    """Delete what a daily backup killed half way left in `folder` (only names of ours, see
    PARTIAL_PATTERN and WORK_PATTERN); return what was deleted. Run holding the lock."""
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        try:
            if PARTIAL_PATTERN.fullmatch(path.name) and path.is_file() and not path.is_symlink():
                path.unlink()
            elif (
                WORK_PATTERN.fullmatch(path.name)
                and path.is_dir()
                and not path.is_symlink()
                and time.time() - _newest_change(path) > WORK_STALE_AFTER
            ):
                shutil.rmtree(path)
            else:
                continue
        except OSError:
            log.warning("could not delete %s, left by an unfinished backup", path, exc_info=True)
            continue
        removed.append(path)
    return removed


def _existing(folder: Path) -> Path:
    """The folder, or the nearest folder above it that exists (the disk it will be on)."""
    for place in (folder, *folder.parents):
        if place.exists():
            return place
    return folder


def make_room(folder: Path, needed: int) -> tuple[int, list[Path]]:
    """Free `needed` bytes on the disk of `folder` by deleting the oldest daily archives,
    never the newest, if deleting them is enough (else none); return the free bytes then, and
    what was deleted."""
    free = shutil.disk_usage(_existing(folder)).free
    if free >= needed or not folder.is_dir():
        return free, []
    older = _archives(folder)[:-1]
    freed, chosen = 0, []
    for path in older:
        if free + freed >= needed:
            break
        freed += path.stat().st_size
        chosen.append(path)
    if free + freed < needed:
        return free, []
    for path in chosen:
        path.unlink(missing_ok=True)
    return shutil.disk_usage(folder).free, chosen


async def _room_for_backup(services: Services, folder: Path) -> None:
    """Clear a killed backup's leftovers and make room for today's, or refuse to begin it."""
    from bot.ledger.files import size_text

    cleared = await asyncio.to_thread(clear_leftovers, folder)
    if cleared:
        log.info("deleted what an unfinished backup left: %s", ", ".join(p.name for p in cleared))
    async with services.db.sessions() as session:
        dump = await session.scalar(select(Setting.value).where(Setting.key == LAST_DUMP_SIZE))
    estimate = await backup_size(services, int(dump) if dump else None)
    needed = estimate + estimate // SPARE_SHARE + SPARE_BYTES
    try:
        free, removed = await asyncio.to_thread(make_room, folder, needed)
    except OSError:  # the backup itself says what is wrong with the folder
        log.warning("could not measure the free space of %s", folder, exc_info=True)
        return
    if removed:
        log.warning(
            "the disk of %s was short of room: deleted the oldest daily archives %s",
            folder,
            ", ".join(p.name for p in removed),
        )
    if free < needed:
        raise BackupError(NO_ROOM, folder=folder, needed=size_text(needed), free=size_text(free))


async def tell_staff_backup_failed(services: Services, *, day: date, reason: str) -> int:
    """Queue a notice to every member of staff that today's backup failed; return how many."""
    from messages import format_date

    now = services.now()
    due = after_quiet_hours(services.settings, now)
    folder = str(services.settings.backup_dir or "")
    queued = 0
    async with services.db.uow() as tx:
        languages = await roster.languages_in(tx, services, await roster.staff_ids(tx, services))
        for staff_id, lang in languages.items():
            message = t(
                lang,
                "ops.backup_failed_notice",
                date=format_date(day, lang),
                reason=reason,
                folder=folder,
                minutes=int(RETRY_AFTER.total_seconds() // 60),
            )
            queued += await enqueue(
                tx,
                key=f"backup-failed:{day.isoformat()}:{staff_id}",
                chat_id=staff_id,
                purpose="notice",
                payload=text_payload(message),
                now=now,
                due_at=due,
            )
    return queued


def failure_reason(exc: BaseException, lang: str) -> str:
    """One line saying why a backup failed, for staff: in the office's words, never the raw
    error (the log has that)."""
    from messages import plain

    if isinstance(exc, DomainError):
        # A failure to write the archive has a short cause of its own (the notice says the rest).
        key = exc.key + "_cause" if exc.key in WITH_CAUSE else exc.key
        return plain(lang, key, **exc.values).rstrip("。.")
    return plain(lang, "ops.backup_failed_unexpected").rstrip("。.")


@dataclass
class BackupSchedule:
    """The daily backup: a tick that makes today's archive once BACKUP_TIME has passed."""

    services: Services
    on_notice: Callable[[], None] | None = None  # wakes the outbox dispatcher
    tick_seconds: float = 60.0
    _said_busy: bool = field(default=False, init=False)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failing tick is logged and tried again."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("backup tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_seconds)

    async def run_once(self) -> BackupOut | None:
        """Back up now if today's backup is due and no process has made it yet; a failed one
        is tried again RETRY_AFTER later, the same day; never while one is still being made."""
        settings = self.services.settings
        folder = settings.backup_dir
        if folder is None:
            return None
        local = self.services.now().astimezone(settings.tz)
        if local.time() < settings.backup_time:
            return None
        day = local.date()
        if not await _claim_day(self.services, day):
            return None
        async with sole(self.services.db, LOCK_SUFFIX, LOCK_KEY) as alone:
            if not alone:
                if not self._said_busy:
                    log.info("a daily backup is already being made; not begun a second time")
                self._said_busy = True
                return None
            self._said_busy = False
            return await self._make(day, local, folder)

    async def _make(self, day: date, local: datetime, folder: Path) -> BackupOut | None:
        """Make today's archive in `folder`, mark the day done and prune; on failure, tell."""
        settings = self.services.settings
        target = folder / SCHEDULED_NAME.format(moment=local)
        try:
            await _room_for_backup(self.services, folder)
            made = await create_backup(services=self.services, target=target)
        except Exception as exc:
            log.exception("the daily backup to %s failed", target)
            reason = failure_reason(exc, settings.language)
            await _remember(
                self.services, BACKUP_FAILURE, f"{self.services.now().isoformat()}\t{reason}"
            )
            await tell_staff_backup_failed(self.services, day=day, reason=reason)
            if self.on_notice is not None:
                self.on_notice()
            return None
        manifest = made.manifest
        await _day_done(self.services, day, manifest.created_at, manifest.database.size)
        if made.missing:
            log.warning(
                "daily backup: %d collected files are not in DATA_DIR (%s)",
                len(made.missing),
                ", ".join(made.missing[:5]),
            )
        removed = await asyncio.to_thread(prune, folder, settings.backup_keep)
        log.info("daily backup written to %s (%d old archives removed)", target, len(removed))
        return made
