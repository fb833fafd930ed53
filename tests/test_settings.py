"""Settings: each variable read, and each kind of bad value named in one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from messages import catalogue, plain
from tests.support.databases import set_up_sqlite
from tests.support.messages import says

ROOT = str(Path(__file__).resolve().parents[1])

ALL_VARIABLES = (
    "BOT_TOKEN", "TELEGRAM_API_URL", "BOT_USERNAME", "DATABASE_URL", "STAFF_IDS", "TIMEZONE",
    "LANGUAGE", "DATA_DIR", "TELEGRAM_PROXY", "LOG_LEVEL",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's


def bot_command(
    command: str, env: dict[str, str], folder: Path
) -> subprocess.CompletedProcess[str]:
    """Run `liaison-bot COMMAND` in `folder` with only the variables of `env`."""
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def test_defaults_are_those_of_the_contract() -> None:
    s = load_settings()
    assert s.bot_token is None
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_url == "sqlite+aiosqlite:///liaison-bot.db"
    assert s.staff_ids == ()
    assert s.timezone == "Asia/Shanghai"
    assert s.language == "zh"
    assert s.data_dir == Path("./data")
    assert s.telegram_proxy is None
    assert s.log_level == "INFO"
    assert s.reminder_time == time(9, 30)
    # Off unless asked for: no health port, and when there is one, this machine only.
    assert s.health_port is None
    assert s.health_host == "127.0.0.1"
    # No scheduled backup unless a folder is given; then at 03:00, the last 7 kept.
    assert (s.backup_dir, s.backup_time, s.backup_keep) == (None, time(3, 0), 7)


def test_good_values_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("STAFF_IDS", "11, 22,33")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("BOT_USERNAME", "@office_bot")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/db")
    monkeypatch.setenv("LANGUAGE", "en")
    monkeypatch.setenv("TELEGRAM_PROXY", "socks5://127.0.0.1:1080")
    s = load_settings()
    assert s.token == "123:abc"
    assert "123:abc" not in repr(s)
    assert s.staff_ids == (11, 22, 33)
    assert s.telegram_api_url == "http://127.0.0.1:8081"
    assert s.bot_username == "office_bot"
    assert s.language == "en"
    assert s.telegram_proxy == "socks5://127.0.0.1:1080"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STAFF_IDS=5,6\nLANGUAGE=en\n", encoding="utf-8")
    s = load_settings()
    assert s.staff_ids == (5, 6)
    assert s.language == "en"


def test_gettext_style_language_is_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "en_US:en")
    assert load_settings().language == "en"
    monkeypatch.setenv("LANGUAGE", "zh_CN.UTF-8")
    assert load_settings().language == "zh"


BAD_VALUES = [
    ("STAFF_IDS", "12,abc"),
    ("STAFF_IDS", "[1, 2]"),
    ("STAFF_IDS", "-5"),
    ("TIMEZONE", "Mars/Olympus"),
    ("LANGUAGE", "xx"),
    ("DATABASE_URL", "sqlite:///sync.db"),
    ("TELEGRAM_API_URL", "api.telegram.org"),
    ("TELEGRAM_PROXY", "ftp://proxy"),
    ("LOG_LEVEL", "LOUD"),
    ("REMINDER_TIME", "25:00"),
    ("REMINDER_TIME", "22:00"),  # inside the default quiet hours
    ("QUIET_HOURS", "eight to nine"),
    ("SEND_RATE_GLOBAL", "0"),
    ("INVITE_TTL_DAYS", "zero"),
    ("NOTICE_OFFICE", "固" * 41),
    ("NOTICE_MAIN_TO", "各县（区）\n各成员单位"),
    ("BACKUP_TIME", "3pm"),
    ("BACKUP_KEEP", "0"),
    ("HEALTH_PORT", "70000"),
    ("HEALTH_HOST", "local host"),
]


@pytest.mark.parametrize(("variable", "value"), BAD_VALUES)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.variable == variable
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("value", BAD_VALUES, ids=lambda v: f"{v[0]}={v[1]!r}")
def test_bad_value_is_said_in_the_office_s_words(
    monkeypatch: pytest.MonkeyPatch, value: tuple[str, str], lang: str
) -> None:
    """No English of pydantic's: the reason is a sentence of the catalogue's `setting.` keys
    (by pydantic's error type, or by our own check's key), in LANGUAGE's language."""
    variable, text = value
    monkeypatch.setenv(variable, text)
    if variable != "LANGUAGE":
        monkeypatch.setenv("LANGUAGE", lang)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    keys = [key for key in catalogue(lang) if key.startswith("setting.")]
    said = [key for key in keys if says(caught.value.reason, key, caught.value.lang)]
    assert said, caught.value.reason
    assert "Input should" not in caught.value.reason
    assert caught.value.lang == ("zh" if variable == "LANGUAGE" else lang)


