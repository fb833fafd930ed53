"""The supervisor: a failing task is retried with capped back-off, logged once per cause,
named in problems(), and ends the process after a bounded time; a stop lets steps finish."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot import app as app_module
from bot.sandbox.server import Emulator
from bot.transport.supervisor import Fatal, Supervisor
from tests.support.cli import run_cli
from tests.support.messages import says
from tests.support.settings import run_against_emulator


class FakeTime:
    """A monotonic clock that moves only when the supervisor rests."""

    def __init__(self) -> None:
        self.now = 100.0
        self.rests: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def rest(self, stop: asyncio.Event, seconds: float) -> None:
        self.rests.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_a_failing_task_backs_off_to_a_minute_then_ends_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transport.supervisor")
    fake = FakeTime()
    supervisor = Supervisor(give_up_after=300, monotonic=fake.monotonic, rest=fake.rest)
    seen: list[list[str]] = []

    async def broken(stop: asyncio.Event) -> float | None:
        seen.append(supervisor.problems())
        raise OSError("connection refused")

    supervisor.add("updates", broken)
    with pytest.raises(Fatal) as ended:
        await supervisor.run(asyncio.Event())

    # Failing since 100 s: the 11th failure, at 403 s, is past the 300 s allowed.
    assert fake.rests == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert "updates has failed for more than 300 s" in str(ended.value)
    assert "connection refused" in str(ended.value)
    # While failing, problems() names the task and its cause.
    assert seen[0] == []
    assert seen[3][0].startswith("updates: failing for 7 s (3 tries): OSError")
    # One log line for the whole run of identical failures.
    failing = [r for r in caplog.records if "updates failing" in r.getMessage()]
    assert len(failing) == 1


async def test_a_task_that_recovers_is_well_again_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transport.supervisor")
    fake = FakeTime()
    supervisor = Supervisor(give_up_after=300, monotonic=fake.monotonic, rest=fake.rest)
    stop = asyncio.Event()
    outcomes: list[Exception | None] = [
        OSError("refused"), OSError("refused"), ValueError("a bug"), None, None,
    ]  # fmt: skip
    problems: list[list[str]] = []

    async def flaky(stop_: asyncio.Event) -> float | None:
        problems.append(supervisor.problems())
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if outcome is not None:
            raise outcome
        return None

    supervisor.add("outbox", flaky)
    await supervisor.run(stop)

    assert fake.rests == [1, 2, 4]  # after a success the back-off starts again at 1 s
    assert problems[-1] == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum("outbox failing: OSError" in m for m in messages) == 1
    assert sum("outbox failing: ValueError" in m for m in messages) == 1  # a new cause
    assert sum("outbox working again" in m for m in messages) == 1
    bug = next(r for r in caplog.records if "ValueError" in r.getMessage())
    assert bug.levelno == logging.ERROR
    assert bug.exc_info is not None


async def test_fatal_stops_every_task_after_its_step() -> None:
    supervisor = Supervisor(give_up_after=300)
    finished: list[str] = []
    sending = asyncio.Event()

    async def conflict(stop: asyncio.Event) -> float | None:
        await sending.wait()
        raise Fatal("another process takes the updates", key="runtime.conflict")

    async def sender(stop: asyncio.Event) -> float | None:
        sending.set()
        await stop.wait()  # a send in flight when the stop comes
        finished.append("sender")
        return None

    supervisor.add("updates", conflict)
    supervisor.add("outbox", sender)
    with pytest.raises(Fatal) as ended:
        await supervisor.run(asyncio.Event())
    assert ended.value.key == "runtime.conflict"
    assert finished == ["sender"]  # the step in hand was finished, not cut off
    assert supervisor.problems() == ["stopping: another process takes the updates"]


async def test_run_exits_with_status_1_when_a_task_gives_up(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_sqlite_url: str
) -> None:
    """`liaison-bot run` in full; the supervisor's clock runs fast, the planner has a bug."""
    fake = FakeTime()

    async def rest(stop: asyncio.Event, seconds: float) -> None:
        await fake.rest(stop, seconds)
        if fake.now > 100_000:  # long past giving up: stop the run rather than hang the test
            stop.set()

    class FastSupervisor(Supervisor):
        def __init__(self, *, give_up_after: float) -> None:
            super().__init__(give_up_after=give_up_after, monotonic=fake.monotonic, rest=rest)

    async def broken_planner(context: object) -> None:
        raise ValueError("the planner's bug")

    monkeypatch.setattr(app_module, "Supervisor", FastSupervisor)
    monkeypatch.setattr(app_module, "planner_job", broken_planner)
    run_against_emulator(
        monkeypatch, emulator.base_url, tmp_path, DATABASE_URL=migrated_sqlite_url
    )

    done = await run_cli("run", "--no-updates")

    assert done.code == 1
    cause = "reminder planner has failed for more than 900 s: ValueError: the planner's bug"
    assert says(done.err.strip().splitlines()[-1], "runtime.gave_up", reason=cause)
