"""The bot reaches the Bot API over TLS through a proxy: CONNECT, and an https:// proxy."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import trustme

from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from tests.support.process import BotProcess
from tests.support.proxies import API_HOST, HttpProxy, TlsFront, carried_methods


def _certified(host: str, folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server's TLS context with a certificate for `host`, and the file of the authority
    that signed it (the bot trusts it through SSL_CERT_FILE)."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(host).configure_cert(server_context)
    trusted = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(trusted))
    return server_context, trusted


async def _welcomed(bot: BotProcess, sandbox: SandboxClient, user_id: int, name: str) -> None:
    """Start the bot, have a new person press Start, see the welcome arrive, stop the bot."""
    await bot.start()
    await sandbox.add_user(user_id=user_id, first_name=name, language_code="zh-hans")
    await sandbox.start(user_id)
    [welcome] = await sandbox.wait_messages(user_id, 1, timeout=30)
    assert "市双拥办联络机器人" in (welcome.text or "")
    await bot.stop()


async def test_a_bot_process_reaches_an_https_api_through_connect(
    make_bot: Callable[..., BotProcess],
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
) -> None:
    """`run` with TELEGRAM_PROXY=http://…: TLS to the Bot API inside the proxy's tunnel."""
    server_context, trusted = _certified(API_HOST, tmp_path)
    front = TlsFront(ssl_context=server_context, target_port=urlsplit(emulator.base_url).port or 0)
    proxy = HttpProxy(hosts={API_HOST: "127.0.0.1"})
    await front.start()
    await proxy.start()
    try:
        bot = make_bot(
            TELEGRAM_API_URL=f"https://{API_HOST}:{front.port}",
            TELEGRAM_PROXY=proxy.url,
            SSL_CERT_FILE=str(trusted),
        )
        await _welcomed(bot, sandbox, 601, "李娜")
    finally:
        await proxy.close()
        await front.close()

    assert proxy.requests == []  # an https:// API is reached through CONNECT only
    assert proxy.tunnels
    assert set(proxy.tunnels) == {f"{API_HOST}:{front.port}"}
    seen_by_api = Counter(c.method for c in await sandbox.calls())
    came_through = Counter(carried_methods(front.requests))
    assert seen_by_api["sendMessage"] >= 1
    assert seen_by_api <= came_through  # every call the API answered came through the tunnel


async def test_a_bot_process_reaches_the_api_through_an_https_proxy(
    make_bot: Callable[..., BotProcess],
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
) -> None:
    """`run` with TELEGRAM_PROXY=https://…: TLS to the proxy itself, every call through it."""
    proxy_context, trusted = _certified("127.0.0.1", tmp_path)
    proxy = HttpProxy(ssl_context=proxy_context)
    await proxy.start()
    try:
        bot = make_bot(
            TELEGRAM_PROXY=f"https://127.0.0.1:{proxy.port}",
            SSL_CERT_FILE=str(trusted),
        )
        await _welcomed(bot, sandbox, 602, "王芳")
    finally:
        await proxy.close()

    carried = Counter(target.split("/")[-1] for target in proxy.requests)
    seen_by_api = Counter(c.method for c in await sandbox.calls())
    assert carried["sendMessage"] >= 1
    assert carried["getUpdates"] >= 1
    assert seen_by_api <= carried  # every call the API answered came through the proxy
