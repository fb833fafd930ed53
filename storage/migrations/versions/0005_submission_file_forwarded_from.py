"""submission_file: where a forwarded file came from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from storage.migrations.helpers import add_column, drop_column

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_column(
        "submission_file", sa.Column("forwarded_from", sa.String(length=200), nullable=True)
    )


def downgrade() -> None:
    drop_column("submission_file", "forwarded_from")
