"""An async client for the emulator's control API: `async with SandboxClient(url) as sb: ...`."""

from __future__ import annotations

import base64
import json
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
from pydantic import BaseModel, TypeAdapter

from bot.sandbox import models
from bot.sandbox.errors import ControlError
from bot.sandbox.limits import Limits

M = TypeVar("M", bound=BaseModel)
_PREFIX = "/_control"


class SandboxError(ControlError):
    """The control API refused a request: the emulator's ControlError, as the client sees it."""

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


class SandboxTimeout(TimeoutError):
    """A wait_* call ran out of time; `got` holds what had arrived by then."""

    def __init__(self, message: str, got: Any) -> None:
        super().__init__(message)
        self.got = got


def _b64(data: bytes | None) -> str | None:
    """Bytes as base64 text (None stays None)."""
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    """Leave out arguments that were not given."""
    return {k: v for k, v in values.items() if v is not None}


class SandboxClient:
    """Drives simulated users and reads what the bot did, over HTTP (works across processes)."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SandboxClient:
        """Open the HTTP session."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the HTTP session."""
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- transport ------------------------------------------------------------------------------

    async def _raw(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        wait: float = 0.0,
    ) -> bytes:
        """One control request; the body bytes, or SandboxError."""
        if self._session is None:
            raise RuntimeError("use `async with SandboxClient(url) as sb:`")
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        timeout = aiohttp.ClientTimeout(total=self._timeout + wait)
        async with self._session.request(
            method, f"{self.base_url}{_PREFIX}{path}", json=body, params=query, timeout=timeout
        ) as response:
            data = await response.read()
            if response.status >= 400:
                try:
                    message = str(json.loads(data).get("error", data.decode()))
                except ValueError:
                    message = data.decode(errors="replace")
                raise SandboxError(message, status=response.status)
            return data

    async def _get(self, path: str, model: type[M], **params: Any) -> M:
        """GET and parse one model."""
        wait = float(params.get("timeout") or 0)
        return model.model_validate_json(await self._raw("GET", path, params=params, wait=wait))

    async def _list(self, path: str, model: type[M], **params: Any) -> list[M]:
        """GET and parse a list of models."""
        data = await self._raw("GET", path, params=params)
        return TypeAdapter(list[model]).validate_json(data)  # type: ignore[valid-type]

    async def _post(self, path: str, model: type[M], body: dict[str, Any] | None = None) -> M:
        """POST a JSON body and parse one model."""
        return model.model_validate_json(await self._raw("POST", path, body=body or {}))

    # ---- configuration --------------------------------------------------------------------------

    async def health(self) -> bool:
        """True when the emulator answers."""
        data = json.loads(await self._raw("GET", "/health"))
        return bool(data.get("ok"))

    async def reset(self, *, keep_config: bool = False) -> models.Config:
        """Forget everything (configuration back to the startup one unless keep_config)."""
        return await self._post("/reset", models.Config, {"keep_config": keep_config})

    async def config(self) -> models.Config:
        """The current configuration."""
        return await self._get("/config", models.Config)

    async def configure(
        self,
        *,
        username: str | None = None,
        first_name: str | None = None,
        strict_html: bool | None = None,
        privacy_mode: bool | None = None,
        callback_timeout: float | Literal["keep"] | None = "keep",
        rate_limits: bool | None = None,
    ) -> models.Config:
        """Change settings (callback_timeout=None switches the answer deadline off)."""
        body = _drop_none(
            {
                "username": username,
                "first_name": first_name,
                "strict_html": strict_html,
                "privacy_mode": privacy_mode,
            }
        )
        if callback_timeout != "keep":
            body["callback_timeout"] = callback_timeout
        if rate_limits is not None:
            body["limits"] = {"enabled": rate_limits}
        raw = await self._raw("PATCH", "/config", body=body)
        return models.Config.model_validate_json(raw)

    async def set_limits(
        self,
        *,
        enabled: bool | None = None,
        global_per_second: int | None = None,
        private_limit: int | None = None,
        private_window: float | None = None,
        group_limit: int | None = None,
        group_window: float | None = None,
        count_edits: bool | None = None,
    ) -> Limits:
        """Change rate limits (only what is given); returns the limits now in force."""
        limits = _drop_none(
            {
                "enabled": enabled,
                "global_per_second": global_per_second,
                "private_limit": private_limit,
                "private_window": private_window,
                "group_limit": group_limit,
                "group_window": group_window,
                "count_edits": count_edits,
            }
        )
        raw = await self._raw("PATCH", "/config", body={"limits": limits})
        return models.Config.model_validate_json(raw).limits

    # ---- users and chats -----------------------------------------------------------------------

    async def add_user(
        self,
        *,
        user_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = False,
    ) -> models.UserInfo:
        """Create a simulated user (private chat id = user id)."""
        body = {
            "id": user_id,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
            "started": started,
        }
        return await self._post("/users", models.UserInfo, body)

    async def user(self, user_id: int) -> models.UserInfo:
        """One simulated user as the emulator holds them."""
        return await self._get(f"/users/{user_id}", models.UserInfo)

    async def users(self) -> list[models.UserInfo]:
        """Every simulated user."""
        return await self._list("/users", models.UserInfo)

    async def add_group(
        self,
        title: str,
        members: list[int],
        *,
        chat_id: int | None = None,
        username: str | None = None,
        type: Literal["group", "supergroup"] = "group",
    ) -> models.ChatInfo:
        """Create a group chat (negative id) with existing users as members."""
        body = {
            "id": chat_id,
            "title": title,
            "members": members,
            "username": username,
            "type": type,
        }
        return await self._post("/groups", models.ChatInfo, body)

    async def chats(self) -> list[models.ChatInfo]:
        """Every chat."""
        return await self._list("/chats", models.ChatInfo)

    # ---- what users do -------------------------------------------------------------------------

    async def _act(self, user_id: int, action: str, body: dict[str, Any]) -> models.UpdateRef:
        """POST /users/{id}/{action}."""
        return await self._post(f"/users/{user_id}/{action}", models.UpdateRef, body)

    async def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
    ) -> int:
        """The user sends text; the update_id (0 if privacy mode kept a group message away)."""
        body = {"text": text, "chat_id": chat_id, "reply_to_message_id": reply_to_message_id}
        ref = await self._act(user_id, "text", body)
        return ref.update_id or 0

    async def start(self, user_id: int, payload: str | None = None) -> int:
        """The user presses Start (`/start PAYLOAD` with a deep-link payload); the update_id."""
        ref = await self._act(user_id, "start", {"payload": payload})
        return ref.update_id or 0

    async def share_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        own: bool = True,
        chat_id: int | None = None,
    ) -> int:
        """The user shares a contact (their own, with user_id, by default); the update_id."""
        body = {
            "phone_number": phone_number,
            "first_name": first_name,
            "last_name": last_name,
            "contact_user_id": contact_user_id,
            "own": own,
            "chat_id": chat_id,
        }
        return (await self._act(user_id, "contact", body)).update_id or 0

    async def send_document(
        self,
        user_id: int,
        *,
        file_name: str = "file.bin",
        data: bytes | None = None,
        size: int | None = None,
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> models.UpdateRef:
        """The user sends a file (bytes, or only a size); update_id, message_id and file_id."""
        body = {
            "file_name": file_name,
            "data_b64": _b64(data),
            "size": size,
            "mime_type": mime_type,
            "caption": caption,
            "chat_id": chat_id,
        }
        return await self._act(user_id, "document", body)

    async def send_photo(
        self,
        user_id: int,
        *,
        data: bytes | None = None,
        size: int | None = None,
        width: int = 1280,
        height: int = 960,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> models.UpdateRef:
        """The user sends a photo; file_id is the largest size's."""
        body = {
            "data_b64": _b64(data),
            "size": size,
            "width": width,
            "height": height,
            "caption": caption,
            "chat_id": chat_id,
        }
        return await self._act(user_id, "photo", body)

    async def send_sticker(
        self,
        user_id: int,
        *,
        emoji: str = "👍",
        set_name: str | None = None,
        chat_id: int | None = None,
    ) -> int:
        """The user sends a sticker; the update_id."""
        body = {"emoji": emoji, "set_name": set_name, "chat_id": chat_id}
        return (await self._act(user_id, "sticker", body)).update_id or 0

    async def send_location(
        self, user_id: int, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> int:
        """The user shares a location; the update_id."""
        body = {"latitude": latitude, "longitude": longitude, "chat_id": chat_id}
        return (await self._act(user_id, "location", body)).update_id or 0

    async def send_voice(
        self,
        user_id: int,
        *,
        duration: int = 1,
        data: bytes | None = None,
        size: int | None = None,
        chat_id: int | None = None,
    ) -> models.UpdateRef:
        """The user sends a voice note."""
        body = {"duration": duration, "data_b64": _b64(data), "size": size, "chat_id": chat_id}
        return await self._act(user_id, "voice", body)

    async def press(
        self,
        user_id: int,
        chat_id: int | None = None,
        message_id: int | None = None,
        data: str | None = None,
        button_text: str | None = None,
        *,
        force: bool = False,
    ) -> models.UpdateRef:
        """The user presses an inline button; update_id and callback_query_id."""
        body = {
            "chat_id": chat_id,
            "message_id": message_id,
            "data": data,
            "button_text": button_text,
            "force": force,
        }
        return await self._act(user_id, "press", body)

    async def block(self, user_id: int) -> int:
        """The user blocks the bot (my_chat_member update); its update_id."""
        ref = await self._post(f"/users/{user_id}/block", models.UpdateRef)
        return ref.update_id or 0

    async def unblock(self, user_id: int) -> int:
        """The user unblocks the bot; the update_id."""
        ref = await self._post(f"/users/{user_id}/unblock", models.UpdateRef)
        return ref.update_id or 0

    # ---- what the bot did --------------------------------------------------------------------

    async def messages(self, chat_id: int) -> list[models.SentMessage]:
        """The messages the bot sent to a chat, oldest first, in their current state."""
        result = await self._get(f"/chats/{chat_id}/messages", models.MessagesResult)
        return result.messages

    async def transcript(self, chat_id: int) -> list[models.SentMessage]:
        """Every message of a chat, the users' and the bot's, oldest first, as they are now."""
        result = await self._get(f"/chats/{chat_id}/messages", models.MessagesResult, everyone=1)
        return result.messages

    async def wait_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - a server-side wait, sent as a parameter
    ) -> list[models.SentMessage]:
        """Wait until the bot has sent at least `count` messages to the chat (SandboxTimeout)."""
        result = await self._get(
            f"/chats/{chat_id}/messages", models.MessagesResult, min_count=count, timeout=timeout
        )
        if not result.complete:
            texts = [m.text or m.caption or m.kind for m in result.messages]
            raise SandboxTimeout(
                f"chat {chat_id}: {len(result.messages)} of {count} messages after {timeout}s: "
                f"{texts!r}",
                result.messages,
            )
        return result.messages

    async def callback_answers(self) -> list[models.CallbackAnswer]:
        """The bot's answerCallbackQuery calls."""
        return (await self._get("/callback_answers", models.CallbackAnswers)).answers

    async def wait_callback_answers(
        self,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - a server-side wait, sent as a parameter
    ) -> list[models.CallbackAnswer]:
        """Wait for at least `count` callback answers (SandboxTimeout)."""
        result = await self._get(
            "/callback_answers", models.CallbackAnswers, min_count=count, timeout=timeout
        )
        if not result.complete:
            raise SandboxTimeout(f"{len(result.answers)} of {count} callback answers", result)
        return result.answers

    async def commands(self) -> list[models.CommandSet]:
        """Command lists the bot set, per scope and language."""
        return await self._list("/commands", models.CommandSet)

    async def calls(self, method: str | None = None, *, since: int = 0) -> list[models.CallRecord]:
        """The Bot API calls log (optionally one method, or after sequence number `since`)."""
        return await self._list("/calls", models.CallRecord, method=method, since=since)

    async def warnings(self) -> list[models.ApiWarning]:
        """Unknown parameters and unimplemented methods the bot used."""
        return await self._list("/warnings", models.ApiWarning)

    async def clear_warnings(self) -> None:
        """Forget the warnings."""
        await self._raw("DELETE", "/warnings")

    async def state(self) -> models.QueueState:
        """The update queue: pending count, confirmed offset, last update_id."""
        return await self._get("/state", models.QueueState)

    async def wait_confirmed(
        self,
        update_id: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - a server-side wait, sent as a parameter
    ) -> models.QueueState:
        """Wait until the bot has fetched and confirmed update `update_id` (SandboxTimeout)."""
        result = await self._get(
            "/state", models.QueueState, wait_confirmed=update_id, timeout=timeout
        )
        if not result.complete:
            raise SandboxTimeout(f"update {update_id} not confirmed after {timeout}s", result)
        return result

    async def file_bytes(self, file_id: str) -> bytes:
        """The bytes of a stored file (e.g. one the bot uploaded)."""
        return await self._raw("GET", f"/files/{file_id}")

    # ---- faults ---------------------------------------------------------------------------------

    async def inject_fault(
        self,
        method: str,
        error: int | Literal["timeout", "reset", "html"],
        *,
        chat_id: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        delay: float | None = None,
        deliver: bool = False,
        migrate_to_chat_id: int | None = None,
    ) -> models.Fault:
        """Make the next `times` calls of `method` (to `chat_id`) fail with `error`."""
        body = _drop_none(
            {
                "method": method,
                "error": error,
                "chat_id": chat_id,
                "times": times,
                "retry_after": retry_after,
                "description": description,
                "delay": delay,
                "deliver": deliver,
                "migrate_to_chat_id": migrate_to_chat_id,
            }
        )
        return await self._post("/faults", models.Fault, body)

    async def faults(self) -> models.FaultsState:
        """Active faults and the injection/trigger history."""
        return await self._get("/faults", models.FaultsState)

    async def clear_faults(self) -> models.FaultsState:
        """Drop every active fault."""
        return models.FaultsState.model_validate_json(await self._raw("DELETE", "/faults"))