@pytest.mark.parametrize(
    ("variable", "value", "key", "values"),
    [
        ("HEALTH_PORT", "70000", "setting.at_most", {"limit": 65535}),
        ("BACKUP_KEEP", "0", "setting.at_least", {"limit": 1}),
        ("SEND_RATE_GLOBAL", "0", "setting.above", {"limit": 0}),
        ("INVITE_TTL_DAYS", "zero", "setting.not_integer", {}),
        ("BACKUP_TIME", "3pm", "setting.not_time", {}),
        ("DATABASE_URL", "sqlite:///sync.db", "setting.async_url", {}),
        ("LOG_LEVEL", "LOUD", "setting.not_one_of", {}),
        ("TIMEZONE", "Mars/Olympus", "setting.timezone", {"value": "Mars/Olympus"}),
        ("REMINDER_TIME", "22:00", "setting.in_quiet_hours", {}),
    ],
)
def test_each_kind_of_refusal_has_its_sentence(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str, values: dict[str, object]
) -> None:
    monkeypatch.setenv(variable, value)
    for lang in ("zh", "en"):
        monkeypatch.setenv("LANGUAGE", lang)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        assert caught.value.variable == variable
        assert says(caught.value.reason, key, lang, **values), caught.value.reason


def test_the_line_on_the_terminal_is_in_the_configured_language(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LANGUAGE=en\n", encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HEALTH_PORT": "70000",
        "HOME": str(tmp_path),
        "PYTHONPATH": ROOT,
    }
    done = bot_command("report", env, tmp_path)
    assert done.returncode == 2
    reason = plain("en", "setting.at_most", limit=65535)
    assert says(done.stderr, "cli.bad_setting", "en", variable="HEALTH_PORT", reason=reason)


def test_an_empty_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`HEALTH_PORT=` (in the environment or in .env) is as if it were not there: .env's value
    if the environment's is empty, else the default. systemd's EnvironmentFile= hands every
    empty line of .env over as an empty variable, so empty cannot mean anything else."""
    (tmp_path / ".env").write_text("HEALTH_PORT=9108\nBACKUP_DIR=\n", encoding="utf-8")
    monkeypatch.setenv("HEALTH_PORT", "")
    monkeypatch.setenv("BACKUP_KEEP", "")
    s = load_settings()
    assert s.health_port == 9108
    assert s.backup_dir is None
    assert s.backup_keep == 7


def test_bad_value_stops_the_program_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "STAFF_IDS": "abc", "HOME": str(tmp_path)}
    done = bot_command("report", env, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "STAFF_IDS" in lines[0]
    assert not (tmp_path / "liaison-bot.db").exists()


def test_run_without_token_says_how_to_get_one(tmp_path: Path, sqlite_template: Path) -> None:
    set_up_sqlite(sqlite_template, tmp_path / "liaison-bot.db")  # the default URL's, set up
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = bot_command("run", env, tmp_path)
    assert done.returncode == 2
    assert "BOT_TOKEN" in done.stderr
    assert "@BotFather" in done.stderr


def test_env_example_lists_every_variable_and_loads(tmp_path: Path) -> None:
    """.env.example is complete, and a copy of it is a working configuration."""
    from bot.settings import Settings

    example = (Path(__file__).parents[1] / ".env.example").read_text(encoding="utf-8")
    names = {
        line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")
    }
    assert names == {name.upper() for name in Settings.model_fields}
    (tmp_path / ".env").write_text(example, encoding="utf-8")
    s = load_settings()
    assert s.bot_token is None
    assert s.holiday_file is None
    assert s.staff_ids == ()


def test_a_holiday_file_that_cannot_be_read_does_not_stop_the_program(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bad row or a missing file refused to start (status 2, never restarted): the bot stayed
    down for a file it can do without (bot/holidays.py says what is wrong with it)."""
    good = tmp_path / "2027.csv"
    good.write_text("日期,类型\n2027-01-01,休\n2027-02-07,班\n", encoding="utf-8")
    monkeypatch.setenv("HOLIDAY_FILE", str(good))
    assert load_settings().holiday_file == good
    monkeypatch.setenv("HOLIDAY_FILE", str(tmp_path / "missing.csv"))
    assert load_settings().holiday_file == tmp_path / "missing.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("日期,类型\n2027-13-45,休\n", encoding="utf-8")
    monkeypatch.setenv("HOLIDAY_FILE", str(bad))
    assert load_settings().holiday_file == bad
