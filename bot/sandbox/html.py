"""Telegram's HTML parse mode: text with tags -> plain text + entities (UTF-16 offsets).

A port of tdlib's `parse_html` (td/telegram/MessageEntity.cpp): same tags, same entity
rules, same error texts and byte offsets. One deliberate difference, on by default: an `&`
that starts no entity is refused (tdlib keeps it literally), because Telegram's docs require
`&amp;` and an unescaped `&` is nearly always user input that was not escaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = frozenset(" \t\r\n\v\0")
_NAME_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_HEX = frozenset("0123456789abcdefABCDEF")
_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$", re.IGNORECASE)
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?(/\S*)?$")

UserLookup = Callable[[int], dict[str, Any] | None]


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; str() is tdlib's reason."""


@dataclass
class _Open:
    """A start tag waiting for its end tag."""

    tag: str
    argument: str
    utf16_offset: int
    piece_index: int
    expandable: bool


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode `&...;` at `pos` like tdlib: (character, end position) or (None, pos)."""
    n = len(text)

    def at(k: int) -> str:
        return text[k] if k < n else "\0"

    end = pos + 1
    if at(end) == "#":
        end += 1
        code = 0
        if at(end) == "x":
            end += 1
            while at(end) in _HEX:
                code = code * 16 + int(at(end), 16)
                end += 1
        else:
            while at(end).isascii() and at(end).isdigit():
                code = code * 10 + int(at(end))
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None, pos
        char = chr(code)
    else:
        while at(end).isascii() and at(end).isalpha():
            end += 1
        named = _NAMED.get(text[pos + 1 : end])
        if named is None:
            return None, pos
        char = named
    if at(end) == ";":
        end += 1
    return char, end


def _checked_url(url: str) -> str | None:
    """The URL a text_link gets, or None when Telegram would drop the link."""
    lowered = url.lower()
    if lowered.startswith(("http://", "https://", "tg://", "ton://")):
        return url if len(url) > lowered.index("//") + 2 else None
    if _DOMAIN.match(url):
        return f"http://{url}"
    return None


class _Parser:
    """One pass over the text, as in tdlib."""

    def __init__(self, text: str, *, strict_ampersand: bool, users: UserLookup | None) -> None:
        self.text = text
        self.n = len(text)
        self.strict = strict_ampersand
        self.users = users
        self.pieces: list[str] = []
        self.utf16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def at(self, k: int) -> str:
        """The character at k, or NUL past the end (tdlib works on a NUL-terminated string)."""
        return self.text[k] if k < self.n else "\0"

    def byte_offset(self, k: int) -> int:
        """UTF-8 byte offset of character index k."""
        return len(self.text[:k].encode("utf-8", "surrogatepass"))

    def fail(self, reason: str) -> EntityParseError:
        """An error with tdlib's wording."""
        return EntityParseError(reason)

    def emit(self, char: str) -> None:
        """Append one visible character."""
        self.pieces.append(char)
        self.utf16 += 2 if ord(char) > 0xFFFF else 1

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        """Parse everything; return plain text and entities."""
        i = 0
        text = self.text
        while i < self.n:
            c = text[i]
            if c == "&":
                char, end = _decode_entity(text, i)
                if char is not None:
                    self.emit(char)
                    i = end
                    continue
                if self.strict:
                    raise self._bad_ampersand(i)
            if c != "<":
                self.emit(c)
                i += 1
                continue
            i = self.end_tag(i) if self.at(i + 1) == "/" else self.start_tag(i)
        if self.stack:
            tag = self.stack[-1].tag
            raise self.fail(f'Can\'t find end tag corresponding to start tag "{tag}"')
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.pieces), self.entities

    def _bad_ampersand(self, i: int) -> EntityParseError:
        """Strict mode: an `&` that is no entity."""
        match = re.match(r"&#?[A-Za-z0-9]+;", self.text[i : i + 40])
        where = f"at byte offset {self.byte_offset(i)}"
        if match:
            return self.fail(f'Unsupported HTML entity "{match.group(0)}" {where}')
        return self.fail(f'Character "&" must be escaped as "&amp;" {where}')

    def start_tag(self, begin: int) -> int:
        """Parse `<tag attr=...>` at `begin`; return the index after it."""
        i = begin + 1
        while self.at(i) not in _SPACES and self.at(i) != ">":
            i += 1
        if i >= self.n:
            raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        tag = self.text[begin + 1 : i].lower()
        if tag not in ALLOWED_TAGS:
            raise self.fail(
                f'Unsupported start tag "{tag}" at byte offset {self.byte_offset(begin)}'
            )
        argument = ""
        expandable = False
        where = f"at byte offset {self.byte_offset(begin)}"
        while self.at(i) != ">":
            while i < self.n and self.at(i) in _SPACES:
                i += 1
            if i >= self.n:
                raise self.fail(f"Unclosed start tag {where}")
            if self.at(i) == ">":
                break
            name_begin = i
            while self.at(i) not in _SPACES and self.at(i) not in "=>":
                i += 1
            attribute = self.text[name_begin:i].lower()
            if not attribute:
                raise self.fail(f'Empty attribute name in the tag "{tag}" {where}')
            while i < self.n and self.at(i) in _SPACES:
                i += 1
            if self.at(i) != "=":
                if tag == "blockquote" and attribute == "expandable":
                    expandable = True
                    continue
                raise self.fail(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" {where}'
                )
            i += 1
            while i < self.n and self.at(i) in _SPACES:
                i += 1
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}" {where}')
            value, i = self._attribute_value(i)
            if i >= self.n:
                raise self.fail(f"Unclosed start tag {where}")
            if tag == "a" and attribute == "href":
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif tag == "tg-emoji" and attribute == "emoji-id":
                argument = value
            elif tag == "blockquote" and attribute == "expandable":
                expandable = True
        if tag == "span" and argument != "spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" {where}')
        self.stack.append(_Open(tag, argument, self.utf16, len(self.pieces), expandable))
        return i + 1

    def _attribute_value(self, i: int) -> tuple[str, int]:
        """A name token or a quoted string starting at i."""
        quote = self.at(i)
        if quote not in "'\"":
            token_begin = i
            while self.at(i) in _NAME_TOKEN:
                i += 1
            if self.at(i) not in _SPACES and self.at(i) != ">":
                offset = self.byte_offset(token_begin)
                raise self.fail(f"Unexpected end of name token at byte offset {offset}")
            return self.text[token_begin:i].lower(), i
        i += 1
        chars: list[str] = []
        while i < self.n and self.text[i] != quote:
            if self.text[i] == "&":
                char, end = _decode_entity(self.text, i)
                if char is not None:
                    chars.append(char)
                    i = end
                    continue
            chars.append(self.text[i])
            i += 1
        if i < self.n:
            i += 1
        return "".join(chars), i

    def end_tag(self, begin: int) -> int:
        """Parse `</tag>` at `begin`, close the innermost entity; return the index after it."""
        where = f"at byte offset {self.byte_offset(begin)}"
        if not self.stack:
            raise self.fail(f"Unexpected end tag {where}")
        i = begin + 2
        while self.at(i) not in _SPACES and self.at(i) != ">":
            i += 1
        end_name = self.text[begin + 2 : i].lower()
        while i < self.n and self.at(i) in _SPACES:
            i += 1
        if self.at(i) != ">":
            raise self.fail(f"Unclosed end tag {where}")
        opened = self.stack.pop()
        if end_name and end_name != opened.tag:
            raise self.fail(
                f'Unmatched end tag {where}, expected "</{opened.tag}>", found "</{end_name}>"'
            )
        if self.utf16 > opened.utf16_offset:
            self._close(opened)
        return i + 1

    def _close(self, opened: _Open) -> None:
        """Turn a closed, non-empty tag into its entity (tdlib's rules)."""
        offset = opened.utf16_offset
        length = self.utf16 - offset
        tag = opened.tag
        simple = _SIMPLE.get(tag)
        if simple is not None or (tag == "span" and opened.argument == "spoiler"):
            self.entities.append({"type": simple or "spoiler", "offset": offset, "length": length})
        elif tag == "tg-emoji":
            if not opened.argument.isdigit() or int(opened.argument) == 0:
                raise self.fail("Invalid custom emoji identifier specified")
            self.entities.append(
                {
                    "type": "custom_emoji",
                    "offset": offset,
                    "length": length,
                    "custom_emoji_id": opened.argument,
                }
            )
        elif tag == "a":
            self._link(opened, offset, length)
        elif tag == "pre":
            inner = self._last_over("code", offset, length)
            if inner is not None and inner.get("language"):
                inner["type"] = "pre"
            else:
                self.entities.append({"type": "pre", "offset": offset, "length": length})
        elif tag == "code":
            outer = self._last_over("pre", offset, length)
            if outer is not None and opened.argument:
                outer["language"] = opened.argument
            else:
                entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
                if opened.argument:
                    entity["language"] = opened.argument
                self.entities.append(entity)
        elif tag == "blockquote":
            kind = "expandable_blockquote" if opened.expandable else "blockquote"
            self.entities.append({"type": kind, "offset": offset, "length": length})

    def _last_over(self, kind: str, offset: int, length: int) -> dict[str, Any] | None:
        """The last entity, if it is a `kind` over the same text (`<pre><code>` nests so)."""
        last = self.entities[-1] if self.entities else None
        if last is None or last["type"] != kind:
            return None
        return last if (last["offset"], last["length"]) == (offset, length) else None

    def _link(self, opened: _Open, offset: int, length: int) -> None:
        """`<a href>`: a text_mention for tg://user?id=, a text_link for a valid URL."""
        url = opened.argument or "".join(self.pieces[opened.piece_index :])
        mention = _USER_LINK.match(url)
        if mention:
            user_id = int(mention.group(1))
            user = self.users(user_id) if self.users else None
            user = user or {"id": user_id, "is_bot": False, "first_name": str(user_id)}
            self.entities.append(
                {"type": "text_mention", "offset": offset, "length": length, "user": user}
            )
            return
        checked = _checked_url(url)
        if checked is not None:
            self.entities.append(
                {"type": "text_link", "offset": offset, "length": length, "url": checked}
            )


def parse_html(
    text: str, *, strict_ampersand: bool = True, users: UserLookup | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML; raise EntityParseError with tdlib's reason on bad markup."""
    return _Parser(text, strict_ampersand=strict_ampersand, users=users).run()


def strip_formatted(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace as Telegram does, moving and clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    head = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    out: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - head, 0)
        end = min(entity["offset"] + entity["length"] - head, total)
        if end > start:
            out.append({**entity, "offset": start, "length": end - start})
    return stripped, out
