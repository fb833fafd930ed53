"""Broadcast pacing: as fast as Telegram allows and no faster.

The emulator enforces an overall rate R (Telegram's 30 a second, scaled up so 3,000 messages
take seconds); the bot's dispatcher is told the same rate (SEND_RATE_GLOBAL). One broadcast
to 3,000 liaisons, each in a chat of their own, is queued through the bot's /broadcast
use-case and delivered by `liaison-bot run --no-updates`: one process on SQLite, and one and
two processes sharing one PostgreSQL database. Figures: the achieved rate over R (from the
first message to the last), messages lost, duplicated, and the 429s Telegram answered.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path

from bench.delivery import (
    LIAISONS,
    office,
    queue_broadcast,
    settled,
    tally,
)
from bench.support import (
    Answers,
    BotRun,
    postgres_base,
    temporary_database,
)
from bot.sandbox.limits import Limits

TEXT = "关于报送双拥工作资料台账的通知（压测）"
HEADROOM = 0.97


async def one_run(
    label: str, database_url: str, workdir: Path, *, messages: int, rate: int, processes: int
) -> str:
    """One broadcast of `messages` through `processes` dispatchers; the line of figures."""
    async with office(database_url, messages, limits=Limits(global_per_second=rate)) as seeded:
        emulator, services = seeded.emulator, seeded.services
        bots: list[BotRun] = []
        answers = Answers(emulator)
        try:
            for n in range(processes):
                bot = seeded.bot(
                    workdir,
                    name=f"{label}-dispatcher{n + 1}",
                    no_updates=True,
                    # Told a little less than R: requests reach Telegram a little unevenly.
                    SEND_RATE_GLOBAL=f"{rate * HEADROOM:g}",
                )
                await bot.start()
                bots.append(bot)
            chats = [LIAISONS + n for n in range(messages)]
            started = time.perf_counter()
            await queue_broadcast(services, emulator, TEXT)
            if not await settled(services, seconds=30 + 3 * messages / rate):
                raise RuntimeError(f"{label}: the outbox did not empty")
            sends = sorted(t for chat in chats for t in answers.messages.get(chat, []))
            span = sends[-1] - sends[0] if len(sends) > 1 else float("nan")
            achieved = (len(sends) - 1) / span
            found = await tally(services, emulator, chats, TEXT, "broadcast")
            attempts = len(sends) + answers.throttled
            return (
                f"{label:24} {achieved:6.1f}/s of R={rate}: {achieved / rate:.2f} R; "
                f"{found.lost} lost, {found.duplicated} duplicated, {found.unknown} unknown; "
                f"429s {answers.throttled} ({100 * answers.throttled / attempts:.2f}% of sends); "
                f"{time.perf_counter() - started:.1f} s in all"
            )
        finally:
            answers.close()
            for bot in bots:
                await bot.stop()


async def run(*, messages: int = 3_000, rate: int = 100) -> list[str]:
    """SQLite with one dispatcher; PostgreSQL with one and with two."""
    print(f"Broadcast pacing: {messages} messages, the emulator enforcing R = {rate}/s")
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        # An empty URL: a database of its own on the PostgreSQL server, dropped after the run.
        runs: list[tuple[str, str, int]] = [
            ("sqlite, 1 process", f"sqlite+aiosqlite:///{tmp}/pacing.db", 1)
        ]
        if postgres_base():
            for processes in (1, 2):
                runs.append(
                    (f"postgresql, {processes} process" + "es" * (processes > 1), "", processes)
                )
        else:
            print("  PostgreSQL: skipped (set TEST_POSTGRES_URL, or make bench)")
        for label, given, processes in runs:
            database: AbstractAsyncContextManager[str] = (
                nullcontext(given) if given else temporary_database(postgres_base())
            )
            async with database as url:
                line = await one_run(
                    label.split(",")[0],
                    url,
                    Path(tmp) / f"{label.split(',')[0]}-{processes}",
                    messages=messages,
                    rate=rate,
                    processes=processes,
                )
            line = f"{label:22} {line.split(' ', 1)[1].strip()}"
            print("  " + line, flush=True)
            lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pacing", description=__doc__)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=100, help="R, the emulator's limit a second")
    args = parser.parse_args(argv)
    asyncio.run(run(messages=args.messages, rate=args.rate))


if __name__ == "__main__":
    main()
