"""The database a command finds: only the set-up commands make a SQLite file or the tables of
an empty database, every other one names the database it looked at (`run` with status 1, which
systemd tries again); applying migrations is said in one line."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, make_url

from bot.importing import SAMPLE_ROSTER_PATH
from storage.db import Database, alembic_config, sqlite_file
from tests.support.cli import run_cli
from tests.support.databases import drop_pg_database, fresh_pg_database
from tests.support.messages import mentions, says

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

# Commands that read or change the office's data: none of them makes a database.
NOT_CREATING = [
    ("report",),
    ("units", "list"),
    ("checklist", "list"),
    ("deadline", "show"),
    ("deadline", "set", "2099-12-31"),
    ("staff", "list"),
    ("remind", "--dry-run"),
    ("deadletters",),
    ("invite", "--all-missing"),
    ("export", "status.xlsx"),
    ("backup", "b.tar.gz"),
]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A folder with no database and no .env: the default URL names liaison-bot.db here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STAFF_IDS", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("args", NOT_CREATING, ids=" ".join)
async def test_a_command_outside_the_install_folder_makes_no_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...], lang: str
) -> None:
    """One line names the file looked for and how to point at the right one; status 2."""
    monkeypatch.setenv("LANGUAGE", lang)
    done = await run_cli(*args)
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, "setup.database_missing", lang, path=tmp_path / "liaison-bot.db")
    assert done.out == ""
    assert not (tmp_path / "liaison-bot.db").exists()


@pytest.mark.parametrize(
    "args", [("units", "import", str(SAMPLE_ROSTER_PATH)), ("db", "upgrade")], ids=" ".join
)
async def test_the_first_set_up_makes_the_database_and_says_where(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli(*args)
    assert done.code == 0, done.err
    made = tmp_path / "liaison-bot.db"
    said = done.out if args[0] == "db" else done.err
    assert says(said.splitlines()[0], "setup.database_created", path=made, revision=HEAD)
    assert made.exists()
    report = await run_cli("report")
    assert report.code == 0, report.err
    assert report.err == ""  # nothing left to apply: nothing said


def contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def stops_after_migrating(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`run`'s environment, with a DATA_DIR that takes no file (outside tmp_path): a `run`
    that went on would stop with status 2 right after applying the migrations."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "plain-file").write_text("not a folder")
    monkeypatch.setenv("DATA_DIR", str(elsewhere / "plain-file" / "data"))
    monkeypatch.setenv("BOT_TOKEN", "123:token")


@pytest.mark.usefixtures("stops_after_migrating")
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_run_starts_on_no_new_database_when_the_file_is_not_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str
) -> None:
    """The disk holding the database not mounted at boot, or the file moved: one line, status 1
    (systemd tries again, and a disk mounted late heals by itself), and nothing made: no
    file, no lock file, no folder."""
    monkeypatch.setenv("LANGUAGE", lang)
    done = await run_cli("run")
    assert done.code == 1, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, "setup.run_database_missing", lang, path=tmp_path / "liaison-bot.db")
    assert done.out == ""
    assert contents(tmp_path) == []


@pytest.mark.usefixtures("stops_after_migrating")
async def test_run_on_an_empty_mount_point_leaves_it_empty(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{disk / 'liaison-bot.db'}")
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("run", "--no-updates")
    assert done.code == 1, done.err
    assert says(done.err, "setup.run_database_missing", path=disk / "liaison-bot.db")
    assert contents(disk) == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all, on each engine: a SQLite file of nothing (as
    `sqlite3 FILE` leaves), a new PostgreSQL database with a password in its URL."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()
        assert path.exists()
        yield f"sqlite+aiosqlite:///{path}"
        return
    url, name = await fresh_pg_database()
    with_password = make_url(url).set(password="s3cret")  # the test server trusts 127.0.0.1
    yield with_password.render_as_string(hide_password=False)
    await drop_pg_database(name)


def named(url: str) -> str:
    """The database as a line names it: a SQLite file's path, else the URL without password."""
    path = sqlite_file(url)
    return str(path) if path else make_url(url).render_as_string(hide_password=True)


async def tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.dispose()


