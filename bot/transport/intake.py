"""Handling one update: applied once, tried again while the cause passes, set aside if a bug.

PTB's `process_update` hands a handler's exception to the error handlers and carries on, so
the intake learns of a failure from `on_error` (bot/app.py), which records it here through a
context variable and stops the update there: no general handler gets it instead.

- handled: the offset may move past it (polling) or Telegram may be told 200 (webhook);
- a transient failure (database locked or gone, network): `UpdateFailed`, and the update
  stays unconfirmed, to be handled again once the cause is gone;
- a deterministic failure (a bug): `UpdateFailed` for the first UPDATE_MAX_ATTEMPTS - 1
  tries, then a dead letter, confirmed, with one short apology to the person;
- a "transient" failure that lasts ALONE_AFTER seconds while other updates are handled is this
  update's own (a file name the disk refuses, say): a dead letter too, so that it cannot hold
  its chat, and the offset behind it, for ever;
- so is a disk's refusal (a full disk in a quiet hour) that lasts ALONE_AFTER seconds with
  nothing else to handle: the supervisor counts the run of failures until the update is
  handled or set aside, and would otherwise end the process, again after every restart. An
  outage of the database or the network is everyone's and waits, however long."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from telegram import Message, Update
from telegram.error import Forbidden
from telegram.ext import Application

from bot import deadletters
from bot.services import Services
from bot.transport.failures import cause_of, is_disk_refusal, is_transient
from storage.db import UpdateAlreadyHandled, current_update

log = logging.getLogger(__name__)

Outcome = Literal["handled", "skipped", "dead_letter"]
ALONE_AFTER = 120.0  # seconds an update may fail "transiently" while others go through


@dataclass
class _Failure:
    error: BaseException | None = None


_failure: contextvars.ContextVar[_Failure | None] = contextvars.ContextVar(
    "handling_failure", default=None
)


def record_failure(error: BaseException | None) -> bool:
    """Tell the intake that the update in hand failed; False when no intake is listening."""
    holder = _failure.get()
    if holder is None:
        return False
    if holder.error is None:
        holder.error = error
    return True


class UpdateFailed(Exception):
    """The update was not handled and stays unconfirmed; it will be handled again."""

    def __init__(self, update_id: int, error: BaseException, attempt: int) -> None:
        super().__init__(f"update {update_id}: {cause_of(error)}")
        self.update_id = update_id
        self.error = error
        self.attempt = attempt


def update_from(data: dict[str, Any], bot: Any) -> Update:
    """An update as Telegram sent it, less any NUL character: PostgreSQL refuses NUL in text,
    so a name or an answer holding one could never be saved."""
    return Update.de_json(_without_nul(data), bot)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


_KINDS = (
    "message", "edited_message", "callback_query", "channel_post", "edited_channel_post",
    "my_chat_member", "chat_member", "chat_join_request", "inline_query", "poll",
    "poll_answer", "message_reaction",
)  # fmt: skip


def describe(update: Update) -> str:
    """An update in a few words for the log: its kind, who sent it, the command if any."""
    kind = next((k for k in _KINDS if getattr(update, k, None) is not None), "update")
    words = [f"update {update.update_id} {kind}"]
    if update.effective_user is not None:
        words.append(f"from {update.effective_user.id}")
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    if text.startswith("/"):  # the command only: its argument may be an invite token
        words.append(text.split(maxsplit=1)[0][:40])
    elif message is not None:
        words.append(_content_kind(message))
    if update.callback_query is not None:
        words.append(f"button {(update.callback_query.data or '')[:40]}")
    return " ".join(words)


def _content_kind(message: Message) -> str:
    for key in ("text", "document", "photo", "contact", "voice", "sticker", "location"):
        if getattr(message, key, None):
            return key
    return "other"


class Intake:
    """Applies updates, counting the failed tries of each.

    An update's first write transaction records it as handled (storage/db.py); one that wrote
    nothing is recorded by `flush()`, all of a batch at once, before the offset that confirms
    them is sent. Ids above the highest one recorded when the intake began are new to the
    database (one process takes the updates), so only the others are looked up; with
    `look_up_every` (webhooks, which several processes may serve) every one is."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        *,
        look_up_every: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.attempts: dict[int, int] = {}  # failures by a bug, each update's
        self.tries: dict[int, int] = {}  # failed tries of any kind: what a dead letter says
        self.monotonic = monotonic
        self.failing_since: dict[int, float] = {}  # updates failing transiently, since when
        self.alone_since: dict[int, float] = {}  # ... and since others went through again
        self.last_handled: float | None = None  # when an update last went through
        self.look_up_every = look_up_every
        self._floor: int | None = None
        self._floor_read = asyncio.Lock()  # the first batch's lanes read it once, not each
        self._unrecorded: list[int] = []

    @property
    def services(self) -> Services:
        services: Services = self.app.bot_data.services
        return services

    async def _handled_before(self, update_id: int) -> bool:
        db = self.services.db
        if not self.look_up_every:
            if self._floor is None:
                async with self._floor_read:
                    if self._floor is None:
                        self._floor = await db.highest_handled()
            if update_id > self._floor:
                return False
        return await db.is_handled(update_id)

    async def flush(self) -> None:
        """Record the updates handled since the last flush that wrote nothing themselves."""
        if not self._unrecorded:
            return
        ids, self._unrecorded = self._unrecorded, []
        try:
            await self.services.db.mark_handled_many(ids, datetime.now(UTC))
        except BaseException:
            self._unrecorded[:0] = ids
            raise

    async def handle(self, update: Update) -> Outcome:
        """Apply one update once; raise UpdateFailed when it must be handled again later."""
        services = self.services
        if await self._handled_before(update.update_id):
            log.info("%s: was handled before; skipped", describe(update))
            services.metrics.count_update("duplicate")
            self._forget(update.update_id)
            return "skipped"
        holder = _Failure()
        failure_token = _failure.set(holder)
        update_token = current_update.set(update.update_id)
        try:
            await self.app.process_update(update)
            recorded = current_update.get() is None  # a write transaction recorded it
        finally:
            current_update.reset(update_token)
            _failure.reset(failure_token)
        error = holder.error
        if isinstance(error, UpdateAlreadyHandled):
            log.info("%s: applied by another process; skipped", describe(update))
            services.metrics.count_update("duplicate")
            self._forget(update.update_id)
            return "skipped"
        if error is None or isinstance(error, Forbidden):
            # Forbidden: the person blocked the bot while we answered; nothing to try again.
            if not recorded:
                self._unrecorded.append(update.update_id)
            self._forget(update.update_id)
            self.last_handled = self.monotonic()
            log.info("%s: handled", describe(update))
            services.metrics.count_update("handled")
            return "handled"
        tries = self.tries[update.update_id] = self.tries.get(update.update_id, 0) + 1
        if is_transient(error):
            if not self._failing_alone(update.update_id, error):
                services.metrics.count_update("retry")
                raise UpdateFailed(update.update_id, error, tries) from error
        else:
            attempt = self.attempts[update.update_id] = self.attempts.get(update.update_id, 0) + 1
            if attempt < services.settings.update_max_attempts:
                services.metrics.count_update("retry")
                raise UpdateFailed(update.update_id, error, tries) from error
        self.failing_since.pop(update.update_id, None)
        self.alone_since.pop(update.update_id, None)
        letter = await deadletters.store(
            services=services, update=update, error=cause_of(error), attempts=tries, cause=error
        )
        self._forget(update.update_id)
        services.metrics.count_update("dead_letter")
        log.error(
            "%s: failed %d times; kept as dead letter #%s (%s)",
            describe(update),
            tries,
            letter.id,
            cause_of(error),
        )
        dispatcher = getattr(self.app.bot_data, "dispatcher", None)
        if dispatcher is not None:
            dispatcher.wake()
        return "dead_letter"

    def _forget(self, update_id: int) -> None:
        """Drop what is counted of an update that is done with (handled here or elsewhere)."""
        for counts in (self.attempts, self.tries, self.failing_since, self.alone_since):
            counts.pop(update_id, None)

    def _failing_alone(self, update_id: int, error: BaseException | None = None) -> bool:
        """Whether an update has failed "transiently" ALONE_AFTER s while others went through,
        or ALONE_AFTER s in all by a disk's refusal."""
        now = self.monotonic()
        since = self.failing_since.setdefault(update_id, now)
        if error is not None and is_disk_refusal(error) and now - since >= ALONE_AFTER:
            return True  # the disk, not an outage: long before the supervisor gives up
        if self.last_handled is None or self.last_handled <= since:
            return False  # nothing has gone through since: the cause is everyone's
        # Counted from when others went through again, not from an outage all shared.
        alone = self.alone_since.setdefault(update_id, self.last_handled)
        return now - alone >= ALONE_AFTER
