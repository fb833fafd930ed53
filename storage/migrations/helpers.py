"""Pieces the migrations repeat: named keys, cascading foreign keys."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def primary_key(table: str, column: str = "id") -> sa.PrimaryKeyConstraint:
    """Key a table on one column, named pk_<table> as the naming convention names it."""
    return sa.PrimaryKeyConstraint(column, name=op.f(f"pk_{table}"))


def cascade(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    """Point table.column at parent.id; the row goes when its parent goes."""
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete="CASCADE"
    )

