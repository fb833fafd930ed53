"""HTTP to the Bot API: an aiohttp `BaseRequest`, and a limiter that waits out a 429."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


class Observer(Protocol):
    """Told how each Bot API call ended (the health check and the metrics)."""

    def api_answer(self, url: str, status: int | None) -> None: ...

    def reply(self, endpoint: str, outcome: str) -> None: ...


class NotSent(NetworkError):
    """The request never reached the server (no connection): sending again is safe."""


class MaybeSent(TimedOut):
    """The request was written but its answer never came: Telegram may have acted on it."""


class AiohttpRequest(BaseRequest):
    """One keep-alive aiohttp session; form-encoded parameters, multipart for files."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 32,
        read_timeout: float = 15.0,
        connect_timeout: float = 10.0,
        proxy: str | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._observer = observer
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        connector: aiohttp.BaseConnector
        if self._proxy and self._proxy.startswith("socks"):
            from aiohttp_socks import ProxyConnector

            connector = ProxyConnector.from_url(self._proxy, limit=self._pool_size)
        else:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
        self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            if request_data.contains_files:
                data = _multipart(request_data)
            else:
                data = request_data.json_parameters
        proxy = self._proxy if self._proxy and self._proxy.startswith("http") else None
        status: int | None = None
        try:
            async with self._session.request(
                method, url, data=data, timeout=timeout, proxy=proxy
            ) as response:
                body = await response.read()
                status = response.status
                return status, body
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            # No connection was made (refused, unreachable, or the connect timed out).
            raise NotSent(f"not sent: {_what(err)}") from None
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as err:
            # Connected and written: the server may have acted before the answer was lost
            # (a read timeout, a reset, a disconnect).
            raise MaybeSent(f"maybe sent: {_what(err)}") from None
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp: {_what(err)}") from None
        finally:
            if self._observer is not None:
                self._observer.api_answer(url, status)


def _what(err: BaseException) -> str:
    """The error's kind and its OS-level reason, without the URL (which holds the token)."""
    reason = getattr(err, "os_error", None) or getattr(err, "strerror", None) or ""
    if not reason and isinstance(err, TimeoutError):
        reason = "timed out"
    return f"{err.__class__.__name__} {reason}".strip()


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        if isinstance(part, tuple):
            file_name, content, mime_type = (*part, None)[:3]
            form.add_field(name, content, filename=file_name, content_type=mime_type)
        else:
            form.add_field(name, part)
    return form


class PatientRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """Wait `retry_after` and send again on a 429, so a conversation reply is never dropped.

    Callers that pace themselves (the outbox dispatcher) pass `rate_limit_args={"retry": False}`
    and handle the 429 on their own.
    """

    def __init__(self, *, max_retries: int = 5, observer: Observer | None = None) -> None:
        self._max_retries = max_retries
        self._observer = observer

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        retry = rate_limit_args is None or rate_limit_args.get("retry", True)
        attempt = 0
        # The outbox counts its own sends; a reply is counted here by how it ended.
        told = self._observer.reply if self._observer is not None and retry else _ignore
        while True:
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                attempt += 1
                if not retry or attempt > self._max_retries:
                    told(endpoint, "throttled")
                    raise
                seconds = seconds_of(exc.retry_after)
                log.warning("429 on %s; waiting %ss before sending again", endpoint, seconds)
                await asyncio.sleep(seconds)
                continue
            except Forbidden:
                told(endpoint, "unreachable")
                raise
            except BadRequest as exc:
                if endpoint == "answerCallbackQuery" and _too_late(exc):
                    # A press handled late (after a restart or an outage): the spinner on the
                    # person's button has long stopped; the action itself stands.
                    log.info("button press answered too late: %s", exc.message)
                    told(endpoint, "late")
                    return True
                told(endpoint, "failed")
                raise
            except TelegramError:
                told(endpoint, "failed")
                raise
            told(endpoint, "sent")
            return result


def _too_late(exc: BadRequest) -> bool:
    text = exc.message.lower()
    return "query is too old" in text or "query id is invalid" in text


def _ignore(endpoint: str, outcome: str) -> None:
    return None


def seconds_of(value: object) -> float:
    """`RetryAfter.retry_after` in seconds (PTB gives an int or a timedelta)."""
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
