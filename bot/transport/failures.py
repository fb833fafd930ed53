"""What a failure means: transient (it passes; try the same again later) or a bug.

Transient: the database is locked, restarting or unreachable; the network, a proxy or the Bot
API is down, slow or answering something else than the API. Deterministic: the Bot API
refused the call itself (400, 403, a group that moved), and every other exception (a bug):
the same input fails the same way again."""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy import exc as sa_exc
from telegram.error import BadRequest, ChatMigrated, EndPointNotFound, Forbidden, TelegramError

from messages import shorten

# SQLite's own words for a database that is busy or briefly out of reach.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")
# PostgreSQL's SQLSTATE classes and codes that pass: connection exceptions (08),
# insufficient resources (53), operator intervention such as a restart (57P0x), and
# serialization failures and deadlocks (40001, 40P01).
_PG_TRANSIENT_CLASSES = ("08", "53", "57")
_PG_TRANSIENT_CODES = ("40001", "40P01")
_FILE_ERRORS = (
    FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError,
)  # fmt: skip
# A path the disk refuses as it is: too long a name, a loop of links, an invalid name.
_PATH_ERRNOS = {errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL, errno.EILSEQ}


def is_transient(error: BaseException) -> bool:
    """Tell whether trying the same thing again later can succeed."""
    for cause in _chain(error):
        if isinstance(cause, BadRequest | Forbidden | ChatMigrated | EndPointNotFound):
            return False
        if isinstance(cause, TelegramError):
            return True
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True
        if isinstance(cause, sqlite3.OperationalError):
            return any(word in str(cause).lower() for word in _SQLITE_TRANSIENT)
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(code, str):
            return code.startswith(_PG_TRANSIENT_CLASSES) or code in _PG_TRANSIENT_CODES
        if isinstance(cause, _FILE_ERRORS) or (
            isinstance(cause, OSError) and cause.errno in _PATH_ERRNOS
        ):
            return False  # a path that is wrong stays wrong
        if isinstance(cause, OSError):  # connections, timeouts, a full disk
            return True
    return False


# What a disk says when it will not keep a file, as a reason the office can read.
_DISK_REASONS = {
    errno.ENOSPC: "runtime.disk_full",
    errno.EDQUOT: "runtime.disk_full",
    errno.EROFS: "runtime.disk_read_only",
    errno.EACCES: "runtime.disk_denied",
    errno.EPERM: "runtime.disk_denied",
    errno.ENOTDIR: "runtime.disk_not_folder",
    errno.EEXIST: "runtime.disk_not_folder",
}


def _disk_refusal(error: BaseException) -> OSError | None:
    """The disk's own refusal in the error's chain (not a connection's or a timeout's)."""
    for cause in _chain(error):
        if not isinstance(cause, OSError) or isinstance(cause, ConnectionError | TimeoutError):
            continue
        if cause.errno is not None:
            return cause
    return None


def disk_reason(error: BaseException, lang: str) -> str | None:
    """Why a disk refused a write, in the office's words (None: not a disk's refusal)."""
    from messages import plain

    cause = _disk_refusal(error)
    if cause is None:
        return None
    key = _DISK_REASONS.get(cause.errno or 0)
    if key is not None:
        return plain(lang, key)
    return plain(lang, "runtime.disk_other", error=cause.strerror or cause)


def is_disk_refusal(error: BaseException) -> bool:
    """Whether a disk refused the work (full, read-only …), rather than the database or the
    network: the database still answers, so the update can be set aside."""
    return _disk_refusal(error) is not None


def why_unreachable(error: str | None) -> str | None:
    """Telegram's words for a person out of reach, as a reason the office can read: they
    never started the bot, blocked it, or deleted their account (None: something else)."""
    words = (error or "").lower()
    if "initiate" in words or "not started" in words or "chat not found" in words:
        return "never_started"
    if "blocked" in words:
        return "blocked"
    if "deactivated" in words:
        return "deactivated"
    return None


def cause_of(error: BaseException) -> str:
    """One short line naming a failure: its type and the driver's own message."""
    shown = error
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        shown = error.orig
    text = shorten(" ".join(str(shown).split()) or repr(shown), 300)
    return f"{type(shown).__name__}: {text}"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and everything it was raised from or during, each once, nearest first."""
    seen: list[BaseException] = []
    queue: list[BaseException] = [error]
    while queue:
        current = queue.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        if isinstance(current, sa_exc.DBAPIError) and isinstance(current.orig, BaseException):
            queue.append(current.orig)
        queue.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen
