"""The crash suite (`make crash`): kill -9 at a random moment of a broadcast and of
conversations, restart, and count what was lost.

Each trial: a fresh database with 1,000 registered liaisons and 10 units whose liaisons are
registering through their invite links; the bot (`liaison-bot run`) starts, staff queue a
notice to every liaison, the ten people go through registration step by step, waiting for
each answer; at a random moment the bot is killed with SIGKILL and started again at once.
A person whose answer does not come (the bot was down, or its reply was lost with the
process) opens the link again and goes on, as a person would. Counted: notices lost (a
liaison without one, its outcome known), duplicated (a liaison with two), outcome unknown
(the process died while sending; never sent again by itself), and conversations that did
not end with the person registered as they entered themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bench.delivery import (
    LIAISONS,
    REGISTRANTS,
    Delivery,
    office,
    queue_broadcast,
    settled,
    tally,
)
from bench.support import Answers
from bot.sandbox.errors import ControlError
from bot.sandbox.limits import Limits
from bot.sandbox.models import PressIn, StartIn, TextIn
from bot.sandbox.server import Emulator
from bot.services import Services
from messages import plain
from storage.models import Person

TEXT = "关于开展双拥工作检查的通知（断电演练）"
NAME, POST, PHONE = "王芳", "办公室主任", "13995400102"
ANSWER_WAIT = 6.0  # seconds a person waits for an answer before opening the link again


@dataclass
class Trial:
    """What one trial found."""

    killed_after: float
    notices: Delivery
    conversations: int
    broken: int
    restarts: int  # links opened again by people whose answer did not come


@dataclass
class Totals:
    trials: list[Trial] = field(default_factory=list)

    def line(self) -> str:
        n = len(self.trials)
        return (
            f"{n} trials, kill -9 after {min(t.killed_after for t in self.trials):.1f}–"
            f"{max(t.killed_after for t in self.trials):.1f} s: notices "
            f"{sum(t.notices.meant for t in self.trials)} meant, "
            f"{sum(t.notices.lost for t in self.trials)} lost, "
            f"{sum(t.notices.duplicated for t in self.trials)} duplicated, "
            f"{sum(t.notices.unknown for t in self.trials)} outcome unknown "
            f"({sum(t.notices.unknown_delivered for t in self.trials)} of them delivered); "
            f"conversations {sum(t.conversations for t in self.trials)}, "
            f"{sum(t.broken for t in self.trials)} broken "
            f"({sum(t.restarts for t in self.trials)} links opened again)"
        )


async def register(
    emulator: Emulator, answers: Answers, user: int, token: str, rng: random.Random
) -> int:
    """Go through registration (a moment to think before each step), opening the link again
    whenever an answer does not come; return how often the link was opened again."""
    confirm, ok = plain("zh", "registration.button_confirm"), plain("zh", "registration.button_ok")
    steps: list[tuple[str, str, int, int]] = [
        ("start", token, 1, 0),
        ("press", confirm, 1, 1),
        ("text", NAME, 1, 0),
        ("text", POST, 1, 0),
        ("text", PHONE, 2, 0),
        ("press", ok, 1, 1),
    ]
    state, again, index = emulator.state, 0, 0
    deadline = time.monotonic() + 120
    while index < len(steps) and time.monotonic() < deadline:
        kind, value, messages, pressed = steps[index]
        await asyncio.sleep(rng.uniform(0.1, 0.8))
        want = (len(answers.messages[user]) + messages, len(answers.answered[user]) + pressed)
        try:
            if kind == "start":
                state.start(user, StartIn(payload=value))
            elif kind == "text":
                state.send_text(user, TextIn(text=value))
            else:
                state.press(user, PressIn(button_text=value))
            await answers.until(user, messages=want[0], answers=want[1], seconds=ANSWER_WAIT)
            index += 1
        except (TimeoutError, ControlError):
            again += 1
            index = 0
    return again


async def registered(services: Services, user: int) -> bool:
    async with services.db.sessions() as session:
        person = await session.scalar(
            select(Person).where(Person.telegram_user_id == user, Person.until.is_(None))
        )
    return person is not None and (person.name, person.post, person.phone) == (
        NAME,
        POST,
        PHONE,
    )


async def trial(
    workdir: Path,
    *,
    notices: int = 1_000,
    people: int = 10,
    seed_value: int = 0,
    database_url: str | None = None,
) -> Trial:
    """One trial on a fresh database (SQLite in `workdir` unless one is given)."""
    rng = random.Random(seed_value)
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'crash.db'}"
    limits = Limits(global_per_second=250)
    async with office(url, notices, registrants=people, limits=limits) as seeded:
        emulator, services = seeded.emulator, seeded.services
        answers = Answers(emulator)
        bot = seeded.bot(
            workdir,
            STAFF_NOTIFICATIONS="digest",
            SEND_RATE_GLOBAL="200",
            OUTBOX_LEASE_SECONDS="5",
        )
        try:
            await bot.start(ready=lambda: emulator.state.polling)
            await queue_broadcast(services, emulator, TEXT)
            persons = [
                asyncio.create_task(
                    register(emulator, answers, REGISTRANTS + n, seeded.tokens[n], rng)
                )
                for n in range(people)
            ]
            killed_after = rng.uniform(0.2, 4.0)
            await asyncio.sleep(killed_after)
            await bot.kill()
            await bot.start()
            restarts = sum(await asyncio.gather(*persons))
            if not await settled(services, seconds=120):
                raise RuntimeError(f"the outbox did not empty:\n{bot.tail()}")
            chats = [LIAISONS + n for n in range(notices)]
            found = await tally(services, emulator, chats, TEXT, "broadcast")
            ok = [await registered(services, REGISTRANTS + n) for n in range(people)]
            return Trial(killed_after, found, people, ok.count(False), restarts)
        finally:
            answers.close()
            await bot.stop()


async def run(*, trials: int = 20, notices: int = 1_000, people: int = 10) -> Totals:
    """`trials` trials, each printed as it ends, then the totals."""
    print(f"Crash suite: {trials} trials of kill -9 during a broadcast of {notices} and {people}")
    print("registrations, with restart")
    totals = Totals()
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        for n in range(trials):
            workdir = Path(tmp) / f"trial-{n + 1}"
            workdir.mkdir()
            found = await trial(workdir, notices=notices, people=people, seed_value=n)
            totals.trials.append(found)
            print(
                f"  trial {n + 1:2}: killed after {found.killed_after:.1f} s; notices "
                f"{found.notices.line()}; conversations {found.conversations - found.broken} "
                f"of {found.conversations} resumed ({found.restarts} links opened again)",
                flush=True,
            )
    print("  " + totals.line())
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--notices", type=int, default=1_000)
    parser.add_argument("--people", type=int, default=10)
    args = parser.parse_args(argv)
    totals = asyncio.run(run(trials=args.trials, notices=args.notices, people=args.people))
    bad = sum(t.notices.lost + t.notices.duplicated + t.broken for t in totals.trials)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
