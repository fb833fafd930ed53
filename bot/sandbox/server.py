"""The emulator: an aiohttp server speaking the Bot API, plus the control API under /_control/."""

from __future__ import annotations

import functools
import json
import re
import socket
import struct
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.sandbox.botapi import BotApi, Call, Handler
from bot.sandbox.control import ControlApi
from bot.sandbox.errors import NOT_FOUND, UNAUTHORIZED, ApiError, bad_request
from bot.sandbox.limits import Limits
from bot.sandbox.models import Config, ConfigPatch
from bot.sandbox.records import FaultRule
from bot.sandbox.spec import ApiSpec, Upload
from bot.sandbox.state import SandboxState

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]{20,}$")
MAX_REQUEST = 64 * 1024 * 1024
_dumps = functools.partial(json.dumps, ensure_ascii=False)
_FAULT_TEXTS = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _summary(value: Any) -> Any:
    """A call parameter as the calls log keeps it (uploads and long strings shortened)."""
    if isinstance(value, Upload):
        return {"upload": value.filename or value.name, "size": len(value.data)}
    if isinstance(value, str) and len(value) > 500:
        return value[:500] + "…"
    if isinstance(value, list):
        return [_summary(v) for v in value]
    if isinstance(value, dict):
        return {k: _summary(v) for k, v in value.items()}
    return value


async def read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Parameters from the query string and a JSON, form-encoded or multipart body."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if not request.body_exists:
        return raw, uploads
    content_type = request.content_type
    try:
        if content_type == "application/json":
            body = await request.read()
            if body.strip():
                try:
                    data = json.loads(body)
                except ValueError:
                    raise bad_request("can't parse JSON object") from None
                if not isinstance(data, dict):
                    raise bad_request("JSON object expected")
                raw.update(data)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    upload = Upload(name, value.filename, value.content_type, value.file.read())
                    uploads[name] = upload
                    raw[name] = upload
                elif isinstance(value, bytes | bytearray):
                    # a part without a filename is a plain field, whatever its content type
                    raw[name] = bytes(value).decode("utf-8", "replace")
                else:
                    raw[name] = value
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request Entity Too Large") from None
    return raw, uploads


PROXY_PAGE = "<html><head><title>Proxy</title></head><body>Access denied</body></html>"


class _NoApiAnswer(Exception):
    """An injected fault answers with something other than the Bot API (a page, nothing)."""

    def __init__(self, response: web.Response | None) -> None:
        super().__init__("no Bot API answer")
        self.response = response


