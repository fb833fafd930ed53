"""Taking updates: our own long-polling loop that confirms an update only once handled.

PTB's `Updater` confirms a batch to Telegram before any handler runs, so a crash loses
what was in hand. Here the offset moves past an update only after it and every update before
it have been handled (or kept as dead letters), and an update that comes again after a crash
is skipped when the database already holds it.

Updates of one chat are handled in order, one at a time; those of different chats at once, so
a 20 MB download, an export or a reply waiting out a 429 holds up no one else. While updates
are in hand, getUpdates (asked from the first one not yet handled) answers at once with them
again, so the next look comes when half of Telegram's window of 100 is free, or after a
quarter of a second for the updates of other people; with nothing in hand it long-polls.
Telegram hands out at most 100 updates from the offset: while one update is slow, the 99
behind it are handled, and the rest wait for it.

Each `step` is one getUpdates, run again and again by the supervisor. An update that failed
(the database locked, the network down, a bug not yet tried UPDATE_MAX_ATTEMPTS times) stays
unconfirmed with the updates of its chat behind it; the next step raises its failure, so the
supervisor backs off, and the step after asks for it again. Asking again is not working again:
`settled()` tells the supervisor so only once every update that failed has been handled (or
kept as a dead letter), so that a database gone for minutes is one run of failures."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Hashable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from telegram import Update
from telegram.error import Conflict, RetryAfter
from telegram.ext import Application

from bot.transport.failures import cause_of
from bot.transport.intake import Intake, UpdateFailed, update_from
from bot.transport.request import seconds_of
from bot.transport.supervisor import Fatal

log = logging.getLogger(__name__)


# Telegram's most updates a getUpdates answers with.
WINDOW = 100
# Seconds between looks at getUpdates while updates are in hand.
RECHECK = 0.25


def chat_of(update: Update) -> Hashable:
    """What orders updates: their chat (else their sender; else one lane for the rest)."""
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    user = update.effective_user
    return ("user", user.id) if user is not None else "other"


@dataclass(eq=False)
class Poller:
    """Long-polls getUpdates; hands each chat's updates to the intake in order, chats at once."""

    app: Application[Any, Any, Any, Any, Any, Any]
    intake: Intake
    _: KW_ONLY
    poll_seconds: int = 10
    recheck: float = RECHECK
    conflict: bool = field(default=False, init=False)
    _highest: int | None = field(default=None, init=False)  # the highest update id fetched
    # In hand (queued or being handled); failed (to be fetched and handled again).
    _pending: dict[int, Hashable] = field(default_factory=dict, init=False)
    _retry: dict[int, Hashable] = field(default_factory=dict, init=False)
    _unsettled: set[int] = field(default_factory=set, init=False)  # failed, not handled since
    _told: str | None = field(default=None, init=False)  # the failure last logged here
    _handled: int = field(default=0, init=False)  # updates handled so far
    _handled_at_look: int = field(default=0, init=False)
    _in_hand_at_look: int = field(default=0, init=False)
    _lanes: dict[Hashable, deque[Update]] = field(default_factory=dict, init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _failure: BaseException | None = field(default=None, init=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stopping: bool = field(default=False, init=False)

    @property
    def offset(self) -> int | None:
        """The first update not yet handled: what getUpdates is asked from, and confirms."""
        waiting = self._pending.keys() | self._retry.keys()
        if waiting:
            return min(waiting)
        return None if self._highest is None else self._highest + 1

    def settled(self) -> bool:
        """Whether every update that failed has been handled since (the task works again)."""
        return not self._unsettled and self._failure is None

    async def step(self, stop: asyncio.Event) -> float | None:
        """Fetch one batch (until `stop`) and hand it out; raise if an update must wait."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        timeout = self.poll_seconds
        if self._pending:
            await self._room(stop)
            timeout = 0
        if stop.is_set():
            await self.drain()
            return None
        await self.intake.flush()
        self._handled_at_look, self._in_hand_at_look = self._handled, len(self._pending)
        fetch = asyncio.ensure_future(self._fetch(timeout))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if fetch not in done:
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            await self.drain()
            return None
        try:
            updates = fetch.result()
        except RetryAfter as exc:
            return seconds_of(exc.retry_after)
        except Conflict as exc:
            self.conflict = True
            raise Fatal(
                f"Telegram answered 409 Conflict ({exc.message}): another process is taking "
                "this bot's updates",
                key="runtime.conflict",
            ) from exc
        for data in updates:
            self._take(data)
        return None

    async def _fetch(self, wait: int) -> list[dict[str, Any]]:
        """getUpdates from the offset, as JSON: the updates in hand come again each time,
        and only those not yet seen are worth making into `Update` objects."""
        bot = self.app.bot
        read_timeout = (bot.request.read_timeout or 0) + wait
        data = {"offset": self.offset, "timeout": wait, "allowed_updates": Update.ALL_TYPES}
        found = await bot._post("getUpdates", data, read_timeout=read_timeout)
        return found if isinstance(found, list) else []

    async def _room(self, stop: asyncio.Event) -> None:
        """Wait until half of what was in hand at the last look has been handled (and half
        the window is free), all of it has, a failure, `stop`, or `recheck` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.recheck
        while self._pending and self._failure is None and not stop.is_set():
            handled = self._handled - self._handled_at_look
            if len(self._pending) <= WINDOW // 2 and 2 * handled >= self._in_hand_at_look:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._changed.clear()
            waiters = {
                asyncio.ensure_future(self._changed.wait()),
                asyncio.ensure_future(stop.wait()),
            }
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    def _take(self, data: dict[str, Any]) -> None:
        """Queue a fetched update in its chat's lane, unless it is in hand or done already."""
        update_id = int(data["update_id"])
        known = self._highest is not None and update_id <= self._highest
        if update_id in self._pending or (known and update_id not in self._retry):
            return  # in hand, or handled (every id up to the highest has been seen)
        update = update_from(data, self.app.bot)
        chat = chat_of(update)
        self._highest = update_id if self._highest is None else max(self._highest, update_id)
        before = any(c == chat and u < update_id for u, c in self._retry.items())
        if before or (self._failure is not None and update_id in self._retry):
            # Handled again after the back-off, behind the earlier updates of its chat.
            self._retry[update_id] = chat
            return
        self._retry.pop(update_id, None)
        self._pending[update_id] = chat
        lane = self._lanes.get(chat)
        if lane is not None:
            lane.append(update)
            return
        self._lanes[chat] = deque([update])
        task = asyncio.create_task(self._run_lane(chat), name=f"updates of {chat}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_lane(self, chat: Hashable) -> None:
        """Handle one chat's updates in order until its lane is empty (or the bot stops)."""
        lane = self._lanes[chat]
        try:
            while lane and not self._stopping:
                update = lane[0]
                try:
                    await self.intake.handle(update)
                except Exception as exc:
                    self._fail(chat, exc)
                    return
                lane.popleft()
                del self._pending[update.update_id]
                self._unsettled.discard(update.update_id)
                if not self._unsettled:
                    self._told = None
                self._handled += 1
                self._changed.set()
        finally:
            if self._lanes.get(chat) is lane and (not lane or self._stopping):
                del self._lanes[chat]

    def _fail(self, chat: Hashable, error: Exception) -> None:
        """The lane's first update failed: it and those behind it wait to be fetched again."""
        lane = self._lanes.pop(chat)
        if lane:
            self._unsettled.add(lane[0].update_id)
        for update in lane:
            self._pending.pop(update.update_id, None)
            self._retry[update.update_id] = chat
        if self._failure is None:
            self._failure = error
        if not isinstance(error, UpdateFailed) and cause_of(error) != self._told:
            self._told = cause_of(error)  # once a run of failures, as the supervisor does
            log.warning("updates of chat %s: %s", chat, error)
        self._changed.set()

    async def drain(self, grace: float | None = None) -> None:
        """Let the updates being handled finish (those queued behind them stay unconfirmed)."""
        self._stopping = True
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            await self.intake.flush()
        except Exception as exc:
            log.info("could not record the last updates as handled (%s)", exc)

    async def confirm(self) -> None:
        """Tell Telegram what was handled, so a restart does not fetch it again."""
        await self.drain(grace=2)  # the supervisor's grace has passed already
        if self.offset is None or self.conflict:
            return  # after a 409 a getUpdates would cut off the other process's poll
        try:
            # Bounded, so that a stop stays within its 10 s when the network is gone.
            await asyncio.wait_for(self.app.bot.get_updates(offset=self.offset, timeout=0), 1.5)
        except Exception as exc:
            log.info("could not confirm the last updates (%s); they are skipped on restart", exc)
