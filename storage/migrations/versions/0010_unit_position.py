"""unit: its position in the list of its kind (the roster file's row order), first numbered
in the order units were listed until now (kind, then name), so that no list changes until
the office imports its roster again; the list's index goes by it instead of the name

The column is added and dropped in place, never by copying the table as batch mode does on
SQLite: dropping the old `unit` table there deletes every row that refers to a unit (its
people, materials, invites) through their ON DELETE CASCADE. On SQLite the column keeps the
DEFAULT 0 that adding a NOT NULL column in place needs (the bot always gives a position);
dropping it in place needs SQLite 3.35 or newer.

Create Date: 2026-12-05 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"

UNITS = sa.table(
    "unit", sa.column("id"), sa.column("kind"), sa.column("name"), sa.column("position")
)
CHUNK = 10_000  # units a statement numbers


def upgrade() -> None:
    op.drop_index("ix_unit_kind_name", table_name="unit")
    op.add_column("unit", sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
    connection = op.get_bind()
    # In the database's own order of names (its collation), as every list read them until now.
    ids = connection.scalars(sa.select(UNITS.c.id).order_by(UNITS.c.kind, UNITS.c.name)).all()
    numbered = [{"unit_id": unit_id, "at": n} for n, unit_id in enumerate(ids, 1)]
    number = (
        sa.update(UNITS)
        .where(UNITS.c.id == sa.bindparam("unit_id"))
        .values(position=sa.bindparam("at"))
    )
    for start in range(0, len(numbered), CHUNK):
        connection.execute(number, numbered[start : start + CHUNK])
    if connection.dialect.name != "sqlite":
        op.alter_column("unit", "position", existing_type=sa.Integer(), server_default=None)
    op.create_index("ix_unit_kind_position", "unit", ["kind", "position"])


def downgrade() -> None:
    op.drop_index("ix_unit_kind_position", table_name="unit")
    op.drop_column("unit", "position")
    op.create_index("ix_unit_kind_name", "unit", ["kind", "name"])
