"""submission_file: where a forwarded file came from

Create Date: 2026-12-04 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.migrations.helpers import add_column, drop_column

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    add_column(
        "submission_file", sa.Column("forwarded_from", sa.String(length=200), nullable=True)
    )


def downgrade() -> None:
    drop_column("submission_file", "forwarded_from")
