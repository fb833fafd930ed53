"""Rows for a test's database: units, people, checklist items, submissions, exemptions, outbox.

Each factory writes in one transaction of its own and returns the row (sessions do not
expire on commit, so its attributes stay readable). Defaults are plausible office data;
pass only what the test is about.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from bot.services import Services
from bot.transport.outbox import text_payload
from storage.models import (
    Account,
    ChecklistItem,
    Exemption,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)

Kind = Literal["member", "county"]
Role = Literal["liaison", "lead"]
SubmissionState = Literal["draft", "pending", "accepted", "returned"]
AnswerKind = Literal["files", "text", "not_applicable"]

_numbers = itertools.count(1)


async def add_unit(services: Services, name: str | None = None, *, kind: Kind = "member") -> Unit:
    """A unit of the roster (a fresh name unless one is given)."""
    unit = Unit(name=name or f"测试单位{next(_numbers)}", kind=kind, created_at=services.now())
    async with services.db.uow() as tx:
        tx.add(unit)
    return unit


async def add_person(
    services: Services,
    unit: Unit,
    role: Role = "liaison",
    *,
    user_id: int | None = None,
    name: str | None = None,
    post: str | None = None,
    phone: str = "13912345678",
    since: datetime | None = None,
) -> Person:
    """The unit's current liaison or lead: linked to a chat when `user_id` is given."""
    person = Person(
        unit_id=unit.id,
        role=role,
        name=name or ("张伟" if role == "liaison" else "王强"),
        post=post or ("办公室主任" if role == "liaison" else "副局长"),
        phone=phone,
        telegram_user_id=user_id,
        since=since or services.now(),
        until=None,
        entered_by=user_id,
    )
    async with services.db.uow() as tx:
        tx.add(person)
    return person


async def add_account(
    services: Services,
    user_id: int,
    *,
    language: str | None = None,
    unreachable_reason: str | None = None,
) -> Account:
    """A Telegram account the bot has met (its language; unreachable if a reason is given)."""
    now = services.now()
    account = Account(
        user_id=user_id,
        language=language,
        first_seen=now,
        last_seen=now,
        unreachable_since=now if unreachable_reason else None,
        unreachable_reason=unreachable_reason,
    )
    async with services.db.uow() as tx:
        tx.add(account)
    return account


async def items_for(services: Services, unit: Unit) -> list[ChecklistItem]:
    """The shipped checklist items of the unit's kind, in their order."""
    async with services.db.sessions() as session:
        found = await session.scalars(
            select(ChecklistItem)
            .where(ChecklistItem.kind == unit.kind, ChecklistItem.active.is_(True))
            .order_by(ChecklistItem.position, ChecklistItem.id)
        )
        return list(found.all())


async def add_item(
    services: Services,
    title: str | None = None,
    *,
    unit: Unit | None = None,
    kind: Kind | None = None,
    description: str = "",
) -> ChecklistItem:
    """A checklist item: one unit's own addition (`unit`), or one more for a kind."""
    if (unit is None) == (kind is None):
        raise ValueError("give either the unit the item is for, or the kind of unit")
    item = ChecklistItem(
        kind=kind,
        unit_id=unit.id if unit is not None else None,
        title=title or f"测试资料{next(_numbers)}",
        description=description,
        position=1000 + next(_numbers),
        active=True,
    )
    async with services.db.uow() as tx:
        tx.add(item)
    return item


async def add_submission(
    services: Services,
    unit: Unit,
    item: ChecklistItem,
    state: SubmissionState = "pending",
    *,
    submitted_by: int = 1001,
    answer_kind: AnswerKind = "files",
    files: int = 1,
    text: str | None = None,
    reviewed_by: int | None = None,
    note: str | None = None,
) -> Submission:
    """A submission of one item in any state, with its files (sent earlier by file_id)."""
    now = services.now()
    reviewed = state in ("accepted", "returned")
    submission = Submission(
        unit_id=unit.id,
        item_id=item.id,
        state=state,
        answer_kind=answer_kind,
        text=text if answer_kind != "files" or text else None,
        submitted_by=submitted_by,
        created_at=now,
        submitted_at=None if state == "draft" else now,
        reviewed_by=(reviewed_by or 900) if reviewed else None,
        reviewed_at=now if reviewed else None,
        review_note=note if state == "returned" else None,
    )
    if answer_kind == "not_applicable" and text is None:
        submission.text = "本单位无此项职能。"
    async with services.db.uow() as tx:
        tx.add(submission)
        await tx.flush()
        for index in range(files if answer_kind == "files" else 0):
            number = next(_numbers)
            tx.add(
                SubmissionFile(
                    submission_id=submission.id,
                    unit_id=unit.id,
                    item_id=item.id,
                    file_id=f"BQACAgIAAxsub{number}",
                    file_unique_id=f"AgADsub{number}",
                    file_name=f"材料{index + 1}.pdf",
                    mime_type="application/pdf",
                    size=1000,
                    sha256=None,
                    path=None,
                    created_at=now,
                )
            )
    return submission


async def add_exemption(
    services: Services, unit: Unit, item: ChecklistItem, *, reason: str = "本单位无此项职能"
) -> Exemption:
    """The office excuses the unit from one item."""
    exemption = Exemption(
        unit_id=unit.id,
        item_id=item.id,
        reason=reason,
        created_at=services.now(),
        created_by=900,
    )
    async with services.db.uow() as tx:
        tx.add(exemption)
    return exemption


async def add_outbox(
    services: Services,
    chat_id: int,
    *,
    text: str = "通知",
    purpose: str = "notice",
    state: str = "pending",
    key: str | None = None,
    unit: Unit | None = None,
    error: str | None = None,
) -> OutboxMessage:
    """A message the bot means to send (or has sent) on its own initiative."""
    now = services.now()
    row = OutboxMessage(
        dedupe_key=key or f"{purpose}:test{next(_numbers)}:{chat_id}",
        chat_id=chat_id,
        purpose=purpose,
        payload=text_payload(text),
        unit_id=unit.id if unit is not None else None,
        state=state,
        due_at=now,
        attempts=0 if state == "pending" else 1,
        created_at=now,
        sent_at=now if state == "sent" else None,
        error=error,
    )
    async with services.db.uow() as tx:
        tx.add(row)
    return row
