"""TELEGRAM_PROXY carries every call to the Bot API, file downloads included.

The Bot API (the emulator) is addressed by a name only the proxy can resolve, so nothing can
reach it except through the proxy; each proxy counts the requests it carried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.app import build_application
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from storage.db import Database
from tests.support.proxies import API_HOST, HttpProxy, Socks5Proxy, carried_methods
from tests.support.settings import TEST_TOKEN, emulated_settings


@pytest.fixture(params=["http", "socks5"])
async def proxy(request: pytest.FixtureRequest) -> AsyncIterator[HttpProxy | Socks5Proxy]:
    server: HttpProxy | Socks5Proxy = (
        HttpProxy(hosts={API_HOST: "127.0.0.1"})
        if request.param == "http"
        else Socks5Proxy(hosts={API_HOST: "127.0.0.1"})
    )
    await server.start()
    yield server
    await server.close()


async def test_every_call_and_download_goes_through_the_proxy(
    proxy: HttpProxy | Socks5Proxy,
    emulator: Emulator,
    sandbox: SandboxClient,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    port = urlsplit(emulator.base_url).port
    api_url = f"http://{API_HOST}:{port}"
    settings = emulated_settings(sqlite_url, api_url, tmp_path, telegram_proxy=proxy.url)
    services = Services(settings=settings, db=Database(sqlite_url))
    app = build_application(services)
    await app.initialize()  # getMe
    try:
        await sandbox.add_user(user_id=501, first_name="张伟", language_code="zh-hans")
        content = b"%PDF-1.4 " + "年度工作计划".encode() * 2000
        await sandbox.send_document(
            501, file_name="计划.pdf", data=content, mime_type="application/pdf"
        )
        [update] = await app.bot.get_updates(timeout=0)
        assert update.message is not None
        assert update.message.document is not None
        found = await app.bot.get_file(update.message.document.file_id)
        # As the bot keeps a submitted file: through the bot's own request object.
        assert bytes(await found.download_as_bytearray()) == content
        await found.download_to_drive(tmp_path / "计划.pdf")
        assert (tmp_path / "计划.pdf").read_bytes() == content
        await app.bot.send_message(501, "收到")
    finally:
        await app.shutdown()
        await services.close()

    seen_by_api = [c.method for c in await sandbox.calls()]
    assert seen_by_api == ["getMe", "getUpdates", "getFile", "sendMessage"]
    assert carried_methods(proxy.requests) == [
        "getMe", "getUpdates", "getFile", "file", "file", "sendMessage",
    ]  # fmt: skip
    assert all(f"/bot{TEST_TOKEN}/" in r or "/file/bot" in r for r in proxy.requests)
