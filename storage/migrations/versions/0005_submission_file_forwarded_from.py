"""submission_file: where a forwarded file came from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("submission_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forwarded_from", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission_file", schema=None) as batch_op:
        batch_op.drop_column("forwarded_from")
