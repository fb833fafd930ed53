"""`run --webhook URL`: Telegram's POST is answered only once handled; a repeat is skipped."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from bot.sandbox.client import SandboxClient
from bot.transport.webhook import SECRET_HEADER, webhook_secret
from tests.support.messages import says
from tests.support.network import free_port
from tests.support.process import TOKEN, BotProcess
from tests.support.waiting import eventually


def help_update(update_id: int, user_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_780_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "李"},
            "from": {"id": user_id, "is_bot": False, "first_name": "李", "language_code": "zh"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_webhook_updates_are_handled_once(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    bot = make_bot()
    await bot.start("--webhook", url, "--port", str(port))

    async def webhook_set() -> bool:
        return (await sandbox.state()).webhook_url == url

    await eventually(webhook_set, seconds=5)
    await sandbox.add_user(user_id=3001, first_name="李", language_code="zh-hans", started=True)
    headers = {SECRET_HEADER: webhook_secret(TOKEN)}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=help_update(77, 3001)) as refused:
            assert refused.status == 403
        for _ in range(2):  # Telegram sends again when it is unsure
            async with http.post(url, json=help_update(77, 3001), headers=headers) as answer:
                assert answer.status == 200
    messages = await sandbox.messages(3001)
    assert len(messages) == 1
    assert says(messages[0].text, "start.welcome")
