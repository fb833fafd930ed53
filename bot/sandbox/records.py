"""The emulator's records: simulated users and chats, messages, stored files, queued updates
and fault rules, with their Bot API shapes."""

from __future__ import annotations

import random
import re
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from bot.sandbox import models
from bot.sandbox.html import utf16_len

MAX_DOWNLOAD = 20 * 1024 * 1024
# Faults with a `rate` strike at random; the seed makes a run repeatable.
_chance = random.Random(20261204)

DEFAULT_ALLOWED = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
FILE_PREFIX = {"document": "BQAC", "photo": "AgAC", "sticker": "CAAC", "voice": "AwAC"}
FILE_DIR = {"document": "documents", "photo": "photos", "sticker": "stickers", "voice": "voice"}
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}\b")
_URL = re.compile(r"\bhttps?://[^\s<>\"]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


def now() -> int:
    """Unix time in seconds, the unit of Telegram's `date`."""
    return int(time.time())


def new_file_ids(kind: str) -> tuple[str, str]:
    """A fresh (file_id, file_unique_id) pair that looks like Telegram's."""
    prefix = FILE_PREFIX.get(kind, "BQAC")
    return prefix + secrets.token_urlsafe(48), "AQAD" + secrets.token_urlsafe(12)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG image, read from its header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram's clients would mark in a user's text: commands, mentions, links."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in (
        ("bot_command", _COMMAND),
        ("url", _URL),
        ("email", _EMAIL),
        ("mention", _MENTION),
    ):
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(s < end and start < e for s, e, _ in found):
                continue
            found.append((start, end, kind))
    found.sort()
    return [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in found
    ]


M = TypeVar("M", bound=BaseModel)


class _Shown(Generic[M]):
    """A record the control API shows as the model `shown_as`, read from its attributes."""

    shown_as: type[M]

    def info(self) -> M:
        """As the control API shows it."""
        return self.shown_as.model_validate(self, from_attributes=True)


@dataclass
class SimUser(_Shown[models.UserInfo]):
    """A simulated Telegram user."""

    shown_as = models.UserInfo

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    started: bool = False
    blocked: bool = False

    def to_api(self) -> dict[str, Any]:
        """As a Bot API `User`."""
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        return out


