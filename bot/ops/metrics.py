"""Prometheus metrics: counts made as things happen, and figures read from the database at
scrape time (so every process of a deployment reports the same outbox and backup age).

Everything is in the bot's own `CollectorRegistry`, not prometheus-client's global one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, or_, select

from storage.models import OutboxMessage, Setting

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from storage.db import Database

log = logging.getLogger(__name__)

PREFIX = "liaison_bot_"
# Outbox states still on their way to Telegram.
WAITING = ("pending", "claimed", "sending")
# Bot API answers that show Telegram is reachable and knows the token (the others: 401 bad
# token, 404 wrong address or token, 409 another process takes the updates, 5xx).
REACHED = frozenset({200, 400, 403, 429})
# Bot API methods that put a message in front of a person.
REPLY_METHODS = ("send", "copyMessage", "forwardMessage", "editMessage")


# Failed tries after which an outbox message still pending counts as stuck (/healthz): four
# tries take about a minute of back-off (4 s, 8 s, 16 s, 32 s).
STUCK_AFTER_TRIES = 4


def _waiting(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Outbox rows on their way: due now, or tried already and due again after a back-off."""
    return (
        OutboxMessage.state.in_(WAITING),
        or_(OutboxMessage.due_at <= now, OutboxMessage.attempts > 0),
    )


# Since when a waiting row has waited: its due time, or, once tried (each try moves the due
# time on), when it was queued.
_WAITING_SINCE = case(
    (OutboxMessage.attempts > 0, OutboxMessage.created_at), else_=OutboxMessage.due_at
)


@dataclass
class Stuck:
    """Outbox messages that keep failing: how many, how long the oldest has waited (s), and
    the latest error."""

    count: int
    waited: float
    error: str


async def stuck_outbox(db: Database, now: datetime) -> Stuck | None:
    """The outbox messages still pending after STUCK_AFTER_TRIES failed tries (None: none)."""
    stuck = (
        OutboxMessage.state.in_(WAITING),
        OutboxMessage.attempts >= STUCK_AFTER_TRIES,
        # Telegram asking to slow down (a large broadcast) is not a fault: it passes.
        or_(OutboxMessage.error.is_(None), ~OutboxMessage.error.startswith("429")),
    )
    async with db.sessions() as session:
        count, since = (
            await session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(*stuck)
            )
        ).one()
        if not count:
            return None
        error = await session.scalar(
            select(OutboxMessage.error)
            .where(*stuck)
            .order_by(OutboxMessage.due_at.desc(), OutboxMessage.id.desc())
            .limit(1)
        )
    return Stuck(int(count), max(0.0, (now - since).total_seconds()), error or "")


@dataclass
class DatabaseFigures:
    """What the database says at one scrape."""

    outbox_by_state: dict[str, int]
    outbox_depth: int
    oldest_due_age: float
    reminders_sent: int
    backup_age: float | None


async def read_figures(db: Database, now: datetime) -> DatabaseFigures:
    """Read the outbox and the last backup's time in one short session."""
    from bot.ops.daily_backup import LAST_BACKUP  # (it imports Services, which imports this)

    async with db.sessions() as session:
        by_state = {
            str(state): int(count)
            for state, count in (
                await session.execute(
                    select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
                )
            ).all()
        }
        due = _waiting(now)
        depth = await session.scalar(select(func.count()).select_from(OutboxMessage).where(*due))
        oldest = await session.scalar(select(func.min(_WAITING_SINCE)).where(*due))
        reminders = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.purpose == "reminder", OutboxMessage.state == "sent")
        )
        last_backup = await session.scalar(select(Setting.value).where(Setting.key == LAST_BACKUP))
    backup_age = (
        (now - datetime.fromisoformat(last_backup)).total_seconds() if last_backup else None
    )
    return DatabaseFigures(
        outbox_by_state=by_state,
        outbox_depth=int(depth or 0),
        oldest_due_age=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        reminders_sent=int(reminders or 0),
        backup_age=backup_age,
    )


