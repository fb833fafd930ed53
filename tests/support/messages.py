"""Assert by message key: is a text the bot sent a catalogue's sentence, with any values?

The pattern comes from the sentence's template in `messages/`: its words are matched as they
are, each placeholder matches anything (or, if a value is given, that value as `t()` writes
it). Tags and entities are dropped on both sides, so the HTML the bot sent and the plain text
Telegram shows compare alike. A wording change then breaks only the few golden-text checks.
"""

from __future__ import annotations

import html
import re
import string
from functools import cache

from messages import DEFAULT_LANGUAGE, LANGUAGES, catalogue, t

_TAG = re.compile(r"<[^>]+>")


def shown(text: str) -> str:
    """The text as a person sees it: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", text))


def template(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The catalogue's sentence for `key`, placeholders unfilled (KeyError if there is none)."""
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for language {lang!r}")
    return catalogue(lang)[key]


def _fragment(key: str, lang: str, values: tuple[tuple[str, object], ...]) -> str:
    given = dict(values)
    unknown = set(given) - _placeholders(key, lang)
    if unknown:
        raise ValueError(f"{key} has no placeholder {sorted(unknown)}")
    parts: list[str] = []
    words_of_its_own = 0
    for literal, name, spec, conversion in string.Formatter().parse(template(key, lang).strip()):
        words = shown(literal)
        words_of_its_own += len(words.strip())
        parts.append(re.escape(words))
        if name is None:
            continue
        if name in given:
            field = "{0" + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            parts.append(re.escape(shown((field + "}").format(given[name]))))
        else:
            parts.append("(?s:.*?)")
    if words_of_its_own == 0:
        raise ValueError(f"{key} has no words of its own to recognise it by")
    return "".join(parts)


def _placeholders(key: str, lang: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template(key, lang)) if name}


@cache
def _compiled(key: str, lang: str, values: tuple[tuple[str, object], ...]) -> re.Pattern[str]:
    return re.compile(_fragment(key, lang, values))


def pattern(key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object) -> re.Pattern[str]:
    """The regular expression of a sentence; given values must appear as they are."""
    return _compiled(key, lang, tuple(sorted(values.items(), key=lambda kv: kv[0])))


def says(text: str | None, key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object) -> bool:
    """Whether the whole text is the sentence `key` (surrounding whitespace aside)."""
    if text is None:
        return False
    return pattern(key, lang, **values).fullmatch(shown(text).strip()) is not None


def mentions(
    text: str | None, key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object
) -> bool:
    """Whether the sentence `key` is part of the text (one message often joins several)."""
    if text is None:
        return False
    return pattern(key, lang, **values).search(shown(text)) is not None


def label(key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object) -> str:
    """A button's label as a person sees it (to press it by its text)."""
    return shown(t(lang, key, **values))
