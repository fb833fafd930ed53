"""The Chinese working-day calendar: statutory holidays off, make-up weekends (调休) on.

Three sources answer "is this a working day?", the first that knows wins:

1. ``file``: a holiday file the office loaded (:class:`HolidayFile`): the dates it lists as
   days off or as make-up working days. A year the file covers but the package does not is
   answered wholly by the file: its unlisted dates are ordinary Monday–Friday working days.
2. ``package``: the ``chinese_calendar`` package (it knows 2004–2026 in its 1.11 release).
3. ``weekday``: Monday to Friday, for a year neither knows; :meth:`WorkCalendar.unknown_years`
   names such years so that staff can be warned.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from bot.importing import (
    Column,
    ImportProblems,
    ImportRejected,
    normalize_key,
    read_sheet,
    resolve_columns,
)

__all__ = ["HOLIDAY_COLUMNS", "HolidayFile", "Source", "WorkCalendar", "load_holiday_file"]

Source = Literal["file", "package", "weekday"]

_ONE_DAY = timedelta(days=1)


class HolidayFile(BaseModel):
    """A year's schedule as the State Council publishes it: days off and make-up working days."""

    model_config = ConfigDict(frozen=True)

    year: int = Field(ge=1, le=9999)
    holidays: list[date] = Field(default_factory=list)  # days off (休)
    workdays: list[date] = Field(default_factory=list)  # make-up working days (班, 调休)

    @model_validator(mode="after")
    def _check_dates(self) -> HolidayFile:
        seen: set[date] = set()
        for day in [*self.holidays, *self.workdays]:
            if day.year != self.year:
                raise PydanticCustomError(
                    "year_mismatch",
                    "{value} is not in {year}",
                    {"value": day.isoformat(), "year": str(self.year)},
                )
            if day in seen:
                code = "conflict" if day in self.holidays and day in self.workdays else "duplicate"
                raise PydanticCustomError(
                    code, "{value} is listed twice", {"value": day.isoformat()}
                )
            seen.add(day)
        return self


# --- loading a holiday file --------------------------------------------------------------

_OFF = frozenset(normalize_key(w) for w in ("休", "假", "放假", "休息", "off", "holiday", "rest"))
_WORK = frozenset(
    normalize_key(w) for w in ("班", "上班", "补班", "work", "workday", "working day", "working")
)
HOLIDAY_COLUMNS = (Column("date", ("date", "日期")), Column("type", ("type", "类型")))
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")


def load_holiday_file(path: Path) -> HolidayFile:
    """Read a holiday file (.csv or .xlsx ``date,type`` / ``日期,类型``, or .json) or reject it
    (ImportProblems names every bad row of a table).

    CSV and Excel: one row per date, ``type`` = ``休``/``off``/``holiday`` for a day off or
    ``班``/``work``/``workday`` for a make-up working day; all dates in one year. Dates as
    ``2027-01-01``, ``2027/1/1`` or ``2027年1月1日``.
    JSON: ``{"year": 2027, "holidays": ["2027-01-01", ...], "workdays": [...]}``.
    """
    if path.suffix.lower() == ".json":
        return _load_json(path)
    return _load_table(path)


def _load_table(path: Path) -> HolidayFile:
    table = read_sheet(path, [HOLIDAY_COLUMNS])
    keys = resolve_columns(table, HOLIDAY_COLUMNS)
    date_key, type_key = keys["date"], keys["type"]
    if not table.rows:
        raise ImportRejected(None, "empty_file")
    holidays: list[date] = []
    workdays: list[date] = []
    problems: list[ImportRejected] = []
    first_seen: dict[date, int] = {}
    year: int | None = None
    for number, cells in table.rows:
        raw_date, raw_type = cells[date_key], cells[type_key]
        day = _parse_date(raw_date)
        kind = normalize_key(raw_type)
        if day is None:
            problems.append(
                ImportRejected(number, "bad_date", {"column": date_key, "value": raw_date})
            )
        if kind not in _OFF and kind not in _WORK:
            problems.append(
                ImportRejected(number, "bad_type", {"column": type_key, "value": raw_type})
            )
        if day is None or (kind not in _OFF and kind not in _WORK):
            continue
        if year is None:
            year = day.year
        elif day.year != year:
            problems.append(
                ImportRejected(
                    number, "year_mismatch", {"value": day.isoformat(), "year": str(year)}
                )
            )
            continue
        if day in first_seen:
            problems.append(
                ImportRejected(
                    number,
                    "duplicate",
                    {"column": date_key, "value": raw_date, "first_row": str(first_seen[day])},
                )
            )
            continue
        first_seen[day] = number
        (holidays if kind in _OFF else workdays).append(day)
    if problems:
        raise ImportProblems(problems)
    assert year is not None  # there is at least one row, and no problem
    return HolidayFile(year=year, holidays=holidays, workdays=workdays)


