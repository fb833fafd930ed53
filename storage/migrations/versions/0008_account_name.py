"""account: the person's Telegram name, kept for office staff (who did what)

Create Date: 2026-12-05 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.migrations.helpers import add_column, drop_column

revision: str = "0008"
down_revision: str | None = "0007"


def upgrade() -> None:
    add_column("account", sa.Column("name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    drop_column("account", "name")
