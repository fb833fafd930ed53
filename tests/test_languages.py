"""Adding a language is adding a folder of catalogues to messages/: nothing else changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import messages

REPOSITORY = Path(__file__).resolve().parent.parent

# A tiny third catalogue: its own name, one sentence, and how it writes dates and lists.
FRENCH = """
[language]
name = "Français"
changed = "L’interface est maintenant en français."

[formats]
date = "{day} {month_name} {year}"
month_day = "{day} {month_name}"
weekday_date = "{weekday} {day} {month_name}"
time = "{day:02d}/{month:02d}/{year} {hour:02d}h{minute:02d}"
months = "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc."
weekdays = "lun. mar. mer. jeu. ven. sam. dim."
list = ", "
"""

CHECK = """
from datetime import date, datetime

from telegram.ext import CallbackQueryHandler

from bot.app import build_application
from bot.cli.main import build_parser
from bot.services import Services
from bot.settings import Settings
from handlers.common import language_keyboard
from handlers.registry import help_line
from messages import LANGUAGES, format_date, format_time, join, normalize_language, t
from storage.db import Database

assert LANGUAGES == ("zh", "en", "fr"), LANGUAGES
assert normalize_language("fr-FR") == "fr"
assert t("fr", "language.changed") == "L’interface est maintenant en français."
# What the tiny catalogue lacks is said in the default language.
assert t("fr", "start.welcome") == t("zh", "start.welcome")
assert format_date(date(2026, 12, 4), "fr") == "4 déc. 2026"
assert format_time(datetime(2026, 12, 4, 9, 5), "fr") == "04/12/2026 09h05"
assert join("fr", ["a", "b"]) == "a, b"
# The language button, the setting, the command line and the button's handler know it.
buttons = [b.text for row in language_keyboard("zh").inline_keyboard for b in row]
assert buttons == ["中文", "English", "Français"], buttons
# /help names every language /language offers, by its own name.
assert help_line("zh", "language") == "/language 切换界面语言（中文 / English / Français）"
assert help_line("en", "language") == "/language switch language (中文 / English / Français)"
settings = Settings(_env_file=None, language="fr", bot_token="1:x")
assert settings.language == "fr"
assert build_parser().parse_args(["demo", "--lang", "fr"]).lang == "fr"
app = build_application(Services(settings=settings, db=Database("sqlite+aiosqlite://")))
patterns = [
    h.pattern for hs in app.handlers.values() for h in hs if isinstance(h, CallbackQueryHandler)
]
assert any(p is not None and p.match("lang:fr") for p in patterns)  # type: ignore[union-attr]
print("ok")
"""


def test_a_third_language_is_one_more_folder(tmp_path: Path) -> None:
    shutil.copytree(Path(messages.__file__).parent, tmp_path / "messages")
    (tmp_path / "messages" / "fr").mkdir()
    (tmp_path / "messages" / "fr" / "common.toml").write_text(FRENCH, encoding="utf-8")
    # Run from the copy, so its messages/ (with fr/) is the one imported; the rest of the
    # code comes from the repository.
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECK)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
