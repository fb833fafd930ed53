"""Shared fixtures: a migrated database on SQLite (always) and PostgreSQL (when given)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.clock import FrozenClock
from bot.sandbox.client import SandboxClient
from bot.sandbox.server import Emulator
from bot.services import Services
from storage.db import Database
from tests.support.databases import (
    PG_URL,
    drop_pg_database,
    fresh_pg_database,
    require_postgres,
    set_up_sqlite,
)
from tests.support.settings import START, TEST_TOKEN, make_settings
from tests.support.tally import SENT


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need PostgreSQL or LibreOffice are reported as skipped where neither is
    installed; in CI both must be there (.ci/run installs and starts them)."""
    missing = {
        "postgres": None if PG_URL else "no TEST_POSTGRES_URL given (make test starts one)",
        "libreoffice": None
        if shutil.which("soffice") and shutil.which("pdftotext")
        else "LibreOffice (soffice) or poppler-utils (pdftotext) not installed",
    }
    for mark, reason in missing.items():
        if reason is not None and os.environ.get("CI"):
            raise pytest.UsageError(f"CI must provide what {mark} tests need: {reason}")
        absent = pytest.mark.skipif(reason is not None, reason=reason or "")
        for item in items:
            if mark in item.keywords:
                item.add_marker(absent)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many updates each property test sent, all examples together (in every worker)."""
    for name, count in sorted(SENT.items()):
        terminalreporter.write_line(f"{name}: {count:,} updates sent to the application")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand the worker's counts to the main process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["updates_sent"] = dict(SENT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """In the main process of a pytest-xdist run: add up what each worker counted."""
    SENT.update(getattr(node, "workeroutput", {}).get("updates_sent", {}))


async def _prepare(url: str, data_dir: Path) -> None:
    """Migrate an empty database and load the shipped checklist, as `run` does at start."""
    from bot.ledger.checklist import prepare_database

    svc = Services(settings=make_settings(url, data_dir=data_dir), db=Database(url))
    try:
        await prepare_database(svc)
    finally:
        await svc.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, made once per run and copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{path}", folder / "data"))
    return path


_PG_TEMPLATE: list[str] = []


async def _pg_template() -> str:
    """A migrated PostgreSQL database, made once per run; tests copy it (CREATE … TEMPLATE)."""
    if not _PG_TEMPLATE:
        url, name = await fresh_pg_database()
        await _prepare(url, Path(tempfile.mkdtemp()))
        _PG_TEMPLATE.append(name)
    return _PG_TEMPLATE[0]


async def _copy_pg_database(template: str) -> tuple[str, str]:
    base = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return base.rsplit("/", 1)[0] + f"/{name}", name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def migrated_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A migrated database holding the shipped checklist, on each engine (a copy of one
    made once per run, which is much faster than migrating for every test)."""
    if request.param == "sqlite":
        yield set_up_sqlite(sqlite_template, tmp_path / "bot.db")
        return
    url, name = await _copy_pg_database(await _pg_template())
    yield url
    await drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database's URL, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    url, name = await fresh_pg_database()
    yield url
    await drop_pg_database(name)


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database at tmp_path/bot.db, as a set-up command leaves it: what
    `liaison-bot run` needs to find (it makes no database)."""
    return set_up_sqlite(sqlite_template, tmp_path / "bot.db")


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh PostgreSQL database (tests using it must carry @pytest.mark.postgres)."""
    assert request.node.get_closest_marker("postgres"), "mark the test @pytest.mark.postgres"
    url, name = await fresh_pg_database()
    yield url
    await drop_pg_database(name)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The Bot API emulator, in this process, on a free port of 127.0.0.1."""
    emu = Emulator(token=TEST_TOKEN, username="liaison_test_bot")
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def sandbox(emulator: Emulator) -> AsyncIterator[SandboxClient]:
    """The emulator's control client."""
    async with SandboxClient(emulator.base_url) as client:
        yield client


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def services(
    migrated_url: str, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[Services]:
    """Services on a migrated database (SQLite and PostgreSQL) with a frozen clock."""
    settings = make_settings(migrated_url, data_dir=tmp_path / "data", staff_ids="900")
    svc = Services(settings=settings, db=Database(migrated_url), clock=clock)
    yield svc
    await svc.close()