def _fault_error(rule: FaultRule) -> ApiError:
    """The error an injected fault answers with."""
    spec = rule.spec
    code = int(spec.error) if isinstance(spec.error, int) else 502
    if code == 429:
        retry_after = spec.retry_after or 5
        text = spec.description or f"Too Many Requests: retry after {retry_after}"
        return ApiError(429, text, retry_after=retry_after)
    if spec.migrate_to_chat_id is not None:
        text = spec.description or "Bad Request: group chat was upgraded to a supergroup chat"
        return ApiError(code, text, migrate_to_chat_id=spec.migrate_to_chat_id)
    text = spec.description or _FAULT_TEXTS.get(code, f"Error {code}")
    return ApiError(code, text)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset, without an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class Emulator:
    """A local Telegram Bot API for one bot, with state that tests drive and inspect."""

    def __init__(
        self,
        *,
        username: str = "liaison_demo_bot",
        first_name: str = "Liaison Demo Bot",
        token: str | None = None,
        rate_limits: bool | None = None,
        limits: Limits | None = None,
        strict_html: bool = True,
        privacy_mode: bool = True,
        callback_timeout: float | None = 15.0,
        spec: ApiSpec | None = None,
        max_log: int = 100_000,
    ) -> None:
        chosen = (limits or Limits()).model_copy()
        if rate_limits is not None:
            chosen.enabled = rate_limits
        self.initial_config = Config(
            username=username,
            first_name=first_name,
            token=token,
            strict_html=strict_html,
            privacy_mode=privacy_mode,
            callback_timeout=callback_timeout,
            limits=chosen,
        )
        if token is not None:
            match = TOKEN.match(token)
            if match is None:
                raise ValueError("token must look like 123456:ABC-DEF… (20+ characters after :)")
            self.initial_config.bot_id = int(match.group(1))
        self.spec = spec or ApiSpec.load()
        self.state = SandboxState(self.initial_config.model_copy(deep=True), max_log=max_log)
        self.api = BotApi(self.state)
        self.control = ControlApi(self)
        self.app = self._build_app()
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._address: tuple[str, int] = ("127.0.0.1", 0)

    # ---- lifecycle ----------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        """Routes: Bot API, file downloads, control API."""
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_route("*", "/bot{token}/{tail:.*}", self._bot_fallback)
        app.router.add_route("*", "/bot{token}", self._bot_fallback)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self.control.register(app.router)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self.state.closing = False
        sock = _listen(host, port)
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner, self._site = runner, site
        self._address = (host, sock.getsockname()[1])
        self.base_url = f"http://{host}:{self._address[1]}"
        return self.base_url

    async def go_offline(self) -> None:
        """Be unreachable: refuse new connections and drop open ones, until go_online()."""
        if self._runner is None or self._site is None:
            raise RuntimeError("the emulator is not running")
        await self._site.stop()
        self._site = None
        server = self._runner.server
        for handler in server.connections if server is not None else []:
            if handler.transport is not None:
                handler.transport.abort()

    async def go_online(self) -> None:
        """Take connections again on the same address."""
        if self._runner is None or self._site is not None:
            raise RuntimeError("the emulator is not offline")
        site = web.SockSite(self._runner, _listen(*self._address))
        await site.start()
        self._site = site

    async def stop(self) -> None:
        """Wake long polls and delayed answers, then close the server."""
        self.state.closing = True
        self.state.touch()
        if self._runner is not None:
            runner, self._runner, self._site = self._runner, None, None
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        """Start on a free loopback port."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()

    @property
    def api_url(self) -> str:
        """What python-telegram-bot takes as base_url (the token is appended)."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        """What python-telegram-bot takes as base_file_url."""
        return f"{self.base_url}/file/bot"

    # ---- configuration ------------------------------------------------------------------------

    def reset(self, *, keep_config: bool = False) -> None:
        """Forget everything; the configuration goes back to the startup one unless kept."""
        if not keep_config:
            self.state.config = self.initial_config.model_copy(deep=True)
            self.state.set_limits()
        self.state.clear()

    def configure(self, patch: ConfigPatch) -> Config:
        """Change settings; only the fields present in the patch."""
        config = self.state.config
        changes = patch.model_dump(exclude_unset=True)
        limit_changes = changes.pop("limits", None)
        if "token" in changes and changes["token"] is not None:
            match = TOKEN.match(changes["token"])
            if match is None:
                raise ValueError("token must look like 123456:ABC-DEF…")
            changes["bot_id"] = int(match.group(1))
        merged = config.model_copy(update=changes)
        if limit_changes:
            merged.limits = config.limits.model_copy(update=limit_changes)
        self.state.config = Config.model_validate(merged.model_dump())
        self.state.set_limits()
        return self.state.config

    # ---- the Bot API ----------------------------------------------------------------------------

    def _token_ok(self, token: str) -> bool:
        """Token format as Telegram's; the configured token if one is set."""
        expected = self.state.config.token
        if expected is not None:
            return token == expected
        return TOKEN.match(token) is not None

    async def _bot_api(self, request: web.Request) -> web.Response:
        """POST|GET /bot{token}/{method}."""
        token = request.match_info["token"]
        name = request.match_info["method"]
        if not self._token_ok(token):
            return self._answer(UNAUTHORIZED.payload(), 401)
        self.state.config.bot_id = int(token.split(":", 1)[0])
        method = self.spec.resolve(name)
        if method is None:
            self.state.log_call(name, {}, 404, NOT_FOUND.description, None)
            return self._answer(NOT_FOUND.payload(), 404)
        name = method.name
        summary: dict[str, Any] = {}
        fault_label: str | None = None
        try:
            raw, uploads = await read_params(request)
            summary = {k: _summary(v) for k, v in raw.items()}
            self.api.precheck(name, raw)
            checked = self.spec.check(method, raw, uploads)
            summary = {k: _summary(v) for k, v in checked.values.items()}
            summary.update({k: _summary(raw[k]) for k in checked.unknown if k in raw})
            for param in checked.unknown:
                self.state.warn(name, param)
            handler = self.api.handlers.get(name)
            if handler is None:
                self.state.warn(name, "", "method not implemented by the emulator")
                raise ApiError(501, f"Not Implemented: {name}")
            call = Call(method=name, params=checked.values, attachments=checked.attachments)
            rule = self.state.take_fault(name, checked.values.get("chat_id"))
            if rule is None:
                result = await handler(call)
            else:
                fault_label = f"#{rule.id} {rule.spec.error}"
                result = await self._faulty(rule, handler, call, request)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as err:
            body, status = err.payload(), err.code
        except _NoApiAnswer as answer:
            status = 200 if answer.response is not None else 0
            self.state.log_call(name, summary, status, "no Bot API answer", fault_label)
            # With no response to give, the connection is gone already; this one is not sent.
            return answer.response or web.Response()
        self.state.log_call(name, summary, status, body.get("description"), fault_label)
        return self._answer(body, status)

    async def _bot_fallback(self, request: web.Request) -> web.Response:
        """Any other path under /bot{token}: 401 for a bad token, else Telegram's 404."""
        if not self._token_ok(request.match_info["token"]):
            return self._answer(UNAUTHORIZED.payload(), 401)
        return self._answer(NOT_FOUND.payload(), 404)

    async def _faulty(
        self, rule: FaultRule, handler: Handler, call: Call, request: web.Request
    ) -> Any:
        """Answer as an injected fault says: late and/or failed, and maybe carried out."""
        spec = rule.spec
        outcome: Any = None
        error: ApiError | None = None
        if spec.deliver:
            try:
                outcome = await handler(call)
            except ApiError as err:
                error = err
        delay = spec.delay if spec.delay is not None else (30.0 if spec.error == "timeout" else 0)
        if delay > 0:
            await self.state.sleep(delay)
        if spec.error == "reset":
            _reset(request)
            raise _NoApiAnswer(None)
        if spec.error == "html":
            raise _NoApiAnswer(web.Response(text=PROXY_PAGE, content_type="text/html"))
        if error is not None:
            raise error
        if spec.error == "timeout" and spec.deliver:
            return outcome
        raise _fault_error(rule)

    @staticmethod
    def _answer(body: dict[str, Any], status: int) -> web.Response:
        """A JSON answer in Telegram's shape."""
        return web.json_response(body, status=status, dumps=_dumps)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """GET /file/bot{token}/{file_path}."""
        if not self._token_ok(request.match_info["token"]):
            return self._answer(UNAUTHORIZED.payload(), 401)
        stored = self.state.file_paths.get(request.match_info["path"])
        if stored is None:
            return self._answer(NOT_FOUND.payload(), 404)
        return web.Response(
            body=stored.content(), content_type=stored.mime_type or "application/octet-stream"
        )