@dataclass
class StoredFile(_Shown[models.FileInfo]):
    """A file Telegram holds: uploaded by the bot or sent by a user."""

    shown_as = models.FileInfo

    file_id: str
    file_unique_id: str
    kind: str
    file_size: int
    data: bytes | None = None
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    file_path: str | None = None

    def content(self) -> bytes:
        """The bytes (zeros of the right size for a file given only a size)."""
        return self.data if self.data is not None else bytes(self.file_size)

    def document(self) -> dict[str, Any]:
        """As a Bot API `Document`."""
        out: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
        }
        if self.file_name:
            out["file_name"] = self.file_name
        if self.mime_type:
            out["mime_type"] = self.mime_type
        return out

    def photo_size(self) -> dict[str, Any]:
        """As a Bot API `PhotoSize`."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width or 0,
            "height": self.height or 0,
            "file_size": self.file_size,
        }

    @property
    def has_bytes(self) -> bool:
        """Whether the file has real bytes (not only a size)."""
        return self.data is not None


@dataclass
class MessageRecord(_Shown[models.SentMessage]):
    """A message in a chat, from the bot or from a user, in its current state."""

    shown_as = models.SentMessage

    chat_id: int
    message_id: int
    sender: dict[str, Any]
    from_bot: bool
    kind: str
    method: str
    date: int = field(default_factory=now)
    text: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    raw_caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    files: list[StoredFile] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    edits: int = 0
    edit_date: int | None = None
    deleted: bool = False
    media_group_id: str | None = None
    reply_to: MessageRecord | None = None
    forward_origin: dict[str, Any] | None = None

    def content_key(self) -> tuple[Any, ...]:
        """What an edit must change, or Telegram answers `message is not modified`."""
        return (
            self.text,
            self.entities,
            self.caption,
            self.caption_entities,
            self.reply_markup,
        )

    def to_api(self, chat: dict[str, Any], *, with_reply: bool = True) -> dict[str, Any]:
        """As a Bot API `Message`."""
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            out["edit_date"] = self.edit_date
        if self.forward_origin is not None:
            out["forward_origin"] = self.forward_origin
        if self.reply_to is not None and with_reply:
            out["reply_to_message"] = self.reply_to.to_api(chat, with_reply=False)
        if self.media_group_id is not None:
            out["media_group_id"] = self.media_group_id
        if self.text is not None:
            out["text"] = self.text
            if self.entities:
                out["entities"] = self.entities
        if self.kind == "document" and self.files:
            out["document"] = self.files[0].document()
        elif self.kind == "photo":
            out["photo"] = [f.photo_size() for f in self.files]
        out.update(self.extra)
        if self.caption:
            out["caption"] = self.caption
            if self.caption_entities:
                out["caption_entities"] = self.caption_entities
        if self.reply_markup and self.reply_markup.get("inline_keyboard"):
            out["reply_markup"] = self.reply_markup
        return out

    @property
    def reply_to_message_id(self) -> int | None:
        """The id of the message this one answers."""
        return self.reply_to.message_id if self.reply_to else None

    @property
    def forwarded(self) -> bool:
        """Whether this message was forwarded."""
        return self.forward_origin is not None

    @property
    def sender_id(self) -> int | None:
        """The id of the user (or bot) who sent it."""
        return self.sender.get("id")


@dataclass
class SimChat:
    """A private chat (id = the user's id) or a group (negative id)."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    user: SimUser | None = None
    members: list[int] = field(default_factory=list)
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    next_message_id: int = 1

    @property
    def is_group(self) -> bool:
        """True for groups and supergroups."""
        return self.type != "private"

    def take_message_id(self) -> int:
        """The next message id in this chat (shared by the bot and the users, as in Telegram)."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def to_api(self) -> dict[str, Any]:
        """As a Bot API `Chat`."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.user is not None:
            out["first_name"] = self.user.first_name
            if self.user.last_name:
                out["last_name"] = self.user.last_name
            if self.user.username:
                out["username"] = self.user.username
        else:
            out["title"] = self.title or ""
            if self.username:
                out["username"] = self.username
        return out

    def info(self) -> models.ChatInfo:
        """As the control API shows it."""
        return models.ChatInfo(
            id=self.id,
            type=self.type,
            title=self.title,
            username=self.username or (self.user.username if self.user else None),
            first_name=self.user.first_name if self.user else None,
            members=list(self.members),
        )


@dataclass
class QueuedUpdate:
    """An update waiting for getUpdates."""

    update_id: int
    kind: str
    payload: dict[str, Any]

    def to_api(self) -> dict[str, Any]:
        """As a Bot API `Update`."""
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass
class CallbackQueryRecord:
    """A button press waiting for answerCallbackQuery."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    created: float
    answered: bool = False


@dataclass
class FaultRule:
    """An injected fault and how many calls it still affects."""

    id: int
    spec: models.FaultIn
    remaining: int

    def matches(self, method: str, chat_id: Any) -> bool:
        """Does this fault apply to a call of `method` to `chat_id`?"""
        wanted = self.spec.method.lower()
        if self.remaining <= 0 or wanted not in ("*", method.lower()):
            return False
        if self.spec.chat_id is not None and str(self.spec.chat_id) != str(chat_id):
            return False
        return self.spec.rate is None or _chance.random() < self.spec.rate

    def info(self) -> models.Fault:
        """As the control API shows it."""
        return models.Fault(**self.spec.model_dump(), id=self.id, remaining=self.remaining)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of text at a UTF-16 offset and length."""
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", "replace")
