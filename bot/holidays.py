"""The office's holiday files, and the one working-day calendar every process decides by.

The office's own schedules come from two places:

- ``HOLIDAY_FILE`` (a setting): one file on the disk of the process, re-read when it changes;
- the holiday files staff send to the bot (``holiday_year``, one row per year, in the
  database), so every process and every restart uses them.

A year loaded in the chat replaces the same year of ``HOLIDAY_FILE`` wholly (it is the later
decision); both win over the ``chinese-calendar`` package (see bot/workdays.py).

A ``HOLIDAY_FILE`` that cannot be read (a bad row saved, the file moved or deleted) stops
nothing: the process goes on with the last version it read (none, when it started so: then the
package and the years loaded in the chat decide), and :class:`FileTrouble` says what is wrong,
for staff (the planner tells them once a day), ``/healthz`` and the command line.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.importing import ImportRejected, problem_lines, problems_of
from bot.services import Services
from bot.settings import Settings
from bot.workdays import HolidayFile, WorkCalendar, load_holiday_file
from messages import plain, t
from storage import repositories as repo
from storage.models import Deadline, HolidayYear

log = logging.getLogger(__name__)

# The latest few versions of the file and of the calendar: an older one is read no more.
KEPT = 4
# Each version of HOLIDAY_FILE read (by path, modification time and size): its year, or why not.
_setting_files: dict[tuple[str, int, int], HolidayFile | ImportRejected] = {}
# The last version of each HOLIDAY_FILE that could be read, in this process.
_last_read: dict[str, HolidayFile] = {}
# The troubles already said in the log (or on the command line), so each is said once.
_said: set[tuple[str, str]] = set()
_calendars: dict[tuple[object, ...], WorkCalendar] = {}
# From this month on, staff are warned each working day that next year's holiday schedule is
# not loaded, whatever the deadline: the State Council publishes it in the autumn, and a year
# no source knows counts its Spring Festival as working days (the office needs time to load it).
NEXT_YEAR_WARNED_FROM_MONTH = 12
# A one-line account of a file names this many of its problems (and how many more).
LINE_PROBLEMS = 10
# The staff's message names this many (and how many more): a year's file written wrongly
# throughout would exceed what one Telegram message holds, and so never reach them.
MESSAGE_PROBLEMS = 30


@dataclass(frozen=True)
class FileTrouble:
    """Why HOLIDAY_FILE cannot be used now: no file at its path, or what is wrong in it."""

    path: Path
    rejected: ImportRejected | None  # None: there is no file at the path
    kept: bool  # an earlier version was read, and still decides

    def lines(self, lang: str, say: Callable[..., str] = t) -> list[str]:
        """The trouble for staff: what is wrong (the first MESSAGE_PROBLEMS rows, and how many
        more), what the bot does meanwhile."""
        if self.rejected is None:
            return [
                say(lang, "calendar.file_missing", file=self.path),
                say(lang, self._meanwhile),
                say(lang, "calendar.file_fix_missing"),
            ]
        problems = problems_of(self.rejected)
        lines = [say(lang, "calendar.file_bad", file=self.path, count=len(problems))]
        lines += problem_lines(lang, problems, MESSAGE_PROBLEMS, say=say)
        return [*lines, say(lang, self._meanwhile), say(lang, "calendar.file_fix")]

    def line(self, lang: str) -> str:
        """The trouble in one line of plain text (the command line, the log, /healthz)."""
        gap = plain(lang, "formats.sentences")
        if self.rejected is None:
            return gap.join(
                [
                    plain(lang, "calendar.file_missing", file=self.path),
                    plain(lang, self._meanwhile),
                ]
            )
        problems = problems_of(self.rejected)
        shown = problem_lines(lang, problems, LINE_PROBLEMS)
        said = plain(
            lang,
            "calendar.file_bad_line",
            file=self.path,
            count=len(problems),
            problems=plain(lang, "calendar.problem_separator").join(shown),
        )
        return gap.join([said, plain(lang, self._meanwhile)])

    @property
    def _meanwhile(self) -> str:
        return "calendar.file_kept" if self.kept else "calendar.file_unused"


def read_setting_file(
    settings: Settings, *, log_it: bool = True
) -> tuple[HolidayFile | None, FileTrouble | None]:
    """HOLIDAY_FILE (read again when it changes) and its trouble, if any: while it cannot be
    read, the last version this process read (or None) and what is wrong now. Each trouble
    is logged once (`log_it` False: the caller says it)."""
    path = settings.holiday_file
    if path is None:
        return None, None
    resolved = Path(path).resolve()
    name = str(resolved)
    try:
        status = resolved.stat()
    except OSError:
        loaded: HolidayFile | ImportRejected | None = None
    else:
        loaded = None
        if stat.S_ISREG(status.st_mode):
            key = (name, status.st_mtime_ns, status.st_size)
            if key not in _setting_files:
                _keep(_setting_files, key, _load(resolved))
            loaded = _setting_files[key]
    if isinstance(loaded, HolidayFile):
        _last_read[name] = loaded
        # Read well again: a trouble after this one is said, even one said before.
        _said.difference_update({said for said in _said if said[0] == name})
        return loaded, None
    kept = _last_read.get(name)
    trouble = FileTrouble(path=Path(path), rejected=loaded, kept=kept is not None)
    said = (name, trouble.line(settings.language))
    if said not in _said:
        _said.add(said)
        if log_it:
            log.warning("HOLIDAY_FILE cannot be used: %s", said[1])
    return kept, trouble


def _load(path: Path) -> HolidayFile | ImportRejected:
    try:
        return load_holiday_file(path)
    except ImportRejected as exc:
        return exc
    except OSError as exc:  # read as it was being replaced, or no longer allowed to
        return ImportRejected(None, "unreadable", {"error": f"{type(exc).__name__}: {exc}"})


def _keep(cache: dict[Any, Any], key: object, value: object) -> None:
    """Remember `value`, forgetting the oldest entries beyond KEPT."""
    cache[key] = value
    while len(cache) > KEPT:
        del cache[next(iter(cache))]


def setting_file(settings: Settings) -> HolidayFile | None:
    """The HOLIDAY_FILE of the settings (the last version read, while it cannot be read)."""
    return read_setting_file(settings)[0]


def setting_file_trouble(settings: Settings) -> FileTrouble | None:
    """What is wrong with HOLIDAY_FILE now; None when it is unset or reads well."""
    return read_setting_file(settings)[1]


def start_warning(settings: Settings) -> str | None:
    """The one line a command says at start when HOLIDAY_FILE cannot be used (the log is
    then not told it again); None when it can."""
    trouble = read_setting_file(settings, log_it=False)[1]
    return None if trouble is None else trouble.line(settings.language)


def holiday_file_of(row: HolidayYear) -> HolidayFile:
    """A stored year as the calendar reads it."""
    return HolidayFile(
        year=row.year,
        holidays=[date.fromisoformat(d) for d in row.days.get("holidays", [])],
        workdays=[date.fromisoformat(d) for d in row.days.get("workdays", [])],
    )


async def stored_years(session: AsyncSession) -> list[HolidayYear]:
    """The years loaded in the chat, oldest year first."""
    return list((await session.scalars(select(HolidayYear).order_by(HolidayYear.year))).all())


def calendar_from(settings: Settings, stored: Sequence[HolidayYear]) -> WorkCalendar:
    """The calendar of HOLIDAY_FILE and the stored years (a stored year replaces the file's)."""
    from_setting = setting_file(settings)
    key = (
        (from_setting.year, tuple(from_setting.holidays), tuple(from_setting.workdays))
        if from_setting is not None
        else None,
        tuple(
            (row.year, tuple(row.days.get("holidays", [])), tuple(row.days.get("workdays", [])))
            for row in stored
        ),
    )
    if key not in _calendars:
        files = [holiday_file_of(row) for row in stored]
        years = {f.year for f in files}
        if from_setting is not None and from_setting.year not in years:
            files.insert(0, from_setting)
        _keep(_calendars, key, WorkCalendar(files))
    return _calendars[key]


async def office_calendar(session: AsyncSession, settings: Settings) -> WorkCalendar:
    """The working-day calendar, read in the caller's session."""
    return calendar_from(settings, await stored_years(session))


async def load_calendar(*, services: Services) -> WorkCalendar:
    """The working-day calendar, read in a session of its own."""
    async with services.db.sessions() as session:
        return await office_calendar(session, services.settings)


def unknown_years(
    cal: WorkCalendar, today: date, scoped: Mapping[str, Deadline]
) -> tuple[list[int], list[int]]:
    """The years no source knows: those from today to the last deadline (counted Monday to
    Friday already), and, from NEXT_YEAR_WARNED_FROM_MONTH on, next year if not among them."""
    latest = max([d.due for d in scoped.values()], default=today)
    counted = cal.unknown_years(today, max(today, latest))
    if today.month < NEXT_YEAR_WARNED_FROM_MONTH:
        return counted, []
    next_year = date(today.year + 1, 1, 1)
    return counted, [y for y in cal.unknown_years(next_year, next_year) if y not in counted]


async def years_unknown_now(services: Services) -> list[int]:
    """Every year `unknown_years` names today (for /healthz)."""
    async with services.db.sessions() as session:
        cal = await office_calendar(session, services.settings)
        counted, ahead = unknown_years(cal, services.today(), await repo.deadlines(session))
    return sorted({*counted, *ahead})


def store_year(
    session: AsyncSession,
    found: HolidayYear | None,
    holiday_file: HolidayFile,
    *,
    file_name: str,
    at: datetime,
    actor_id: int | None,
) -> None:
    """Keep one year's schedule (replacing the one loaded before), in the caller's transaction."""
    days = {
        "holidays": [d.isoformat() for d in sorted(holiday_file.holidays)],
        "workdays": [d.isoformat() for d in sorted(holiday_file.workdays)],
    }
    if found is None:
        session.add(
            HolidayYear(
                year=holiday_file.year,
                days=days,
                file_name=file_name[:255],
                loaded_at=at,
                loaded_by=actor_id,
            )
        )
        return
    found.days, found.file_name = days, file_name[:255]
    found.loaded_at, found.loaded_by = at, actor_id