@dataclass(eq=False)  # registered in a registry, which needs it hashable
class _ScrapeCollector(Collector):
    """The figures of the last scrape, as metric families."""

    metrics: Metrics
    figures: DatabaseFigures | None = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            PREFIX + "database_up", "1 when the database answered this scrape, else 0"
        )
        up.add_metric([], 1 if self.figures else 0)
        yield up
        age = self.metrics.api_answer_age()
        if age is not None:
            yield GaugeMetricFamily(
                PREFIX + "api_last_answer_age_seconds",
                "Seconds since the Bot API last answered this process",
                value=age,
            )
        figures = self.figures
        if figures is None:
            return
        states = GaugeMetricFamily(
            PREFIX + "outbox_messages", "Outbox rows by state", labels=["state"]
        )
        for state, count in sorted(figures.outbox_by_state.items()):
            states.add_metric([state], count)
        yield states
        yield GaugeMetricFamily(
            PREFIX + "outbox_depth",
            "Outbox messages due now or being retried, not yet sent",
            value=figures.outbox_depth,
        )
        yield GaugeMetricFamily(
            PREFIX + "outbox_oldest_due_age_seconds",
            "How long the oldest of them has waited since it was first due (0 when none waits)",
            value=figures.oldest_due_age,
        )
        yield CounterMetricFamily(
            PREFIX + "reminders_sent",
            "Reminders delivered (all processes, from the outbox)",
            value=figures.reminders_sent,
        )
        if figures.backup_age is not None:
            yield GaugeMetricFamily(
                PREFIX + "backup_age_seconds",
                "Seconds since the last daily backup in BACKUP_DIR (absent: none made yet)",
                value=figures.backup_age,
            )


@dataclass
class Metrics:
    """The bot's metrics; request.py, polling.py and the outbox report to it."""

    clock: Callable[[], float] = time.monotonic
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    last_api_answer: float | None = None

    def __post_init__(self) -> None:
        r = self.registry
        self.updates = Counter(
            PREFIX + "updates",
            "Updates from Telegram: handled, retry (failed, comes again), dead_letter, duplicate",
            ["outcome"],
            registry=r,
        )
        self.replies = Counter(
            PREFIX + "replies",
            "Messages sent in answer to a person: sent, throttled, unreachable, failed",
            ["outcome"],
            registry=r,
        )
        self.outbox_sends = Counter(
            PREFIX + "outbox_sends",
            "Outbox deliveries: sent, retry, unreachable, failed, unknown",
            ["purpose", "outcome"],
            registry=r,
        )
        self.api_responses = Counter(
            PREFIX + "api_responses",
            "Bot API answers by HTTP status (429: throttled, 403: blocked); none: no answer",
            ["status"],
            registry=r,
        )
        self.dead_letters = Counter(
            PREFIX + "dead_letters", "Updates set aside as dead letters", registry=r
        )
        self._scrape = _ScrapeCollector(self)
        r.register(self._scrape)

    # ---- told as things happen -----------------------------------------------------------------

    def api_answer(self, url: str, status: int | None) -> None:
        """A Bot API call ended: with this HTTP status, or None when no answer came."""
        self.api_responses.labels("none" if status is None else str(status)).inc()
        if status in REACHED:
            self.last_api_answer = self.clock()

    def reply(self, endpoint: str, outcome: str) -> None:
        """A message sent in answer to a person (not through the outbox) ended so."""
        if endpoint.startswith(REPLY_METHODS) and endpoint != "sendChatAction":
            self.replies.labels(outcome).inc()

    def count_update(self, outcome: str) -> None:
        """Count one update by how its handling ended: handled, duplicate, retry (it failed and
        comes again), dead_letter."""
        self.updates.labels(outcome).inc()
        if outcome == "dead_letter":
            self.dead_letters.inc()

    def outbox_sent(self, purpose: str, outcome: str) -> None:
        self.outbox_sends.labels(purpose, outcome).inc()

    def api_answer_age(self) -> float | None:
        """Seconds since the Bot API last answered, or None if it never has."""
        if self.last_api_answer is None:
            return None
        return max(0.0, self.clock() - self.last_api_answer)

    # ---- scraped -------------------------------------------------------------------------------

    async def render(
        self, db: Database | None, now: datetime, *, db_timeout: float = 5.0
    ) -> bytes:
        """The Prometheus text of every metric, the database read now (None: it is down)."""
        self._scrape.figures = None
        if db is None:
            return generate_latest(self.registry)
        try:
            self._scrape.figures = await asyncio.wait_for(read_figures(db, now), db_timeout)
        except Exception as exc:
            log.warning("metrics: the database did not answer: %s", exc)
        return generate_latest(self.registry)