@pytest.mark.usefixtures("stops_after_migrating")
@pytest.mark.parametrize(
    ("args", "code", "key"),
    [
        (("report",), 2, "setup.database_empty"),
        (("units", "list"), 2, "setup.database_empty"),
        (("backup", "b.tar.gz"), 2, "setup.database_empty"),
        (("run",), 1, "setup.run_database_empty"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v),
)
async def test_a_database_without_tables_is_not_taken_for_the_offices(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    empty_url: str,
    args: tuple[str, ...],
    code: int,
    key: str,
) -> None:
    """DATABASE_URL naming another, empty database: one line naming it (no password), nothing
    made in it; `run` with status 1, as for a file that is not there."""
    monkeypatch.setenv("DATABASE_URL", empty_url)
    monkeypatch.setenv("LANGUAGE", "en")
    done = await run_cli(*args)
    assert done.code == code, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, key, "en", database=named(empty_url))
    assert "s3cret" not in done.err
    assert await tables(empty_url) == set()
    assert not (tmp_path / "b.tar.gz").exists()


@pytest.mark.parametrize(
    "args", [("units", "import", str(SAMPLE_ROSTER_PATH)), ("db", "upgrade")], ids=" ".join
)
async def test_a_set_up_command_makes_the_tables_of_an_empty_database(
    monkeypatch: pytest.MonkeyPatch, empty_url: str, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli(*args)
    assert done.code == 0, done.err
    said = done.out if args[0] == "db" else done.err
    assert says(said.splitlines()[0], "setup.tables_created", revision=HEAD)
    report = await run_cli("report")
    assert report.code == 0, report.err


async def test_db_upgrade_says_when_there_is_nothing_to_apply(
    monkeypatch: pytest.MonkeyPatch, migrated_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "en")
    done = await run_cli("db", "upgrade")
    assert done.code == 0, done.err
    assert says(done.out, "setup.up_to_date", "en", revision=HEAD)


async def one_revision_down(url: str) -> str:
    """Take the database one migration down; return the revision it is at then."""
    assert HEAD is not None
    below = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD).down_revision
    assert isinstance(below, str)

    def down(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), below)

    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(down)
    finally:
        await db.dispose()
    return below


async def test_db_upgrade_names_the_revisions_it_went_from_and_to(
    monkeypatch: pytest.MonkeyPatch, migrated_url: str
) -> None:
    before = await one_revision_down(migrated_url)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("db", "upgrade")
    assert done.code == 0, done.err
    assert says(done.out, "setup.upgraded", before=before, after=HEAD)


async def test_another_command_that_applies_migrations_says_so_on_stderr(
    monkeypatch: pytest.MonkeyPatch, migrated_url: str
) -> None:
    before = await one_revision_down(migrated_url)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("units", "list")
    assert done.code == 0, done.err
    assert says(done.err, "setup.upgraded", before=before, after=HEAD)
    assert says(done.out, "cli.no_units")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_holiday_file_that_cannot_be_read_is_one_line_and_the_command_runs(
    monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path, lang: str
) -> None:
    """Every command stopped with status 2 on a bad HOLIDAY_FILE, naming its first bad row."""
    holidays = tmp_path / "2027.csv"
    holidays.write_text("日期,类型\n2027-01-01,休\n2027-02-30,休\n2027-02-08,上午\n", "utf-8")
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", lang)
    monkeypatch.setenv("HOLIDAY_FILE", str(holidays))
    done = await run_cli("deadline", "show")
    assert done.code == 0, done.err
    [line] = done.err.splitlines()
    assert mentions(line, "calendar.file_bad_line", lang, file=holidays, count=2)
    assert mentions(line, "uploads.problem_row", lang, row=3)
    assert mentions(line, "uploads.problem_row", lang, row=4)
    assert mentions(line, "calendar.file_unused", lang)
    holidays.unlink()
    done = await run_cli("deadline", "show")
    assert done.code == 0, done.err
    [line] = done.err.splitlines()
    assert mentions(line, "calendar.file_missing", lang, file=holidays)


@pytest.mark.usefixtures("stops_after_migrating")
async def test_run_still_upgrades_a_database_of_an_older_version(
    monkeypatch: pytest.MonkeyPatch, migrated_url: str
) -> None:
    """The office's database, one version behind (the bot upgraded): `run` applies the rest
    (and stops then, on a DATA_DIR that takes no file)."""
    await one_revision_down(migrated_url)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("run", "--no-updates")
    assert done.code == 2, done.err
    assert says(done.err.strip().splitlines()[-1], "runtime.data_dir_unwritable")
    db = Database(migrated_url)
    try:
        assert (await db.upgrade()).before == HEAD
    finally:
        await db.dispose()
