"""Request and response bodies of the control API, shared by the server and the client."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.sandbox.limits import Limits


class _In(BaseModel):
    """A control request body: unknown keys are a caller's typo, so refuse them."""

    model_config = ConfigDict(extra="forbid")


# ---- configuration -------------------------------------------------------------------------


class Config(BaseModel):
    """The emulated bot and the emulator's behaviour."""

    username: str = "liaison_demo_bot"
    first_name: str = "Liaison Demo Bot"
    bot_id: int = 7000000001
    token: str | None = None
    strict_html: bool = True
    privacy_mode: bool = True
    callback_timeout: float | None = 15.0
    limits: Limits = Field(default_factory=Limits)


class LimitsPatch(_In):
    """Change some rate limit settings."""

    enabled: bool | None = None
    global_per_second: int | None = Field(None, ge=1)
    private_limit: int | None = Field(None, ge=1)
    private_window: float | None = Field(None, gt=0)
    group_limit: int | None = Field(None, ge=1)
    group_window: float | None = Field(None, gt=0)
    count_edits: bool | None = None


class ConfigPatch(_In):
    """Change some settings; omitted ones stay (an explicit null clears token/timeout)."""

    username: str | None = None
    first_name: str | None = None
    bot_id: int | None = None
    token: str | None = None
    strict_html: bool | None = None
    privacy_mode: bool | None = None
    callback_timeout: float | None = None
    limits: LimitsPatch | None = None


class ResetIn(_In):
    """Reset the state (and the configuration to the startup one, unless keep_config)."""

    keep_config: bool = False


# ---- simulated users and chats -------------------------------------------------------------


class NewUser(_In):
    """A simulated Telegram user (their private chat with the bot has the same id)."""

    id: int | None = None
    first_name: str = "Test"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    started: bool = False


class UserInfo(BaseModel):
    """A simulated user as the emulator holds them."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    started: bool
    blocked: bool


class NewGroup(_In):
    """A simulated group chat (negative id) with some members."""

    id: int | None = None
    title: str
    members: list[int] = Field(default_factory=list)
    username: str | None = None
    type: Literal["group", "supergroup"] = "group"


class ChatInfo(BaseModel):
    """A chat as the emulator holds it."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    members: list[int] = Field(default_factory=list)


# ---- what users do ------------------------------------------------------------------------


class ActionIn(_In):
    """What a user does in a chat: `chat_id`, or their private chat with the bot."""

    chat_id: int | None = None


class UploadIn(ActionIn):
    """A user sends a file: real bytes (base64) or only a size."""

    data_b64: str | None = None
    size: int | None = Field(None, ge=0)


class TextIn(ActionIn):
    """A user sends text (a command too)."""

    text: str
    reply_to_message_id: int | None = None


class StartIn(_In):
    """A user presses Start, or opens a t.me/bot?start=PAYLOAD link."""

    payload: str | None = None


class ContactIn(ActionIn):
    """A user shares a contact (their own by default)."""

    phone_number: str
    first_name: str | None = None
    last_name: str | None = None
    contact_user_id: int | None = None
    own: bool = True


class DocumentIn(UploadIn):
    """A user sends a document."""

    file_name: str = "file.bin"
    mime_type: str | None = None
    caption: str | None = None


class PhotoIn(UploadIn):
    """A user sends a photo."""

    width: int = 1280
    height: int = 960
    caption: str | None = None


class StickerIn(ActionIn):
    """A user sends a sticker."""

    emoji: str = "👍"
    set_name: str | None = None


class LocationIn(ActionIn):
    """A user shares a location."""

    latitude: float
    longitude: float


class VoiceIn(UploadIn):
    """A user sends a voice note."""

    duration: int = 1
    mime_type: str = "audio/ogg"


class PressIn(ActionIn):
    """A user presses an inline button: by message and data, or by its text."""

    message_id: int | None = None
    data: str | None = None
    button_text: str | None = None
    force: bool = False


class UpdateRef(BaseModel):
    """What a user action produced: update id (None if not delivered) and related ids."""

    update_id: int | None = None
    message_id: int | None = None
    callback_query_id: str | None = None
    file_id: str | None = None


