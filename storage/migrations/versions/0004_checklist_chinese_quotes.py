"""The shipped checklist's title with Chinese quotation marks: “八一”, not "八一"

Databases loaded before the fix keep the shipped title as it was; this renames that one
title (only where the new one is not already there, so the unique constraint holds).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"

ASCII = '拥军共建活动开展记录（不限于"八一"前后）'
CHINESE = "拥军共建活动开展记录（不限于“八一”前后）"

RENAME = sa.text(
    "UPDATE checklist_item SET title = :new "
    "WHERE title = :old AND unit_id IS NULL AND NOT EXISTS ("
    "SELECT 1 FROM checklist_item AS other "
    "WHERE other.title = :new AND other.kind = checklist_item.kind AND other.unit_id IS NULL)"
)


def upgrade() -> None:
    op.execute(RENAME.bindparams(old=ASCII, new=CHINESE))


def downgrade() -> None:
    op.execute(RENAME.bindparams(old=CHINESE, new=ASCII))
