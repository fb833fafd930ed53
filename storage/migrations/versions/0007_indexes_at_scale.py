"""Indexes for a country's roster: the outbox by broadcast, unit, chat and purpose; submitted
files by submission; units in the order they are listed; a unit's people, past and present

Create Date: 2026-12-04 21:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"

INDEXES = {
    "ix_outbox_broadcast": ("outbox", ["broadcast_id", "purpose", "state"]),
    "ix_outbox_unit": ("outbox", ["unit_id", "purpose", "created_at"]),
    "ix_outbox_chat": ("outbox", ["chat_id", "purpose"]),
    "ix_outbox_purpose": ("outbox", ["purpose", "state", "unit_id"]),
    "ix_submission_file_submission": ("submission_file", ["submission_id"]),
    "ix_unit_kind_name": ("unit", ["kind", "name"]),
    "ix_person_unit": ("person", ["unit_id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
