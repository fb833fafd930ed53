"""The Bot API description: loading it, and checking a call's parameters against it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from bot.sandbox.errors import ApiError, bad_request

SPEC_PATH = Path(__file__).resolve().parent / "bot_api_spec.json"
ARRAY_PREFIX = "Array of "
_INTEGER = re.compile(r"^[+-]?\d+$")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})

# How Telegram names an object when it cannot parse it.
_LABELS = {
    "InlineKeyboardButton": "inline keyboard button",
    "KeyboardButton": "keyboard button",
    "InlineKeyboardMarkup": "inline keyboard",
    "ReplyKeyboardMarkup": "reply keyboard markup",
    "ReplyKeyboardRemove": "reply keyboard markup",
    "ForceReply": "reply keyboard markup",
    "MessageEntity": "entities",
    "BotCommand": "BotCommand",
}
_PARAM_LABELS = {
    "reply_markup": "reply keyboard markup",
    "entities": "entities",
    "caption_entities": "entities",
}
# Required parameters whose absence Telegram words in its own way.
_EMPTY_TEXTS = {
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "media": "media is empty",
}


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a method or field of an object."""

    name: str
    types: tuple[str, ...]
    required: bool
    const: str | None = None

    @property
    def type_text(self) -> str:
        """The types as Telegram's docs write them: `Integer or String`."""
        return " or ".join(self.types)


@dataclass(frozen=True)
class ObjectSpec:
    """An object type: its fields, or the subtypes it is a union of."""

    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MethodSpec:
    """A Bot API method and its parameters."""

    name: str
    fields: Mapping[str, FieldSpec]


@dataclass
class CheckedParams:
    """Parameters converted to their declared types, with what the method does not know."""

    values: dict[str, Any]
    unknown: list[str] = field(default_factory=list)
    attachments: dict[str, Upload] = field(default_factory=dict)


@dataclass(eq=False)
class _Mismatch(Exception):
    """A value that does not fit a type; `path` is relative to the innermost object."""

    depth: int
    path: str
    expected: str
    owner: str | None
    present: bool = True
    json_error: bool = False


@dataclass(frozen=True)
class _At:
    """Where a value stands: the depth and type of its innermost object, its path inside that
    object (what an error names) and its whole path (what an unknown field is listed as)."""

    depth: int
    path: str
    owner: str | None
    where: str

    def item(self, index: int) -> _At:
        """An item of the array at this place."""
        return _At(self.depth, f"{self.path}[{index}]", self.owner, f"{self.where}[{index}]")

    def field(self, name: str, owner: str) -> _At:
        """A field of the `owner` object at this place."""
        return _At(self.depth + 1, name, owner, f"{self.where}.{name}")

    def mismatch(
        self, expected: str, *, present: bool = True, json_error: bool = False
    ) -> _Mismatch:
        """The value here does not fit `expected`."""
        return _Mismatch(self.depth, self.path, expected, self.owner, present, json_error)


@dataclass
class _Context:
    """State carried through one check: uploads, attach:// names seen, unknown fields."""

    uploads: Mapping[str, Upload]
    referenced: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)


def _field_spec(raw: Mapping[str, Any]) -> FieldSpec:
    """Build a FieldSpec from its JSON form."""
    const = raw.get("const")
    return FieldSpec(
        name=str(raw["name"]),
        types=tuple(str(t) for t in raw["types"]),
        required=bool(raw["required"]),
        const=str(const) if const is not None else None,
    )


def _is_empty(value: Any) -> bool:
    """Telegram treats an absent parameter and an empty string alike."""
    return value is None or value == ""


