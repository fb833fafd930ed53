"""The Bot API methods the emulator implements, answering as Telegram does."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.errors import ApiError, bad_request, forbidden
from bot.sandbox.html import EntityParseError, parse_html, strip_formatted, utf16_len
from bot.sandbox.models import CallbackAnswer, CommandSet
from bot.sandbox.records import MAX_DOWNLOAD, MessageRecord, SimChat, StoredFile, image_size, now
from bot.sandbox.spec import Upload
from bot.sandbox.state import SandboxState

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup of the sent "
    "message are exactly the same as a current content and reply markup of the sent message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_LABEL_FIELDS = frozenset({"text", "icon_custom_emoji_id", "style"})
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_BUTTON_URL = re.compile(r"^(https?|tg|ton)://\S+$", re.IGNORECASE)
_HTTP_URL = re.compile(r"^https?://", re.IGNORECASE)


@dataclass
class Call:
    """One Bot API call after its parameters were checked."""

    method: str
    params: dict[str, Any]
    attachments: dict[str, Upload] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Any]]
Entities = list[dict[str, Any]]


class BotApi:
    """Implements Bot API methods on a SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._poll_seq = itertools.count(1)
        self._active_poll: int | None = None
        self._terminated: set[int] = set()
        self.handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "setWebhook": self.set_webhook,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "editMessageCaption": self.edit_message_caption,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendChatAction": self.send_chat_action,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendMediaGroup": self.send_media_group,
            "forwardMessage": self.forward_message,
            "copyMessage": self.copy_message,
            "getFile": self.get_file,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "getChat": self.get_chat,
            "close": self.close,
            "logOut": self.log_out,
        }

    # ---- checks before the generic parameter check ---------------------------------------

    @staticmethod
    def precheck(method: str, raw: dict[str, Any]) -> None:
        """Refusals Telegram words more specifically than a type mismatch."""
        if method != "sendMediaGroup":
            return
        media = raw.get("media")
        if isinstance(media, str):
            try:
                media = json.loads(media)
            except ValueError:
                return
        if not isinstance(media, list):
            return
        kinds = {item.get("type") for item in media if isinstance(item, dict)}
        for lonely in ("document", "audio"):
            if lonely in kinds and len(kinds) > 1:
                raise bad_request(f"{lonely} can't be mixed with other media types")
        if not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media in the album: must be 2-10")

    # ---- shared helpers ---------------------------------------------------------------------

    def _chat(self, chat_id: Any) -> SimChat:
        """A chat by id or @username, or `chat not found`."""
        state = self.state
        if isinstance(chat_id, int):
            chat = state.chats.get(chat_id)
        else:
            name = str(chat_id).lstrip("@").lower()
            chat = next(
                (
                    c
                    for c in state.chats.values()
                    if c.is_group and (c.username or "").lower() == name
                ),
                None,
            )
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _send_target(self, chat_id: Any) -> SimChat:
        """A chat the bot may write in, or Telegram's 400/403."""
        chat = self._chat(chat_id)
        if chat.user is not None:
            if chat.user.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.user.started:
                raise forbidden("bot can't initiate conversation with a user")
        return chat

    def _format(
        self, raw: str | None, parse_mode: str | None, entities: Any, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]], str | None]:
        """Parse text or caption: (plain text, entities, parse mode); check its length."""
        raw = raw or ""
        mode = (parse_mode or "").strip() or None
        plain = raw
        found: list[dict[str, Any]] = []
        if mode is None:
            found = [dict(e) for e in entities] if isinstance(entities, list) else []
        elif mode.lower() == "html":
            try:
                plain, found = parse_html(
                    raw,
                    strict_ampersand=self.state.config.strict_html,
                    users=self.state.user_lookup,
                )
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        elif mode.lower() not in ("markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
        plain, found = strip_formatted(plain, found)
        if caption:
            if utf16_len(plain) > MAX_CAPTION:
                raise bad_request("message caption is too long")
        else:
            if not plain:
                raise bad_request("message text is empty")
            if utf16_len(plain) > MAX_TEXT:
                raise bad_request("message is too long")
        return plain, found, mode

    @staticmethod
    def _markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """Check a reply markup as Telegram does; an empty inline keyboard is no keyboard."""
        if markup is None or "inline_keyboard" not in markup:
            return markup
        rows = markup["inline_keyboard"]
        for row in rows:
            for button in row:
                actions = [k for k in button if k not in _BUTTON_LABEL_FIELDS]
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if len(actions) > 1:
                    raise bad_request(
                        "can't parse inline keyboard button: exactly one of the optional "
                        f"fields must be used, found {', '.join(sorted(actions))}"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not _BUTTON_URL.match(str(url)):
                    raise bad_request("BUTTON_URL_INVALID")
        if not any(rows):
            return None
        return markup

    def _reply_to(self, chat: SimChat, params: dict[str, Any]) -> MessageRecord | None:
        """The message a send replies to, or `message to be replied not found`."""
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply", allow))
            if reply.get("chat_id") not in (None, chat.id):
                chat = self._chat(reply["chat_id"])
        if message_id is None:
            return None
        record = chat.messages.get(int(message_id))
        if record is None or record.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return record

    def _acquire(self, chat: SimChat, *, count: int = 1, edit: bool = False) -> None:
        """Count sends against the flood limits (429 when over)."""
        self.state.limiter.acquire(chat.id, group=chat.is_group, count=count, edit=edit)

    def _new_message(self, chat: SimChat, method: str, kind: str, **values: Any) -> MessageRecord:
        """Store a message the bot sent."""
        record = MessageRecord(
            chat_id=chat.id,
            message_id=chat.take_message_id(),
            sender=self.state.bot_user(),
            from_bot=True,
            kind=kind,
            method=method,
            **values,
        )
        chat.messages[record.message_id] = record
        self.state.touch()
        return record

    def _edit_target(self, params: dict[str, Any]) -> tuple[SimChat, MessageRecord]:
        """The bot message an edit names, or Telegram's refusal."""
        if params.get("inline_message_id"):
            raise bad_request("message to edit not found")
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self._chat(params["chat_id"])
        record = chat.messages.get(params["message_id"])
        if record is None or record.deleted:
            raise bad_request("message to edit not found")
        if not record.from_bot:
            raise bad_request("message can't be edited")
        return chat, record

    def _input_file(self, value: Any, kind: str) -> list[StoredFile]:
        """A file from an upload or an existing file_id (a photo gives its sizes)."""
        state = self.state
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            if len(value.data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            if kind == "photo":
                size = image_size(value.data)
                if size is None:
                    raise bad_request("IMAGE_PROCESS_FAILED")
                return state.store_photo(value.data, width=size[0], height=size[1])
            mime = value.content_type
            if mime in (None, "application/octet-stream") and value.filename:
                mime = None
            return [
                state.store_file(kind, data=value.data, file_name=value.filename, mime_type=mime)
            ]
        file_id = str(value)
        if _HTTP_URL.match(file_id):
            raise bad_request("failed to get HTTP URL content")
        stored = state.files.get(file_id)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if (stored.kind == "photo") != (kind == "photo"):
            raise bad_request("type of file mismatch")
        return [stored]

    # ---- updates and webhooks -----------------------------------------------------------------

    async def get_me(self, call: Call) -> Any:
        """The bot user with its capabilities."""
        config = self.state.config
        return {
            **self.state.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": not config.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, call: Call) -> Any:
        """Long polling: confirm by offset, wait up to timeout, 409 to an older poller."""
        state = self.state
        params = call.params
        if state.webhook.get("url"):
            raise ApiError(409, CONFLICT_WEBHOOK)
        if "allowed_updates" in params:
            state.allowed_updates = list(params["allowed_updates"]) or None
        offset = int(params.get("offset", 0))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = max(float(params.get("timeout", 0)), 0.0)
        if offset:
            state.confirm(offset)
        poll = next(self._poll_seq)
        if self._active_poll is not None:
            self._terminated.add(self._active_poll)
        self._active_poll = poll
        state.polling = True
        state.touch()
        try:
            if timeout > 0 and not state.updates:
                await state.wait_for(
                    lambda: bool(state.updates) or poll in self._terminated or state.closing,
                    timeout,
                )
            if poll in self._terminated:
                self._terminated.discard(poll)
                raise ApiError(409, CONFLICT_POLL)
            return [u.to_api() for u in itertools.islice(state.updates, limit)]
        finally:
            if self._active_poll == poll:
                self._active_poll = None
                state.polling = False
                state.touch()

    async def delete_webhook(self, call: Call) -> Any:
        """Remove the webhook (and the queue, with drop_pending_updates)."""
        self.state.webhook = {"url": ""}
        if call.params.get("drop_pending_updates"):
            self.state.updates.clear()
        return True

    async def set_webhook(self, call: Call) -> Any:
        """Store the webhook; the emulator never calls it, but getUpdates then gets 409."""
        params = call.params
        self.state.webhook = {
            "url": params.get("url", ""),
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
            "has_secret_token": bool(params.get("secret_token")),
        }
        if params.get("drop_pending_updates"):
            self.state.updates.clear()
        return True

    async def get_webhook_info(self, call: Call) -> Any:
        """The webhook as stored and the pending update count."""
        webhook = self.state.webhook
        info: dict[str, Any] = {
            "url": webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.updates),
        }
        if webhook.get("url"):
            info["max_connections"] = webhook.get("max_connections", 40)
            if webhook.get("allowed_updates"):
                info["allowed_updates"] = webhook["allowed_updates"]
        return info

    # ---- sending ------------------------------------------------------------------------------

    async def send_message(self, call: Call) -> Any:
        """A text message."""
        params = call.params
        chat = self._send_target(params["chat_id"])
        text, entities, mode = self._format(
            params["text"], params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        self._acquire(chat)
        record = self._new_message(
            chat,
            call.method,
            "text",
            text=text,
            raw_text=params["text"],
            parse_mode=mode,
            entities=entities,
            reply_markup=markup,
            reply_to=reply_to,
        )
        return record.to_api(chat.to_api())

    async def _send_file(self, call: Call, kind: str) -> Any:
        """sendDocument / sendPhoto."""
        params = call.params
        chat = self._send_target(params["chat_id"])
        caption, entities, mode = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        files = self._input_file(params[kind], kind)
        self._acquire(chat)
        record = self._new_message(
            chat,
            call.method,
            kind,
            caption=caption or None,
            raw_caption=params.get("caption"),
            parse_mode=mode,
            caption_entities=entities,
            reply_markup=markup,
            reply_to=reply_to,
            files=files,
        )
        return record.to_api(chat.to_api())

    async def send_document(self, call: Call) -> Any:
        """A document: upload or file_id."""
        return await self._send_file(call, "document")

    async def send_photo(self, call: Call) -> Any:
        """A photo: upload or file_id."""
        return await self._send_file(call, "photo")

    async def send_media_group(self, call: Call) -> Any:
        """An album of photos or of documents."""
        params = call.params
        chat = self._send_target(params["chat_id"])
        reply_to = self._reply_to(chat, params)
        prepared: list[tuple[str, list[StoredFile], str, Entities, str | None, Any]] = []
        for item in params["media"]:
            kind = item["type"]
            if kind not in ("photo", "document"):
                raise ApiError(501, f"Not Implemented: sendMediaGroup with {kind}")
            media = item["media"]
            if isinstance(media, str) and media.startswith("attach://"):
                upload = call.attachments.get(media[len("attach://") :])
                if upload is None:
                    raise bad_request("wrong file identifier/HTTP URL specified")
                media = upload
            files = self._input_file(media, kind)
            caption, entities, mode = self._format(
                item.get("caption"),
                item.get("parse_mode"),
                item.get("caption_entities"),
                caption=True,
            )
            prepared.append((kind, files, caption, entities, mode, item.get("caption")))
        self._acquire(chat, count=len(prepared))
        group_id = self.state.next_media_group_id()
        out = []
        for kind, files, caption, entities, mode, raw_caption in prepared:
            record = self._new_message(
                chat,
                call.method,
                kind,
                caption=caption or None,
                raw_caption=raw_caption,
                parse_mode=mode,
                caption_entities=entities,
                files=files,
                media_group_id=group_id,
                reply_to=reply_to,
            )
            out.append(record.to_api(chat.to_api()))
        return out

    def _source(self, params: dict[str, Any], what: str) -> MessageRecord:
        """The message forwardMessage / copyMessage take from."""
        source_chat = self._chat(params["from_chat_id"])
        source = source_chat.messages.get(params["message_id"])
        if source is None or source.deleted:
            raise bad_request(f"message to {what} not found")
        return source

    def _repost(
        self, chat: SimChat, method: str, source: MessageRecord, **changes: Any
    ) -> MessageRecord:
        """Send `source`'s content to `chat` again, with `changes` (forward, copy)."""
        self._acquire(chat)
        content = {
            "text": source.text,
            "raw_text": source.raw_text,
            "parse_mode": source.parse_mode,
            "entities": list(source.entities),
            "caption": source.caption,
            "raw_caption": source.raw_caption,
            "caption_entities": list(source.caption_entities),
            "files": list(source.files),
            "extra": dict(source.extra),
        }
        return self._new_message(chat, method, source.kind, **(content | changes))

    async def forward_message(self, call: Call) -> Any:
        """Forward a message, with forward_origin naming its sender."""
        params = call.params
        chat = self._send_target(params["chat_id"])
        source = self._source(params, "forward")
        origin = {"type": "user", "sender_user": source.sender, "date": source.date}
        record = self._repost(chat, call.method, source, forward_origin=origin)
        return record.to_api(chat.to_api())

    async def copy_message(self, call: Call) -> Any:
        """Copy a message without a link to the original; returns only its MessageId."""
        params = call.params
        chat = self._send_target(params["chat_id"])
        source = self._source(params, "copy")
        caption, caption_entities = source.caption, list(source.caption_entities)
        raw_caption, mode = source.raw_caption, source.parse_mode
        if "caption" in params and source.kind not in ("text", "contact", "location", "sticker"):
            caption, caption_entities, mode = self._format(
                params["caption"],
                params.get("parse_mode"),
                params.get("caption_entities"),
                caption=True,
            )
            raw_caption = params["caption"]
        markup = self._markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        record = self._repost(
            chat,
            call.method,
            source,
            parse_mode=mode,
            caption=caption or None,
            raw_caption=raw_caption,
            caption_entities=caption_entities,
            reply_markup=markup,
            reply_to=reply_to,
        )
        return {"message_id": record.message_id}

    async def send_chat_action(self, call: Call) -> Any:
        """Typing… and friends."""
        params = call.params
        chat = self._send_target(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.state.chat_actions.append((chat.id, params["action"]))
        return True

    # ---- editing and deleting -------------------------------------------------------------

    def _commit_edit(
        self, chat: SimChat, record: MessageRecord, params: dict[str, Any], **changes: Any
    ) -> Any:
        """Apply an edit and the keyboard it gives unless it changes nothing (400 `message is
        not modified`)."""
        changes["reply_markup"] = self._markup(params.get("reply_markup"))
        before = record.content_key()
        after = dataclasses.replace(record, **changes).content_key()
        if before == after:
            raise bad_request(NOT_MODIFIED)
        self._acquire(chat, edit=True)
        for name, value in changes.items():
            setattr(record, name, value)
        record.edits += 1
        record.edit_date = max(now(), record.date)
        self.state.touch()
        return record.to_api(chat.to_api())

    async def edit_message_text(self, call: Call) -> Any:
        """New text (and keyboard; none given removes it)."""
        params = call.params
        chat, record = self._edit_target(params)
        if "text" not in params:
            raise bad_request("message text is empty")
        if record.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities, mode = self._format(
            params["text"], params.get("parse_mode"), params.get("entities"), caption=False
        )
        changes = {"text": text, "raw_text": params["text"], "entities": entities}
        return self._commit_edit(chat, record, params, parse_mode=mode, **changes)

    async def edit_message_caption(self, call: Call) -> Any:
        """New caption (and keyboard)."""
        params = call.params
        chat, record = self._edit_target(params)
        if record.kind not in ("document", "photo"):
            raise bad_request("there is no caption in the message to edit")
        caption, entities, mode = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        changes = {"caption": caption or None, "raw_caption": params.get("caption")}
        return self._commit_edit(
            chat, record, params, parse_mode=mode, caption_entities=entities, **changes
        )

    async def edit_message_reply_markup(self, call: Call) -> Any:
        """New inline keyboard (none given removes it)."""
        params = call.params
        chat, record = self._edit_target(params)
        return self._commit_edit(chat, record, params)

    async def delete_message(self, call: Call) -> Any:
        """Mark a message deleted."""
        params = call.params
        chat = self._chat(params["chat_id"])
        record = chat.messages.get(params["message_id"])
        if record is None or record.deleted:
            raise bad_request("message to delete not found")
        record.deleted = True
        self.state.touch()
        return True

    # ---- callback queries, files, commands, chats --------------------------------------------

    async def answer_callback_query(self, call: Call) -> Any:
        """Answer a button press once, within the callback timeout."""
        params = call.params
        state = self.state
        query = state.callbacks.get(params["callback_query_id"])
        limit = state.config.callback_timeout
        if query is None or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        if limit is not None and time.monotonic() - query.created > limit:
            raise bad_request(QUERY_TOO_OLD)
        query.answered = True
        state.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query.id,
                user_id=query.user_id,
                chat_id=query.chat_id,
                message_id=query.message_id,
                data=query.data,
                text=params.get("text"),
                show_alert=bool(params.get("show_alert", False)),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
            )
        )
        state.touch()
        return True

    async def get_file(self, call: Call) -> Any:
        """File info with a download path; refuses files over 20 MB."""
        stored = self.state.files.get(call.params["file_id"])
        if stored is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if stored.file_size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": self.state.file_path_for(stored),
        }

    def _scope_key(self, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The scope of a commands call (chat ids checked) and its language."""
        scope = dict(params.get("scope") or {"type": "default"})
        if "chat_id" in scope:
            scope["chat_id"] = self._chat(scope["chat_id"]).id
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return scope, language

    async def set_my_commands(self, call: Call) -> Any:
        """Store the command list for a scope and language."""
        commands = call.params["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        for command in commands:
            if not _COMMAND_NAME.match(str(command["command"])):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command["description"])) <= 256:
                raise bad_request("command description must be 1-256 characters")
        scope, language = self._scope_key(call.params)
        key = (json.dumps(scope, sort_keys=True), language)
        listed = [{"command": c["command"], "description": c["description"]} for c in commands]
        if listed:
            self.state.commands[key] = CommandSet(
                scope=scope, language_code=language, commands=listed
            )
        else:
            self.state.commands.pop(key, None)
        self.state.touch()
        return True

    async def get_my_commands(self, call: Call) -> Any:
        """The commands of exactly that scope and language."""
        scope, language = self._scope_key(call.params)
        found = self.state.commands.get((json.dumps(scope, sort_keys=True), language))
        return list(found.commands) if found else []

    async def delete_my_commands(self, call: Call) -> Any:
        """Drop the commands of that scope and language."""
        scope, language = self._scope_key(call.params)
        self.state.commands.pop((json.dumps(scope, sort_keys=True), language), None)
        self.state.touch()
        return True

    async def get_chat(self, call: Call) -> Any:
        """A ChatFullInfo."""
        chat = self._chat(call.params["chat_id"])
        info = chat.to_api()
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    async def close(self, call: Call) -> Any:
        """Nothing to close locally."""
        return True

    async def log_out(self, call: Call) -> Any:
        """Nothing to log out of locally."""
        return True
