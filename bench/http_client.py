"""The bot's aiohttp request against PTB's default httpx request, on the local emulator.

Both send the same sendMessage calls to the same emulator in the same run, sequentially and
with 32 in flight; the figure is the ratio of calls per second, aiohttp over httpx.
"""

from __future__ import annotations

import asyncio
import time

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.sandbox.models import NewUser
from bot.sandbox.server import Emulator
from bot.transport.request import AiohttpRequest

TOKEN = "777000:BENCH-TOKEN-abcdefghijklmnopqrst"
CALLS = 600
USERS = 100


async def calls_per_second(emulator: Emulator, request: BaseRequest, concurrency: int) -> float:
    bot = Bot(
        TOKEN,
        base_url=f"{emulator.base_url}/bot",
        base_file_url=f"{emulator.base_url}/file/bot",
        request=request,
    )
    async with bot:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with semaphore:
                await bot.send_message(1000 + n % USERS, f"第{n}条通知")

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(CALLS)))
        return CALLS / (time.perf_counter() - started)


async def run() -> None:
    emulator = Emulator(token=TOKEN, rate_limits=False)
    await emulator.start()
    try:
        for user in range(USERS):
            emulator.state.add_user(NewUser(id=1000 + user, first_name=f"u{user}", started=True))
        print(f"HTTP client: {CALLS} sendMessage calls to the local emulator")
        for concurrency in (1, 32):
            httpx_rate = await calls_per_second(
                emulator, HTTPXRequest(connection_pool_size=concurrency), concurrency
            )
            aiohttp_rate = await calls_per_second(
                emulator, AiohttpRequest(connection_pool_size=concurrency), concurrency
            )
            print(
                f"  {concurrency:>2} in flight: httpx {httpx_rate:7.0f}/s, "
                f"aiohttp {aiohttp_rate:7.0f}/s, ratio {aiohttp_rate / httpx_rate:.2f}x"
            )
    finally:
        await emulator.stop()