class ApiSpec:
    """The methods and object types of the Bot API, and the parameter checker."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data.get("version", ""))
        self.methods: dict[str, MethodSpec] = {}
        for name, entry in data["methods"].items():
            fields = {f["name"]: _field_spec(f) for f in entry.get("fields", [])}
            self.methods[name] = MethodSpec(name=name, fields=fields)
        self.types: dict[str, ObjectSpec] = {}
        for name, entry in data.get("types", {}).items():
            fields = {f["name"]: _field_spec(f) for f in entry.get("fields", [])}
            subtypes = tuple(entry.get("subtypes", ()))
            self.types[name] = ObjectSpec(name=name, fields=fields, subtypes=subtypes)
        self._lower = {name.lower(): name for name in self.methods}

    @classmethod
    def load(cls, path: Path | None = None) -> ApiSpec:
        """Load the shipped (trimmed) description, or another file in the same format."""
        if path is None:
            return _default_spec()
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def resolve(self, name: str) -> MethodSpec | None:
        """The method of that name, compared case-insensitively as Telegram does."""
        canonical = self._lower.get(name.lower())
        return self.methods[canonical] if canonical else None

    def check(
        self,
        method: MethodSpec,
        raw: Mapping[str, Any],
        uploads: Mapping[str, Upload] | None = None,
    ) -> CheckedParams:
        """Convert `raw` to the declared types; raise ApiError as Telegram would refuse it."""
        if uploads is None:
            uploads = {k: v for k, v in raw.items() if isinstance(v, Upload)}
        ctx = _Context(uploads=uploads)
        for spec in method.fields.values():
            if spec.required and _is_empty(raw.get(spec.name)):
                raise bad_request(_EMPTY_TEXTS.get(spec.name, f"{spec.name} is empty"))
        values: dict[str, Any] = {}
        for name, value in raw.items():
            param = method.fields.get(name)
            if param is None or _is_empty(value):
                continue
            values[name] = self._top_level(param, value, ctx)
        unknown = list(ctx.unknown)
        for name, value in raw.items():
            if name in method.fields:
                continue
            if isinstance(value, Upload) and name in ctx.referenced:
                continue
            unknown.append(name)
        attachments = {n: u for n, u in ctx.uploads.items() if n in ctx.referenced}
        return CheckedParams(values=values, unknown=unknown, attachments=attachments)

    def _top_level(self, spec: FieldSpec, value: Any, ctx: _Context) -> Any:
        """Convert one parameter, turning a mismatch into Telegram's error text."""
        try:
            return self._coerce_any(spec.types, value, _At(0, spec.name, None, spec.name), ctx)
        except _Mismatch as miss:
            raise self._error(spec, miss) from None

    def _error(self, spec: FieldSpec, miss: _Mismatch) -> ApiError:
        """Word a mismatch as Telegram does."""
        if miss.json_error:
            label = _PARAM_LABELS.get(spec.name, spec.name)
            return bad_request(f"can't parse {label} JSON object")
        if miss.depth == 0 or miss.owner is None:
            return bad_request(f'field "{spec.name}" must be of type {spec.type_text}')
        label = _LABELS.get(miss.owner, f"{miss.owner} JSON object")
        return bad_request(
            f'can\'t parse {label}: Field "{miss.path}" must be of type {miss.expected}'
        )

    def _coerce_any(self, types: tuple[str, ...], value: Any, at: _At, ctx: _Context) -> Any:
        """Try each alternative type in turn; report the mismatch that got furthest."""
        misses: list[_Mismatch] = []
        for type_name in types:
            unknown_before = len(ctx.unknown)
            try:
                return self._coerce(type_name, value, at, ctx)
            except _Mismatch as miss:
                del ctx.unknown[unknown_before:]
                misses.append(miss)
        if all(m.json_error for m in misses):
            raise misses[0]
        best = max(misses, key=lambda m: (m.depth, m.present, not m.json_error))
        if best.depth == at.depth:
            raise at.mismatch(" or ".join(types))
        raise best

    def _coerce(self, type_name: str, value: Any, at: _At, ctx: _Context) -> Any:
        """Convert `value` to one type, or raise _Mismatch."""
        if type_name.startswith(ARRAY_PREFIX):
            inner = type_name[len(ARRAY_PREFIX) :]
            items = self._decode_json(value, list, at, type_name)
            return [self._coerce(inner, item, at.item(i), ctx) for i, item in enumerate(items)]
        scalar = _coerce_scalar(type_name, value, ctx)
        if scalar is not _NO_MATCH:
            return scalar
        if type_name in _SCALARS:
            raise at.mismatch(type_name)
        obj = self._decode_json(value, dict, at, type_name)
        spec = self.types.get(type_name)
        if spec is None:
            return obj  # a type the trimmed description does not check
        if spec.subtypes:
            spec = self._pick_subtype(spec, obj, at)
        return self._coerce_object(spec, obj, at, ctx)

    def _pick_subtype(self, union: ObjectSpec, obj: Mapping[str, Any], at: _At) -> ObjectSpec:
        """Choose the member of a union by its `type` discriminator."""
        wanted = obj.get("type")
        for name in union.subtypes:
            sub = self.types.get(name)
            if sub is None:
                continue
            type_field = sub.fields.get("type")
            if type_field is not None and type_field.const == wanted:
                return sub
        raise at.mismatch(union.name)

    def _coerce_object(
        self, spec: ObjectSpec, obj: Mapping[str, Any], at: _At, ctx: _Context
    ) -> dict[str, Any]:
        """Check the fields of one object: required present, known ones typed, others noted."""
        for f in spec.fields.values():
            if f.required and obj.get(f.name) is None:
                raise at.field(f.name, spec.name).mismatch(f.type_text, present=False)
            if f.const is not None and obj.get(f.name) not in (None, f.const):
                raise at.field(f.name, spec.name).mismatch(f'"{f.const}"')
        out: dict[str, Any] = {}
        for key, item in obj.items():
            known = spec.fields.get(key)
            if known is None:
                ctx.unknown.append(at.field(key, spec.name).where)
                out[key] = item
                continue
            if item is None:
                continue
            out[key] = self._coerce_any(known.types, item, at.field(key, spec.name), ctx)
        return out

    @staticmethod
    def _decode_json(value: Any, kind: type, at: _At, type_name: str) -> Any:
        """Accept a JSON value of `kind`; a parameter itself may be a string holding one."""
        top_level = at.depth == 0 and "[" not in at.path
        if isinstance(value, str) and top_level:
            try:
                value = json.loads(value)
            except ValueError:
                raise at.mismatch(type_name, json_error=True) from None
        if not isinstance(value, kind):
            raise at.mismatch(type_name)
        return value


