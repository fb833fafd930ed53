"""How long the bot keeps what: pruned hourly by a tick under the supervisor.

- `handled_update`: an update id is kept 48 hours. Telegram keeps an unconfirmed update for
  at most 24 hours, so no update can come again after that; and after a week without updates
  it may restart its ids at random, so an old id must be gone by then, or a new update that
  happens to reuse it would be taken as already handled.
- the outbox: a delivered row (`sent`) is deleted OUTBOX_RETENTION_DAYS after it was sent
  (default one year); the rows that say something went wrong (failed, unknown, unreachable,
  cancelled) are kept, like the audit log, which is never pruned. So are the reminders to
  units' people (purpose "reminder"): they are the only record of them, and the cap, the
  escalation, 已提醒N次, `reminders_sent`, the workbook's 催报记录 and the metrics count them;
  and the group roll calls, whose latest post sets the next one's day.
- dead letters are kept (bot/deadletters.py); the shared send slots of chats idle for an hour
  are deleted.
- files a process killed half way left, untouched for a day (LEFTOVERS_KEPT), only by the names
  the bot gives them: a download's `.part` (DATA_DIR/<unit>/<item>/<8 hex>_<name>.part) and a
  write check's (DATA_DIR/.write-check-<pid>.part), a folder of files made to send in the chat
  (DATA_DIR/exports/.sending-*), a restore's staging folder (.liaison-restore-* beside DATA_DIR;
  a restore runs only while no bot does).
- a 催办通知 made for staff under 督办 (DATA_DIR/notices/supervision) is deleted a day after it
  was made once no message still to be sent refers to it.
- the files a bot before this one kept for good after sending them in the chat (workbooks and
  archives in DATA_DIR/exports, 通报 and 催办通知 in DATA_DIR/notices), by their names.
- `invite_attempt`: a try of an invite link is kept as long as it counts towards slowing down a
  guesser (FAILURE_WINDOW, an hour), then deleted."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import delete, select

from bot.context import Context
from bot.registration.throttle import FAILURE_WINDOW
from bot.reminders.policy import REMINDER, ROLLCALL
from bot.services import Services
from bot.settings import Settings
from bot.staff.outputs import SENDING, SENDING_PREFIX
from storage.models import HandledUpdate, InviteAttempt, OutboxMessage, SendSlot

log = logging.getLogger(__name__)

HANDLED_UPDATE_KEPT = timedelta(hours=48)
KEPT_PURPOSES = (REMINDER, ROLLCALL)  # outbox rows the schedule and the counts rest on
EVERY = 3600.0
LEFTOVERS_KEPT = timedelta(days=1)
# The names of what a process killed half way leaves (see the module's docstring).
DOWNLOAD_PART = re.compile(r"[0-9a-f]{8}_[^/]+\.part")
PROBE_PART = re.compile(r"\.write-check-\d+\.part")
SENDING_FOLDER = re.compile(re.escape(SENDING_PREFIX) + r"[a-z0-9_]{8}")
RESTORE_FOLDER = re.compile(r"\.liaison-restore-[a-z0-9_]{8}")
SUPERVISION = ("notices", "supervision")
# What a bot before this one kept for good of what it sent in the chat (the names of
# bot/staff/outputs.py stamped_name: …_20261130_0900[_part].xlsx/.zip in DATA_DIR/exports,
# …_20261130_0900.docx in DATA_DIR/notices).
SENT_BEFORE = re.compile(r".+_\d{8}_\d{4}(?:_[^/]+)?\.(?:xlsx|zip)")
NOTICE_SENT_BEFORE = re.compile(r".+_\d{8}_\d{4}\.docx")
UNSENT = ("pending", "claimed", "sending")


class PruneOut(BaseModel):
    handled_updates: int
    outbox_rows: int
    send_slots: int
    invite_attempts: int
    files: int = 0


def _entries(folder: Path) -> list[Path]:
    """What one of our folders holds: nothing when it is a link (it may lead out of our
    folders, to files the office keeps) or cannot be listed (said in the log: the housekeeping
    must not stop the bot for a folder it may not read)."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return []
        return list(folder.iterdir())
    except OSError as exc:
        log.warning("could not look into %s: %s", folder, exc)
        return []


