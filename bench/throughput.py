"""Updates a second: a bare python-telegram-bot echo bot against liaison-bot, in one run.

Both run as processes of their own against the same emulator over HTTP, one after the other
(Telegram lets one process take a bot's updates), alternately, on SQLite and on PostgreSQL:

- **burst**: half `/status` from registered liaisons, half texts from strangers, all queued
  at once; updates/s from the first update queued to the last answer;
- **mix**: many simulated people at once, each waiting for the bot's answer before their next
  step: strangers, liaisons asking `/status`, liaisons registering through an invite link,
  liaisons submitting a document and a photo and pressing 「完成」, staff asking
  `/outstanding` and `/unit`; updates/s, and the latency of each answer (p50, p99).

The echo bot answers every message with one message and every button with
answerCallbackQuery; liaison-bot does its real work. CPU per update is the process's CPU time
(user + system, from /proc) over the updates it handled. The figure printed is the ratio of
liaison-bot to the echo bot, each measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.support import (
    TOKEN,
    Answers,
    BotRun,
    bot_env,
    cpu_seconds,
    median,
    percentile,
    postgres_base,
    seed_units,
    services_for,
    temporary_database,
)
from bot.registration.invites import create_invites
from bot.sandbox.models import DocumentIn, NewUser, PhotoIn, PressIn, StartIn, TextIn
from bot.sandbox.server import Emulator
from bot.services import Services
from messages import plain

STAFF = (600_000_001, 600_000_002, 600_000_003, 600_000_004, 600_000_005)
LIAISONS = 610_000_000  # + n: the liaison of unit n (registered, in the burst and the mix)
STRANGERS = 620_000_000  # + n: people the bot does not know
REGISTRANTS = 630_000_000  # + n: a liaison about to register through an invite link
SUBMITTERS = 640_000_000  # + n: the registered liaison of a unit that will submit
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 80 + b"\n%%EOF\n"  # about 20 KB
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256)) * 60

Kind = Literal["text", "start", "document", "photo", "press"]


@dataclass(frozen=True)
class Action:
    """One thing a simulated person does, and what liaison-bot answers it with: `messages`
    new messages and `answers` button answers (the echo bot: one message, or one answer)."""

    kind: Kind
    value: str = ""
    messages: int = 1
    answers: int = 0


@dataclass
class Population:
    """Who takes part, the same for both bots; invite tokens only liaison-bot knows."""

    burst: int
    mix_people: int
    rounds: int
    tokens: list[str] = field(default_factory=list)

    @property
    def status_liaisons(self) -> int:
        return self.burst // 2

    @property
    def per_kind(self) -> int:
        return max(1, self.mix_people // 10)

    def liaison(self, n: int) -> int:
        return LIAISONS + n

    def units(self) -> int:
        """Units with a registered liaison: one per /status sender, plus the submitters'."""
        return self.status_liaisons + self.per_kind * 2 * self.rounds

    def users(self) -> list[int]:
        people = [*STAFF]
        people += [LIAISONS + n for n in range(self.status_liaisons)]
        people += [STRANGERS + n for n in range(max(self.burst, self.mix_people))]
        people += [REGISTRANTS + n for n in range(self.per_kind * 2 * self.rounds)]
        people += [SUBMITTERS + n for n in range(self.per_kind * 2 * self.rounds)]
        return people


def unit_name(n: int) -> str:
    return f"测试单位{n:05d}"


async def seed(services: Services, population: Population) -> None:
    """Units with registered liaisons, units waiting for theirs (with invites), a deadline."""
    units = population.units()
    waiting = population.per_kind * 2 * population.rounds
    liaisons = [LIAISONS + n for n in range(population.status_liaisons)]
    liaisons += [SUBMITTERS + n for n in range(units - population.status_liaisons)]
    names = [unit_name(n) for n in range(units + waiting)]
    await seed_units(services, names, liaisons)
    invites = await create_invites(services=services, units=names[units:])
    population.tokens = [invite.token for invite in invites]


# ---- what people do ------------------------------------------------------------------------


