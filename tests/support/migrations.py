"""Take a test database to one revision of the migrations, up or down."""

from __future__ import annotations

from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import alembic_config


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