def _digits(folder: Path) -> list[Path]:
    """The entries of `folder` named by a number (a unit's folder, an item's)."""
    return [path for path in _entries(folder) if path.name.isdigit()]


def _leftovers(settings: Settings, needed: set[str]) -> Iterator[Path]:
    """What the housekeeping may delete, by its name (see the module's docstring)."""
    data_dir = settings.data_dir.resolve()  # DATA_DIR itself may be a link, to another disk
    for unit in _digits(data_dir):
        for item in _digits(unit):
            yield from (p for p in _entries(item) if DOWNLOAD_PART.fullmatch(p.name))
    yield from (p for p in _entries(data_dir) if PROBE_PART.fullmatch(p.name))
    for path in _entries(data_dir / SENDING):
        if SENDING_FOLDER.fullmatch(path.name) or (
            SENT_BEFORE.fullmatch(path.name) and path.is_file()
        ):
            yield path
    notices = _entries(data_dir / SUPERVISION[0])
    yield from (p for p in notices if NOTICE_SENT_BEFORE.fullmatch(p.name) and p.is_file())
    yield from (p for p in _entries(data_dir.parent) if RESTORE_FOLDER.fullmatch(p.name))
    supervision = _entries(data_dir.joinpath(*SUPERVISION))
    yield from (p for p in supervision if p.suffix == ".docx" and str(p.resolve()) not in needed)


def _delete_leftovers(settings: Settings, needed: set[str]) -> list[Path]:
    """Delete what is kept no longer on disk, untouched for LEFTOVERS_KEPT, but the files of
    `needed` (paths of messages still to be sent); return what was deleted."""
    before = time.time() - LEFTOVERS_KEPT.total_seconds()
    needed = {str(Path(p).resolve()) for p in needed}
    deleted = []
    for path in list(_leftovers(settings, needed)):
        try:
            if path.is_symlink() or path.lstat().st_mtime >= before:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            log.warning("could not delete %s", path, exc_info=True)
            continue
        deleted.append(path)
    return deleted


async def prune(*, services: Services) -> PruneOut:
    """Delete what is kept no longer (see the module's docstring)."""
    # Telegram's window is wall-clock time, whatever clock the office's rules run on.
    handled_before = datetime.now(UTC) - HANDLED_UPDATE_KEPT
    sent_before = services.now() - timedelta(days=services.settings.outbox_retention_days)
    async with services.db.uow() as tx:
        handled = await tx.execute(
            delete(HandledUpdate).where(HandledUpdate.handled_at < handled_before)
        )
        sent = await tx.execute(
            delete(OutboxMessage).where(
                OutboxMessage.state == "sent",
                OutboxMessage.sent_at < sent_before,
                OutboxMessage.purpose.not_in(KEPT_PURPOSES),
            )
        )
        slots = await tx.execute(
            delete(SendSlot).where(SendSlot.chat_id != 0, SendSlot.next_at < time.time() - 3600)
        )
        attempts = await tx.execute(
            delete(InviteAttempt).where(InviteAttempt.at <= services.now() - FAILURE_WINDOW)
        )
    async with services.db.sessions() as session:
        payloads = await session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.state.in_(UNSENT), OutboxMessage.dedupe_key.like("supervise:%")
            )
        )
        needed = {str(p["path"]) for p in payloads if isinstance(p, dict) and p.get("path")}
    files = await asyncio.to_thread(_delete_leftovers, services.settings, needed)
    if files:
        log.info("deleted files kept no longer: %s", ", ".join(str(p) for p in files))
    out = PruneOut(
        handled_updates=int(handled.rowcount),  # type: ignore[attr-defined]
        outbox_rows=int(sent.rowcount),  # type: ignore[attr-defined]
        send_slots=int(slots.rowcount),  # type: ignore[attr-defined]
        invite_attempts=int(attempts.rowcount),  # type: ignore[attr-defined]
        files=len(files),
    )
    if out.handled_updates or out.outbox_rows:
        log.info(
            "pruned %d handled update ids and %d delivered outbox rows",
            out.handled_updates,
            out.outbox_rows,
        )
    return out


async def housekeeping_job(context: Context) -> None:
    """The hourly tick: prune."""
    await prune(services=context.bot_data.services)