def button(key: str) -> str:
    return plain("zh", key)


def scripts(population: Population, round_number: int) -> list[tuple[int, list[Action]]]:
    """Each simulated person of one round of the mix and the steps they take, in order."""
    per = population.per_kind
    people: list[tuple[int, list[Action]]] = []
    for n in range(per * 3):
        people.append(
            (
                STRANGERS + n,
                [Action("text", "你好"), Action("start"), Action("text", "/help")],
            )
        )
    for n in range(per * 3):
        people.append(
            (
                population.liaison((round_number * per * 3 + n) % population.status_liaisons),
                [Action("text", "/status"), Action("text", "/help")],
            )
        )
    for n in range(per * 2):
        index = round_number * per * 2 + n
        people.append(
            (
                REGISTRANTS + index,
                [
                    Action("start", population.tokens[index]),
                    Action("press", button("registration.button_confirm"), answers=1),
                    Action("text", "王芳"),
                    Action("text", "办公室主任"),
                    Action("text", "13995400102", messages=2),
                    Action("press", button("registration.button_ok"), answers=1),
                ],
            )
        )
    for n in range(per * 2):
        people.append(
            (
                SUBMITTERS + round_number * per * 2 + n,
                [
                    Action("text", "/submit"),
                    Action("document", "年度工作计划.pdf"),
                    Action("photo"),
                    Action("press", button("ledger.button_done"), answers=1),
                    Action("text", "/cancel"),
                ],
            )
        )
    for n in range(per):
        people.append(
            (
                STAFF[n % len(STAFF)],
                [
                    Action("text", "/outstanding"),
                    Action("text", f"/unit {unit_name(n)}"),
                ],
            )
        )
    random.Random(round_number).shuffle(people)
    return people


def act(emulator: Emulator, user: int, action: Action, *, echo: bool) -> None:
    """Do `action` as `user`, through the emulator's state (no HTTP)."""
    state = emulator.state
    if action.kind == "text":
        state.send_text(user, TextIn(text=action.value))
    elif action.kind == "start":
        state.start(user, StartIn(payload=action.value or None))
    elif action.kind == "document":
        data = base64.b64encode(PDF).decode()
        state.send_document(
            user, DocumentIn(file_name=action.value, mime_type="application/pdf", data_b64=data)
        )
    elif action.kind == "photo":
        state.send_photo(user, PhotoIn(data_b64=base64.b64encode(JPEG).decode()))
    elif echo:  # the echo bot's messages have no buttons: press one on its latest message
        latest = max(m for m, r in state.chats[user].messages.items() if r.from_bot)
        state.press(user, PressIn(message_id=latest, data="bench", force=True))
    else:
        state.press(user, PressIn(button_text=action.value))


# ---- measuring -----------------------------------------------------------------------------


@dataclass
class Figures:
    """One scenario's figures for one bot."""

    updates: int
    seconds: float
    cpu: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.updates


