"""invite: why a link was revoked

Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.migrations.helpers import add_column, drop_column

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    add_column("invite", sa.Column("revoked_reason", sa.String(length=20), nullable=True))


def downgrade() -> None:
    drop_column("invite", "revoked_reason")
