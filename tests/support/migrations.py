"""Take a test database to one revision of the migrations, up or down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database, alembic_config


async def upgrade_to(connection: AsyncConnection, revision: str) -> None:
    """Apply the migrations up to `revision`, in the caller's connection."""

    def run(sync: Connection) -> None:
        command.upgrade(alembic_config(sync), revision)

    await connection.run_sync(run)


async def downgrade_to(connection: AsyncConnection, revision: str) -> None:
    """Undo the migrations above `revision`, in the caller's connection."""

    def run(sync: Connection) -> None:
        command.downgrade(alembic_config(sync), revision)

    await connection.run_sync(run)


@asynccontextmanager
async def database_at(url: str, revision: str) -> AsyncIterator[Database]:
    """The database at `url` taken to `revision` of the migrations; disposed of at the end."""
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await upgrade_to(connection, revision)
        yield db
    finally:
        await db.dispose()