async def burst(emulator: Emulator, population: Population, bot: BotRun) -> Figures:
    """Queue the burst at once; wait for one answer to each update."""
    answers = Answers(emulator)
    try:
        senders = [
            (population.liaison(n // 2), "/status")
            if n % 2 == 0
            else (STRANGERS + n // 2, "请问怎么报送材料")
            for n in range(population.burst)
        ]
        cpu_before = cpu_seconds(bot.pid)
        started = time.perf_counter()
        queued: list[tuple[int, float]] = []
        for user, text in senders:
            emulator.state.send_text(user, TextIn(text=text))
            queued.append((user, time.perf_counter()))
        expected = len(senders)
        deadline = time.monotonic() + 600

        def answered() -> int:
            # Each sender's own answer (a message left over from the previous scenario, such
            # as a staff notice, must not stand in for one).
            return sum(1 for user, at in queued if any(t >= at for t in answers.messages[user]))

        while answered() < expected:
            if time.monotonic() > deadline or not bot.running():
                raise RuntimeError(
                    f"{bot.name}: {answered()} of {expected} answered\n{bot.tail()}"
                )
            await asyncio.sleep(0.05)
        firsts = [min(t for t in answers.messages[user] if t >= at) for user, at in queued]
        seconds = max(firsts) - started
        cpu = cpu_seconds(bot.pid) - cpu_before
        latencies = [first - at for first, (_, at) in zip(firsts, queued, strict=True)]
        return Figures(expected, seconds, cpu, latencies)
    finally:
        answers.close()


async def mix(emulator: Emulator, population: Population, bot: BotRun, rnd: int) -> Figures:
    """Every person of the round at once, each waiting for the answer to each step."""
    answers = Answers(emulator)
    echo = bot.name == "echo"
    latencies: list[float] = []

    async def person(user: int, steps: list[Action]) -> None:
        for action in steps:
            want_messages = len(answers.messages[user])
            want_answers = len(answers.answered[user])
            if echo:
                want_answers += action.kind == "press"
                want_messages += action.kind != "press"
            else:
                want_messages += action.messages
                want_answers += action.answers
            at = time.perf_counter()
            act(emulator, user, action, echo=echo)
            await answers.until(user, messages=want_messages, answers=want_answers, seconds=120)
            latencies.append(time.perf_counter() - at)

    try:
        people = scripts(population, rnd)
        cpu_before = cpu_seconds(bot.pid)
        started = time.perf_counter()
        await asyncio.gather(*(person(user, steps) for user, steps in people))
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(bot.pid) - cpu_before
        if answers.refused:
            raise RuntimeError(f"{bot.name}: refused calls {answers.refused[:3]}")
        return Figures(len(latencies), seconds, cpu, latencies)
    finally:
        answers.close()


# ---- the run -------------------------------------------------------------------------------

Scenario = Callable[[Emulator, Population, BotRun, int], Awaitable[Figures]]


async def _burst(emulator: Emulator, population: Population, bot: BotRun, rnd: int) -> Figures:
    return await burst(emulator, population, bot)


async def measure_database(
    label: str,
    database_url: str,
    emulator: Emulator,
    population: Population,
    workdir: Path,
    *,
    scenarios: tuple[str, ...],
) -> dict[str, dict[str, list[Figures]]]:
    """Seed one database, then run each scenario with each bot, alternately, `rounds` times."""
    async with services_for(database_url) as services:
        await seed(services, population)
    env = bot_env(
        emulator.base_url,
        database_url,
        workdir,
        STAFF_IDS=",".join(map(str, STAFF)),
        STAFF_NOTIFICATIONS="digest",  # no notice to staff in the middle of their queries
    )
    bots = {
        "echo": BotRun("echo", ["-m", "bench.echo_bot"], env, workdir),
        "bot": BotRun("bot", [*_profiled(workdir), "-m", "bot", "run"], env, workdir),
    }
    chosen: dict[str, Scenario] = {"burst": _burst, "mix": mix}
    results: dict[str, dict[str, list[Figures]]] = {s: {"echo": [], "bot": []} for s in scenarios}
    for rnd in range(population.rounds):
        for name in ("echo", "bot") if rnd % 2 == 0 else ("bot", "echo"):
            bot = bots[name]
            await bot.start(ready=lambda: emulator.state.polling)
            spy = await _spy(bot) if name == "bot" else None
            try:
                for scenario in scenarios:
                    figures = await chosen[scenario](emulator, population, bot, rnd)
                    results[scenario][name].append(figures)
                    print(
                        f"  {label} {scenario:5} round {rnd + 1} {name:4}: "
                        f"{figures.rate:7.0f} updates/s, "
                        f"p50 {1000 * median(figures.latencies):6.1f} ms, "
                        f"p99 {1000 * percentile(figures.latencies, 0.99):6.1f} ms, "
                        f"CPU {figures.cpu_ms:5.2f} ms/update",
                        flush=True,
                    )
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    await spy.wait()
                await bot.stop()
    return results


def summary(label: str, results: dict[str, dict[str, list[Figures]]]) -> list[str]:
    """One line per scenario: the medians of each bot and the ratio."""
    lines = []
    for scenario, by_bot in results.items():
        echo, bot = by_bot["echo"], by_bot["bot"]
        echo_rate = median([f.rate for f in echo])
        bot_rate = median([f.rate for f in bot])
        ratios = [b.rate / e.rate for e, b in zip(echo, bot, strict=True)]
        lines.append(
            f"{label:10} {scenario:5} echo {echo_rate:6.0f}/s  liaison-bot {bot_rate:6.0f}/s  "
            f"ratio {median(ratios):.2f}x (rounds {', '.join(f'{r:.2f}' for r in ratios)})  "
            f"p50 {1000 * median([median(f.latencies) for f in echo]):.1f}/"
            f"{1000 * median([median(f.latencies) for f in bot]):.1f} ms  "
            f"p99 {1000 * median([percentile(f.latencies, 0.99) for f in echo]):.1f}/"
            f"{1000 * median([percentile(f.latencies, 0.99) for f in bot]):.1f} ms  "
            f"CPU {median([f.cpu_ms for f in echo]):.2f}/{median([f.cpu_ms for f in bot]):.2f}"
            " ms/update"
        )
    return lines


async def run(
    *,
    burst_size: int = 2_000,
    mix_people: int = 200,
    rounds: int = 2,
    databases: tuple[str, ...] = ("sqlite", "postgresql"),
    scenarios: tuple[str, ...] = ("burst", "mix"),
) -> list[str]:
    """The whole benchmark; returns the summary lines (also printed)."""
    population = Population(burst=burst_size, mix_people=mix_people, rounds=rounds)
    emulator = Emulator(token=TOKEN, rate_limits=False, max_log=1_000_000)
    await emulator.start()
    lines: list[str] = []
    print(
        f"Throughput: burst of {burst_size} (half /status, half strangers), mix of "
        f"{mix_people} people; {rounds} rounds each, echo and liaison-bot alternately"
    )
    try:
        for user in population.users():
            emulator.state.add_user(
                NewUser(id=user, first_name=f"用户{user}", language_code="zh-hans", started=True)
            )
        with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
            for label in databases:
                database: AbstractAsyncContextManager[str]
                if label == "sqlite":
                    database = nullcontext(f"sqlite+aiosqlite:///{tmp}/bench.db")
                elif postgres_base():
                    database = temporary_database(postgres_base())
                else:
                    print("  PostgreSQL: skipped (set TEST_POSTGRES_URL, or make bench)")
                    continue
                async with database as url:
                    results = await measure_database(
                        label, url, emulator, population, Path(tmp) / label, scenarios=scenarios
                    )
                lines += summary(label, results)
    finally:
        await emulator.stop()
    print("Throughput, medians (echo/liaison-bot):")
    for line in lines:
        print("  " + line)
    return lines


def _profiled(workdir: Path) -> list[str]:
    """`-m cProfile -o FILE` when BENCH_PROFILE names a folder for the bot's profiles."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    return ["-m", "cProfile", "-o", str(Path(folder) / f"{workdir.name}-{time.time():.0f}.prof")]


async def _spy(bot: BotRun) -> asyncio.subprocess.Process | None:
    """py-spy recording the bot (raw stacks) when BENCH_PYSPY names py-spy's executable."""
    spy = os.environ.get("BENCH_PYSPY")
    if not spy:
        return None
    folder = Path(tempfile.gettempdir()) / "bench-pyspy"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{bot.workdir.name}-{time.time():.0f}.pyspy.txt"
    print(f"  py-spy: {out}")
    return await asyncio.create_subprocess_exec(
        spy, "record", "-p", str(bot.pid), "-f", "raw", "-r", "250", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--burst", type=int, default=2_000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--scenarios", default="burst,mix")
    args = parser.parse_args(argv)
    asyncio.run(
        run(
            burst_size=args.burst,
            mix_people=args.people,
            rounds=args.rounds,
            databases=tuple(args.databases.split(",")),
            scenarios=tuple(args.scenarios.split(",")),
        )
    )


if __name__ == "__main__":
    main()
