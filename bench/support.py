"""What benchmarks and suites share: bot processes, CPU time, answers, Services, databases.

The emulator runs in the benchmark's own process (its state is read directly, and users act
on it without HTTP); each bot under test is a process of its own talking to it over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from bot.clock import Clock, SystemClock
from bot.ledger.checklist import prepare_database
from bot.services import Services
from bot.settings import Settings
from storage.db import Database
from storage.models import Account, Deadline, Person, Unit

# bench.scale's measured processes import this module and report their peak memory: the
# emulator (for annotations only) and asyncpg (imported when first used) are left out of it.
if TYPE_CHECKING:
    import asyncpg

    from bot.sandbox.models import CallRecord
    from bot.sandbox.server import Emulator

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "777000:BENCH-TOKEN-abcdefghijklmnopqrst"
USERNAME = "liaison_demo_bot"  # the emulator's bot (getMe)
# Bot API methods that put a new message in a chat.
SENDS = frozenset({"sendMessage", "sendDocument", "sendPhoto", "copyMessage", "sendMediaGroup"})
SEEDED = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # when the seeded rows were made
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class BotRun:
    """A bot under test as its own process: the real bot (`python -m bot run …`) or another
    program (`python -m bench.echo_bot`), with its environment and its log."""

    name: str
    args: Sequence[str]
    env: dict[str, str]
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.starts}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, ready: Callable[[], bool] | None = None, seconds: float = 60) -> None:
        """Start the process and wait until its log says it serves (and `ready()` holds)."""
        self.starts += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.args,
                cwd=self.workdir, env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + seconds
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            serving = "serving (updates:" in self.log_path.read_text(errors="replace")
            if serving and (ready is None or ready()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start: {self.tail()}")
            await asyncio.sleep(0.05)

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> int:
        """SIGTERM, and wait for the exit (killed after 30 s)."""
        if not self.running():
            return self.process.returncode or 0 if self.process else 0
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    async def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        if self.running():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(
            (self.workdir / f"{self.name}-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
            if (self.workdir / f"{self.name}-{n}.log").exists()
        )


def bot_env(api_url: str, database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of `python -m bot run` against the emulator."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": database_url,
        "LANGUAGE": "zh",
        "DATA_DIR": str(workdir / "data"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "SCHEDULED_REMINDERS": "false",
    }
    env.update(extra)
    return env


@dataclass
class Answers:
    """The bot's answers as the emulator logs them: new messages per chat and button presses
    answered per user, each with the time it came; waiters wake on every answer to them."""

    emulator: Emulator
    messages: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    answered: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused: list[CallRecord] = field(default_factory=list)
    throttled: int = 0  # 429s answered
    _events: dict[int, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.emulator.state.call_listeners.append(self._seen)

    def close(self) -> None:
        self.emulator.state.call_listeners.remove(self._seen)

    def _seen(self, call: CallRecord) -> None:
        if not call.ok:
            if call.status == 429:
                self.throttled += 1
            elif call.fault is None:
                self.refused.append(call)
            return
        now = time.perf_counter()
        if call.method in SENDS:
            chat = int(call.params.get("chat_id", 0))
            self.messages[chat].append(now)
        elif call.method == "answerCallbackQuery":
            query = self.emulator.state.callbacks.get(str(call.params.get("callback_query_id")))
            if query is None:
                return
            chat = query.user_id
            self.answered[chat].append(now)
        else:
            return
        event = self._events.pop(chat, None)
        if event is not None:
            event.set()

    async def until(self, chat: int, *, messages: int, answers: int, seconds: float) -> None:
        """Wait until `chat` has had `messages` new messages and `answers` button answers."""
        deadline = time.monotonic() + seconds
        while len(self.messages[chat]) < messages or len(self.answered[chat]) < answers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer in chat {chat}")
            event = self._events.setdefault(chat, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue

    def count(self) -> int:
        return sum(len(v) for v in self.messages.values())


@asynccontextmanager
async def services_for(
    database_url: str,
    *,
    staff: Sequence[int] = (),
    data_dir: Path | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Services]:
    """Open Services on `database_url` as the command line makes them (no .env file; TOKEN and
    USERNAME), with `staff` as STAFF_IDS, `data_dir` (else the setting's default) and `clock`
    (else the system's); close them on leaving."""
    values: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        bot_token=TOKEN,
        bot_username=USERNAME,
        staff_ids=tuple(staff),
        **values,
    )
    clock = SystemClock() if clock is None else clock
    services = Services(settings=settings, db=Database(database_url), clock=clock)
    try:
        yield services
    finally:
        await services.close()


async def seed_units(services: Services, names: Sequence[str], liaisons: Sequence[int]) -> None:
    """The checklist, units named `names` (ids 1, 2, …) owing every item by 2026-12-31, and
    the first of them each with the registered liaison of that Telegram user id."""
    await prepare_database(services)
    async with services.db.uow() as tx:
        await tx.execute(
            insert(Unit),
            [
                {
                    "id": n + 1,
                    "name": name,
                    "kind": "member",
                    "position": n + 1,
                    "created_at": SEEDED,
                }
                for n, name in enumerate(names)
            ],
        )
        if liaisons:
            await tx.execute(
                insert(Person),
                [
                    {
                        "unit_id": n + 1,
                        "role": "liaison",
                        "name": "张伟",
                        "post": "科长",
                        "phone": "13995400101",
                        "telegram_user_id": user,
                        "since": SEEDED,
                        "until": None,
                        "entered_by": user,
                    }
                    for n, user in enumerate(liaisons)
                ],
            )
            await tx.execute(
                insert(Account),
                [
                    {"user_id": user, "language": "zh", "first_seen": SEEDED, "last_seen": SEEDED}
                    for user in liaisons
                ],
            )
        tx.add(Deadline(scope="all", due=date(2026, 12, 31), set_at=SEEDED, set_by=None))


def postgres_base() -> str:
    """The PostgreSQL server for the runs on PostgreSQL (empty: none)."""
    return os.environ.get("TEST_POSTGRES_URL", "")


def with_database(url: str, name: str) -> str:
    """Return `url` with its database replaced by `name` (same server, same user)."""
    return url.rsplit("/", 1)[0] + f"/{name}"


async def pg_exec(url: str, *statements: str) -> list[list[asyncpg.Record]]:
    """Run `statements` in order on one connection to the database `url` names; return the
    rows of each."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


@asynccontextmanager
async def temporary_database(
    server_url: str, *, template: str | None = None
) -> AsyncIterator[str]:
    """Create a new database (a copy of the database `template` when given) and yield its
    URL; drop it on leaving, on an error too.

    The CREATE and DROP run on the database `server_url` names, which must not be `template`:
    PostgreSQL copies a database only while no one is connected to it.
    """
    name = f"bench_{'copy_' if template else ''}{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    await pg_exec(server_url, f'CREATE DATABASE "{name}"{copy}')
    try:
        yield with_database(server_url, name)
    finally:
        await pg_exec(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
