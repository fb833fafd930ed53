"""staff uploads from the chat, and the holiday years loaded there

Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.migrations.helpers import primary_key

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "holiday_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("loaded_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("loaded_by", sa.BigInteger(), nullable=True),
        primary_key("holiday_year", "year"),
    )
    op.create_table(
        "staff_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("basis", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("decided_at", storage.models.UTCDateTime(), nullable=True),
        primary_key("staff_upload"),
    )


def downgrade() -> None:
    op.drop_table("staff_upload")
    op.drop_table("holiday_year")
