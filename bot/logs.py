"""Logging: one line an event at INFO, never the bot's token, phone numbers masked.

What the office cares about is logged at INFO, one line each: an update handled with its
outcome (bot/transport/intake.py), a message sent with its outcome (bot/transport/outbox.py),
a reminder round's summary (bot/reminders/planner.py), a task failing and recovering
(bot/transport/supervisor.py). Libraries that talk at every tick are held to warnings. Every
line passes through `Redactor` last, whatever logged it: an exception's text may hold a URL
with the token, or an update with a shared phone number."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import TextIO

from bot.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER = "liaison-bot"
QUIET = ("httpx", "httpcore", "alembic", "apscheduler", "aiohttp.access", "asyncio")

# A mainland mobile number (optionally +86 / 86 and spaced or dashed) or a landline with
# its area code, not inside a longer run of digits (ids, timestamps).
_PHONE = re.compile(
    r"(?<![\d])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![\d])"
    r"|(?<![\d])0\d{2,3}-\d{7,8}(?![\d])"
)


def mask_phone(match: re.Match[str]) -> str:
    """Keep the first three and the last four digits: 138****8000."""
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) > 7 else "****"


class Redactor(logging.Formatter):
    """A formatter that takes the token and phone numbers out of every formatted line and
    writes its time in the office's time zone, with the offset (2026-12-05 09:30:00.123+08:00),
    whatever the server's zone is, so that the log and the bot's messages tell the same time."""

    def __init__(self, token: str, fmt: str = FORMAT, tz: tzinfo = UTC) -> None:
        super().__init__(fmt)
        # The whole token first, then its secret half on its own.
        self._secrets = [s for s in (token, token.split(":", 1)[-1]) if len(s) >= 8]
        self._tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created, self._tz)
        return moment.isoformat(sep=" ", timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "<token>")
        return _PHONE.sub(mask_phone, text)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send the log to stderr (or `stream`) at LOG_LEVEL, through the Redactor."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER)
    handler.setFormatter(Redactor(settings.token, tz=settings.tz))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler


@contextmanager
def quieted(*levels: tuple[str, int]) -> Iterator[None]:
    """Hold loggers at these levels for a while (the demo's narration), then as they were."""
    loggers = [(logging.getLogger(name), level) for name, level in levels]
    before = [logger.level for logger, _ in loggers]
    for logger, level in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for (logger, _), level in zip(loggers, before, strict=True):
            logger.setLevel(level)