_SCALARS = frozenset({"Integer", "Float", "Boolean", "String", "True", "InputFile"})
_NO_MATCH = object()


def _coerce_scalar(type_name: str, value: Any, ctx: _Context) -> Any:
    """Convert to a scalar type; _NO_MATCH if the value does not fit (or it is not a scalar)."""
    if type_name == "Integer":
        if isinstance(value, bool):
            return _NO_MATCH
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            return int(value.strip())
        return _NO_MATCH
    if type_name == "Float":
        if isinstance(value, bool):
            return _NO_MATCH
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _NO_MATCH
        return _NO_MATCH
    if type_name in ("Boolean", "True"):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        return _NO_MATCH
    if type_name == "String":
        if isinstance(value, str):
            if value.startswith("attach://"):
                ctx.referenced.add(value[len("attach://") :])
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return _NO_MATCH
    if type_name == "InputFile":
        if isinstance(value, Upload):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            upload = ctx.uploads.get(value[len("attach://") :])
            if upload is not None:
                ctx.referenced.add(upload.name)
                return upload
        return _NO_MATCH
    return _NO_MATCH


@cache
def _default_spec() -> ApiSpec:
    """The shipped description, parsed once per process."""
    return ApiSpec(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


__all__ = [
    "ApiError",
    "ApiSpec",
    "CheckedParams",
    "FieldSpec",
    "MethodSpec",
    "ObjectSpec",
    "Upload",
    "utf16_len",
]
