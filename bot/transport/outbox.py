"""The outbox and its dispatcher: every message the bot sends on its own initiative.

A message is first a row with a unique dedupe key (a restart or a second planner cannot
double it). Dispatchers claim due rows with a lease, check the message is still wanted,
send at their own pace and record the outcome:

    pending → claimed → sending → sent | unreachable (403) | failed (400, or a bug)
                          │          | unknown (written, but no answer: timeout, reset)
                          ↘ pending again at now + retry_after (429), after a back-off
                            (never sent: no connection; the server answered 5xx), or at
                            once to the new id of a group that became a supergroup

A claim takes the oldest due row of each chat that no dispatcher is writing to, oldest
first, so a backlog to a few chats never holds up the others, and two dispatchers never
write to one chat at once. A row left in `claimed` by a dead process returns to `pending`;
one left in `sending` may or may not have reached Telegram, so it becomes `unknown` and is
never sent again by itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import BotCommandScopeChat, InlineKeyboardMarkup, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot

from bot import menus, roster
from bot.services import Services
from bot.transport.pacing import Intervals, Pacer, Pacing, SharedPacer
from bot.transport.request import seconds_of
from storage.db import insert_ignore
from storage.models import GroupChat, OutboxMessage

log = logging.getLogger(__name__)

StillWanted = Callable[[AsyncSession, OutboxMessage], Awaitable[bool]]
OnUnreachable = Callable[[AsyncSession, OutboxMessage, datetime], Awaitable[None]]

# A row never sent (no connection, 5xx) is tried this many times, backing off from 4 s to
# 5 minutes (about 45 minutes in all), then failed with the last reason.
MAX_ATTEMPTS = 16
NO_RETRY = {"retry": False}
BUSY = ("claimed", "sending")


def text_payload(text: str, markup: InlineKeyboardMarkup | None = None) -> dict[str, Any]:
    """A sendMessage to be made later (HTML)."""
    payload: dict[str, Any] = {"method": "sendMessage", "text": text}
    if markup is not None:
        payload["reply_markup"] = markup.to_dict()
    return payload


async def enqueue(
    tx: AsyncSession,
    *,
    key: str,
    chat_id: int,
    purpose: str,
    payload: dict[str, Any],
    now: datetime,
    due_at: datetime | None = None,
    unit_id: int | None = None,
    broadcast_id: int | None = None,
) -> bool:
    """Put one intended message in the outbox once; tell whether it was new."""
    dialect = tx.get_bind().dialect.name
    statement = insert_ignore(dialect, OutboxMessage).values(
        dedupe_key=key,
        chat_id=chat_id,
        purpose=purpose,
        payload=payload,
        unit_id=unit_id,
        broadcast_id=broadcast_id,
        state="pending",
        due_at=due_at or now,
        attempts=0,
        created_at=now,
    )
    result = await tx.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Rows handed to the driver at a time by `enqueue_many` (it sends them in statements of a
# thousand rows: under PostgreSQL's 32,767 bind parameters a statement).
_ROWS_PER_INSERT = 10_000


async def enqueue_many(tx: AsyncSession, rows: list[dict[str, Any]], *, now: datetime) -> int:
    """Put many intended messages in the outbox at once (each a dict of `enqueue`'s
    arguments: key, chat_id, purpose, payload, and optionally due_at, unit_id,
    broadcast_id); those whose key is there already are left alone. Return how many were new.

    One statement compiled once and run for every row (SQLAlchemy's "insertmanyvalues"), on
    the transaction's connection: a round of 100,000 reminders is a few seconds, not minutes
    of compiling statements of thousands of values each.
    """
    connection = await tx.connection()
    table = OutboxMessage.__table__
    statement = insert_ignore(connection.dialect.name, table).returning(table.c.id)
    added = 0
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        values = [
            {
                "dedupe_key": row["key"],
                "chat_id": row["chat_id"],
                "purpose": row["purpose"],
                "payload": row["payload"],
                "unit_id": row.get("unit_id"),
                "broadcast_id": row.get("broadcast_id"),
                "state": "pending",
                "due_at": row.get("due_at") or now,
                "attempts": 0,
                "created_at": now,
            }
            for row in rows[start : start + _ROWS_PER_INSERT]
        ]
        inserted = await connection.execute(statement, values)
        added += len(inserted.all())
    return added


@dataclass
class Dispatcher:
    """Claims due outbox rows, sends them paced, and records each outcome."""

    services: Services
    bot: ExtBot[Any]
    worker_id: str
    batch_size: int = 25
    checks: dict[str, StillWanted] = field(default_factory=dict)
    on_unreachable: list[OnUnreachable] = field(default_factory=list)
    # The limiter: in the database when several dispatchers may share it (PostgreSQL).
    shared_pacing: bool | None = None
    # Tests give their own time; by default the wall clock (shared) or the monotonic one.
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    pacer: Pacing = field(init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        s = self.services.settings
        shared = self.shared_pacing
        if shared is None:
            shared = self.services.db.dialect == "postgresql"
        intervals = Intervals.of(
            per_second=s.send_rate_global,
            private_per_second=s.send_rate_private,
            group_per_minute=s.send_rate_group_per_minute,
        )
        if shared:
            self.pacer = SharedPacer(
                self.services.db, intervals, clock=self.clock or time.time, sleep=self.sleep
            )
        else:
            self.pacer = Pacer(intervals, monotonic=self.clock or time.monotonic, sleep=self.sleep)

    def wake(self) -> None:
        """Look at the outbox now rather than at the next tick."""
        self._wake.set()

    async def step(self, stop: asyncio.Event, *, idle: float = 1.0) -> float | None:
        """One round, for the supervisor to run again and again; rest when there was none."""
        self._wake.clear()
        if await self.run_once(stop):
            return None
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return None

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch and deliver it (until `stop`); return how many rows were handled."""
        rows = await self.claim()
        pacer = self.pacer
        if isinstance(pacer, Pacer):  # the chats that may go first, first
            rows.sort(key=lambda r: pacer.ready_at(r.chat_id))
        for index, row in enumerate(rows):
            if stop is not None and stop.is_set():
                await self._release(rows[index:])
                break
            outcome = await self.deliver(row)
            if outcome == "retry":
                # Telegram asked us to slow down: let the rest go back for a later round.
                await self._release(rows[index + 1 :])
                break
        return len(rows)

    async def claim(self) -> list[OutboxMessage]:
        """Take a lease on the oldest due row of each idle chat, oldest first; cancel those
        no longer wanted."""
        now = self.services.now()
        lease = timedelta(seconds=self.services.settings.outbox_lease_seconds)
        async with self.services.db.uow() as tx:
            await self._recover(tx, now)
            ranked = (
                select(
                    OutboxMessage.id,
                    func.row_number()
                    .over(
                        partition_by=OutboxMessage.chat_id,
                        order_by=(OutboxMessage.due_at, OutboxMessage.id),
                    )
                    .label("rank"),
                )
                .where(OutboxMessage.state == "pending", OutboxMessage.due_at <= now)
                .subquery()
            )
            busy = select(OutboxMessage.chat_id).where(OutboxMessage.state.in_(BUSY))
            query = (
                select(OutboxMessage)
                .join(ranked, ranked.c.id == OutboxMessage.id)
                .where(
                    ranked.c.rank == 1,
                    OutboxMessage.state == "pending",
                    OutboxMessage.chat_id.not_in(busy),
                )
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(self.batch_size)
            )
            if tx.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(of=OutboxMessage, skip_locked=True)
            chosen: list[OutboxMessage] = []
            for row in (await tx.scalars(query)).all():
                check = self.checks.get(row.purpose)
                if check is not None and not await check(tx, row):
                    row.state, row.error = "cancelled", "no longer wanted"
                    continue
                row.state, row.lease_until, row.claimed_by = "claimed", now + lease, self.worker_id
                chosen.append(row)
            return chosen

    async def _recover(self, tx: AsyncSession, now: datetime) -> None:
        expired = OutboxMessage.lease_until < now
        await tx.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "claimed", expired)
            .values(state="pending", lease_until=None, claimed_by=None)
        )
        await tx.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "sending", expired)
            .values(state="unknown", error="the sending process stopped; outcome unknown")
        )

    async def _release(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        async with self.services.db.uow() as tx:
            await tx.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_([r.id for r in rows]),
                    OutboxMessage.claimed_by == self.worker_id,
                    OutboxMessage.state == "claimed",
                )
                .values(state="pending", lease_until=None, claimed_by=None)
            )

    async def deliver(self, row: OutboxMessage) -> str:
        """Send one claimed row and record what happened; return the new state."""
        await self.pacer.wait(row.chat_id)
        if not await self._mark_sending(row):
            return "lost_lease"
        try:
            message_id = await self._send(row)
        except RetryAfter as exc:
            seconds = seconds_of(exc.retry_after)
            await self.pacer.hold(seconds)
            return await self._finish(
                row,
                "pending",
                error=f"429 retry after {seconds:g}s",
                retry_in=seconds,
                state_name="retry",
            )
        except ChatMigrated as exc:
            return await self._migrate(row, exc.new_chat_id)
        except Forbidden as exc:
            return await self._finish(row, "unreachable", error=exc.message)
        except BadRequest as exc:
            return await self._finish(row, "failed", error=exc.message)
        except TimedOut as exc:  # written, but the answer never came: maybe sent
            return await self._finish(row, "unknown", error=exc.message)
        except TelegramError as exc:  # never sent, a 5xx, or an answer that was not the API's
            if row.attempts + 1 >= MAX_ATTEMPTS:
                return await self._finish(row, "failed", error=exc.message)
            backoff = min(300.0, 2.0 ** (row.attempts + 2))
            return await self._finish(
                row, "pending", error=exc.message, retry_in=backoff, state_name="retry"
            )
        except Exception as exc:  # a bug: recorded, never sent again by itself
            log.exception("outbox #%s could not be sent", row.id)
            return await self._finish(row, "failed", error=f"{type(exc).__name__}: {exc}")
        return await self._finish(row, "sent", message_id=message_id)

    async def _migrate(self, row: OutboxMessage, new_chat_id: int) -> str:
        """The group became a supergroup: move it, and every row to it, to the new id."""
        old = row.chat_id
        now = self.services.now()
        async with self.services.db.uow() as tx:
            await tx.execute(
                update(OutboxMessage)
                .where(OutboxMessage.chat_id == old, OutboxMessage.state == "pending")
                .values(chat_id=new_chat_id)
            )
            await tx.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    chat_id=new_chat_id,
                    state="pending",
                    due_at=now,
                    lease_until=None,
                    claimed_by=None,
                    error=f"group {old} moved to {new_chat_id}",
                )
            )
            if await tx.get(GroupChat, new_chat_id) is None:
                await tx.execute(
                    update(GroupChat).where(GroupChat.chat_id == old).values(chat_id=new_chat_id)
                )
            else:
                await tx.execute(delete(GroupChat).where(GroupChat.chat_id == old))
        log.info(
            "outbox #%s %s: group %s is now %s; sent again there",
            row.id,
            row.purpose,
            old,
            new_chat_id,
        )
        return "migrated"

    async def _mark_sending(self, row: OutboxMessage) -> bool:
        async with self.services.db.uow() as tx:
            result = await tx.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.state == "claimed",
                    OutboxMessage.claimed_by == self.worker_id,
                )
                .values(state="sending", attempts=OutboxMessage.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _send(self, row: OutboxMessage) -> int | None:
        """Make the Bot API call a row describes; return the id of the message sent, if any."""
        payload = row.payload
        method = payload.get("method", "sendMessage")
        markup = (
            InlineKeyboardMarkup.de_json(payload["reply_markup"], self.bot)
            if payload.get("reply_markup")
            else None
        )
        if method == "sendMessage":
            sent = await self.bot.send_message(
                row.chat_id, payload["text"], reply_markup=markup, rate_limit_args=NO_RETRY
            )
            return sent.message_id
        if method == "sendDocument":
            document: str | InputFile = payload.get("document", "")
            if payload.get("path"):  # a file the bot wrote itself (a 催办通知 for staff)
                path = Path(payload["path"])
                try:
                    content = await asyncio.to_thread(path.read_bytes)
                except OSError:
                    raise BadRequest(f"the file {path.name} is no longer there") from None
                document = InputFile(content, filename=payload.get("filename"))
            sent = await self.bot.send_document(
                row.chat_id,
                document,
                caption=payload.get("caption"),
                reply_markup=markup,
                rate_limit_args=NO_RETRY,
            )
            return sent.message_id
        if method == "copyMessage":
            copied = await self.bot.copy_message(
                row.chat_id,
                payload["from_chat_id"],
                payload["message_id"],
                reply_markup=markup,
                rate_limit_args=NO_RETRY,
            )
            return copied.message_id
        if method == "setMyCommands":  # one person's menu, after their roles changed
            names = menus.person_commands(
                member=bool(payload.get("member")), staff=bool(payload.get("staff"))
            )
            commands = menus.bot_commands(str(payload.get("language") or "zh"), names)
            await self.bot.set_my_commands(
                commands, scope=BotCommandScopeChat(row.chat_id), rate_limit_args=NO_RETRY
            )
            return None
        raise ValueError(f"unknown outbox method {method}")

    async def _finish(
        self,
        row: OutboxMessage,
        state: str,
        *,
        error: str | None = None,
        message_id: int | None = None,
        retry_in: float | None = None,
        state_name: str | None = None,
    ) -> str:
        now = self.services.now()
        self.services.metrics.outbox_sent(row.purpose, state_name or state)
        async with self.services.db.uow() as tx:
            stored = await tx.get(OutboxMessage, row.id)
            if stored is None:
                return "gone"
            stored.state, stored.error, stored.lease_until = state, error, None
            if state == "sent":
                stored.sent_at, stored.message_id = now, message_id
            if retry_in is not None:
                stored.due_at, stored.claimed_by = now + timedelta(seconds=retry_in), None
            if state == "unreachable":
                await _mark_unreachable(tx, row.chat_id, now, error or "")
                for hook in self.on_unreachable:
                    await hook(tx, stored, now)
        level = logging.WARNING if state in ("failed", "unknown", "unreachable") else logging.INFO
        log.log(
            level,
            "outbox #%s %s to %s: %s%s",
            row.id,
            row.purpose,
            row.chat_id,
            state_name or state,
            f" ({error})" if error else "",
        )
        return state_name or state


async def _mark_unreachable(tx: AsyncSession, chat_id: int, now: datetime, reason: str) -> None:
    if chat_id > 0:  # a person's private chat (a group's id is negative)
        await roster.mark_unreachable(tx, chat_id, now, reason)
