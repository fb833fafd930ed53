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

# A tiny third catalogue, in a language the office will not ship (so shipping any real one
# changes nothing here): its own name, one sentence, and how it writes dates and lists.
ESPERANTO = """
[language]
name = "Esperanto"
changed = "La interfaco nun estas en Esperanto."

[formats]
date = "la {day}-a de {month_name} {year}"
month_day = "la {day}-a de {month_name}"
weekday_date = "{weekday}, la {day}-a de {month_name}"
time = "{year}-{month:02d}-{day:02d} je {hour:02d}:{minute:02d}"
short_time = "la {day}-a de {month_name} je {hour:02d}:{minute:02d}"
months = "jan. feb. mar. apr. majo jun. jul. aŭg. sep. okt. nov. dec."
weekdays = "lu. ma. me. ĵa. ve. sa. di."
list = " kaj "
clauses = "; "
and_list = "{rest} kaj {last}"
sheet_day = "{day}.{month}.{year}"
sheet_date = "d.m.yyyy"
sheet_time = "d.m.yyyy hh:mm"
"""

CHECK = """
from datetime import UTC, date, datetime

from telegram.ext import CallbackQueryHandler

from bot.app import build_application
from bot.cli.main import build_parser
from bot.services import Services
from bot.settings import Settings
from bot.staff.console import AuditEntry, AuditPage
from bot.staff.workbook import Writer
from handlers.common import language_keyboard
from handlers.staff import audit_text
from handlers.registry import help_line
from messages import LANGUAGES, format_date, format_sheet_day, format_time, join, join_and
from messages import normalize_language, t
from storage.db import Database

assert LANGUAGES[0] == "zh" and {"en", "eo"} <= set(LANGUAGES), LANGUAGES
assert normalize_language("eo-XX") == "eo"
assert t("eo", "language.changed") == "La interfaco nun estas en Esperanto."
# What the tiny catalogue lacks is said in the default language.
assert t("eo", "start.welcome") == t("zh", "start.welcome")
assert format_date(date(2026, 12, 4), "eo") == "la 4-a de dec. 2026"
assert format_time(datetime(2026, 12, 4, 9, 5), "eo") == "2026-12-04 je 09:05"
assert join("eo", ["a", "b"]) == "a kaj b"
assert join_and("eo", ["a", "b"]) == "a kaj b"
# The workbook writes its dates as the catalogue says, in a cell's text and as Excel's format.
assert format_sheet_day(date(2026, 12, 4), "eo") == "4.12.2026"
sheet = Writer("eo", UTC)
sheet.book.create_sheet("x")
assert sheet.moment(date(2026, 12, 4)).number_format == "d.m.yyyy"
assert sheet.moment(datetime(2026, 12, 4, 9, 5)).number_format == "d.m.yyyy hh:mm"
entry = AuditEntry(
    id=1, at=datetime(2026, 12, 4, 1, tzinfo=UTC), actor_id=None, actor_name=None,
    actor_staff=False, action="submission", unit=None, details={"item": "a", "files": 2},
)
shown = audit_text(AuditPage(entries=[entry], older=None), "eo", UTC)
details = t("eo", "audit.detail_item", value="a") + "; " + t("eo", "audit.detail_files", value=2)
assert details in shown, shown
assert "la 4-a de dec. je 01:00" in shown, shown
# The language button, the setting, the command line and the button's handler know it.
buttons = [b.text for row in language_keyboard("zh").inline_keyboard for b in row]
assert buttons == [t(code, "language.name") for code in LANGUAGES], buttons
assert "Esperanto" in buttons, buttons
# /help names every language /language offers, by its own name.
names = " / ".join(buttons)
assert help_line("zh", "language") == f"/language 切换界面语言（{names}）"
assert help_line("en", "language") == f"/language switch language ({names})"
settings = Settings(_env_file=None, language="eo", bot_token="1:x")
assert settings.language == "eo"
assert build_parser().parse_args(["demo", "--lang", "eo"]).lang == "eo"
app = build_application(Services(settings=settings, db=Database("sqlite+aiosqlite://")))
patterns = [
    h.pattern for hs in app.handlers.values() for h in hs if isinstance(h, CallbackQueryHandler)
]
assert any(p is not None and p.match("lang:eo") for p in patterns)  # type: ignore[union-attr]
print("ok")
"""


def test_a_third_language_is_one_more_folder(tmp_path: Path) -> None:
    shutil.copytree(Path(messages.__file__).parent, tmp_path / "messages")
    (tmp_path / "messages" / "eo").mkdir()
    (tmp_path / "messages" / "eo" / "common.toml").write_text(ESPERANTO, encoding="utf-8")
    # Run from the copy, so its messages/ (with eo/) is the one imported; the rest of the
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
