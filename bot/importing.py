"""Read the roster of units (单位名单) and the ledger checklist (资料台账清单) from files.

Pure parsing, no database: a file is read whole, every row is validated, and either the
complete list comes back or :class:`ImportProblems` (an :class:`ImportRejected`) names every
bad row (as Excel numbers it) with a machine ``code``, the first as its own; nothing is
half-imported.

Files are ``.xlsx`` (first sheet) or ``.csv`` (UTF-8 with or without BOM, or GB18030 as
Excel saves it on Chinese Windows). The header row is the first of the first ten non-empty
rows that has every column the file must have (a title such as “XX市双拥工作领导小组成员单位名单”
may stand above it), else the first non-empty row; headers may be English or Chinese, with
full-width or half-width brackets and stray spaces. A problem names a column by its header as
the file writes it (a missing one in the file's language: “类型”, or “kind”).

Two files ship with the package in ``bot/data``:

- ``default_checklist.csv``: the office's default ledger checklist, one line an item and the
  kind of unit that owes it (a new default item is a new line), read with
  :func:`parse_checklist`;
- ``sample_roster.csv``: a SAMPLE roster (the five counties and districts of the notice and
  45 member units) for the offline demo and for trying ``units import``. It is not the
  office's real roster; CSV has no comment line to say so, hence this note and the name.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from bot.enums import KIND_ALIASES, KINDS_IN_TEXT, UnitKind
from messages import Markup, catalogue, join_or, kind_name, plain, shorten

__all__ = [
    "CHECKLIST_COLUMNS",
    "DATA_DIR",
    "DEFAULT_CHECKLIST_PATH",
    "REJECT_CODES",
    "SAMPLE_ROSTER_PATH",
    "UNIT_COLUMNS",
    "ChecklistRow",
    "Column",
    "ImportProblems",
    "ImportRejected",
    "Numbered",
    "RejectCode",
    "Table",
    "UnitKind",
    "UnitRow",
    "has_columns",
    "normalize_key",
    "parse_checklist",
    "parse_kind",
    "parse_units",
    "problems_of",
    "read_sheet",
    "read_table",
    "read_units",
    "resolve_columns",
]

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_CHECKLIST_PATH = DATA_DIR / "default_checklist.csv"
SAMPLE_ROSTER_PATH = DATA_DIR / "sample_roster.csv"


RejectCode = Literal[
    "unsupported_format",  # details: extension
    "unreadable",  # details: error
    "not_found",  # details: file (the path given)
    "empty_file",  # no header, or a header and no data rows
    "missing_column",  # details: column (its header in the file's language), field, accepted
    "duplicate_column",  # details: column (two header cells mean the same column)
    "empty_value",  # details: column, field
    "too_long",  # details: column, field, value (shortened), max_length
    "bad_kind",  # details: column, field, value
    "bad_value",  # details: column, field, value (any other invalid cell)
    "not_text",  # details: column, field, value (a date or number where a name belongs)
    "duplicate",  # details: column, value, first_row
    # holiday files (bot/workdays.py)
    "bad_date",  # details: column, value
    "bad_type",  # details: column, value
    "year_mismatch",  # details: value (the date), year
    "conflict",  # details: value (a date both off and a working day)
    # renames in a roster (bot/roster.py): the unit's former name (原单位名称)
    "unknown_former",  # details: column, value (no unit on record has that name)
    "rename_taken",  # details: column, value (another unit on record has the new name)
    "former_listed",  # details: column, value (the former name is also a unit of the file)
    "former_of_listed",  # details: column, value, name (value was the name of a unit the
    # file lists, or renames, by its current name `name`)
]
"""Why a file was rejected; each code has a sentence in the catalogues (`import_reason.*`)."""

REJECT_CODES: tuple[str, ...] = get_args(RejectCode)

_SUPPORTED_SUFFIXES = (".xlsx", ".csv")
_DETAIL_VALUE_LIMIT = 50
# The header row is looked for among this many non-empty rows at the top of a sheet.
HEADER_SEARCH_ROWS = 10


def reason_in(
    lang: str,
    code: str,
    details: Mapping[str, object],
    *,
    fallback: str,
    say: Callable[..., str] = plain,
) -> str:
    """Why a file is refused, in the catalogue's words (`say`: `plain` for a terminal, `t` for
    a chat); `fallback` names a code the catalogue does not know."""
    values = dict.fromkeys(
        ("column", "value", "max_length", "first_row", "year", "file", "name"), ""
    )
    values |= {name: str(value) for name, value in details.items()}
    if code == "bad_kind":
        values["kinds"] = accepted_kinds(lang)
    key = f"import_reason.{code}"
    if key in catalogue(lang):
        return say(lang, key, **values)
    return say(lang, "import_reason.invalid", value=fallback)


def accepted_kinds(lang: str) -> str:
    """Every kind a file may name, as alternatives: “成员单位”或“县（区）” / member or county."""
    return join_or(
        lang,
        (
            plain(lang, "formats.kind_choice", name=kind_name(lang, kind), value=kind)
            for kind in KINDS_IN_TEXT
        ),
    )


class ImportRejected(Exception):
    """A file that cannot be imported: ``row`` (Excel's numbering, or None), ``code``, ``details``.

    ``reason`` and ``str()`` give the English catalogue's sentence; what users read comes from
    ``code`` and ``details`` through their language's catalogue.
    """

    def __init__(
        self, row: int | None, code: RejectCode, details: Mapping[str, str] | None = None
    ) -> None:
        self.row = row
        self.code: RejectCode = code
        self.details: dict[str, str] = dict(details or {})
        super().__init__(row, code, self.details)

    @property
    def reason(self) -> str:
        """The English catalogue's sentence, for logs and tracebacks (people read their own
        language's, through `reason_in`)."""
        return reason_in("en", self.code, self.details, fallback=self.code)

    def __str__(self) -> str:
        return self.reason if self.row is None else f"row {self.row}: {self.reason}"


class ImportProblems(ImportRejected):
    """Every problem of a file, in row order; the first is this exception's own."""

    def __init__(self, problems: Sequence[ImportRejected]) -> None:
        first = problems[0]
        super().__init__(first.row, first.code, first.details)
        self.problems = list(problems)


def problems_of(error: ImportRejected) -> list[ImportRejected]:
    """Every problem a rejection names (one, unless the file had several)."""
    return list(error.problems) if isinstance(error, ImportProblems) else [error]


class Described(Protocol):
    """A problem of a file as it is told: its row (None: the file as a whole), code, details."""

    @property
    def row(self) -> int | None: ...
    @property
    def code(self) -> str: ...
    @property
    def details(self) -> Mapping[str, str]: ...


def problem_lines(
    lang: str, problems: Sequence[Described], limit: int, *, say: Callable[..., str] = plain
) -> list[str]:
    """The first `limit` problems of a file, a line each (the row, then the reason), and how
    many more there are (`say`: `plain` for a terminal, `t` for a chat)."""
    lines = []
    for problem in problems[:limit]:
        reason = reason_in(lang, problem.code, problem.details, fallback=problem.code, say=say)
        if problem.row:
            reason = say(lang, "uploads.problem_row", row=problem.row, reason=Markup(reason))
        lines.append(reason)  # a problem of the whole file is its reason alone
    if len(problems) > limit:
        lines.append(say(lang, "uploads.problems_more", count=len(problems) - limit))
    return lines


# --- reading a table --------------------------------------------------------------------


def normalize_key(text: str) -> str:
    """Return ``text`` folded for comparison: NFKC (full-width → half-width), no spaces, lower."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(folded.split()).casefold()


@dataclass(frozen=True)
class Table:
    """A sheet as read: where its header is, its columns, and its non-empty data rows."""

    header_row: int
    columns: tuple[str, ...]  # normalised, non-empty header keys in file order
    rows: list[tuple[int, dict[str, str]]]
    labels: dict[str, str] = field(default_factory=dict)  # header key → header as written
    # row number → the keys of its cells that a workbook holds as a number or date, not text
    not_text: dict[int, frozenset[str]] = field(default_factory=dict)

    def label(self, key: str) -> str:
        """Return the header of a column as the file writes it."""
        return self.labels.get(key, key)


def read_table(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Return the data rows of an .xlsx or .csv file as (Excel row number, {header: value}).

    Keys are the header cells folded by :func:`normalize_key`; cells are stripped text.
    """
    return read_sheet(path).rows


def read_sheet(path: Path, expected: Iterable[Iterable[Column]] = ()) -> Table:
    """Return the header row (near the top, with the columns of one of `expected`), the
    columns and the data rows of an .xlsx or .csv file."""
    suffix = path.suffix.lower()
    if suffix not in _SUPPORTED_SUFFIXES:
        raise ImportRejected(None, "unsupported_format", {"extension": suffix or path.name})
    if not path.exists():
        raise ImportRejected(None, "not_found", {"file": str(path)})
    raw = _read_xlsx(path) if suffix == ".xlsx" else _read_csv(path)
    return _to_table(raw, [tuple(columns) for columns in expected])


_Raw = list[tuple[int, Sequence[object]]]  # rows as numbered, cells as the file holds them


def _read_xlsx(path: Path) -> _Raw:
    try:
        with warnings.catch_warnings():
            # Files written by WPS and other tools make openpyxl warn about styles.
            warnings.simplefilter("ignore")
            import openpyxl  # only when a workbook comes in (the command line starts faster)

            workbook = openpyxl.load_workbook(
                path, read_only=True, data_only=True, keep_links=False
            )
            try:
                if not workbook.worksheets:
                    return []
                sheet = workbook.worksheets[0]
                sheet.reset_dimensions()  # some writers store a wrong sheet size
                return [
                    (number, list(values))
                    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
                ]
            finally:
                workbook.close()
    except Exception as exc:  # a damaged or foreign file fails in many ways inside openpyxl
        raise ImportRejected(None, "unreadable", {"error": _describe(exc)}) from exc


def _read_csv(path: Path) -> _Raw:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(None, "unreadable", {"error": _describe(exc)}) from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        break
    else:
        raise ImportRejected(None, "unreadable", {"error": "not UTF-8 or GB18030 text"})
    try:
        # Rows counted as records, not lines: a quoted cell may span lines, as in Excel.
        return [
            (number, [cell.strip() for cell in record])
            for number, record in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
        ]
    except csv.Error as exc:
        raise ImportRejected(None, "unreadable", {"error": _describe(exc)}) from exc


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _to_table(raw: _Raw, expected: Sequence[tuple[Column, ...]] = ()) -> Table:
    filled: list[tuple[int, list[str], Sequence[object]]] = []
    for number, values in raw:
        cells = [_cell_text(value) for value in values]
        if any(cells):
            filled.append((number, cells, values))
    if not filled:
        raise ImportRejected(None, "empty_file")
    at = 0
    for index, (_, cells, _) in enumerate(filled[:HEADER_SEARCH_ROWS]):
        found = {normalize_key(cell) for cell in cells}
        if any(_has_columns(found, columns) for columns in expected):
            at = index
            break
    header_row, header, _ = filled[at]
    keys = [normalize_key(cell) for cell in header]
    labels = {key: cell for key, cell in zip(keys, header, strict=True) if key}
    seen: set[str] = set()
    for key in keys:
        if key and key in seen:
            raise ImportRejected(header_row, "duplicate_column", {"column": labels[key]})
        seen.add(key)
    rows: list[tuple[int, dict[str, str]]] = []
    not_text: dict[int, frozenset[str]] = {}
    for number, cells, values in filled[at + 1 :]:
        row = {key: "" for key in keys if key}
        for key, cell in zip(keys, cells, strict=False):
            if key:
                row[key] = cell
        if any(row.values()):  # a row with text only under headerless columns is empty too
            rows.append((number, row))
            typed = {k for k, v in zip(keys, values, strict=False) if k and not _is_text(v)}
            if typed:
                not_text[number] = frozenset(typed)
    return Table(header_row, tuple(key for key in keys if key), rows, labels, not_text)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- validating rows ---------------------------------------------------------------------

_KINDS: dict[str, UnitKind] = {
    normalize_key(alias): kind for kind, aliases in KIND_ALIASES.items() for alias in aliases
}


def parse_kind(value: str) -> UnitKind | None:
    """Return the kind for any accepted spelling of it (bot/enums.py), else None."""
    return _KINDS.get(normalize_key(value))


def _kind_before(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not value.strip():
        raise PydanticCustomError("empty_value", "value is empty")
    kind = parse_kind(value)
    if kind is None:
        raise PydanticCustomError("bad_kind", "unknown kind {value}", {"value": value})
    return kind


def _text(max_length: int, *, required: bool) -> AfterValidator:
    def check(value: str) -> str:
        value = value.strip()
        if required and not value:
            raise PydanticCustomError("empty_value", "value is empty")
        if len(value) > max_length:
            raise PydanticCustomError(
                "too_long", "longer than {max_length} characters", {"max_length": max_length}
            )
        return value

    return AfterValidator(check)


_KindField = Annotated[UnitKind, BeforeValidator(_kind_before)]


class UnitRow(BaseModel):
    """One unit of the roster, of a kind (bot/enums.py UnitKind: 成员单位, 县（区）…).

    ``former_name`` (原单位名称, optional): the name the unit had on the roster before, so a
    renamed unit keeps its people, materials and history.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, _text(100, required=True)]
    kind: _KindField
    former_name: Annotated[str, _text(100, required=False)] = ""


class ChecklistRow(BaseModel):
    """One required ledger item (资料台账) for every unit of a kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: _KindField
    title: Annotated[str, _text(200, required=True)]
    description: Annotated[str, _text(1000, required=False)] = ""


@dataclass(frozen=True)
class Column:
    """A column a file must (or may) have: its field name and the headers accepted for it
    (the first English and the first Chinese one name it when it is missing); `text`: a
    name, so a cell a workbook holds as a number or a date is refused."""

    field: str
    aliases: tuple[str, ...]
    required: bool = True
    text: bool = False

    def header(self, chinese: bool) -> str:
        """Return the header a Chinese (or an English) file would give this column."""
        return next((a for a in self.aliases if _is_chinese(a) == chinese), self.aliases[0])


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


UNIT_COLUMNS = (
    Column("name", ("name", "单位名称", "单位"), text=True),
    Column("kind", ("kind", "类型")),
    Column("former_name", ("former_name", "former name", "原单位名称", "原名称"), required=False),
)
CHECKLIST_COLUMNS = (
    Column("kind", ("kind", "类型")),
    Column("title", ("title", "资料名称"), text=True),
    Column("description", ("description", "说明"), required=False),
)

_Row = TypeVar("_Row", UnitRow, ChecklistRow)


@dataclass(frozen=True)
class Numbered(Generic[_Row]):
    """The good rows of a file with their row numbers, the header each field was read from,
    and (when asked not to raise) the problems of the other rows."""

    rows: list[tuple[int, _Row]]
    headers: dict[str, str]  # field → its header as the file writes it
    problems: list[ImportRejected] = field(default_factory=list)


def parse_units(path: Path) -> list[UnitRow]:
    """Return every unit of a roster file, or raise ImportProblems naming every bad row."""
    return [row for _, row in read_units(path).rows]


def read_units(path: Path, *, strict: bool = True) -> Numbered[UnitRow]:
    """`parse_units` with each unit's row number, for checks against the database; not
    `strict`: the bad rows' problems come back with the good rows instead of being raised."""
    return _parse(path, UNIT_COLUMNS, UnitRow, lambda unit: (unit.name,), "name", strict=strict)


def parse_checklist(path: Path) -> list[ChecklistRow]:
    """Return every item of a checklist file, or raise ImportProblems naming every bad row."""
    parsed = _parse(
        path, CHECKLIST_COLUMNS, ChecklistRow, lambda item: (item.kind, item.title), "title"
    )
    return [row for _, row in parsed.rows]


def _parse(
    path: Path,
    columns: tuple[Column, ...],
    model: type[_Row],
    identity: Callable[[_Row], tuple[str, ...]],
    identity_field: str,
    *,
    strict: bool = True,
) -> Numbered[_Row]:
    table = read_sheet(path, [columns])
    keys = resolve_columns(table, columns)
    if not table.rows:
        raise ImportRejected(None, "empty_file")
    headers = {field: table.label(key) for field, key in keys.items()}
    names = [c.field for c in columns if c.text and c.field in keys]
    result: list[tuple[int, _Row]] = []
    problems: list[ImportRejected] = []
    first_seen: dict[tuple[str, ...], int] = {}
    for number, cells in table.rows:
        values = {field: cells[key] for field, key in keys.items()}
        typed = table.not_text.get(number, frozenset())
        found = [
            ImportRejected(
                number,
                "not_text",
                {"column": headers[name], "field": name, "value": _shorten(values[name])},
            )
            for name in names
            if keys[name] in typed
        ]
        try:
            item = model.model_validate(values)
        except ValidationError as exc:
            reported = {p.details["field"] for p in found}
            errors = [_row_error(number, error, headers, values) for error in exc.errors()]
            found += [e for e in errors if e.details.get("field") not in reported]
        if found:
            problems += found
            continue
        # Duplicates are compared as normalize_key folds them: "（" and "(" are the same.
        seen_key = tuple(normalize_key(part) for part in identity(item))
        if seen_key in first_seen:
            problems.append(
                ImportRejected(
                    number,
                    "duplicate",
                    {
                        "column": headers[identity_field],
                        "field": identity_field,
                        "value": _shorten(values[identity_field]),
                        "first_row": str(first_seen[seen_key]),
                    },
                )
            )
            continue
        first_seen[seen_key] = number
        result.append((number, item))
    if problems and strict:
        raise ImportProblems(problems)
    return Numbered(result, headers, problems)


def has_columns(table: Table, columns: Iterable[Column]) -> bool:
    """Whether a sheet has every required column (by any accepted header)."""
    return _has_columns(set(table.columns), columns)


def _has_columns(keys: set[str], columns: Iterable[Column]) -> bool:
    return all(
        any(normalize_key(alias) in keys for alias in column.aliases)
        for column in columns
        if column.required
    )


def resolve_columns(table: Table, columns: Iterable[Column]) -> dict[str, str]:
    """Return {field: header key} for the columns found, or reject a missing or doubled one
    (a missing column is named as a file in the language of this one's headers would write it)."""
    keys: dict[str, str] = {}
    chinese = any(_is_chinese(table.label(key)) for key in table.columns)
    for column in columns:
        found = [key for key in table.columns if key in {normalize_key(a) for a in column.aliases}]
        if len(found) > 1:
            raise ImportRejected(
                table.header_row, "duplicate_column", {"column": table.label(found[1])}
            )
        if found:
            keys[column.field] = found[0]
        elif column.required:
            raise ImportRejected(
                table.header_row,
                "missing_column",
                {
                    "column": column.header(chinese),
                    "field": column.field,
                    "accepted": " / ".join(column.aliases),
                },
            )
    return keys


_CUSTOM_CODES: dict[str, RejectCode] = {
    "empty_value": "empty_value",
    "too_long": "too_long",
    "bad_kind": "bad_kind",
    "literal_error": "bad_kind",  # only the kind is a Literal
}


def _row_error(
    number: int, error: ErrorDetails, headers: Mapping[str, str], values: Mapping[str, str]
) -> ImportRejected:
    field = str(error["loc"][0]) if error["loc"] else ""
    code = _CUSTOM_CODES.get(error["type"], "bad_value")
    details = {"column": headers.get(field, field), "field": field}
    if field in values:
        details["value"] = _shorten(values[field])
    context: dict[str, Any] = error.get("ctx") or {}
    if "max_length" in context:
        details["max_length"] = str(context["max_length"])
    return ImportRejected(number, code, details)


def _shorten(value: str) -> str:
    return shorten(value.strip(), _DETAIL_VALUE_LIMIT)
