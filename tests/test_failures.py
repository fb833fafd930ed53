"""Which failures pass (try the same again later) and which are bugs (a dead letter)."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TelegramError

from bot.transport.failures import cause_of, is_transient, why_unreachable
from bot.transport.request import MaybeSent, NotSent


class PgError(Exception):
    """An error as asyncpg raises it, with its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(error: BaseException) -> OperationalError:
    """A driver error as SQLAlchemy hands it on."""
    return OperationalError("SELECT 1", {}, error)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (wrapped(sqlite3.OperationalError("database is locked")), True),
        (wrapped(sqlite3.OperationalError("no such table: unit")), False),
        (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")), False),
        (wrapped(PgError("57P01")), True),  # the server is shutting down
        (wrapped(PgError("08006")), True),  # the connection failed
        (wrapped(PgError("40001")), True),  # a serialization failure
        (wrapped(PgError("23505")), False),  # a unique key
        (ConnectionRefusedError(111, "Connection refused"), True),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), True),
        (FileNotFoundError(2, "No such file"), False),
        (OSError(errno.ENAMETOOLONG, "File name too long"), False),
        (OSError(errno.ENOSPC, "No space left on device"), True),  # space can be made
        (NotSent("not sent: ClientConnectorError"), True),
        (MaybeSent("maybe sent: ServerDisconnectedError"), True),
        (NetworkError("Bad Gateway"), True),
        (TelegramError("Invalid server response"), True),
        (BadRequest("Message text is empty"), False),
        (Forbidden("bot was blocked by the user"), False),
        (ChatMigrated(-1001), False),
        (ValueError("a bug"), False),
        (KeyError("step"), False),
    ],
)
def test_transient_or_a_bug(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_the_cause_names_the_drivers_words_in_one_short_line() -> None:
    error = wrapped(sqlite3.OperationalError("database is locked"))
    assert cause_of(error) == "OperationalError: database is locked"
    assert len(cause_of(ValueError("x" * 1000))) < 320


@pytest.mark.parametrize(
    ("error", "why"),
    [
        ("Forbidden: bot can't initiate conversation with a user", "never_started"),
        ("Bad Request: chat not found", "never_started"),
        ("Forbidden: bot was blocked by the user", "blocked"),
        ("Forbidden: user is deactivated", "deactivated"),
        ("Bad Request: message is too long", None),
        (None, None),
    ],
)
def test_why_a_person_is_out_of_reach_in_the_offices_terms(
    error: str | None, why: str | None
) -> None:
    assert why_unreachable(error) == why
