"""A database out of reach stops every command with one line and status 2; a closed pipe
stops one quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.messages import says
from tests.support.network import free_port

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = [
    ("report",),
    ("db", "upgrade"),
    ("units", "list"),
    ("export", "status.xlsx"),
    ("restore", "backup.tar"),
    ("backup", "backup.tar"),
    ("deadletters",),
    ("run",),
]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", "123:token")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STAFF_IDS", raising=False)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_a_missing_folder_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: tuple[str, ...], lang: str
) -> None:
    """No traceback: the line names the database's folder and says to create it."""
    path = tmp_path / "nodir" / "x" / "r.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("LANGUAGE", lang)
    done = await run_cli(*command)
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, "cli.database_no_folder", lang, path=path, folder=path.parent)
    assert not path.parent.exists()


async def test_the_demo_kept_in_a_missing_folder_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "nodir" / "demo.db"
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("demo", "--keep", str(path))
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, "cli.database_no_folder", path=path, folder=path.parent)


async def test_a_folder_in_place_of_the_file_cannot_be_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SQLite's own refusal comes as one line naming the path."""
    folder = tmp_path / "bot.db"
    folder.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{folder}")
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("report")
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, "cli.database_unopenable", path=folder)


@pytest.mark.parametrize("command", [("report",), ("db", "upgrade"), ("backup", "b.tar")])
async def test_a_postgresql_server_not_running_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    """Connection refused: one line with the URL, its password hidden."""
    port = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+asyncpg://office:s3cret@127.0.0.1:{port}/bot")
    monkeypatch.setenv("LANGUAGE", "en")
    done = await run_cli(*command)
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    url = f"postgresql+asyncpg://office:***@127.0.0.1:{port}/bot"
    assert says(done.err, "cli.database_unreachable", "en", url=url)
    assert "s3cret" not in done.err


async def test_run_tries_again_later_when_the_postgresql_server_is_not_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Status 1, which systemd restarts (deploy/: it does not restart after 2, a bad setting)."""
    port = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+asyncpg://office:s3cret@127.0.0.1:{port}/bot")
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("run")
    assert done.code == 1, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(
        done.err,
        "cli.database_unreachable",
        url=f"postgresql+asyncpg://office:***@127.0.0.1:{port}/bot",
    )


@pytest.mark.parametrize(
    "url",
    [
        "mysql://office@localhost/bot",
        "postgresql://office@localhost/bot",
        "sqlite:///bot.db",
        "postgresql+asyncpg://office@localhost:port/bot",
    ],
)
async def test_a_bad_url_is_a_bad_setting(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    done = await run_cli("units", "list")
    assert done.code == 2, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    assert says(done.err, "cli.bad_setting", variable="DATABASE_URL")


def test_a_reader_that_goes_away_stops_the_command_quietly(
    tmp_path: Path, migrated_url: str
) -> None:
    """`liaison-bot units list | head -1`: no BrokenPipeError on stderr."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": migrated_url,
        "LANGUAGE": "zh",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "units", "list"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # the reader is gone before the command writes
        err = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert code == 141, err
    assert err == ""
