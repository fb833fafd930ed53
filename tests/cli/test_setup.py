"""The database a command finds: only the set-up commands make a SQLite file, every other one
names the file it looked for; applying migrations is said in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from bot.importing import SAMPLE_ROSTER_PATH
from storage.db import Database, alembic_config
from tests.support.cli import run_cli
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
