"""Every sentence a person reads, by stable key, one folder of catalogues per language.

`t(lang, key, **values)` formats the sentence with named placeholders; values are
HTML-escaped (the bot sends HTML) unless wrapped in `Markup`. The languages are the folders
here (each with `*.toml` catalogues); Chinese is the default. Dates, times and lists are
written by each catalogue's `[formats]`, so adding a language is adding a folder.
"""

from __future__ import annotations

import html
import tomllib
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Final

DEFAULT_LANGUAGE: Final = "zh"
_HERE = Path(__file__).parent


def _languages() -> tuple[str, ...]:
    found = sorted(p.name for p in _HERE.iterdir() if p.is_dir() and any(p.glob("*.toml")))
    return (DEFAULT_LANGUAGE, *(code for code in found if code != DEFAULT_LANGUAGE))


LANGUAGES: Final = _languages()


class Markup(str):
    """A value that is already HTML and must not be escaped again."""

    __slots__ = ()


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The flat key → sentence map of one language (every `messages/{lang}/*.toml`); a key
    a catalogue lacks is said in the default language."""
    return {**(own(DEFAULT_LANGUAGE) if lang != DEFAULT_LANGUAGE else {}), **own(lang)}


@cache
def own(lang: str) -> dict[str, str]:
    """The sentences one language's catalogues hold themselves."""
    merged: dict[str, str] = {}
    for path in sorted((_HERE / lang).glob("*.toml")):
        with path.open("rb") as file:
            flat = _flatten(tomllib.load(file))
        clash = merged.keys() & flat.keys()
        if clash:
            raise ValueError(f"{path.name} repeats keys {sorted(clash)}")
        merged.update(flat)
    return merged


def _flatten(tree: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def normalize_language(code: str | None) -> str:
    """Map a Telegram language_code (zh-hans, en-US, …) onto a catalogue."""
    if code:
        short = code.split("-")[0].lower()
        if short in LANGUAGES:
            return short
    return DEFAULT_LANGUAGE


def t(lang: str, key: str, /, **values: object) -> str:
    """The sentence `key` in `lang`, placeholders filled (HTML-escaped, lists joined by `join`)."""
    text = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)[key]
    if not values:
        return text
    return text.format_map({name: _escaped(lang, value) for name, value in values.items()})


def _escaped(lang: str, value: object) -> str:
    """A value as HTML text; a list or tuple of values joined as the language lists them."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, list | tuple):
        return join(lang, (_escaped(lang, v) for v in value))
    return html.escape(str(value), quote=False)


def kind_name(lang: str, kind: str, *, plural: bool = False) -> str:
    """A kind of unit (bot/enums.py UnitKind) as running text names one, or several."""
    return t(lang, f"common.{'kinds' if plural else 'kind'}_{kind}")


def kind_label(lang: str, kind: str) -> str:
    """The units of a kind as a label names them: a button, a chart panel's title."""
    return t(lang, f"common.kind_label_{kind}")


def plain(lang: str, key: str, /, **values: object) -> str:
    """The sentence as plain text (a terminal, a button's label): values as they are, unescaped."""
    text = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)[key]
    return text.format_map({name: _plain(lang, value) for name, value in values.items()})


def _plain(lang: str, value: object) -> str:
    if isinstance(value, list | tuple):
        return join(lang, (_plain(lang, v) for v in value))
    return str(value)


def role_name(lang: str, role: str) -> str:
    """Name a role (liaison, lead) in `lang`: plain words, as fit for a terminal as for HTML."""
    return t(lang, f"common.role_{role}")


@cache
def _formats(lang: str) -> dict[str, str]:
    return {
        key.removeprefix("formats."): value
        for key, value in catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE).items()
        if key.startswith("formats.")
    }


def _date_values(day: date, lang: str) -> dict[str, object]:
    months = _formats(lang)["months"].split()
    weekdays = _formats(lang)["weekdays"].split()
    return {
        "year": day.year,
        "month": day.month,
        "day": day.day,
        "month_name": months[day.month - 1],
        "weekday": weekdays[day.weekday()],
    }


def format_date(day: date, lang: str) -> str:
    """A date as the office writes it: 2026年12月31日 / 31 Dec 2026."""
    return _formats(lang)["date"].format(**_date_values(day, lang))


def format_short_date(day: date, today: date, lang: str) -> str:
    """A date near today: 12月31日 / 31 Dec (with the year only when it is not this year's)."""
    if day.year != today.year:
        return format_date(day, lang)
    return _formats(lang)["month_day"].format(**_date_values(day, lang))


def format_weekday_date(day: date, lang: str) -> str:
    """A date with its weekday: 12月1日（周二） / Tue 1 Dec."""
    return _formats(lang)["weekday_date"].format(**_date_values(day, lang))


def format_time(moment: datetime, lang: str) -> str:
    """A moment in 24-hour time: 2026年12月4日 09:30 / 4 Dec 2026 09:30."""
    values = _date_values(moment.date(), lang)
    return _formats(lang)["time"].format(**values, hour=moment.hour, minute=moment.minute)


def format_short_time(moment: datetime, lang: str) -> str:
    """A moment in a log line: 12-04 09:30."""
    values = _date_values(moment.date(), lang)
    return _formats(lang)["short_time"].format(**values, hour=moment.hour, minute=moment.minute)


def format_clock(moment: datetime, lang: str) -> str:
    """The time of day: 09:30."""
    return _formats(lang)["clock"].format(hour=moment.hour, minute=moment.minute)


def format_sheet_day(day: date, lang: str) -> str:
    """A date in a workbook cell's text: 2026-12-04."""
    return _formats(lang)["sheet_day"].format(**_date_values(day, lang))


def sheet_number_format(lang: str, *, with_time: bool) -> str:
    """Excel's number format of a workbook's date cells (or date-and-time cells)."""
    return _formats(lang)["sheet_time" if with_time else "sheet_date"]


def join(lang: str, parts: Iterable[str]) -> str:
    """A list in running text: 市民政局、市卫健委 / Civil Affairs, Health."""
    return _formats(lang)["list"].join(parts)


def join_clauses(lang: str, parts: Iterable[str]) -> str:
    """Details running on in one sentence: 单位：市民政局，事项：工作制度 / unit: …, item: …."""
    return _formats(lang)["clauses"].join(parts)


def join_and(lang: str, parts: Iterable[str]) -> str:
    """Things named together in running text: 联络员、分管领导 / liaison and lead."""
    *rest, last = parts
    if not rest:
        return last
    return _formats(lang)["and_list"].format(rest=join(lang, rest), last=last)


def join_or(lang: str, parts: Iterable[str]) -> str:
    """Alternatives in running text: “成员单位”或“县（区）” / member or county."""
    *rest, last = parts
    if not rest:
        return last
    return _formats(lang)["or_list"].format(rest=join(lang, rest), last=last)


def numeral(number: int, lang: str) -> str:
    """A small counting number as a heading writes it (一, 二 …; 1, 2 …); digits past the list."""
    names = _formats(lang)["numbers"].split()
    return names[number - 1] if 0 < number <= len(names) else str(number)


def shorten(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, the cut marked with an ellipsis (…)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strip_html(text: str) -> str:
    """The text a person would see, for a terminal: tags dropped, entities decoded."""
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", text))
