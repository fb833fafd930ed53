"""What the pacing benchmark and the crash and fault suites share: an office of registered
liaisons, a broadcast or a round of reminders queued through the bot's own use-cases, and
the count of what each liaison received.

Every liaison gets one message of a broadcast (and one reminder of a round), so a liaison
with none lost it, one with two got it twice; an outbox row whose outcome is unknown (the
process died while sending, or Telegram's answer never came) is counted apart, delivered
or not, and is never sent again by itself."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bench.support import TOKEN, BotRun, bot_env, seed_units, services_for
from bot.registration.invites import create_invites
from bot.reminders.rounds import queue_round
from bot.sandbox.limits import Limits
from bot.sandbox.models import NewUser
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.staff import broadcasts
from storage.models import OutboxMessage

STAFF = 600_000_001
LIAISONS = 650_000_000  # + n: the liaison of unit n
REGISTRANTS = 660_000_000  # + n: a liaison in the middle of registering
OPEN = ("pending", "claimed", "sending")


async def seed(services: Services, liaisons: int, *, registrants: int = 0) -> list[str]:
    """`liaisons` units with a registered liaison each (owing every item), and `registrants`
    units waiting for theirs; return the registrants' invite tokens."""
    names = [f"单位{n:05d}" for n in range(liaisons + registrants)]
    await seed_units(services, names, [LIAISONS + n for n in range(liaisons)])
    if not registrants:
        return []
    made = await create_invites(services=services, units=names[liaisons:])
    return [invite.token for invite in made]


@dataclass
class Office:
    """An emulated Telegram and a seeded database, for one run of a suite."""

    emulator: Emulator
    database_url: str
    services: Services
    tokens: list[str]  # the registrants' invite tokens

    def bot(
        self, workdir: Path, *, name: str = "bot", no_updates: bool = False, **settings: str
    ) -> BotRun:
        """`liaison-bot run` (`--no-updates`: deliver only) against this office, STAFF its
        staff, with more `settings`."""
        args = ["-m", "bot", "run", *(["--no-updates"] if no_updates else [])]
        env = bot_env(
            self.emulator.base_url, self.database_url, workdir, STAFF_IDS=str(STAFF), **settings
        )
        return BotRun(name, args, env, workdir)


@asynccontextmanager
async def office(
    database_url: str, liaisons: int, *, registrants: int = 0, limits: Limits | None = None
) -> AsyncIterator[Office]:
    """Start the emulator (enforcing `limits`; None: no rate limit) and seed the database
    (see seed), every person a Telegram user who started the bot; stop both after."""
    emulator = Emulator(
        token=TOKEN, limits=limits, rate_limits=None if limits else False, max_log=1_000_000
    )
    await emulator.start()
    try:
        async with services_for(database_url, staff=(STAFF,)) as services:
            tokens = await seed(services, liaisons, registrants=registrants)
            add_people(emulator, liaisons, registrants)
            yield Office(emulator, database_url, services, tokens)
    finally:
        await emulator.stop()


def add_people(emulator: Emulator, liaisons: int, registrants: int = 0) -> None:
    """The staff member, the liaisons and the registrants, as Telegram users who started the
    bot."""
    people = [STAFF, *(LIAISONS + n for n in range(liaisons))]
    people += [REGISTRANTS + n for n in range(registrants)]
    for user in people:
        if user not in emulator.state.users:
            emulator.state.add_user(
                NewUser(id=user, first_name=f"用户{user}", language_code="zh-hans", started=True)
            )


async def queue_broadcast(services: Services, emulator: Emulator, text: str) -> int:
    """A notice to every registered liaison, as staff send it with /broadcast; its id."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{emulator.base_url}/bot{TOKEN}/sendMessage",
            data={"chat_id": str(STAFF), "text": "进度"},
        ) as answer,
    ):
        progress = (await answer.json())["result"]["message_id"]
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(services=services, actor_id=STAFF, summary=text, text=text)
    await broadcasts.set_audience(services=services, actor_id=STAFF, audience="registered")
    sent = await broadcasts.confirm(
        services=services,
        actor_id=STAFF,
        progress_chat_id=STAFF,
        progress_message_id=int(progress),
    )
    return sent.id


async def queue_reminders(services: Services) -> int:
    """A round of reminders for every outstanding unit (`liaison-bot remind`); how many."""
    out = await queue_round(services=services)
    return out.queued


async def outbox_states(services: Services, purpose: str | None = None) -> Counter[str]:
    """Outbox rows by state (of one purpose)."""
    query = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    if purpose is not None:
        query = query.where(OutboxMessage.purpose == purpose)
    async with services.db.sessions() as session:
        return Counter({state: int(n) for state, n in (await session.execute(query)).all()})


async def unknown_chats(services: Services, purpose: str) -> set[int]:
    async with services.db.sessions() as session:
        found = await session.scalars(
            select(OutboxMessage.chat_id).where(
                OutboxMessage.purpose == purpose, OutboxMessage.state == "unknown"
            )
        )
        return set(found.all())


@dataclass
class Delivery:
    """What the liaisons received of one kind of message, against what was meant."""

    meant: int
    delivered: int
    lost: int
    duplicated: int
    unknown: int
    unknown_delivered: int

    def line(self) -> str:
        return (
            f"{self.meant} meant, {self.delivered} delivered, {self.lost} lost, "
            f"{self.duplicated} duplicated, {self.unknown} outcome unknown "
            f"({self.unknown_delivered} of them delivered)"
        )


def received(emulator: Emulator, chats: list[int], marker: str) -> dict[int, int]:
    """How many of the bot's messages containing `marker` each chat has."""
    counts: dict[int, int] = {}
    for chat in chats:
        found = emulator.state.chats.get(chat)
        messages = found.messages.values() if found is not None else []
        counts[chat] = sum(1 for m in messages if m.from_bot and marker in (m.text or ""))
    return counts


async def tally(
    services: Services, emulator: Emulator, chats: list[int], marker: str, purpose: str
) -> Delivery:
    """Count each liaison's messages of one kind: lost (none, outcome known), duplicated
    (more than one), outcome unknown."""
    counts = received(emulator, chats, marker)
    unknown = await unknown_chats(services, purpose)
    return Delivery(
        meant=len(chats),
        delivered=sum(1 for n in counts.values() if n),
        lost=sum(1 for c, n in counts.items() if not n and c not in unknown),
        duplicated=sum(1 for n in counts.values() if n > 1),
        unknown=len(unknown & set(chats)),
        unknown_delivered=sum(1 for c in unknown if counts.get(c)),
    )


async def settled(
    services: Services, seconds: float, purposes: tuple[str, ...] = ("broadcast", "reminder")
) -> bool:
    """Wait until no outbox row of `purposes` is pending, claimed or sending (True), or
    `seconds` pass."""
    query = select(func.count()).where(
        OutboxMessage.purpose.in_(purposes), OutboxMessage.state.in_(OPEN)
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with services.db.sessions() as session:
            if not await session.scalar(query):
                return True
        await asyncio.sleep(0.2)
    return False
