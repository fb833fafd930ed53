"""Every sentence a person reads, in Chinese (default) and English, by stable key.

`t(lang, key, **values)` formats the sentence with named placeholders; values are
HTML-escaped (the bot sends HTML) unless wrapped in `Markup`.
"""

from __future__ import annotations

import html
import tomllib
from functools import cache
from pathlib import Path
from typing import Final

LANGUAGES: Final = ("zh", "en")
DEFAULT_LANGUAGE: Final = "zh"
_HERE = Path(__file__).parent


class Markup(str):
    """A value that is already HTML and must not be escaped again."""

    __slots__ = ()


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The flat key → sentence map of one language (every `messages/{lang}/*.toml`)."""
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
    """The sentence `key` in `lang` with its placeholders filled (HTML-escaped)."""
    text = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)[key]
    if not values:
        return text
    safe = {
        name: value if isinstance(value, Markup) else html.escape(str(value), quote=False)
        for name, value in values.items()
    }
    return text.format_map(safe)


def plain(lang: str, key: str, /, **values: object) -> str:
    """The sentence for a terminal: placeholders filled as they are, no escaping."""
    text = catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)[key]
    return text.format_map({name: str(value) for name, value in values.items()})


def strip_html(text: str) -> str:
    """The text a person would see, for a terminal: tags dropped, entities decoded."""
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", text))
