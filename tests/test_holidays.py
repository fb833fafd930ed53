"""bot/holidays.py: the calendars kept in memory are a few, however often the files change."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

from bot import holidays
from storage.models import HolidayYear
from tests.support.settings import make_settings


def test_a_file_and_years_changed_again_and_again_keep_few_calendars(tmp_path: Path) -> None:
    """One calendar and one file were kept per version, for the life of the process."""
    path = tmp_path / "holidays.csv"
    path.write_text("日期,类型\n2026-01-01,休\n", encoding="utf-8")
    settings = make_settings("sqlite+aiosqlite:///unused.db", holiday_file=path)
    for n in range(60):
        day = date(2026, 1, 1) + timedelta(days=n)
        path.write_text(f"日期,类型\n{day.isoformat()},休\n", encoding="utf-8")
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
        stored = [HolidayYear(year=2027, days={"holidays": [f"2027-03-{n % 28 + 1:02d}"]})]
        calendar = holidays.calendar_from(settings, stored)
        assert not calendar.is_workday(day)  # the file as it is now
        assert not calendar.is_workday(date(2027, 3, n % 28 + 1))
    assert len(holidays._setting_files) <= holidays.KEPT
    assert len(holidays._calendars) <= holidays.KEPT
