"""initial schema

Create Date: 2026-11-28 21:11:07.490007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.migrations.helpers import cascade, primary_key

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("first_seen", storage.models.UTCDateTime(), nullable=False),
        sa.Column("last_seen", storage.models.UTCDateTime(), nullable=False),
        sa.Column("unreachable_since", storage.models.UTCDateTime(), nullable=True),
        sa.Column("unreachable_reason", sa.String(length=200), nullable=True),
        primary_key("account", "user_id"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        primary_key("audit_event"),
    )
    op.create_index(op.f("ix_audit_event_at"), "audit_event", ["at"], unique=False)
    op.create_table(
        "bot_setting",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        primary_key("bot_setting", "key"),
    )
    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("audience", sa.String(length=50), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("source_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("source_message_id", sa.BigInteger(), nullable=True),
        sa.Column("ack_enabled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        primary_key("broadcast"),
    )
    op.create_table(
        "conversation_step",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("flow", sa.String(length=30), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        primary_key("conversation_step", "user_id"),
    )
    op.create_table(
        "deadline",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("set_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("set_by", sa.BigInteger(), nullable=True),
        primary_key("deadline", "scope"),
    )
    op.create_table(
        "group_chat",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("rollcall_enabled", sa.Boolean(), nullable=False),
        sa.Column("added_at", storage.models.UTCDateTime(), nullable=False),
        primary_key("group_chat", "chat_id"),
    )
    op.create_table(
        "handled_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handled_at", storage.models.UTCDateTime(), nullable=False),
        primary_key("handled_update", "update_id"),
    )
    op.create_table(
        "invite_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        primary_key("invite_attempt"),
    )
    op.create_index("ix_invite_attempt_user_at", "invite_attempt", ["user_id", "at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("broadcast_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("due_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", storage.models.UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        primary_key("outbox"),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "due_at"], unique=False)
    op.create_table(
        "staff_member",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("added_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=50), nullable=True),
        primary_key("staff_member", "user_id"),
    )
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("pause_reason", sa.String(length=200), nullable=True),
        primary_key("unit"),
        sa.UniqueConstraint("name", name=op.f("uq_unit_name")),
    )
    op.create_table(
        "broadcast_ack",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        cascade("broadcast_ack", "broadcast_id", "broadcast"),
        primary_key("broadcast_ack"),
        sa.UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_ack"),
    )
    op.create_table(
        "checklist_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        cascade("checklist_item", "unit_id", "unit"),
        primary_key("checklist_item"),
        sa.UniqueConstraint("kind", "unit_id", "title", name="uq_checklist_item"),
    )
    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", storage.models.UTCDateTime(), nullable=True),
        cascade("invite", "unit_id", "unit"),
        primary_key("invite"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invite_token_hash")),
    )
    op.create_index(op.f("ix_invite_unit_id"), "invite", ["unit_id"], unique=False)
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("post", sa.String(length=50), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("since", storage.models.UTCDateTime(), nullable=False),
        sa.Column("until", storage.models.UTCDateTime(), nullable=True),
        sa.Column("entered_by", sa.BigInteger(), nullable=True),
        cascade("person", "unit_id", "unit"),
        primary_key("person"),
    )
    op.create_index("ix_person_user", "person", ["telegram_user_id"], unique=False)
    op.create_index(
        "uq_person_current_role",
        "person",
        ["unit_id", "role"],
        unique=True,
        sqlite_where=sa.text("until IS NULL"),
        postgresql_where=sa.text("until IS NULL"),
    )
    op.create_table(
        "exemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        cascade("exemption", "item_id", "checklist_item"),
        cascade("exemption", "unit_id", "unit"),
        primary_key("exemption"),
        sa.UniqueConstraint("unit_id", "item_id", name="uq_exemption"),
    )
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("answer_kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        cascade("submission", "item_id", "checklist_item"),
        cascade("submission", "unit_id", "unit"),
        primary_key("submission"),
    )
    op.create_index(
        "ix_submission_unit_item", "submission", ["unit_id", "item_id", "state"], unique=False
    )
    op.create_table(
        "submission_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.String(length=200), nullable=False),
        sa.Column("file_unique_id", sa.String(length=100), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        cascade("submission_file", "submission_id", "submission"),
        primary_key("submission_file"),
    )
    op.create_index(
        "ix_submission_file_unique",
        "submission_file",
        ["unit_id", "item_id", "file_unique_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_submission_file_unique", table_name="submission_file")
    op.drop_table("submission_file")
    op.drop_index("ix_submission_unit_item", table_name="submission")
    op.drop_table("submission")
    op.drop_table("exemption")
    op.drop_index("uq_person_current_role", table_name="person")
    op.drop_index("ix_person_user", table_name="person")
    op.drop_table("person")
    op.drop_index(op.f("ix_invite_unit_id"), table_name="invite")
    op.drop_table("invite")
    op.drop_table("checklist_item")
    op.drop_table("broadcast_ack")
    op.drop_table("unit")
    op.drop_table("staff_member")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_invite_attempt_user_at", table_name="invite_attempt")
    op.drop_table("invite_attempt")
    op.drop_table("handled_update")
    op.drop_table("group_chat")
    op.drop_table("deadline")
    op.drop_table("conversation_step")
    op.drop_table("broadcast")
    op.drop_table("bot_setting")
    op.drop_index(op.f("ix_audit_event_at"), table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_table("account")
