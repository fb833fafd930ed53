"""The office's holiday files, and the one working-day calendar every process decides by.

The office's own schedules come from two places:

- ``HOLIDAY_FILE`` (a setting): one file on the disk of the process, re-read when it changes;
- the holiday files staff send to the bot (``holiday_year``, one row per year, in the
  database), so every process and every restart uses them.

A year loaded in the chat replaces the same year of ``HOLIDAY_FILE`` wholly (it is the later
decision); both win over the ``chinese-calendar`` package (see bot/workdays.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import Services
from bot.settings import Settings
from bot.workdays import HolidayFile, WorkCalendar, load_holiday_file
from storage.models import HolidayYear

# The latest few versions of the file and of the calendar: an older one is read no more.
KEPT = 4
_setting_files: dict[tuple[str, float], HolidayFile] = {}
_calendars: dict[tuple[object, ...], WorkCalendar] = {}


def _keep(cache: dict[Any, Any], key: object, value: object) -> None:
    """Remember `value`, forgetting the oldest entries beyond KEPT."""
    cache[key] = value
    while len(cache) > KEPT:
        del cache[next(iter(cache))]


def setting_file(settings: Settings) -> HolidayFile | None:
    """The HOLIDAY_FILE of the settings, read again when the file changes."""
    path = settings.holiday_file
    if path is None:
        return None
    resolved = Path(path).resolve()
    key = (str(resolved), resolved.stat().st_mtime)
    if key not in _setting_files:
        _keep(_setting_files, key, load_holiday_file(resolved))
    return _setting_files[key]


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
