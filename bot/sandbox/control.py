"""The control API under /_control/: tests and benchmarks drive users and inspect the bot."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.sandbox import models
from bot.sandbox.errors import ControlError
from bot.sandbox.state import SandboxState

if TYPE_CHECKING:
    from bot.sandbox.server import Emulator

PREFIX = "/_control"
MAX_WAIT = 300.0
_dumps = functools.partial(json.dumps, ensure_ascii=False)
M = TypeVar("M", bound=BaseModel)

# What a user can do (`POST /users/{id}/{action}`): the body it takes, and the state's method.
_USER_ACTIONS: dict[
    str, tuple[type[BaseModel], Callable[[SandboxState, int, Any], models.UpdateRef]]
] = {
    "text": (models.TextIn, SandboxState.send_text),
    "start": (models.StartIn, SandboxState.start),
    "contact": (models.ContactIn, SandboxState.share_contact),
    "document": (models.DocumentIn, SandboxState.send_document),
    "photo": (models.PhotoIn, SandboxState.send_photo),
    "sticker": (models.StickerIn, SandboxState.send_sticker),
    "location": (models.LocationIn, SandboxState.send_location),
    "voice": (models.VoiceIn, SandboxState.send_voice),
    "press": (models.PressIn, SandboxState.press),
}
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(
    data: BaseModel | Sequence[BaseModel] | dict[str, Any], status: int = 200
) -> web.Response:
    """A model, a list of models or a dict as a JSON response."""
    payload: Any
    if isinstance(data, BaseModel):
        payload = data.model_dump(mode="json")
    elif isinstance(data, dict):
        payload = data
    else:
        payload = [item.model_dump(mode="json") for item in data]
    return web.json_response(payload, status=status, dumps=_dumps)


def _guarded(handler: RouteHandler) -> RouteHandler:
    """Turn control errors and invalid bodies into `{"error": ...}` answers."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as err:
            return _json({"error": err.message}, err.status)
        except ValidationError as err:
            return _json({"error": str(err)}, 400)
        except ValueError as err:
            return _json({"error": str(err)}, 400)

    return wrapper


async def _body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as `model` (an empty body is `{}`)."""
    raw = await request.read()
    data = json.loads(raw) if raw.strip() else {}
    return model.model_validate(data)


def _int(request: web.Request, name: str) -> int:
    """An integer from the path."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ControlError(f"{name} must be an integer") from None


def _query_int(request: web.Request, name: str, default: int) -> int:
    """An integer from the query string."""
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise ControlError(f"{name} must be an integer") from None


def _timeout(request: web.Request) -> float:
    """The wait of a long-polling control request, in seconds."""
    try:
        return min(float(request.query.get("timeout", 0)), MAX_WAIT)
    except ValueError:
        raise ControlError("timeout must be a number") from None


