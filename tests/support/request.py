"""A stand-in for Telegram: a `BaseRequest` that answers every Bot API method and records it.

Answers are shaped as Telegram's (and as the emulator in bot/sandbox gives them): a sent
message comes back with its id, its chat and its text with the HTML parsed into entities
(bad HTML is refused as Telegram refuses it); edits change the recorded message; files the
tests registered can be fetched with getFile and downloaded. A test can make the next calls
of a method fail (403, 400, 429) as Telegram would.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.sandbox.html import EntityParseError, parse_html, strip_formatted
from tests.support.messages import mentions, says

BOT_ID = 7_000_000_001
BOT_USERNAME = "liaison_test_bot"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Liaison Test Bot",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Telegram's download limit for bots.
DOWNLOAD_LIMIT = 20 * 1024 * 1024
# Message ids: one sequence for the people's messages and the bot's, as in a chat.
message_ids = itertools.count(1)
DATE = 1_796_000_000  # 2026-11-30, a fixed moment: nothing here depends on the clock


def chat_of(chat_id: int, title: str | None = None) -> dict[str, Any]:
    """A chat as Telegram describes it: private for a person's id, a group for a negative one."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "测试"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": title or "联络员工作群"}


class RefusedCall(Exception):
    """A call Telegram would refuse: its error code and description."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class Call:
    """One Bot API call: its method, its parameters, uploaded files by field, and the answer."""

    method: str
    params: dict[str, Any]
    uploads: dict[str, str] = field(default_factory=dict)
    result: Any = None
    error: str | None = None


@dataclass
class Sent:
    """A message the bot sent, as it stands now (after any edits)."""

    chat_id: int
    message_id: int
    method: str
    text: str  # what the person sees: the text, or a file's caption
    html: str  # as the bot sent it
    reply_markup: dict[str, Any] | None = None
    file: str | None = None  # the file_id sent again, or the name of an uploaded file
    edits: int = 0
    deleted: bool = False
    entities: list[dict[str, Any]] = field(default_factory=list)

    def says(self, key: str, lang: str = "zh", /, **values: object) -> bool:
        """Whether the message is the catalogue sentence `key` (see support.messages)."""
        return says(self.text, key, lang, **values)

    def mentions(self, key: str, lang: str = "zh", /, **values: object) -> bool:
        """Whether the catalogue sentence `key` is part of the message."""
        return mentions(self.text, key, lang, **values)

    def buttons(self) -> list[dict[str, Any]]:
        """The buttons (inline or reply keyboard), row after row."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard")
        return [button for row in rows or [] for button in row]

    def button_data(self) -> list[str]:
        return [str(b["callback_data"]) for b in self.buttons() if "callback_data" in b]

    def button_texts(self) -> list[str]:
        return [str(b.get("text", "")) for b in self.buttons()]

    def data_of(self, label: str) -> str:
        """The callback data of the button labelled `label`."""
        found = [b for b in self.buttons() if b.get("text") == label and "callback_data" in b]
        assert found, f"no button {label!r} among {self.button_texts()}"
        return str(found[0]["callback_data"])

    def as_message(self) -> dict[str, Any]:
        """The message as Telegram would put it in an update (a callback query's message)."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "date": DATE,
            "chat": chat_of(self.chat_id),
            "from": BOT_USER,
        }
        if self.method in ("sendDocument", "sendPhoto"):
            message["caption"] = self.text
            if self.entities:
                message["caption_entities"] = self.entities
            if self.method == "sendPhoto":
                message["photo"] = [
                    {"file_id": "AgAD", "file_unique_id": "AQAD", "width": 1, "height": 1}
                ]
            else:
                message["document"] = {"file_id": "BQAD", "file_unique_id": "AQAD"}
        else:
            message["text"] = self.text
            if self.entities:
                message["entities"] = self.entities
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            message["reply_markup"] = self.reply_markup
        return message


@dataclass
class Fault:
    method: str
    code: int
    description: str
    chat_id: int | None
    times: int
    retry_after: int | None = None


@dataclass
class StoredFile:
    content: bytes
    path: str
    size: int


DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after 5",
}
# answerCallbackQuery for a press handled late (after a restart or an outage).
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class RecordingRequest(BaseRequest):
    """Answers every Bot API call as Telegram would, and remembers each one."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], Sent] = {}
        self.files: dict[str, StoredFile] = {}
        self._faults: list[Fault] = []

    # ---- BaseRequest ------------------------------------------------------------------------

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:  # a download: …/file/bot<token>/<file_path>
            return self._download(url.split("/file/bot", 1)[1].split("/", 1)[1])
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        uploads = {
            field_name: str(part[0]) if isinstance(part, tuple) else "file"
            for field_name, part in (
                request_data.multipart_data.items() if request_data else {}.items()
            )
        }
        call = Call(method=name, params=params, uploads=uploads)
        self.calls.append(call)
        try:
            self._refuse_if_told(name, params)
            call.result = self._answer(name, params, uploads)
        except RefusedCall as refused:
            call.error = refused.description
            body: dict[str, Any] = {
                "ok": False,
                "error_code": refused.code,
                "description": refused.description,
            }
            if refused.retry_after is not None:
                body["parameters"] = {"retry_after": refused.retry_after}
            return refused.code, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": call.result}).encode()

    # ---- what a test arranges ---------------------------------------------------------------

    def fail(
        self,
        method: str,
        code: int = 403,
        *,
        description: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (to `chat_id`, if given) fail as Telegram's."""
        text = description or DESCRIPTIONS.get(code, "Bad Request")
        self._faults.append(Fault(method, code, text, chat_id, times, retry_after))

    def add_file(self, file_id: str, content: bytes, *, size: int | None = None) -> None:
        """A file a person sent, so that getFile and the download find it."""
        size = len(content) if size is None else size
        self.files[file_id] = StoredFile(content, f"documents/{file_id}", size)

    def bot_message(
        self, chat_id: int, text: str, reply_markup: dict[str, Any] | None = None
    ) -> Sent:
        """A message the bot sent earlier (before the test began), to press its buttons."""
        sent = Sent(
            chat_id=chat_id,
            message_id=next(message_ids),
            method="sendMessage",
            text=text,
            html=text,
            reply_markup=reply_markup,
        )
        self.messages[(chat_id, sent.message_id)] = sent
        return sent

    # ---- what a test reads -------------------------------------------------------------------

    def sent(self, chat_id: int | None = None, *, since: int = 0) -> list[Sent]:
        """Messages the bot sent (to one chat), in order, from call number `since` on."""
        ids = [
            (int(c.params["chat_id"]), int(c.result["message_id"]))
            for c in self.calls[since:]
            if c.method in SENDS and c.error is None and isinstance(c.result, dict)
        ]
        return [
            self.messages[key]
            for key in ids
            if key in self.messages and (chat_id is None or key[0] == chat_id)
        ]

    def answers(self, *, since: int = 0) -> list[dict[str, Any]]:
        """The answers to button presses (answerCallbackQuery), in order."""
        return [c.params for c in self.calls[since:] if c.method == "answerCallbackQuery"]

    def calls_to(self, method: str, *, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == method]

    def mark(self) -> int:
        """The number of calls so far: pass it as `since` to read only what comes after."""
        return len(self.calls)

    # ---- the methods ---------------------------------------------------------------------------

    def _refuse_if_told(self, method: str, params: dict[str, Any]) -> None:
        for fault in self._faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.chat_id is not None and str(params.get("chat_id")) != str(fault.chat_id):
                continue
            fault.times -= 1
            raise RefusedCall(fault.code, fault.description, fault.retry_after)

    def _answer(self, method: str, params: dict[str, Any], uploads: dict[str, str]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            return []
        if method == "getMyCommands":
            return []
        if method == "getChat":
            return chat_of(int(params["chat_id"]))
        if method == "getFile":
            return self._get_file(str(params.get("file_id")))
        if method in ("sendMessage", "sendDocument", "sendPhoto"):
            return self._send(method, params, uploads)
        if method == "copyMessage":
            return {"message_id": next(message_ids)}
        if method == "forwardMessage":
            return self._send("sendMessage", {**params, "text": "…", "parse_mode": None}, {})
        if method == "sendMediaGroup":
            return [
                self._send("sendDocument", {"chat_id": params["chat_id"], **media}, {})
                for media in params.get("media", [])
            ]
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if method in ("editMessageText", "editMessageCaption", "editMessageReplyMarkup"):
            return self._edit(method, params)
        if method == "deleteMessage":
            found = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
            if found is None or found.deleted:
                raise RefusedCall(400, "Bad Request: message to delete not found")
            found.deleted = True
            return True
        return True  # answerCallbackQuery, sendChatAction, setMyCommands, deleteWebhook, …

    @staticmethod
    def _format(raw: str, params: dict[str, Any], *, caption: bool) -> tuple[str, list[Any]]:
        if str(params.get("parse_mode", "")).upper() != "HTML":
            return raw, []
        try:
            text, entities = parse_html(raw)
        except EntityParseError as exc:
            raise RefusedCall(400, f"Bad Request: can't parse entities: {exc}") from None
        text, entities = strip_formatted(text, entities)
        if not caption and not text:
            raise RefusedCall(400, "Bad Request: message text is empty")
        return text, entities

    def _send(self, method: str, params: dict[str, Any], uploads: dict[str, str]) -> Any:
        chat_id = int(params["chat_id"])
        caption = method != "sendMessage"
        raw = str(params.get("caption" if caption else "text", ""))
        text, entities = self._format(raw, params, caption=caption)
        what = "document" if method == "sendDocument" else "photo"
        sent = Sent(
            chat_id=chat_id,
            message_id=next(message_ids),
            method=method,
            text=text,
            html=raw,
            reply_markup=params.get("reply_markup"),
            file=uploads.get(what) or (str(params[what]) if what in params else None),
            entities=entities,
        )
        self.messages[(chat_id, sent.message_id)] = sent
        return sent.as_message()

    def _edit(self, method: str, params: dict[str, Any]) -> Any:
        key = (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
        found = self.messages.get(key)
        if found is None or found.deleted:
            raise RefusedCall(400, "Bad Request: message to edit not found")
        text, entities, raw = found.text, found.entities, found.html
        if method != "editMessageReplyMarkup":
            field_name = "caption" if method == "editMessageCaption" else "text"
            raw = str(params.get(field_name, ""))
            text, entities = self._format(raw, params, caption=field_name == "caption")
        markup = params.get("reply_markup")
        if text == found.text and entities == found.entities and markup == found.reply_markup:
            raise RefusedCall(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message",
            )
        found.text, found.entities, found.html, found.reply_markup = text, entities, raw, markup
        found.edits += 1
        return found.as_message()

    def _get_file(self, file_id: str) -> dict[str, Any]:
        stored = self.files.get(file_id)
        if stored is None:
            raise RefusedCall(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if stored.size > DOWNLOAD_LIMIT:
            raise RefusedCall(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": stored.size,
            "file_path": stored.path,
        }

    def _download(self, path: str) -> tuple[int, bytes]:
        for stored in self.files.values():
            if stored.path == path:
                return 200, stored.content
        return 404, json.dumps(
            {"ok": False, "error_code": 404, "description": "Not Found"}
        ).encode()


SENDS = ("sendMessage", "sendDocument", "sendPhoto")