def _parse_date(text: str) -> date | None:
    match = _DATE.fullmatch("".join(unicodedata.normalize("NFKC", text).split()))
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _load_json(path: Path) -> HolidayFile:
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportRejected(
            None, "unreadable", {"error": f"{type(exc).__name__}: {exc}"}
        ) from exc
    if not isinstance(data, dict):
        raise ImportRejected(None, "unreadable", {"error": "expected a JSON object"})
    try:
        return HolidayFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
        column = loc[0] if loc else ""
        value = context.get("value", str(error.get("input", "")))
        match error["type"]:
            case "year_mismatch" | "duplicate" | "conflict" as code:
                raise ImportRejected(None, code, context) from exc
            case "missing":
                raise ImportRejected(None, "missing_column", {"column": column}) from exc
            case _ if column in ("holidays", "workdays"):
                raise ImportRejected(None, "bad_date", {"column": column, "value": value}) from exc
            case _:
                raise ImportRejected(
                    None, "bad_value", {"column": column, "value": value}
                ) from exc


# --- the calendar ------------------------------------------------------------------------


@cache
def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Working days in China, from the office's holiday files, the package, or Mon–Fri."""

    def __init__(self, overrides: Iterable[HolidayFile] = ()) -> None:
        self._overrides: dict[date, bool] = {}  # date -> is a working day; later files win
        self._file_years: set[int] = set()
        # Working days counted once per year: _counts[year][n] is how many working days the
        # year has on or before its n-th day (so a span of any length is two look-ups).
        self._counts: dict[int, list[int]] = {}
        for holiday_file in overrides:
            self._file_years.add(holiday_file.year)
            for day in holiday_file.holidays:
                self._overrides[day] = False
            for day in holiday_file.workdays:
                self._overrides[day] = True

    def source(self, d: date) -> Source:
        """Return where the answer for ``d`` comes from: a loaded file, the package, or Mon–Fri."""
        if d in self._overrides:
            return "file"
        if _package_knows(d.year):
            return "package"
        if d.year in self._file_years:
            return "file"
        return "weekday"

    def is_workday(self, d: date) -> bool:
        """Return whether ``d`` is a working day (make-up weekends are, holidays are not)."""
        match self.source(d):
            case "file" if d in self._overrides:
                return self._overrides[d]
            case "package":
                return bool(chinese_calendar.is_workday(d))
            case _:
                return d.weekday() < 5

    def unknown_years(self, start: date, end: date) -> list[int]:
        """Return the years from ``start`` to ``end`` (either order) only Mon–Fri covers."""
        first, last = sorted((start.year, end.year))
        return [
            year
            for year in range(first, last + 1)
            if year not in self._file_years and not _package_knows(year)
        ]

    def next_workday(self, d: date, *, include_today: bool = False) -> date:
        """Return the first working day after ``d`` (or ``d`` itself if it is one and asked)."""
        day = d if include_today else d + _ONE_DAY
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def add_workdays(self, d: date, n: int) -> date:
        """Return the ``n``-th working day after ``d`` (``d`` itself for 0, before it if < 0).

        ``d`` need not be a working day: ``add_workdays(friday_before_a_holiday, 1)`` is the
        first working day after the holiday. For n ≥ 1,
        ``workdays_between(d, add_workdays(d, n)) == n``.
        """
        step = _ONE_DAY if n >= 0 else -_ONE_DAY
        day = d
        for _ in range(abs(n)):
            day += step
            while not self.is_workday(day):
                day += step
        return day

    def workdays_between(self, a: date, b: date) -> int:
        """Return the number of working days ``x`` with ``a < x <= b``; negated if ``b < a``.

        So ``a`` is not counted and ``b`` is; the count for ``(b, a]`` with a minus sign when
        ``b`` comes first, and 0 when ``a == b``.
        """
        if b < a:
            return -self.workdays_between(b, a)
        through_b = self._year_counts(b.year)[b.timetuple().tm_yday - 1]
        through_a = self._year_counts(a.year)[a.timetuple().tm_yday - 1]
        between_years = sum(self._year_counts(y)[-1] for y in range(a.year, b.year))
        return between_years + through_b - through_a

    def _year_counts(self, year: int) -> list[int]:
        counts = self._counts.get(year)
        if counts is None:
            counts, running, day = [], 0, date(year, 1, 1)
            while day.year == year:
                running += self.is_workday(day)
                counts.append(running)
                day += _ONE_DAY
            self._counts[year] = counts
        return counts

    def workdays_until(self, d: date, deadline: date) -> int:
        """Return the working days left from ``d`` (exclusive) to ``deadline`` (inclusive), ≥ 0."""
        return max(0, self.workdays_between(d, deadline))
