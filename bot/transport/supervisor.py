"""One supervisor for every long-running task: retried with back-off, never silently dead.

A task is a step run again and again: take one batch of updates, deliver one batch of the
outbox, one planner tick. A step that raises is logged once with its cause (again only when
the cause changes) and tried again after 1 s, 2 s, 4 s … up to 60 s. A task that has kept
failing for longer than TASK_GIVE_UP_SECONDS ends the process with status 1, so that the
service manager restarts it: a live process that has silently stopped working is the worst
state. `problems()` names each task that is failing, for a health endpoint.

A run of failures ends when the task has really worked again: a task may say (`settled`) that
a step which went through only set its failed work up again (the updates taken again after
the database went away, not yet handled), and the run goes on, its tries counted, until it
says the work was done. A task driven from outside (webhook requests) says so the same way,
and the watchdog asks it every second as well, since nothing else may come to end its run.
`first()` runs a step until it goes through once, with the same back-off: connecting to
Telegram at start, while the network or a proxy is not up yet.

On stop (SIGTERM) each task finishes the step in hand; one that has not after `grace`
seconds is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.transport.failures import cause_of, is_transient

log = logging.getLogger(__name__)

# One step of a task; it may return how long to rest before the next (an idle tick).
Step = Callable[[asyncio.Event], Awaitable[float | None]]
# Whether a task's failed work has been done since (None: any step that goes through).
Settled = Callable[[], bool]

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class Fatal(Exception):
    """The process cannot go on: `key` in messages/ says why to the person who runs it."""

    def __init__(self, reason: str, *, key: str = "runtime.gave_up", **values: object) -> None:
        super().__init__(reason)
        self.key = key
        self.values = {"reason": reason, **values}


async def _rest(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class _Task:
    name: str
    step: Step | None  # None: a task driven from outside (webhook requests) that reports
    settled: Settled | None = None
    failing_since: float | None = None
    failures: int = 0
    cause: str | None = None
    finished: bool = False


@dataclass(eq=False, kw_only=True)
class Supervisor:
    """Runs the tasks, retries their failures with back-off, and gives up in bounded time."""

    give_up_after: float
    first_backoff: float = FIRST_BACKOFF
    max_backoff: float = MAX_BACKOFF
    grace: float = 7.0
    monotonic: Callable[[], float] = time.monotonic
    rest: Callable[[asyncio.Event, float], Awaitable[None]] = _rest
    fatal: Fatal | None = field(default=None, init=False)
    _tasks: dict[str, _Task] = field(default_factory=dict, init=False)
    _stopping: bool = field(default=False, init=False)

    def add(self, name: str, step: Step, *, settled: Settled | None = None) -> None:
        """Run `step` again and again under this supervisor, as the task `name`; a run of
        failures ends only once `settled()` (when given) says the failed work was done."""
        self._tasks[name] = _Task(name, step, settled)

    async def first(self, name: str, step: Step, stop: asyncio.Event) -> bool:
        """Run `step` until it goes through once, backing off on transient failures as a
        task does (and giving up after as long); False if `stop` came first. Any other
        failure is raised as it is."""
        task = self._tasks[name] = _Task(name, step)
        backoff = self.first_backoff
        try:
            while not stop.is_set():
                try:
                    await step(stop)
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    self.failed(name, exc)
                    if self.fatal is not None:
                        raise self.fatal from None
                    await self.rest(stop, backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                self.succeeded(name)
                return True
            return False
        finally:
            if self._tasks.get(name) is task:
                del self._tasks[name]

    def watch(self, name: str, *, settled: Settled | None = None) -> None:
        """Follow a task driven from outside, which reports through failed() and succeeded();
        with `settled`, the watchdog also ends its run of failures once that says it may."""
        self._tasks.setdefault(name, _Task(name, None)).settled = settled

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    def failed(self, name: str, error: BaseException) -> None:
        """Note a failed step: logged when a run of failures starts or its cause changes."""
        task = self._tasks[name]
        cause = cause_of(error)
        if task.failing_since is None:
            task.failing_since = self.monotonic()
        task.failures += 1
        if cause != task.cause:
            transient = is_transient(error)
            log.log(
                logging.WARNING if transient else logging.ERROR,
                "%s failing: %s; trying again with back-off (%g s up to %g s)",
                name,
                cause,
                self.first_backoff,
                self.max_backoff,
                exc_info=None if transient else error,
            )
        task.cause = cause
        self._check(task)

    def succeeded(self, name: str) -> None:
        """Note a step that went through; say so once after a run of failures."""
        task = self._tasks[name]
        if task.failing_since is not None:
            log.info(
                "%s working again after %.0f s (%d failed tries)",
                name,
                self.monotonic() - task.failing_since,
                task.failures,
            )
        task.failing_since, task.failures, task.cause = None, 0, None

    def problems(self) -> list[str]:
        """One line per task that is failing or has stopped; empty when all are well."""
        now = self.monotonic()
        lines = []
        for task in self._tasks.values():
            if task.failing_since is not None:
                lines.append(
                    f"{task.name}: failing for {now - task.failing_since:.0f} s "
                    f"({task.failures} tries): {task.cause}"
                )
            elif task.finished and not self._stopping:
                lines.append(f"{task.name}: stopped")
        if self.fatal is not None:
            lines.append(f"stopping: {self.fatal}")
        return lines

    def _check(self, task: _Task) -> None:
        if self.fatal is not None or task.failing_since is None:
            return
        if self.monotonic() - task.failing_since > self.give_up_after:
            self.fatal = Fatal(
                f"{task.name} has failed for more than {self.give_up_after:g} s: {task.cause}"
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Run every task until `stop` is set; raise Fatal when one could not go on."""
        loops = [
            asyncio.create_task(self._loop(task, stop), name=task.name)
            for task in self._tasks.values()
            if task.step is not None
        ]
        watchdog = asyncio.create_task(self._watchdog(stop), name="watchdog")
        try:
            await stop.wait()
        finally:
            self._stopping = True
            stop.set()
            if loops:
                _, late = await asyncio.wait(loops, timeout=self.grace)
                for task in late:
                    log.warning(
                        "%s did not finish within %g s; cancelled", task.get_name(), self.grace
                    )
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if self.fatal is not None:
            raise self.fatal  # the command line says it in one line

    async def _watchdog(self, stop: asyncio.Event) -> None:
        """Give up on a task that has failed too long, even one that no longer reports."""
        while not stop.is_set():
            for task in self._tasks.values():
                settled = task.settled if task.step is None else None
                if settled is not None and task.failing_since is not None and settled():
                    self.succeeded(task.name)  # its failed work is done; no request may say so
                self._check(task)
            if self.fatal is not None:
                stop.set()
                return
            await _rest(stop, 1.0)

    async def _loop(self, task: _Task, stop: asyncio.Event) -> None:
        assert task.step is not None
        backoff = self.first_backoff
        try:
            while not stop.is_set():
                try:
                    pause = await task.step(stop)
                except Fatal as exc:
                    self.fatal = exc
                    stop.set()
                    return
                except Exception as exc:
                    self.failed(task.name, exc)
                    if self.fatal is not None:
                        stop.set()
                        return
                    await self.rest(stop, backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                backoff = self.first_backoff
                if task.settled is None or task.settled():
                    self.succeeded(task.name)
                if pause:
                    await self.rest(stop, pause)
        finally:
            task.finished = True