# ---- what the bot did ---------------------------------------------------------------------


class FileInfo(BaseModel):
    """A stored file."""

    file_id: str
    file_unique_id: str
    kind: str
    file_size: int
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    has_bytes: bool = True


class SentMessage(BaseModel):
    """A message the bot sent (or, in a transcript, a user sent), in its current state."""

    chat_id: int
    message_id: int
    date: int
    kind: str
    method: str
    text: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = Field(default_factory=list)
    caption: str | None = None
    raw_caption: str | None = None
    caption_entities: list[dict[str, Any]] = Field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    files: list[FileInfo] = Field(default_factory=list)
    edits: int = 0
    deleted: bool = False
    media_group_id: str | None = None
    reply_to_message_id: int | None = None
    forwarded: bool = False
    from_bot: bool = True
    sender_id: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)  # e.g. a shared contact

    def buttons(self) -> list[dict[str, Any]]:
        """The inline buttons, row after row."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard") or []
        return [button for row in rows for button in row]

    def button_texts(self) -> list[str]:
        """The labels of the buttons."""
        return [str(b.get("text", "")) for b in self.buttons()]


class MessagesResult(BaseModel):
    """Messages the bot sent to a chat; complete=False if the wait timed out first."""

    messages: list[SentMessage]
    complete: bool = True


class CallbackAnswer(BaseModel):
    """The bot's answerCallbackQuery."""

    callback_query_id: str
    user_id: int
    chat_id: int | None = None
    message_id: int | None = None
    data: str | None = None
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


class CallbackAnswers(BaseModel):
    """Answers so far; complete=False if the wait timed out first."""

    answers: list[CallbackAnswer]
    complete: bool = True


class CommandSet(BaseModel):
    """Commands set for one scope and language."""

    scope: dict[str, Any]
    language_code: str = ""
    commands: list[dict[str, str]]


class CallRecord(BaseModel):
    """One Bot API call and its outcome."""

    seq: int
    time: float
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: int
    ok: bool
    description: str | None = None
    fault: str | None = None


class ApiWarning(BaseModel):
    """A call Telegram would accept but that is almost certainly a mistake."""

    method: str
    param: str
    reason: str = "unknown parameter"


class QueueState(BaseModel):
    """The update queue and polling."""

    pending_update_count: int
    confirmed_offset: int
    last_update_id: int
    webhook_url: str = ""
    allowed_updates: list[str] | None = None
    polling: bool = False
    calls: int = 0
    complete: bool = True


# ---- faults -------------------------------------------------------------------------------


class FaultIn(_In):
    """The next `times` calls of `method` (to `chat_id`, if given) fail this way.

    error: an HTTP status (429, 403, 400, 500, …); "timeout" (answer only after `delay`
    seconds, default 30); "reset" (read the request, then reset the connection without an
    answer); "html" (answer 200 with an HTML page, as a proxy or captive portal does).
    `deliver`: carry the call out before failing (outcome unknown). `migrate_to_chat_id`
    (with error 400): the group became this supergroup, as Telegram says it. `method` "*"
    matches every method; with `rate`, each matching call fails with that probability, until
    `times` have failed.
    """

    method: str
    chat_id: int | None = None
    error: int | Literal["timeout", "reset", "html"]
    migrate_to_chat_id: int | None = None
    times: int = Field(1, ge=1)
    retry_after: int | None = Field(None, ge=1)
    description: str | None = None
    delay: float | None = Field(None, ge=0)
    deliver: bool = False
    rate: float | None = Field(None, gt=0, le=1)


class Fault(FaultIn):
    """An injected fault and how many calls it still affects."""

    id: int
    remaining: int


class FaultEvent(BaseModel):
    """A fault injected, triggered by a call, or cleared."""

    time: float
    action: Literal["injected", "triggered", "cleared"]
    fault_id: int
    method: str
    chat_id: int | None = None
    error: int | str


class FaultsState(BaseModel):
    """Active faults and the history of injections and triggers."""

    active: list[Fault]
    history: list[FaultEvent]
