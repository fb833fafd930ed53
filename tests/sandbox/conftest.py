"""Fixtures: an in-process emulator, its control client, raw Bot API calls, a PTB Bot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import telegram

from bot.sandbox.client import SandboxClient
from bot.sandbox.models import UserInfo
from bot.sandbox.server import Emulator

TOKEN = "123456789:AAF-sandbox_test_token_0123456789"


@dataclass
class Reply:
    """A raw Bot API answer."""

    status: int
    body: dict[str, Any]

    @property
    def description(self) -> str:
        """The error description ('' on success)."""
        return str(self.body.get("description", ""))

    @property
    def result(self) -> Any:
        """The result of a successful call."""
        assert self.body.get("ok") is True, self.body
        return self.body["result"]


class RawApi:
    """Calls the Bot API directly: JSON by default, or form-encoded, multipart, query string."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str = TOKEN):
        self.session = session
        self.base_url = base_url
        self.token = token

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        as_form: bool = False,
        files: dict[str, tuple[str, bytes]] | None = None,
        token: str | None = None,
        http_method: str = "POST",
    ) -> Reply:
        """One call; objects are JSON-encoded into strings for form and multipart bodies."""
        url = f"{self.base_url}/bot{token or self.token}/{method}"
        params = params or {}
        kwargs: dict[str, Any] = {}
        if http_method == "GET":
            kwargs["params"] = {k: _form_value(v) for k, v in params.items()}
        elif files:
            form = aiohttp.FormData()
            for key, value in params.items():
                form.add_field(key, _form_value(value))
            for key, (name, data) in files.items():
                form.add_field(key, data, filename=name, content_type="application/octet-stream")
            kwargs["data"] = form
        elif as_form:
            kwargs["data"] = {k: _form_value(v) for k, v in params.items()}
        else:
            kwargs["json"] = params
        async with self.session.request(http_method, url, **kwargs) as response:
            return Reply(response.status, await response.json())


def _form_value(value: Any) -> str:
    """How a client puts a value in a form: strings as is, the rest JSON-encoded."""
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator on a free loopback port."""
    emu = Emulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def sb(emulator: Emulator) -> AsyncIterator[SandboxClient]:
    """The control client."""
    async with SandboxClient(emulator.base_url) as client:
        yield client


@pytest.fixture
async def api(emulator: Emulator) -> AsyncIterator[RawApi]:
    """Raw Bot API calls."""
    async with aiohttp.ClientSession() as session:
        yield RawApi(session, emulator.base_url)


@pytest.fixture
async def user(sb: SandboxClient) -> UserInfo:
    """A user who has started the bot."""
    return await sb.add_user(first_name="Alice", language_code="zh-hans", started=True)


@pytest.fixture
async def bot(emulator: Emulator) -> AsyncIterator[telegram.Bot]:
    """python-telegram-bot's Bot pointed at the emulator (default httpx request)."""
    ptb = telegram.Bot(TOKEN, base_url=emulator.api_url, base_file_url=emulator.file_url)
    await ptb.initialize()
    try:
        yield ptb
    finally:
        await ptb.shutdown()
