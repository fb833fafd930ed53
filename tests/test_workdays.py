"""Tests for bot/workdays.py: Chinese working days from holiday files, the package, or Mon–Fri."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import FrozenClock
from bot.holidays import load_calendar
from bot.importing import ImportRejected
from bot.registration.notices import next_digest_at
from bot.services import Services
from bot.workdays import HolidayFile, WorkCalendar, load_holiday_file
from tests.support.settings import make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "import"

# An illustrative 2027 schedule (the State Council had not published the real one).
HOLIDAYS_2027 = HolidayFile(
    year=2027,
    holidays=[date(2027, 1, 1), *(date(2027, 2, day) for day in range(5, 12))],
    workdays=[date(2027, 2, 13), date(2027, 2, 20)],
)
CALENDAR = WorkCalendar([HOLIDAYS_2027])
PACKAGE_ONLY = WorkCalendar()


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# --- what the chinese_calendar package says (checked against it, not guessed) -----------


def test_national_day_2026() -> None:
    for day in days(date(2026, 10, 1), date(2026, 10, 7)):
        assert not PACKAGE_ONLY.is_workday(day), day
        assert PACKAGE_ONLY.source(day) == "package"
    # make-up working days (调休): Sunday 20 September and Saturday 10 October
    assert date(2026, 9, 20).weekday() == 6
    assert PACKAGE_ONLY.is_workday(date(2026, 9, 20))
    assert date(2026, 10, 10).weekday() == 5
    assert PACKAGE_ONLY.is_workday(date(2026, 10, 10))
    assert PACKAGE_ONLY.is_workday(date(2026, 10, 8))
    assert not PACKAGE_ONLY.is_workday(date(2026, 10, 11))  # an ordinary Sunday
    assert not PACKAGE_ONLY.is_workday(date(2026, 9, 27))  # Sunday, 中秋 weekend


def test_spring_festival_2026() -> None:
    for day in days(date(2026, 2, 15), date(2026, 2, 23)):
        assert not PACKAGE_ONLY.is_workday(day), day
    assert PACKAGE_ONLY.is_workday(date(2026, 2, 13))
    assert PACKAGE_ONLY.is_workday(date(2026, 2, 14))  # Saturday, make-up day
    assert PACKAGE_ONLY.is_workday(date(2026, 2, 24))
    assert PACKAGE_ONLY.is_workday(date(2026, 2, 28))  # Saturday, make-up day


def test_arithmetic_across_national_day_2026() -> None:
    cal = PACKAGE_ONLY
    assert cal.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 9, 30), include_today=True) == date(2026, 9, 30)
    assert cal.next_workday(date(2026, 10, 3), include_today=True) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 9, 19)) == date(2026, 9, 20)  # Saturday → make-up Sunday
    assert cal.add_workdays(date(2026, 9, 30), 0) == date(2026, 9, 30)
    assert cal.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.add_workdays(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert cal.add_workdays(date(2026, 10, 4), -1) == date(2026, 9, 30)
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert cal.workdays_between(date(2026, 10, 10), date(2026, 9, 30)) == -3
    assert cal.workdays_between(date(2026, 10, 1), date(2026, 10, 1)) == 0
    # (a, b]: a is not counted, b is
    assert cal.workdays_between(date(2026, 9, 29), date(2026, 9, 30)) == 1
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert cal.workdays_until(date(2026, 9, 30), date(2026, 10, 9)) == 2
    assert cal.workdays_until(date(2026, 10, 9), date(2026, 10, 9)) == 0
    assert cal.workdays_until(date(2026, 10, 12), date(2026, 10, 9)) == 0


# --- holiday files -------------------------------------------------------------------------


def test_holiday_file_for_2027() -> None:
    cal = CALENDAR
    assert not cal.is_workday(date(2027, 1, 1))  # Friday, listed off
    assert cal.source(date(2027, 1, 1)) == "file"
    assert not cal.is_workday(date(2027, 2, 8))  # Monday, listed off
    assert cal.is_workday(date(2027, 2, 13))  # Saturday, listed as a make-up day
    # the file covers its whole year: an unlisted date is an ordinary weekday or weekend
    assert cal.is_workday(date(2027, 3, 1))
    assert not cal.is_workday(date(2027, 3, 6))
    assert cal.source(date(2027, 3, 6)) == "file"
    assert cal.unknown_years(date(2026, 12, 1), date(2027, 12, 31)) == []
    assert cal.next_workday(date(2027, 2, 4)) == date(2027, 2, 12)
    assert cal.workdays_between(date(2027, 2, 4), date(2027, 2, 15)) == 3  # 12, 13, 15


def test_holiday_file_wins_over_the_package() -> None:
    office = HolidayFile(year=2026, holidays=[date(2026, 10, 9)], workdays=[date(2026, 10, 3)])
    cal = WorkCalendar([office])
    assert not cal.is_workday(date(2026, 10, 9))  # the package says working day
    assert cal.source(date(2026, 10, 9)) == "file"
    assert cal.is_workday(date(2026, 10, 3))  # the package says National Day
    assert cal.source(date(2026, 10, 3)) == "file"
    # unlisted dates of a year the package knows still come from the package
    assert cal.source(date(2026, 10, 4)) == "package"
    assert not cal.is_workday(date(2026, 10, 4))
    assert cal.is_workday(date(2026, 10, 10))


def test_later_holiday_file_wins() -> None:
    first = HolidayFile(year=2027, holidays=[date(2027, 5, 3)])
    second = HolidayFile(year=2027, workdays=[date(2027, 5, 3)])
    assert WorkCalendar([first, second]).is_workday(date(2027, 5, 3))
    assert not WorkCalendar([second, first]).is_workday(date(2027, 5, 3))


def test_weekday_fallback_for_2028() -> None:
    cal = CALENDAR
    assert cal.source(date(2028, 1, 3)) == "weekday"
    assert cal.is_workday(date(2028, 1, 3))  # Monday
    assert not cal.is_workday(date(2028, 1, 1))  # Saturday; New Year is unknown, so a weekend
    assert cal.is_workday(date(2028, 10, 2))  # National Day unknown: an ordinary Monday
    assert cal.unknown_years(date(2027, 12, 1), date(2029, 2, 1)) == [2028, 2029]
    assert cal.unknown_years(date(2029, 2, 1), date(2027, 12, 1)) == [2028, 2029]
    assert PACKAGE_ONLY.unknown_years(date(2026, 6, 1), date(2028, 1, 1)) == [2027, 2028]
    assert PACKAGE_ONLY.unknown_years(date(2026, 1, 1), date(2026, 12, 31)) == []
    assert PACKAGE_ONLY.unknown_years(date(2003, 12, 1), date(2004, 1, 1)) == [2003]
    assert PACKAGE_ONLY.source(date(2004, 1, 1)) == "package"


def test_load_holiday_file_csv_with_chinese_header() -> None:
    loaded = load_holiday_file(FIXTURES / "holidays_2027.csv")
    assert loaded == HOLIDAYS_2027


def test_load_holiday_file_json() -> None:
    assert load_holiday_file(FIXTURES / "holidays_2027.json") == HOLIDAYS_2027


def test_load_holiday_file_xlsx_with_date_cells(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Date", "Type"])
    sheet.append([datetime(2027, 10, 1), "off"])
    sheet.append(["2027-09-26", "work"])
    workbook.save(tmp_path / "h.xlsx")
    loaded = load_holiday_file(tmp_path / "h.xlsx")
    assert loaded == HolidayFile(
        year=2027, holidays=[date(2027, 10, 1)], workdays=[date(2027, 9, 26)]
    )


@pytest.mark.parametrize(
    ("text", "row", "code", "details"),
    [
        ("日期,类型\n2027-01-01,休\n2027-13-01,休\n", 3, "bad_date", {"value": "2027-13-01"}),
        ("date,type\n明年元旦,off\n", 2, "bad_date", {"column": "date"}),
        ("date,type\n2027-01-01,放\n", 2, "bad_type", {"column": "type", "value": "放"}),
        ("date,type\n2027-01-01,\n", 2, "bad_type", {}),
        ("date,type\n2027-01-01,休\n2028-01-01,休\n", 3, "year_mismatch", {"year": "2027"}),
        (
            "date,type\n2027-01-01,休\n2027/1/1,班\n",
            3,
            "duplicate",
            {"value": "2027/1/1", "first_row": "2"},
        ),
        ("date\n2027-01-01\n", 1, "missing_column", {"column": "type"}),
        ("类型\n休\n", 1, "missing_column", {"column": "日期", "field": "date"}),
        ("date,type\n", None, "empty_file", {}),
        ("", None, "empty_file", {}),
    ],
)
def test_bad_holiday_csv(
    tmp_path: Path, text: str, row: int | None, code: str, details: dict[str, str]
) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        load_holiday_file(path)
    assert (info.value.row, info.value.code) == (row, code)
    assert details.items() <= info.value.details.items()


@pytest.mark.parametrize(
    ("content", "code", "details"),
    [
        ("{not json", "unreadable", {}),
        ("[]", "unreadable", {}),
        ('{"holidays": []}', "missing_column", {"column": "year"}),
        ('{"year": 2027, "holidays": ["2027-02-30"]}', "bad_date", {"column": "holidays"}),
        ('{"year": 2027, "workdays": ["soon"]}', "bad_date", {"column": "workdays"}),
        ('{"year": "next", "holidays": []}', "bad_value", {"column": "year"}),
        ('{"year": 2027, "holidays": ["2026-12-31"]}', "year_mismatch", {"value": "2026-12-31"}),
        (
            '{"year": 2027, "holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}',
            "conflict",
            {"value": "2027-01-01"},
        ),
        ('{"year": 2027, "holidays": ["2027-01-01", "2027-01-01"]}', "duplicate", {}),
    ],
)
def test_bad_holiday_json(
    tmp_path: Path, content: str, code: str, details: dict[str, str]
) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        load_holiday_file(path)
    assert (info.value.row, info.value.code) == (None, code)
    assert details.items() <= info.value.details.items()


def test_holiday_file_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "holidays.txt"
    path.write_text(json.dumps({"year": 2027}), encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        load_holiday_file(path)
    assert info.value.code == "unsupported_format"


# --- properties ------------------------------------------------------------------------------

# From 2025 (package) through 2027 (holiday file) to 2028 (Monday–Friday only).
any_day = st.dates(min_value=date(2025, 6, 1), max_value=date(2028, 12, 31))


@settings(database=None, deadline=None)
@given(d=any_day, n=st.integers(min_value=1, max_value=40))
def test_add_workdays_lands_on_a_workday_n_workdays_later(d: date, n: int) -> None:
    later = CALENDAR.add_workdays(d, n)
    assert later > d
    assert CALENDAR.is_workday(later)
    assert CALENDAR.workdays_between(d, later) == n
    assert CALENDAR.workdays_until(d, later) == n
    assert CALENDAR.workdays_until(later, d) == 0


@settings(database=None, deadline=None)
@given(d=any_day, n=st.integers(min_value=1, max_value=40))
def test_add_workdays_backwards_undoes_forwards_from_a_workday(d: date, n: int) -> None:
    start = CALENDAR.next_workday(d, include_today=True)
    earlier = CALENDAR.add_workdays(start, -n)
    assert earlier < start
    assert CALENDAR.is_workday(earlier)
    assert CALENDAR.workdays_between(earlier, start) == n
    assert CALENDAR.add_workdays(earlier, n) == start


@settings(database=None, deadline=None)
@given(d=any_day, include_today=st.booleans())
def test_next_workday_is_the_first_workday_from_d(d: date, include_today: bool) -> None:
    found = CALENDAR.next_workday(d, include_today=include_today)
    assert found >= d
    assert CALENDAR.is_workday(found)
    if not include_today:
        assert found > d
    first = d if include_today else d + timedelta(days=1)
    assert not any(CALENDAR.is_workday(day) for day in days(first, found - timedelta(days=1)))


@settings(database=None, deadline=None)
@given(a=any_day, b=any_day)
def test_workdays_between_counts_each_working_day_once(a: date, b: date) -> None:
    """The count read from per-year tallies equals counting the days one by one, across
    years, the holiday file and the Monday–Friday fallback, in either order."""
    low, high = sorted((a, b))
    counted = sum(1 for day in days(low + timedelta(days=1), high) if CALENDAR.is_workday(day))
    assert CALENDAR.workdays_between(low, high) == counted
    assert CALENDAR.workdays_between(high, low) == -counted


# ---- the office's file counts everywhere a working day is decided ---------------------------


async def test_the_registration_digest_skips_a_holiday_of_the_offices_file(
    services: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    """The office declares Tuesday 2026-12-01 a day off; the digest waits for Wednesday."""
    holidays = tmp_path / "2026.csv"
    holidays.write_text("日期,类型\n2026-12-01,休\n", encoding="utf-8")
    services.settings = make_settings(services.settings.database_url, holiday_file=holidays)
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=services.settings.tz))  # after 09:30

    calendar = await load_calendar(services=services)
    due = next_digest_at(services, calendar).astimezone(services.settings.tz)

    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-12-02", 9, 30)
