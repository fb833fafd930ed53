"""The systemd unit in deploy/: it restarts the bot on failure, runs it as its own user with
the project's .env, and systemd itself accepts it (where systemd-analyze is installed)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "liaison-bot.service"
HOME = "/opt/liaison-bot"


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser["Service"]


def test_the_unit_restarts_on_failure_as_its_own_user_with_the_env_file() -> None:
    service = service_section()
    assert service["Restart"] == "on-failure"
    assert service["User"] == "liaison-bot"
    assert service["User"] != "root"
    assert service["WorkingDirectory"] == HOME
    assert service["EnvironmentFile"] == f"{HOME}/.env"
    assert service["ExecStart"] == f"{HOME}/.venv/bin/liaison-bot run"
    assert HOME in service["ReadWritePaths"].split()


def test_a_bad_setting_is_not_restarted_forever() -> None:
    """A bad setting stops the program with status 2 (tests/test_settings.py); no restart
    mends it."""
    assert service_section()["RestartPreventExitStatus"].split() == ["2"]


def test_the_backup_folder_of_the_examples_is_one_the_unit_lets_the_bot_write() -> None:
    """BACKUP_DIR in the guides lies under a folder of ReadWritePaths= (ProtectSystem=strict)."""
    writable = [Path(p) for p in service_section()["ReadWritePaths"].split()]
    for doc in ("README.md", "docs/使用指南.md", "docs/guide.en.md", ".env.example"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        folders = re.findall(r"BACKUP_DIR=(/[^\s`'\"]+)", text)
        assert folders, doc  # each shows a folder the unit allows
        for folder in folders:
            assert any(Path(folder).is_relative_to(w) for w in writable), (doc, folder)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_accepts_the_unit_with_this_checkout_as_its_home(tmp_path: Path) -> None:
    """With /opt/liaison-bot read as this checkout, ExecStart names the installed command."""
    unit = tmp_path / "liaison-bot.service"
    # The command installed in the environment running the tests (this checkout's .venv
    # under `make test`).
    command = Path(sys.executable).parent / "liaison-bot"
    text = UNIT.read_text(encoding="utf-8").replace(f"{HOME}/.venv/bin/liaison-bot", str(command))
    unit.write_text(text.replace(HOME, str(ROOT)), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "liaison-bot.service" not in done.stderr, done.stderr
