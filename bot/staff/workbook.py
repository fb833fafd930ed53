"""Writing a spreadsheet the office opens as it is: openpyxl's write-only workbook with bold,
frozen, filtered header rows, dates as dates, and columns as wide as their widest value (CJK
characters count two). Used by the status workbook (`bot.staff.export`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from bot.transport.failures import why_unreachable
from messages import kind_name, plain, role_name, sheet_number_format

MAX_WIDTH = 60
HEADER_FILL = "DDEBF7"


@cache
def _wide_pattern() -> re.Pattern[str]:
    """A character class of the characters a spreadsheet shows two columns wide (made once,
    from the Unicode database: a regular expression counts them at C speed)."""
    ranges: list[str] = []
    start = None
    for code in range(0x1100, 0x40000):
        wide = unicodedata.east_asian_width(chr(code)) in "WF"
        if wide and start is None:
            start = code
        elif not wide and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return re.compile("[" + "".join(ranges) + "]")


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet cell (CJK characters take two)."""
    text = str(text)
    if text.isascii():
        return max(len(line) for line in text.split("\n")) if "\n" in text else len(text)
    wide = _wide_pattern()
    return max(len(line) + len(wide.findall(line)) for line in text.split("\n"))


def save(book: Any, path: Path) -> None:
    """Write the workbook's file (the sheets were streamed to temporary files already)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


class Writer:
    """The workbook's sheets, with the office's headers, frozen header rows and fitted widths.

    Its methods run in a worker thread, one at a time; the rows come from the caller."""

    def __init__(self, lang: str, tz: Any) -> None:
        from openpyxl import Workbook

        self.lang = lang
        self.tz = tz
        self.book = Workbook(write_only=True)
        self._styles: dict[str, Any] = {}
        self._cells: dict[tuple[str, Any], Any] = {}

    def h(self, key: str, /, **values: object) -> str:
        return plain(self.lang, f"export.{key}", **values)

    def local(self, moment: datetime | None) -> datetime | None:
        """An aware moment as the office's wall-clock time (Excel has no time zones)."""
        if moment is None:
            return None
        return moment.astimezone(self.tz).replace(tzinfo=None, microsecond=0)

    def yes_no(self, value: bool) -> str:
        return self._label("common.yes" if value else "common.no")

    def kind(self, kind: str | None) -> str:
        return kind_name(self.lang, kind) if kind else ""

    def role(self, role: str) -> str:
        return role_name(self.lang, role) if role else ""

    def purpose(self, purpose: str) -> str:
        try:
            return self._label(f"export.purpose_{purpose}")
        except KeyError:
            return purpose

    def reason(self, error: str | None) -> str:
        """Why a message did not arrive, in the office's words where Telegram's are known."""
        why = why_unreachable(error)
        return self._label(f"export.reason_{why}") if why else (error or "")

    def state(self, state: str) -> str:
        try:
            return self._label(f"export.state_{state}")
        except KeyError:
            return state

    @lru_cache(maxsize=256)  # noqa: B019 (one writer per workbook)
    def _label(self, key: str) -> str:
        return plain(self.lang, key)

    # -- cells and sheets --

    def cell(self, value: Any, name: str, make: Callable[[Any], None]) -> Any:
        """A value carrying one of a few styles (`make` sets it up the first time).

        A write-only sheet writes each row as it comes and reads a cell only while writing
        it, so one cell serves every occurrence of the same value and style (a matrix of
        100,000 rows holds a few hundred distinct texts)."""
        from openpyxl.cell import WriteOnlyCell

        found = self._cells.get((name, value))
        if found is not None:
            return found
        template = self._styles.get(name)
        if template is None:
            template = WriteOnlyCell(self.book.worksheets[0])
            make(template)
            self._styles[name] = template
        if len(self._cells) >= 20_000:  # moments of a log are mostly distinct
            self._cells.clear()
        found = self._cells[(name, value)] = WriteOnlyCell(template.parent, value)
        found._style = template._style
        return found

    def header(self, values: Iterable[str], *, centered: bool = False) -> list[Any]:
        from openpyxl.styles import Alignment, Font, PatternFill

        def make(cell: Any) -> None:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
            cell.alignment = Alignment(
                vertical="center", wrap_text=True, horizontal="center" if centered else None
            )

        name = "header_centered" if centered else "header"
        return [self.cell(v, name, make) for v in values]

    def moment(self, value: datetime | date | None) -> Any:
        if value is None:
            return None
        timed = isinstance(value, datetime)
        pattern = sheet_number_format(self.lang, with_time=timed)
        return self.cell(value, "datetime" if timed else "date", number_format(pattern))

    def wrapped(self, value: str) -> Any:
        """A text of several lines, shown so."""
        if "\n" not in value:
            return value
        from openpyxl.styles import Alignment

        def make(cell: Any) -> None:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

        return self.cell(value, "wrapped", make)

    def begin(self, title: str, widths: Sequence[int], *, freeze: str) -> Any:
        """A new sheet with its widths set and its header rows frozen (before any row)."""
        from openpyxl.utils import get_column_letter

        sheet = self.book.create_sheet(title)
        for column, width in enumerate(widths, start=1):
            if width:
                sheet.column_dimensions[get_column_letter(column)].width = min(
                    width + 2, MAX_WIDTH
                )
        sheet.freeze_panes = freeze
        return sheet

    def table(
        self,
        title: str,
        headers: list[str],
        widths: Sequence[int],
        rows: int,
    ) -> Any:
        """A plain table: bold header row, frozen, filtered; the rows come by `append`."""
        from openpyxl.utils import get_column_letter

        header_widths = [min(display_width(h), MAX_WIDTH) for h in headers]
        fitted = [max(a, b) for a, b in zip(widths, header_widths, strict=True)]
        sheet = self.begin(title, fitted, freeze="B2" if len(headers) > 6 else "A2")
        if rows:
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{rows + 1}"
        sheet.append(self.header(headers))
        return sheet


def number_format(pattern: str) -> Callable[[Any], None]:
    def make(cell: Any) -> None:
        cell.number_format = pattern

    return make


class Widths:
    """The widest value of each column, as the spreadsheet shows it."""

    def __init__(self, columns: int) -> None:
        self.widths = [0] * columns

    def see(self, column: int, value: Any) -> None:
        if value is None or value == "":
            return
        if isinstance(value, datetime):
            width = 16
        elif isinstance(value, date):
            width = 10
        elif isinstance(value, int):
            width = len(str(value))
        else:
            width = display_width(value)
        if width > self.widths[column]:
            self.widths[column] = width

    def see_all(self, column: int, values: Iterable[Any]) -> None:
        for value in set(values):
            self.see(column, value)
