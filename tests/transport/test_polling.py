"""Taking updates: each chat's in order, chats at once, the offset only past what is handled.

The bot serves in-process (`serve()`) against the emulator. A conversation step that waits
for the test to let it go stands for a slow update (a 20 MB download, an export, a reply
waiting out a 429); nothing here is timed: the test holds the step and looks at what happened
meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telegram import Update

from bot.app import serve
from bot.context import Context
from bot.conversations import StepOut
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from handlers import flows
from messages import strip_html, t
from storage.db import Database
from storage.models import ConversationStep
from tests.support.settings import emulated_settings
from tests.support.waiting import eventually

SLOW, OTHER = 8101, 8102


class Probe:
    """A conversation step that records what it is given and holds the first text until
    `release` is set."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.release = asyncio.Event()

    async def step(self, update: Update, context: Context, step: StepOut) -> None:
        text = update.effective_message.text if update.effective_message else ""
        self.seen.append(f"start {text}")
        if text == "一":
            await self.release.wait()
        self.seen.append(f"end {text}")


@pytest.fixture
async def probe(
    emulator: Emulator,
    sandbox: SandboxClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Probe]:
    """The bot serving, with SLOW in the probe's conversation and OTHER a stranger."""
    probe = Probe()
    monkeypatch.setitem(flows.FLOWS, "probe", probe.step)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = emulated_settings(
        url, emulator.base_url, tmp_path / "data", scheduled_reminders=False, staff_ids="900"
    )
    services = Services(settings=settings, db=Database(url))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(services, stop=stop))

    async def polling() -> bool:
        if task.done():
            task.result()
        return (await sandbox.state()).polling

    await eventually(polling)
    for user in (SLOW, OTHER):
        await sandbox.add_user(user_id=user, first_name=f"用户{user}", language_code="zh-hans")
    async with services.db.uow() as tx:
        tx.add(
            ConversationStep(
                user_id=SLOW, flow="probe", step="wait", data={}, updated_at=datetime.now(UTC)
            )
        )
    try:
        yield probe
    finally:
        probe.release.set()
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await services.close()


async def test_a_slow_update_holds_up_its_own_chat_only(
    probe: Probe, sandbox: SandboxClient
) -> None:
    first = await sandbox.send_text(SLOW, "一")
    await sandbox.send_text(SLOW, "二")
    await sandbox.send_text(SLOW, "三")
    other = await sandbox.send_text(OTHER, "/help")

    # Another person is answered while the first update of SLOW's chat is still in hand ...
    [answer] = await sandbox.wait_messages(OTHER, 1, timeout=20)
    assert (answer.text or "").startswith(strip_html(t("zh", "help.heading_everyone")))
    # ... SLOW's next updates wait behind it, and the offset stays at it although a later
    # update (OTHER's) has been handled.
    assert probe.seen == ["start 一"]
    state = await sandbox.state()
    assert first < other
    assert state.confirmed_offset <= first

    probe.release.set()

    async def all_three() -> bool:
        return len(probe.seen) == 6

    await eventually(all_three)
    assert probe.seen == ["start 一", "end 一", "start 二", "end 二", "start 三", "end 三"]
    await sandbox.wait_confirmed(other, timeout=20)
