"""unit_former_name: the names units had before a roster renamed them, so that a unit is
still found by its former name and an older roster file does not add it a second time

A new table only: `unit` is left as it is (copying it in SQLite's batch mode would delete
every row that refers to a unit through its ON DELETE CASCADE).

Create Date: 2026-12-05 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.migrations.helpers import cascade, primary_key

revision: str = "0011"
down_revision: str | None = "0010"


def upgrade() -> None:
    op.create_table(
        "unit_former_name",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("renamed_at", storage.models.UTCDateTime(), nullable=False),
        cascade("unit_former_name", "unit_id", "unit"),
        primary_key("unit_former_name"),
        sa.UniqueConstraint("name", name=op.f("uq_unit_former_name_name")),
    )
    op.create_index(
        op.f("ix_unit_former_name_unit_id"), "unit_former_name", ["unit_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_unit_former_name_unit_id"), table_name="unit_former_name")
    op.drop_table("unit_former_name")