class ControlApi:
    """Routes of the control API."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    @property
    def state(self) -> SandboxState:
        """The emulator's state."""
        return self.emulator.state

    def register(self, router: web.UrlDispatcher) -> None:
        """Add every control route."""
        routes: list[tuple[str, str, RouteHandler]] = [
            ("GET", "/health", self.health),
            ("POST", "/reset", self.reset),
            ("GET", "/config", self.get_config),
            ("PATCH", "/config", self.patch_config),
            ("POST", "/config", self.patch_config),
            ("GET", "/users", self.list_users),
            ("POST", "/users", self.add_user),
            ("GET", "/users/{user_id}", self.get_user),
            ("POST", "/users/{user_id}/block", self.block),
            ("POST", "/users/{user_id}/unblock", self.unblock),
            ("POST", "/users/{user_id}/{action}", self.user_action),
            ("GET", "/chats", self.list_chats),
            ("POST", "/groups", self.add_group),
            ("GET", "/chats/{chat_id}/messages", self.messages),
            ("GET", "/callback_answers", self.callback_answers),
            ("GET", "/commands", self.commands),
            ("GET", "/calls", self.calls),
            ("GET", "/warnings", self.warnings),
            ("DELETE", "/warnings", self.clear_warnings),
            ("GET", "/state", self.queue_state),
            ("GET", "/faults", self.faults),
            ("POST", "/faults", self.inject_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/files/{file_id}", self.file_bytes),
        ]
        for method, path, handler in routes:
            router.add_route(method, PREFIX + path, _guarded(handler))

    async def health(self, request: web.Request) -> web.Response:
        """Liveness, and the spec version."""
        return _json({"ok": True, "spec": self.emulator.spec.version})

    async def reset(self, request: web.Request) -> web.Response:
        """Forget every user, chat, message, file, update, log and fault."""
        body = await _body(request, models.ResetIn)
        self.emulator.reset(keep_config=body.keep_config)
        return _json(self.state.config)

    async def get_config(self, request: web.Request) -> web.Response:
        """The current configuration."""
        return _json(self.state.config)

    async def patch_config(self, request: web.Request) -> web.Response:
        """Change some settings."""
        patch = await _body(request, models.ConfigPatch)
        return _json(self.emulator.configure(patch))

    async def list_users(self, request: web.Request) -> web.Response:
        """Every simulated user."""
        return _json([user.info() for user in self.state.users.values()])

    async def add_user(self, request: web.Request) -> web.Response:
        """Create a user."""
        body = await _body(request, models.NewUser)
        return _json(self.state.add_user(body).info(), 201)

    async def get_user(self, request: web.Request) -> web.Response:
        """One user."""
        return _json(self.state.user(_int(request, "user_id")).info())

    async def block(self, request: web.Request) -> web.Response:
        """The user blocks the bot."""
        return _json(self.state.set_blocked(_int(request, "user_id"), True))

    async def unblock(self, request: web.Request) -> web.Response:
        """The user unblocks the bot."""
        return _json(self.state.set_blocked(_int(request, "user_id"), False))

    async def user_action(self, request: web.Request) -> web.Response:
        """The user sends text, a contact, a file … or presses a button."""
        user_id = _int(request, "user_id")
        state = self.state
        action = request.match_info["action"]
        if action not in _USER_ACTIONS:
            raise ControlError(f"unknown action {action!r}", status=404)
        model, act = _USER_ACTIONS[action]
        ref = act(state, user_id, await _body(request, model))
        return _json(ref)

    async def list_chats(self, request: web.Request) -> web.Response:
        """Every chat (private and groups)."""
        return _json([chat.info() for chat in self.state.chats.values()])

    async def add_group(self, request: web.Request) -> web.Response:
        """Create a group chat."""
        body = await _body(request, models.NewGroup)
        return _json(self.state.add_group(body).info(), 201)

    async def messages(self, request: web.Request) -> web.Response:
        """The bot's messages in a chat (`?everyone=1`: the users' too, as a transcript); waits
        for at least min_count of the bot's up to timeout seconds."""
        chat = self.state.chat(_int(request, "chat_id"))
        min_count = _query_int(request, "min_count", 0)
        everyone = request.query.get("everyone", "").lower() in ("1", "true")

        def sent() -> list[models.SentMessage]:
            records = sorted(chat.messages.values(), key=lambda r: r.message_id)
            return [r.info() for r in records if r.from_bot or everyone]

        complete = await self.state.wait_for(
            lambda: sum(1 for r in chat.messages.values() if r.from_bot) >= min_count,
            _timeout(request),
        )
        return _json(models.MessagesResult(messages=sent(), complete=complete))

    async def callback_answers(self, request: web.Request) -> web.Response:
        """The bot's answerCallbackQuery calls; waits for at least min_count."""
        min_count = _query_int(request, "min_count", 0)
        complete = await self.state.wait_for(
            lambda: len(self.state.callback_answers) >= min_count, _timeout(request)
        )
        answers = list(self.state.callback_answers)
        return _json(models.CallbackAnswers(answers=answers, complete=complete))

    async def commands(self, request: web.Request) -> web.Response:
        """Command lists per scope and language."""
        return _json(list(self.state.commands.values()))

    async def calls(self, request: web.Request) -> web.Response:
        """The Bot API calls log (filter: method, since=seq)."""
        method = request.query.get("method", "").lower()
        since = _query_int(request, "since", 0)
        found = [
            c
            for c in self.state.calls
            if c.seq > since and (not method or c.method.lower() == method)
        ]
        return _json(found)

    async def warnings(self, request: web.Request) -> web.Response:
        """Calls Telegram would take but that are almost surely mistakes."""
        return _json(self.state.warnings)

    async def clear_warnings(self, request: web.Request) -> web.Response:
        """Forget the warnings."""
        self.state.warnings.clear()
        return _json([])

    async def queue_state(self, request: web.Request) -> web.Response:
        """Pending updates and offsets; wait_confirmed=N waits until update N is confirmed."""
        state = self.state
        wanted = _query_int(request, "wait_confirmed", 0)
        complete = await state.wait_for(
            lambda: state.confirmed_offset > wanted, _timeout(request) if wanted else 0
        )
        return _json(state.queue_state().model_copy(update={"complete": complete}))

    async def faults(self, request: web.Request) -> web.Response:
        """Active faults and their history."""
        return _json(self._faults_state())

    async def inject_fault(self, request: web.Request) -> web.Response:
        """Make the next matching calls fail."""
        spec = await _body(request, models.FaultIn)
        if self.emulator.spec.resolve(spec.method) is None:
            raise ControlError(f"no Bot API method {spec.method!r}")
        return _json(self.state.inject_fault(spec).info(), 201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Drop every active fault."""
        self.state.clear_faults()
        return _json(self._faults_state())

    def _faults_state(self) -> models.FaultsState:
        """Faults as the control API shows them."""
        state = self.state
        return models.FaultsState(
            active=[rule.info() for rule in state.faults if rule.remaining > 0],
            history=list(state.fault_history),
        )

    async def file_bytes(self, request: web.Request) -> web.Response:
        """The bytes of a stored file (one the bot uploaded, or a user sent)."""
        stored = self.state.files.get(request.match_info["file_id"])
        if stored is None:
            raise ControlError("unknown file_id", status=404)
        return web.Response(body=stored.content(), content_type="application/octet-stream")
