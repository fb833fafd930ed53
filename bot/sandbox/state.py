"""The emulator's world: users, chats, messages, files, the update queue, and what users do."""

from __future__ import annotations

import asyncio
import base64
import itertools
import mimetypes
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bot.sandbox import models
from bot.sandbox.errors import ControlError
from bot.sandbox.limits import RateLimiter
from bot.sandbox.records import (
    DEFAULT_ALLOWED,
    FILE_DIR,
    CallbackQueryRecord,
    FaultRule,
    MessageRecord,
    QueuedUpdate,
    SimChat,
    SimUser,
    StoredFile,
    detect_entities,
    image_size,
    new_file_ids,
    now,
    utf16_slice,
)


class SandboxState:
    """Everything the emulator knows, and the actions of simulated users."""

    def __init__(self, config: models.Config | None = None, *, max_log: int = 100_000) -> None:
        self.config = config or models.Config()
        self.limiter = RateLimiter(self.config.limits)
        self.closing = False
        self._changed = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._max_log = max_log
        self.last_update_id = 0
        # Told of every Bot API call as it is logged (a benchmark counts answers this way).
        self.call_listeners: list[Callable[[models.CallRecord], None]] = []
        self.clear()

    # ---- lifecycle ----------------------------------------------------------------------

    def clear(self) -> None:
        """Forget users, chats, messages, files, updates, logs and faults (update ids go on)."""
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, SimChat] = {}
        self.files: dict[str, StoredFile] = {}
        self.file_paths: dict[str, StoredFile] = {}
        self.updates: deque[QueuedUpdate] = deque()
        self.confirmed_offset = 0
        self.allowed_updates: list[str] | None = None
        self.webhook: dict[str, Any] = {"url": ""}
        self.callbacks: dict[str, CallbackQueryRecord] = {}
        self.callback_answers: list[models.CallbackAnswer] = []
        self.commands: dict[tuple[str, str], models.CommandSet] = {}
        self.calls: deque[models.CallRecord] = deque(maxlen=self._max_log)
        self.warnings: list[models.ApiWarning] = []
        self.faults: list[FaultRule] = []
        self.fault_history: list[models.FaultEvent] = []
        self.chat_actions: deque[tuple[int, str]] = deque(maxlen=self._max_log)
        self.polling = False
        self.limiter.reset()
        self._call_seq = itertools.count(1)
        self._fault_seq = itertools.count(1)
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(1)
        self._file_paths_seq = itertools.count(1)
        self._media_groups = itertools.count(13_000_000_000_000_001)
        self.touch()

    def set_limits(self) -> None:
        """Point the limiter at the current config's limits."""
        self.limiter.limits = self.config.limits

    # ---- waiting for changes ------------------------------------------------------------

    def touch(self) -> None:
        """Wake everyone waiting for a change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until predicate() holds (True), or `seconds` pass or shutdown (predicate())."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(seconds, 0.0)
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closing:
                return predicate()
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the emulator stops."""
        await self.wait_for(lambda: self.closing, seconds)

    # ---- the bot --------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        """The bot as a Bot API `User` (the `from` of its messages)."""
        return {
            "id": self.config.bot_id,
            "is_bot": True,
            "first_name": self.config.first_name,
            "username": self.config.username,
        }

    # ---- users and chats --------------------------------------------------------------------

    def add_user(self, new: models.NewUser) -> SimUser:
        """Create a user and their private chat with the bot."""
        user_id = new.id if new.id is not None else next(self._user_ids)
        if user_id <= 0:
            raise ControlError("a user id must be positive")
        if user_id in self.users:
            raise ControlError(f"user {user_id} exists", status=409)
        # A new user's fields are the record's (all but `blocked`).
        user = SimUser(**new.model_dump(exclude={"id"}), id=user_id)
        self.users[user_id] = user
        self.chats[user_id] = SimChat(id=user_id, type="private", user=user)
        self.touch()
        return user

    def add_group(self, new: models.NewGroup) -> SimChat:
        """Create a group (negative id) whose members are existing users."""
        if new.id is not None:
            chat_id = new.id
        else:
            base = -1_000_000_000_000 if new.type == "supergroup" else -4_000_000_000
            chat_id = base - next(self._group_ids)
        if chat_id >= 0:
            raise ControlError("a group id must be negative")
        if chat_id in self.chats:
            raise ControlError(f"chat {chat_id} exists", status=409)
        for member in new.members:
            self.user(member)
        chat = SimChat(
            id=chat_id,
            type=new.type,
            title=new.title,
            username=new.username,
            members=list(new.members),
        )
        self.chats[chat_id] = chat
        self.touch()
        return chat

    def user(self, user_id: int) -> SimUser:
        """A known user, or a 404 control error."""
        user = self.users.get(user_id)
        if user is None:
            raise ControlError(f"unknown user {user_id}", status=404)
        return user

    def chat(self, chat_id: int) -> SimChat:
        """A known chat, or a 404 control error."""
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ControlError(f"unknown chat {chat_id}", status=404)
        return chat

    def user_lookup(self, user_id: int) -> dict[str, Any] | None:
        """A user as a Bot API `User`, for text_mention entities."""
        user = self.users.get(user_id)
        return user.to_api() if user else None

    # ---- the update queue ---------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        """Queue an update (unless allowed_updates excludes its kind); wake pollers."""
        update_id = next(self._update_ids)
        self.last_update_id = update_id
        allowed = set(self.allowed_updates) if self.allowed_updates else DEFAULT_ALLOWED
        if kind not in allowed:
            self.touch()
            return None
        self.updates.append(QueuedUpdate(update_id, kind, payload))
        self.touch()
        return update_id

    def confirm(self, offset: int) -> None:
        """Forget updates below `offset`; a negative offset keeps only the last -offset."""
        if offset > 0:
            while self.updates and self.updates[0].update_id < offset:
                self.updates.popleft()
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            keep = -offset
            while len(self.updates) > keep:
                self.updates.popleft()
            if self.updates:
                self.confirmed_offset = max(self.confirmed_offset, self.updates[0].update_id)
        self.touch()

    def queue_state(self) -> models.QueueState:
        """The queue as the control API shows it."""
        return models.QueueState(
            pending_update_count=len(self.updates),
            confirmed_offset=self.confirmed_offset,
            last_update_id=self.last_update_id,
            webhook_url=str(self.webhook.get("url", "")),
            allowed_updates=self.allowed_updates,
            polling=self.polling,
            calls=len(self.calls),
        )

    # ---- files ------------------------------------------------------------------------------

    def store_file(
        self,
        kind: str,
        *,
        data: bytes | None,
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
    ) -> StoredFile:
        """Keep a file (bytes, or only a size) under a new file_id."""
        file_id, unique_id = new_file_ids(kind)
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name)[0]
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique_id,
            kind=kind,
            file_size=len(data) if data is not None else (size or 0),
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
        )
        self.files[file_id] = stored
        return stored

    def store_photo(
        self, data: bytes | None, *, size: int | None = None, width: int, height: int
    ) -> list[StoredFile]:
        """A photo as Telegram keeps it: a thumbnail size and the full size."""
        if data is not None:
            width, height = image_size(data) or (width, height)
        scale = min(1.0, 90 / max(width, height, 1))
        thumb = self.store_file(
            "photo",
            data=data,
            size=size,
            width=max(1, round(width * scale)),
            height=max(1, round(height * scale)),
        )
        full = self.store_file("photo", data=data, size=size, width=width, height=height)
        return [thumb, full]

    def file_path_for(self, stored: StoredFile) -> str:
        """Give a file its download path (on the first getFile)."""
        if stored.file_path is None:
            ext = ""
            if stored.file_name and "." in stored.file_name:
                ext = stored.file_name.rsplit(".", 1)[1]
            elif stored.mime_type:
                ext = (mimetypes.guess_extension(stored.mime_type) or "").lstrip(".")
            elif stored.kind == "photo":
                ext = "jpg"
            folder = FILE_DIR.get(stored.kind, "documents")
            number = next(self._file_paths_seq)
            stored.file_path = (
                f"{folder}/file_{number}.{ext}" if ext else f"{folder}/file_{number}"
            )
            self.file_paths[stored.file_path] = stored
        return stored.file_path

    def next_media_group_id(self) -> str:
        """A fresh media_group_id."""
        return str(next(self._media_groups))

    # ---- logs ---------------------------------------------------------------------------------

    def log_call(
        self,
        method: str,
        params: dict[str, Any],
        status: int,
        description: str | None,
        fault: str | None,
    ) -> None:
        """Record one Bot API call."""
        record = models.CallRecord(
            seq=next(self._call_seq),
            time=time.time(),
            method=method,
            params=params,
            status=status,
            ok=200 <= status < 300,
            description=description,
            fault=fault,
        )
        self.calls.append(record)
        for listener in self.call_listeners:
            listener(record)
        self.touch()

    def warn(self, method: str, param: str, reason: str = "unknown parameter") -> None:
        """Record a call Telegram would take but that is almost surely a mistake."""
        self.warnings.append(models.ApiWarning(method=method, param=param, reason=reason))

    # ---- faults -----------------------------------------------------------------------------

    def inject_fault(self, spec: models.FaultIn) -> FaultRule:
        """Make the next `times` matching calls fail."""
        rule = FaultRule(id=next(self._fault_seq), spec=spec, remaining=spec.times)
        self.faults.append(rule)
        self._fault_event("injected", rule)
        return rule

    def clear_faults(self) -> None:
        """Drop every active fault."""
        for rule in self.faults:
            if rule.remaining > 0:
                self._fault_event("cleared", rule)
        self.faults.clear()

    def take_fault(self, method: str, chat_id: Any) -> FaultRule | None:
        """The first active fault matching this call, used up by one."""
        for rule in self.faults:
            if rule.matches(method, chat_id):
                rule.remaining -= 1
                self._fault_event("triggered", rule)
                return rule
        return None

    def _fault_event(self, action: Any, rule: FaultRule) -> None:
        """Log an injection, trigger or clearing."""
        self.fault_history.append(
            models.FaultEvent(
                time=time.time(),
                action=action,
                fault_id=rule.id,
                method=rule.spec.method,
                chat_id=rule.spec.chat_id,
                error=rule.spec.error,
            )
        )

    # ---- what users do ----------------------------------------------------------------------

    def _sending_chat(self, user: SimUser, chat_id: int | None) -> SimChat:
        """The chat a user writes in: their private chat, or a group they are in."""
        if chat_id is None or chat_id == user.id:
            chat = self.chats[user.id]
            if user.blocked:
                raise ControlError(
                    f"user {user.id} has blocked the bot; unblock them first", status=409
                )
            return chat
        chat = self.chat(chat_id)
        if not chat.is_group:
            raise ControlError(f"user {user.id} cannot write in {chat.type} chat {chat_id}")
        if user.id not in chat.members:
            raise ControlError(f"user {user.id} is not a member of chat {chat_id}")
        return chat

    def _addressed_to_bot(self, record: MessageRecord) -> bool:
        """Privacy mode: does the bot see this group message?"""
        if record.reply_to is not None and record.reply_to.from_bot:
            return True
        text = record.text or ""
        mention = f"@{self.config.username}".lower()
        for entity in record.entities:
            piece = utf16_slice(text, entity["offset"], entity["length"])
            if entity["type"] == "bot_command":
                return True
            if entity["type"] == "mention" and piece.lower() == mention:
                return True
        return False

    def user_message(
        self,
        user_id: int,
        chat_id: int | None,
        kind: str,
        *,
        text: str | None = None,
        caption: str | None = None,
        files: list[StoredFile] | None = None,
        extra: dict[str, Any] | None = None,
        reply_to_message_id: int | None = None,
    ) -> models.UpdateRef:
        """A user sends something to the bot; queue the `message` update."""
        user = self.user(user_id)
        chat = self._sending_chat(user, chat_id)
        reply_to = None
        if reply_to_message_id is not None:
            reply_to = chat.messages.get(reply_to_message_id)
            if reply_to is None or reply_to.deleted:
                raise ControlError(f"no message {reply_to_message_id} in chat {chat.id}")
        record = MessageRecord(
            chat_id=chat.id,
            message_id=chat.take_message_id(),
            sender=user.to_api(),
            from_bot=False,
            kind=kind,
            method="user",
            text=text,
            raw_text=text,
            entities=detect_entities(text) if text else [],
            caption=caption,
            raw_caption=caption,
            caption_entities=detect_entities(caption) if caption else [],
            files=files or [],
            extra=extra or {},
            reply_to=reply_to,
        )
        chat.messages[record.message_id] = record
        if not chat.is_group:
            user.started = True
        file_id = record.files[-1].file_id if record.files else None
        if chat.is_group and self.config.privacy_mode and not self._addressed_to_bot(record):
            self.touch()
            return models.UpdateRef(message_id=record.message_id, file_id=file_id)
        update_id = self.enqueue("message", record.to_api(chat.to_api()))
        return models.UpdateRef(update_id=update_id, message_id=record.message_id, file_id=file_id)

    def send_text(self, user_id: int, body: models.TextIn) -> models.UpdateRef:
        """A user sends text."""
        if not body.text:
            raise ControlError("text is empty")
        return self.user_message(
            user_id,
            body.chat_id,
            "text",
            text=body.text,
            reply_to_message_id=body.reply_to_message_id,
        )

    def start(self, user_id: int, body: models.StartIn) -> models.UpdateRef:
        """A user presses Start (with a deep-link payload if given)."""
        text = f"/start {body.payload}" if body.payload else "/start"
        return self.user_message(user_id, None, "text", text=text)

    def share_contact(self, user_id: int, body: models.ContactIn) -> models.UpdateRef:
        """A user shares a contact."""
        user = self.user(user_id)
        contact: dict[str, Any] = {
            "phone_number": body.phone_number,
            "first_name": body.first_name or user.first_name,
        }
        last_name = body.last_name if body.first_name else (body.last_name or user.last_name)
        if last_name:
            contact["last_name"] = last_name
        contact_user = body.contact_user_id if body.contact_user_id is not None else None
        if contact_user is None and body.own:
            contact_user = user.id
        if contact_user is not None:
            contact["user_id"] = contact_user
        return self.user_message(user_id, body.chat_id, "contact", extra={"contact": contact})

    def send_document(self, user_id: int, body: models.DocumentIn) -> models.UpdateRef:
        """A user sends a file."""
        data = _bytes_or_size(body)
        stored = self.store_file(
            "document",
            data=data,
            size=body.size,
            file_name=body.file_name,
            mime_type=body.mime_type,
        )
        return self.user_message(
            user_id, body.chat_id, "document", caption=body.caption, files=[stored]
        )

    def send_photo(self, user_id: int, body: models.PhotoIn) -> models.UpdateRef:
        """A user sends a photo."""
        data = _bytes_or_size(body)
        sizes = self.store_photo(data, size=body.size, width=body.width, height=body.height)
        return self.user_message(user_id, body.chat_id, "photo", caption=body.caption, files=sizes)

    def send_sticker(self, user_id: int, body: models.StickerIn) -> models.UpdateRef:
        """A user sends a sticker."""
        stored = self.store_file(
            "sticker", data=b"RIFF\0\0\0\0WEBP", width=512, height=512, mime_type="image/webp"
        )
        sticker: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "emoji": body.emoji,
            "file_size": stored.file_size,
        }
        if body.set_name:
            sticker["set_name"] = body.set_name
        ref = self.user_message(user_id, body.chat_id, "sticker", extra={"sticker": sticker})
        ref.file_id = stored.file_id
        return ref

    def send_location(self, user_id: int, body: models.LocationIn) -> models.UpdateRef:
        """A user shares a location."""
        location = {"latitude": body.latitude, "longitude": body.longitude}
        return self.user_message(user_id, body.chat_id, "location", extra={"location": location})

    def send_voice(self, user_id: int, body: models.VoiceIn) -> models.UpdateRef:
        """A user sends a voice note."""
        data = _decode_b64(body.data_b64)
        stored = self.store_file(
            "voice",
            data=data,
            size=body.size if data is None else None,
            mime_type=body.mime_type,
            duration=body.duration,
        )
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": body.duration,
            "mime_type": body.mime_type,
            "file_size": stored.file_size,
        }
        ref = self.user_message(user_id, body.chat_id, "voice", extra={"voice": voice})
        ref.file_id = stored.file_id
        return ref

    def press(self, user_id: int, body: models.PressIn) -> models.UpdateRef:
        """A user presses an inline button of one of the bot's messages."""
        user = self.user(user_id)
        chat = self.chat(body.chat_id if body.chat_id is not None else user.id)
        if body.data is None and body.button_text is None:
            raise ControlError("give data or button_text")
        if body.message_id is not None:
            record = chat.messages.get(body.message_id)
            if record is None or record.deleted or not record.from_bot:
                raise ControlError(
                    f"no message {body.message_id} from the bot in chat {chat.id}", status=404
                )
            button = _find_button(record, body.data, body.button_text)
        else:
            record, button = self._latest_with_button(chat, body.data, body.button_text)
        if button is None:
            if not (body.force and body.data is not None):
                raise ControlError(
                    f"message {record.message_id} has no button "
                    f"{body.button_text or body.data!r} in its current keyboard",
                    status=404,
                )
            data: str | None = body.data
        else:
            data = button.get("callback_data")
            if data is None and not body.force:
                raise ControlError(f"button {button.get('text')!r} has no callback_data")
        query_id = str(secrets.randbits(62))
        self.callbacks[query_id] = CallbackQueryRecord(
            id=query_id,
            user_id=user.id,
            chat_id=chat.id,
            message_id=record.message_id,
            data=data,
            created=time.monotonic(),
        )
        payload: dict[str, Any] = {
            "id": query_id,
            "from": user.to_api(),
            "message": record.to_api(chat.to_api()),
            "chat_instance": str(abs(chat.id * 7919 + self.config.bot_id) % 10**19),
        }
        if data is not None:
            payload["data"] = data
        update_id = self.enqueue("callback_query", payload)
        return models.UpdateRef(
            update_id=update_id, message_id=record.message_id, callback_query_id=query_id
        )

    def _latest_with_button(
        self, chat: SimChat, data: str | None, text: str | None
    ) -> tuple[MessageRecord, dict[str, Any] | None]:
        """The latest bot message in the chat whose keyboard has that button."""
        for record in sorted(chat.messages.values(), key=lambda r: -r.message_id):
            if record.from_bot and not record.deleted:
                button = _find_button(record, data, text)
                if button is not None:
                    return record, button
        raise ControlError(
            f"no message from the bot in chat {chat.id} has a button {text or data!r}",
            status=404,
        )

    def set_blocked(self, user_id: int, blocked: bool) -> models.UpdateRef:
        """A user blocks (or unblocks) the bot; the bot gets my_chat_member."""
        user = self.user(user_id)
        if user.blocked == blocked:
            return models.UpdateRef()
        user.blocked = blocked
        bot = self.bot_user()
        member = {"status": "member", "user": bot}
        kicked = {"status": "kicked", "user": bot, "until_date": 0}
        payload = {
            "chat": self.chats[user.id].to_api(),
            "from": user.to_api(),
            "date": now(),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        return models.UpdateRef(update_id=self.enqueue("my_chat_member", payload))


def _find_button(
    record: MessageRecord, data: str | None, text: str | None
) -> dict[str, Any] | None:
    """The inline button with that callback_data (or label) in the message's current markup."""
    markup = record.reply_markup or {}
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            if data is not None and button.get("callback_data") == data:
                if text is None or button.get("text") == text:
                    return dict(button)
            elif data is None and text is not None and button.get("text") == text:
                return dict(button)
    return None


def _bytes_or_size(body: models.UploadIn) -> bytes | None:
    """The bytes a user sends, or None for a file given only by its size (one is needed)."""
    data = _decode_b64(body.data_b64)
    if data is None and body.size is None:
        raise ControlError("give data_b64 or size")
    return data


def _decode_b64(data_b64: str | None) -> bytes | None:
    """Base64 to bytes (None stays None)."""
    if data_b64 is None:
        return None
    try:
        return base64.b64decode(data_b64, validate=True)
    except ValueError as exc:
        raise ControlError(f"data_b64 is not valid base64: {exc}") from None
