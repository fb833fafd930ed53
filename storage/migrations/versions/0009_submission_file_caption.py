"""submission_file: the caption the sender wrote under the file

Create Date: 2026-12-05 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.migrations.helpers import add_column, drop_column

revision: str = "0009"
down_revision: str | None = "0008"


def upgrade() -> None:
    add_column("submission_file", sa.Column("caption", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    drop_column("submission_file", "caption")
