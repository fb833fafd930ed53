"""dead letters and shared send slots

Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.migrations.helpers import primary_key

revision: str = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        primary_key("dead_letter"),
    )
    op.create_index(op.f("ix_dead_letter_at"), "dead_letter", ["at"], unique=False)
    op.create_table(
        "send_slot",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        primary_key("send_slot", "chat_id"),
    )
    op.create_index(
        op.f("ix_handled_update_handled_at"), "handled_update", ["handled_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_handled_update_handled_at"), table_name="handled_update")
    op.drop_table("send_slot")
    op.drop_index(op.f("ix_dead_letter_at"), table_name="dead_letter")
    op.drop_table("dead_letter")
