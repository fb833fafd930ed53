"""Pieces the migrations repeat: named keys, cascading foreign keys, one column in batch mode."""

from __future__ import annotations

from typing import Any

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


def add_column(table: str, column: sa.Column[Any]) -> None:
    """Add one column to a table, in batch mode like every alteration here."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(column)


def drop_column(table: str, column: str) -> None:
    """Drop one column from a table (in batch mode SQLite copies the table without it)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_column(column)
