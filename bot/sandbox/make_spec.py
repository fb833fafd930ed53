"""Trim the full Bot API description to the copy the emulator ships (bot_api_spec.json)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = Path(
    os.environ.get("BOT_API_SPEC_SOURCE", "/work/shared/telegram/bot-api-spec.json")
)
OUTPUT = HERE / "bot_api_spec.json"
LICENCE_OUTPUT = HERE / "bot-api-spec.LICENSE"

# Object types whose fields the emulator checks; everything they reference is kept too.
ROOT_TYPES = (
    "InlineKeyboardMarkup",
    "InlineKeyboardButton",
    "ReplyKeyboardMarkup",
    "KeyboardButton",
    "ReplyKeyboardRemove",
    "ForceReply",
    "BotCommand",
    "BotCommandScope",
    "LinkPreviewOptions",
    "ReplyParameters",
    "InputMedia",
    "MessageEntity",
)
_MUST_BE = re.compile(r"\bmust be ([a-z_]+)\s*$")


def _base(type_name: str) -> str:
    """Strip any number of leading 'Array of ' from a type expression."""
    while type_name.startswith("Array of "):
        type_name = type_name[len("Array of ") :]
    return type_name


def _field(raw: dict[str, Any], *, with_const: bool) -> dict[str, Any]:
    """Keep name, types and required (and the discriminator value of a 'type' field)."""
    out: dict[str, Any] = {
        "name": raw["name"],
        "types": list(raw["types"]),
        "required": bool(raw["required"]),
    }
    if with_const and raw["name"] == "type":
        match = _MUST_BE.search(str(raw.get("description", "")))
        if match:
            out["const"] = match.group(1)
    return out


def type_closure(types: dict[str, Any], roots: tuple[str, ...] = ROOT_TYPES) -> list[str]:
    """Names of the root types and every type reachable from them through fields or subtypes."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name not in types:
            continue
        seen.add(name)
        entry = types[name]
        stack.extend(entry.get("subtypes", []))
        for field in entry.get("fields", []):
            stack.extend(_base(t) for t in field["types"])
    return sorted(seen)


def trim(full: dict[str, Any]) -> dict[str, Any]:
    """Build the trimmed description from the full one."""
    methods = {
        name: {
            "name": entry["name"],
            "fields": [_field(f, with_const=False) for f in entry.get("fields", [])],
        }
        for name, entry in sorted(full["methods"].items())
    }
    types: dict[str, Any] = {}
    for name in type_closure(full["types"]):
        entry = full["types"][name]
        trimmed: dict[str, Any] = {
            "name": entry["name"],
            "fields": [_field(f, with_const=True) for f in entry.get("fields", [])],
        }
        if entry.get("subtypes"):
            trimmed["subtypes"] = list(entry["subtypes"])
        types[name] = trimmed
    return {
        "version": full["version"],
        "release_date": full.get("release_date", ""),
        "source": "PaulSonOfLars/telegram-bot-api-spec (MIT), trimmed by bot/sandbox/make_spec.py",
        "methods": methods,
        "types": types,
    }


def dump(trimmed: dict[str, Any]) -> str:
    """Serialise with one method or type per line, so a regenerated file diffs cleanly."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    for key in ("version", "release_date", "source"):
        lines.append(f" {compact(key)}: {compact(trimmed[key])},")
    for section in ("methods", "types"):
        lines.append(f" {compact(section)}: {{")
        entries = list(trimmed[section].items())
        for index, (name, entry) in enumerate(entries):
            comma = "," if index < len(entries) - 1 else ""
            lines.append(f"  {compact(name)}: {compact(entry)}{comma}")
        lines.append(" }," if section == "methods" else " }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Read the full description, write the trimmed copy and the licence beside this file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    full = json.loads(args.source.read_text(encoding="utf-8"))
    trimmed = trim(full)
    args.out.write_text(dump(trimmed), encoding="utf-8")
    licence = args.source.with_name("bot-api-spec.LICENSE")
    if licence.exists():
        shutil.copyfile(licence, args.out.with_name("bot-api-spec.LICENSE"))
    print(
        f"{args.out}: {trimmed['version']}, {len(trimmed['methods'])} methods, "
        f"{len(trimmed['types'])} types"
    )


if __name__ == "__main__":
    main()
