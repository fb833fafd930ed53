"""The office end to end: a seeded database, the bot as a process, and its people."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.demo.sample import seed_notice_situation
from bot.demo.simulation import Person
from bot.ledger.checklist import prepare_database
from bot.sandbox.client import SandboxClient
from bot.sandbox.models import SentMessage
from bot.services import Services
from storage.db import Database
from storage.models import OutboxMessage, Unit
from storage.models import Person as Holder
from tests.support.messages import label, mentions, says
from tests.support.process import BotProcess
from tests.support.settings import make_settings
from tests.support.waiting import eventually

# A notice staff broadcast in the tests.
NOTICE = "关于报送双拥工作资料台账的通知：请各单位于12月5日前报送。"


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    """Wait for something the bot does on its own (delivery is paced); fail after `seconds`."""
    await eventually(check, seconds=seconds, every=0.1)


@dataclass
class Office:
    services: Services
    bot: BotProcess
    sandbox: SandboxClient

    async def person(self, user_id: int, name: str, *, started: bool = True) -> Person:
        await self.sandbox.add_user(
            user_id=user_id, first_name=name, language_code="zh-hans", started=started
        )
        return Person(self.sandbox, user_id, name, timeout=60.0)

    async def liaisons(self) -> list[tuple[int, str]]:
        """(Telegram id, unit) of every liaison on record, in the roster's order."""
        async with self.services.db.sessions() as session:
            rows = await session.execute(
                select(Holder.telegram_user_id, Unit.name)
                .join(Unit, Unit.id == Holder.unit_id)
                .where(Holder.until.is_(None), Holder.role == "liaison")
                .order_by(Holder.telegram_user_id)
            )
            return [(int(user), str(name)) for user, name in rows.all() if user]

    async def count(self, model: type[Any], *where: Any) -> int:
        async with self.services.db.sessions() as session:
            query = select(func.count()).select_from(model)
            for condition in where:
                query = query.where(condition)
            return int(await session.scalar(query) or 0)

    async def outbox_states(self, broadcast_id: int, purpose: str = "broadcast") -> list[str]:
        async with self.services.db.sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage.state).where(
                    OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.purpose == purpose
                )
            )
            return sorted(rows.all())


async def start_office(
    make_bot: Callable[..., BotProcess],
    sandbox: SandboxClient,
    tmp_path: Path,
    **env: str,
) -> tuple[Office, Services]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = Services(settings=make_settings(url), db=Database(url))
    await prepare_database(services)
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    await sandbox.configure(callback_timeout=None)
    bot = make_bot(url, **env)
    await bot.start()
    return Office(services=services, bot=bot, sandbox=sandbox), services


def text(message: SentMessage) -> str:
    return message.text or message.caption or ""


async def compose_and_send(staff: Person, notice: str) -> tuple[SentMessage, SentMessage]:
    """/broadcast → text → everyone registered → preview → send; the preview message."""
    [prompt] = await staff.say("/broadcast")
    assert says(prompt.text, "broadcast.compose")
    [choose] = await staff.say(notice)
    assert says(choose.text, "broadcast.choose_audience")
    await staff.press(label("broadcast.audience_registered"), expect=0)
    preview = await staff.edited(choose.message_id)
    assert mentions(preview.text, "broadcast.preview_recipients", count=37)
    assert mentions(preview.text, "broadcast.preview_without_contact", count=13)
    send = label("broadcast.button_send", count=37)
    assert send in preview.button_texts()
    await staff.press(send, expect=0)
    return choose, preview
