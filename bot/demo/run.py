"""`liaison-bot demo`: the notice's situation played out offline, over HTTP, in one terminal.

A local Bot API emulator stands in for Telegram; the bot runs against it exactly as against
Telegram; simulated people talk to it; the narration says what happens; the outstanding
report closes the show. The database is a temporary file, removed at the end."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select

from bot.app import serve
from bot.clock import FrozenClock
from bot.demo.sample import FIRST_USER_ID, STAFF_USER_ID, SampleUnit, seed_notice_situation
from bot.demo.scenes.ledger import scene_ledger
from bot.demo.scenes.registration import scene_registration
from bot.demo.scenes.reminders import scene_reminders
from bot.demo.scenes.staff import scene_staff
from bot.demo.simulation import Person
from bot.ledger.checklist import prepare_database
from bot.ledger.report import build_report, render_report
from bot.logs import quieted
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from bot.settings import Settings
from messages import plain, strip_html
from storage.db import Database
from storage.models import OutboxMessage

OUTBOX_OPEN = ("pending", "claimed", "sending")
DEMO_TOKEN = "5550001:DEMO-TOKEN-not-a-real-one-000000"
DEMO_DEADLINE = date(2026, 12, 31)
# The demo's simulated time starts on a Monday, 09:00 office time, before the National Day
# holiday; the reminders scene moves it on day by day.
DEMO_START = datetime(2026, 9, 28, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@dataclass
class Stage:
    """What every scene of the demo works with."""

    services: Services
    sandbox: SandboxClient
    lang: str

    def say(self, key: str, /, **values: object) -> None:
        print(plain(self.lang, key, **values), flush=True)

    def narrate(self, who: str, kind: str, text: str) -> None:
        shown = strip_html(text).strip().replace("\n", "\n    ")
        if kind == "says":
            print(plain(self.lang, "demo.person_says", who=who, text=shown), flush=True)
        else:
            print(plain(self.lang, "demo.bot_says", who=who, text=shown), flush=True)

    async def delivered(self, *where: ColumnElement[bool]) -> None:
        """Wait until the outbox has delivered the matching messages, moving the simulated
        time past a retry that Telegram's 429 put off (the demo's clock does not move alone)."""
        clock = self.services.clock
        for _ in range(1200):  # two minutes
            async with self.services.db.sessions() as session:
                query = select(OutboxMessage).where(OutboxMessage.state.in_(OUTBOX_OPEN), *where)
                rows = (await session.scalars(query)).all()
            if not rows:
                return
            later = [r.due_at for r in rows if r.state == "pending" and r.due_at > clock.now()]
            if later and len(later) == len(rows) and isinstance(clock, FrozenClock):
                clock.set(min(later))
            await asyncio.sleep(0.1)
        raise RuntimeError("the bot did not deliver its messages in time")

    async def person(self, user_id: int, name: str, *, language: str | None = None) -> Person:
        code = {"zh": "zh-hans", "en": "en"}[language or self.lang]
        await self.sandbox.add_user(user_id=user_id, first_name=name, language_code=code)
        return Person(self.sandbox, user_id, name, narrate=self.narrate)


Scene = Callable[[Stage], Awaitable[None]]


async def scene_first_contact(stage: Stage) -> None:
    """A new person and a member of staff open the bot and ask for help."""
    visitor = await stage.person(FIRST_USER_ID - 1, plain(stage.lang, "demo.visitor_name"))
    await visitor.start()
    await visitor.say("/help")
    other = "en" if stage.lang == "zh" else "zh"
    await visitor.say(f"/language {other}")
    await visitor.say("/help")
    staff = await stage.person(STAFF_USER_ID, plain(stage.lang, "demo.staff_name"))
    await staff.start()
    await staff.say("/help")


# Registration and the ledger first; the reminders' simulated days; the staff's console last.
SCENES: list[Scene] = [
    scene_first_contact, scene_registration, scene_ledger, scene_reminders, scene_staff,
]  # fmt: skip


async def run_demo(*, lang: str, keep: Path | None = None) -> int:
    """Play every scene and print the outstanding report; 0 when all went as expected."""
    # The narration tells what happens; the bot's own warnings (a 429 waited out) would clutter it.
    with quieted(("", logging.WARNING), ("bot", logging.ERROR)):
        return await _play(lang=lang, keep=keep)


@dataclass
class Serving:
    """The demo's bot serving its emulator, on the notice's situation."""

    services: Services
    url: str
    task: asyncio.Task[None]
    sample: list[SampleUnit]


@asynccontextmanager
async def serving(
    *, lang: str, database: Path, workdir: Path, username: str
) -> AsyncIterator[Serving]:
    """Start the emulator and the bot on the sample roster; stop both when done."""
    emulator = Emulator(token=DEMO_TOKEN, username=username)
    url = await emulator.start()
    settings = Settings(
        _env_file=None,
        bot_token=DEMO_TOKEN,
        telegram_api_url=url,
        database_url=f"sqlite+aiosqlite:///{database}",
        staff_ids=str(STAFF_USER_ID),
        language=lang,
        data_dir=workdir / "data",
    )
    services = Services(
        settings=settings, db=Database(settings.database_url), clock=FrozenClock(DEMO_START)
    )
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        await services.db.reach()  # a --keep file in a folder that is not there: one line
        await prepare_database(services)
        sample = await seed_notice_situation(services=services, deadline=DEMO_DEADLINE)
        task = asyncio.create_task(serve(services, stop=stop))
        yield Serving(services=services, url=url, task=task, sample=sample)
    finally:
        stop.set()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await services.close()
        await emulator.stop()


async def _play(*, lang: str, keep: Path | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="liaison-demo-"))
    print(plain(lang, "demo.title"), flush=True)
    print(plain(lang, "demo.starting"), flush=True)
    try:
        return await _scenes(lang=lang, database=keep or workdir / "demo.db", workdir=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if keep is None:
            print(plain(lang, "demo.done"), flush=True)


async def _scenes(*, lang: str, database: Path, workdir: Path) -> int:
    username = "liaison_demo_bot"
    async with serving(lang=lang, database=database, workdir=workdir, username=username) as bot:
        sample, services = bot.sample, bot.services
        print(
            plain(
                lang,
                "demo.setup",
                units=len(sample),
                no_contacts=sum(1 for u in sample if u.liaison_user_id is None),
                missing=sum(1 for u in sample if not u.complete),
            ),
            flush=True,
        )
        async with SandboxClient(bot.url) as sandbox:
            await _wait_until_serving(sandbox, bot.task)
            print(plain(lang, "demo.ready", url=bot.url, username=username), flush=True)
            stage = Stage(services=services, sandbox=sandbox, lang=lang)
            for scene in SCENES:
                await scene(stage)
            warnings = await sandbox.warnings()
        report = await build_report(services=services)
        print()
        print(plain(lang, "demo.report_heading"), flush=True)
        print(strip_html(render_report(report, lang)), flush=True)
    if warnings:
        print(f"emulator warnings: {warnings}", flush=True)
        return 1
    # One of the 13 registered in the demo, and at least one unit closed its ledger.
    if report.totals.missing_contacts != 12 or report.totals.missing_items >= 25:
        print(f"unexpected outcome: {report.totals}", flush=True)
        return 1
    return 0


async def _wait_until_serving(sandbox: SandboxClient, bot_task: asyncio.Task[None]) -> None:
    """Wait until the bot polls for updates (or fail if it stopped)."""
    for _ in range(200):
        if bot_task.done():
            bot_task.result()
            raise RuntimeError("the bot stopped before it was ready")
        if (await sandbox.state()).polling:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the bot did not start polling")
