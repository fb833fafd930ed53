"""SQLAlchemy models: every fact the bot must keep across restarts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    column,
    func,
    select,
    table,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC (the same on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# A unit's position when nothing sets it: one past the largest on record.
_UNITS = table("unit", column("position"))
_AFTER_THE_LAST = select(func.coalesce(func.max(_UNITS.c.position), 0) + 1).scalar_subquery()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, int: BigInteger}  # noqa: RUF012


# A reporting unit of a kind (bot/enums.py UnitKind: 县（区）, 成员单位 …): one row each.
class Unit(Base):
    __tablename__ = "unit"
    __table_args__ = (Index("ix_unit_kind_position", "kind", "position"),)  # UNIT_ORDER

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # a UnitKind value: "county", "member" …
    # Where the unit is listed in its kind: its row in the roster file last imported (a
    # roster import sets it); a unit added any other way goes after every other.
    position: Mapped[int] = mapped_column(Integer, default=_AFTER_THE_LAST)
    created_at: Mapped[datetime]
    paused_until: Mapped[date | None] = mapped_column(Date)
    pause_reason: Mapped[str | None] = mapped_column(String(200))


# The order units are listed in, everywhere (every list, report, file and chart of units):
# counties before member units (UnitKind's values sort so), then each kind in the order of
# the office's roster file. `listed_order` is the same order for units in hand.
UNIT_ORDER = (Unit.kind, Unit.position, Unit.id)


def listed_order(kind: str, position: int, unit_id: int) -> tuple[str, int, int]:
    """Sort units in hand as UNIT_ORDER lists them."""
    return (kind, position, unit_id)


# A name a unit had before a roster renamed it (机构改革): staff may still type it, and an older
# roster file may still list it. A name is never both a unit's name and a former name.
class UnitFormerName(Base):
    __tablename__ = "unit_former_name"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    renamed_at: Mapped[datetime]


# A person holding a role in a unit: 联络员 (liaison) or 分管领导 (lead), with the history.
class Person(Base):
    __tablename__ = "person"
    __table_args__ = (
        Index(
            "uq_person_current_role",
            "unit_id",
            "role",
            unique=True,
            sqlite_where=text("until IS NULL"),
            postgresql_where=text("until IS NULL"),
        ),
        Index("ix_person_user", "telegram_user_id"),
        Index("ix_person_unit", "unit_id"),  # a unit's people, past and present
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))  # "liaison" | "lead"
    name: Mapped[str] = mapped_column(String(50))
    post: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20))
    telegram_user_id: Mapped[int | None]
    since: Mapped[datetime]
    until: Mapped[datetime | None]
    entered_by: Mapped[int | None]  # Telegram user id of whoever entered the details

    @property
    def linked(self) -> bool:
        """Whether a Telegram account is linked (the person has registered)."""
        return self.telegram_user_id is not None


# A Telegram account the bot has met: language, and whether it can still be reached.
class Account(Base):
    __tablename__ = "account"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str | None] = mapped_column(String(5))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    unreachable_since: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    # The name Telegram shows, kept for office staff only: the audit log and the review say who.
    name: Mapped[str | None] = mapped_column(String(200))


# An invite link for one unit and role; only the token's hash is kept.
class Invite(Base):
    __tablename__ = "invite"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None]
    revoked_at: Mapped[datetime | None]
    # staff | redeemed_another | lead_replaced | holder_ended: what the refusal tells a person.
    revoked_reason: Mapped[str | None] = mapped_column(String(20))


# A failed attempt to redeem an invite, counted per user to slow down guessing.
class InviteAttempt(Base):
    __tablename__ = "invite_attempt"
    __table_args__ = (Index("ix_invite_attempt_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int]
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(20))


# 资料台账: a required ledger item, for a kind of unit or (an addition) for one unit.
class ChecklistItem(Base):
    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("kind", "unit_id", "title", name="uq_checklist_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(10))  # None for a unit's own addition
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# One unit excused from one item (the office's decision, with its reason).
class Exemption(Base):
    __tablename__ = "exemption"
    __table_args__ = (UniqueConstraint("unit_id", "item_id", name="uq_exemption"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    created_by: Mapped[int | None]


# 限时整改: the deadline of the current collection, for all units or one kind.
class Deadline(Base):
    __tablename__ = "deadline"

    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # all | member | county
    due: Mapped[date] = mapped_column(Date)
    set_at: Mapped[datetime]
    set_by: Mapped[int | None]


# A submission of one item by one unit (files, a text answer, or "not applicable").
class Submission(Base):
    __tablename__ = "submission"
    __table_args__ = (Index("ix_submission_unit_item", "unit_id", "item_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id", ondelete="CASCADE"))
    # draft (being put together) | pending (awaits review) | accepted | returned
    state: Mapped[str] = mapped_column(String(10))
    answer_kind: Mapped[str] = mapped_column(String(16))  # files | text | not_applicable
    text: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[int]
    created_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    reviewed_by: Mapped[int | None]
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)


class SubmissionFile(Base):
    __tablename__ = "submission_file"
    __table_args__ = (
        Index("ix_submission_file_unique", "unit_id", "item_id", "file_unique_id"),
        Index("ix_submission_file_submission", "submission_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    unit_id: Mapped[int]
    item_id: Mapped[int]
    file_id: Mapped[str] = mapped_column(String(200))
    file_unique_id: Mapped[str] = mapped_column(String(100))
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(500))
    # A forwarded file: the name of whoever or wherever it was forwarded from.
    forwarded_from: Mapped[str | None] = mapped_column(String(200))
    caption: Mapped[str | None] = mapped_column(String(1024))  # the sender's words under it
    created_at: Mapped[datetime]


# The outbox: every message the bot sends on its own initiative, once per dedupe key.
class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "due_at"),
        # A broadcast's progress, a unit's reminders, a chat's messages, the report's counts.
        Index("ix_outbox_broadcast", "broadcast_id", "purpose", "state"),
        Index("ix_outbox_unit", "unit_id", "purpose", "created_at"),
        Index("ix_outbox_chat", "chat_id", "purpose"),
        Index("ix_outbox_purpose", "purpose", "state", "unit_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    chat_id: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(20))  # reminder | broadcast | notice | …
    payload: Mapped[dict[str, Any]]
    unit_id: Mapped[int | None]
    broadcast_id: Mapped[int | None]
    # pending | sending | sent | unreachable | failed | unknown | cancelled
    state: Mapped[str] = mapped_column(String(12), default="pending")
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))


# 通知: a notice staff send to an audience; its deliveries are outbox rows.
class Broadcast(Base):
    __tablename__ = "broadcast"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int]
    created_at: Mapped[datetime]
    audience: Mapped[str] = mapped_column(String(50))
    text: Mapped[str | None] = mapped_column(Text)
    source_chat_id: Mapped[int | None]
    source_message_id: Mapped[int | None]
    ack_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(12), default="draft")


class BroadcastAck(Base):
    __tablename__ = "broadcast_ack"
    __table_args__ = (UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_ack"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id", ondelete="CASCADE"))
    user_id: Mapped[int]
    at: Mapped[datetime]


# The audit log: who did what, when.
class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None]  # Telegram user id; None for the command line or the bot
    action: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[int | None]
    details: Mapped[dict[str, Any]]


# An update from Telegram that has been handled: a redelivered one is skipped. Kept only as
# long as Telegram may deliver it again (bot/retention.py prunes the rest).
class HandledUpdate(Base):
    __tablename__ = "handled_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(index=True)


# An update whose handling failed by a bug on every try: kept for staff, then confirmed so
# that the updates behind it go on.
class DeadLetter(Base):
    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_id: Mapped[int]
    user_id: Mapped[int | None]
    chat_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(30))  # message | callback_query | …
    payload: Mapped[dict[str, Any]]  # the update as Telegram sent it
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)


# The next moment a message may go, shared by every dispatcher on one database: chat 0 is the
# overall rate, any other id that chat's (seconds since the epoch, wall-clock time).
class SendSlot(Base):
    __tablename__ = "send_slot"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    next_at: Mapped[float] = mapped_column(Float)


# The step each person is at in a conversation, saved with the data of that step.
class ConversationStep(Base):
    __tablename__ = "conversation_step"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flow: Mapped[str] = mapped_column(String(30))
    step: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


# Office staff added on the command line (besides STAFF_IDS).
class StaffMember(Base):
    __tablename__ = "staff_member"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    added_at: Mapped[datetime]
    added_by: Mapped[str | None] = mapped_column(String(50))


# Group chats the bot is in (the liaisons' group, for 点名通报).
class GroupChat(Base):
    __tablename__ = "group_chat"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(255))
    rollcall_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime]


# Small facts the bot remembers (its @username, asked of getMe once).
class Setting(Base):
    __tablename__ = "bot_setting"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# A holiday file loaded in the chat (节假日安排): one year's days off and make-up working days,
# which every process reads when it decides what a working day is.
class HolidayYear(Base):
    __tablename__ = "holiday_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    days: Mapped[dict[str, Any]]  # {"holidays": ["2027-01-01", …], "workdays": […]}
    file_name: Mapped[str] = mapped_column(String(255))
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[int | None]


# A roster, checklist or holiday file a member of staff sent to the bot, kept in DATA_DIR
# until it is applied or set aside; `basis` fingerprints the change its preview showed.
class StaffUpload(Base):
    __tablename__ = "staff_upload"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int]
    file_name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(500))  # relative to DATA_DIR
    kind: Mapped[str | None] = mapped_column(String(10))  # units | checklist | holidays
    # received | previewed | applied | cancelled | outdated | rejected
    state: Mapped[str] = mapped_column(String(12))
    basis: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
