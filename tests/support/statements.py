"""Count what a block of code asks the database: the SQL statements sent, in order."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event

from storage.db import Database


@contextlib.contextmanager
def statements_sent(db: Database) -> Iterator[list[str]]:
    """The SQL of every statement sent while the block runs through the database's engine
    (units of work and sessions; not SQLite's separate engine of long reads)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
