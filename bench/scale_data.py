"""A country's roster: N units with a realistic spread of people, submissions and reminders.

Deterministic for a given seed. Rows are written with set-based inserts in chunks, so 100,000
units (about 2 million rows in all) take a minute or two on SQLite and on PostgreSQL.

The spread, per unit: 95% member units and 5% counties, with the default checklist; 85% have
a liaison (80% of those linked to a Telegram account), 70% a lead on record (40% linked); 5% of
accounts unreachable; 45% of the units have every item accepted, the others a mix of accepted,
awaiting review, sent back (with an earlier returned submission), drafts and nothing; each
outstanding unit has 1–8 reminders in the outbox (sent, a few unknown or unreachable); 1% of
units excused from one item, 1% owing one more item of their own.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import Services
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

CHUNK = 2_000
START = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
FIRST_USER = 900_000_000


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def _insert(tx: AsyncSession, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    # Keep well under PostgreSQL's 32,767 bind parameters per statement.
    size = max(1, min(CHUNK, 30_000 // max(1, len(rows[0]))))
    for part in _chunks(rows, size):
        await tx.execute(insert(model), list(part))


async def populate(services: Services, units: int, *, seed: int = 20261204) -> dict[str, int]:
    """Write `units` units and everything around them; return the count of rows per table."""
    rng = random.Random(seed)
    async with services.db.uow() as tx:
        items = list(
            (await tx.scalars(select(ChecklistItem).where(ChecklistItem.active.is_(True)))).all()
        )
        first_id = int(await tx.scalar(select(func.coalesce(func.max(Unit.id), 0))) or 0) + 1
    by_kind = {
        kind: [i for i in items if i.kind == kind and i.unit_id is None]
        for kind in ("member", "county")
    }
    unit_rows: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    exemptions: list[dict[str, Any]] = []
    extra_items: list[dict[str, Any]] = []
    next_user = FIRST_USER
    next_sub = 1_000_000
    for n in range(units):
        unit_id = first_id + n
        kind = "county" if n % 20 == 0 else "member"
        created = START + timedelta(minutes=n % 1440)
        unit_rows.append(
            {
                "id": unit_id,
                "name": f"单位{unit_id:06d}",
                "kind": kind,
                "position": unit_id,  # given: the default reads the largest for every row
                "created_at": created,
            }
        )
        holders: list[int] = []
        for role, share, linked_share in (("liaison", 0.85, 0.8), ("lead", 0.70, 0.4)):
            if rng.random() >= share:
                continue
            user_id = None
            if rng.random() < linked_share:
                next_user += 1
                user_id = next_user
                holders.append(user_id)
                unreachable = START + timedelta(days=10) if rng.random() < 0.05 else None
                accounts.append(
                    {
                        "user_id": user_id,
                        "language": "zh",
                        "first_seen": created,
                        "last_seen": created,
                        "unreachable_since": unreachable,
                        "unreachable_reason": "Forbidden: bot was blocked by the user"
                        if unreachable
                        else None,
                    }
                )
            people.append(
                {
                    "unit_id": unit_id,
                    "role": role,
                    "name": "张伟" if role == "liaison" else "李强",
                    "post": "科长" if role == "liaison" else "副局长",
                    "phone": f"139{n % 100_000_000:08d}",
                    "telegram_user_id": user_id,
                    "since": created + timedelta(days=2),
                    "until": None,
                    "entered_by": user_id,
                }
            )
        owed = list(by_kind[kind])
        if rng.random() < 0.01 and len(owed) > 1:
            excused = owed.pop(rng.randrange(len(owed)))
            exemptions.append(
                {
                    "unit_id": unit_id,
                    "item_id": excused.id,
                    "reason": "无此职能",
                    "created_at": created,
                    "created_by": None,
                }
            )
        if rng.random() < 0.01:
            extra_items.append(
                {
                    "kind": None,
                    "unit_id": unit_id,
                    "title": "补充材料",
                    "description": "",
                    "position": 100,
                    "active": True,
                }
            )
        complete = rng.random() < 0.45
        submitter = holders[0] if holders else FIRST_USER
        for item in owed:
            roll = 1.0 if complete else rng.random()
            at = created + timedelta(days=5 + rng.randrange(60))
            if roll < 0.35:
                continue  # nothing yet
            state = (
                "draft"
                if roll < 0.40
                else "returned"
                if roll < 0.48
                else "pending"
                if roll < 0.60
                else "accepted"
            )
            if state == "returned" or (state in ("pending", "accepted") and rng.random() < 0.1):
                next_sub += 1
                subs.append(_submission(next_sub, unit_id, item.id, "returned", submitter, at))
            if state != "returned":
                next_sub += 1
                subs.append(_submission(next_sub, unit_id, item.id, state, submitter, at))
            files.append(
                {
                    "submission_id": next_sub,
                    "unit_id": unit_id,
                    "item_id": item.id,
                    "file_id": f"BQAC{next_sub}",
                    "file_unique_id": f"AQAD{next_sub}",
                    "file_name": f"{item.title[:20]}.pdf",
                    "mime_type": "application/pdf",
                    "size": 120_000,
                    "sha256": None,
                    "path": None,
                    "created_at": at,
                }
            )
        if not complete and holders:
            for r in range(rng.randrange(1, 9)):
                day = START + timedelta(days=2 * r + 3)
                state = "sent" if rng.random() < 0.95 else rng.choice(("unknown", "unreachable"))
                outbox.append(
                    {
                        "dedupe_key": f"reminder:{unit_id}:{holders[0]}:{day.date()}",
                        "chat_id": holders[0],
                        "purpose": "reminder",
                        "payload": {"method": "sendMessage", "text": "提醒"},
                        "unit_id": unit_id,
                        "broadcast_id": None,
                        "state": state,
                        "due_at": day,
                        "attempts": 1,
                        "lease_until": None,
                        "claimed_by": None,
                        "created_at": day,
                        "sent_at": day if state == "sent" else None,
                        "message_id": r + 1 if state == "sent" else None,
                        "error": None,
                    }
                )
    async with services.db.uow() as tx:
        await _insert(tx, Unit, unit_rows)
        await _insert(tx, Account, accounts)
        await _insert(tx, Person, people)
        await _insert(tx, ChecklistItem, extra_items)
        await _insert(tx, Exemption, exemptions)
        await _insert(tx, Submission, subs)
        await _insert(tx, SubmissionFile, files)
        await _insert(tx, OutboxMessage, outbox)
    return {
        "unit": len(unit_rows),
        "person": len(people),
        "account": len(accounts),
        "submission": len(subs),
        "submission_file": len(files),
        "outbox": len(outbox),
        "exemption": len(exemptions),
    }


def _submission(
    sub_id: int, unit_id: int, item_id: int, state: str, by: int, at: datetime
) -> dict[str, Any]:
    decided = state in ("accepted", "returned")
    return {
        "id": sub_id,
        "unit_id": unit_id,
        "item_id": item_id,
        "state": state,
        "answer_kind": "files",
        "text": None,
        "submitted_by": by,
        "created_at": at,
        "submitted_at": None if state == "draft" else at,
        "reviewed_by": 900 if decided else None,
        "reviewed_at": at + timedelta(days=1) if decided else None,
        "review_note": "缺少盖章页" if state == "returned" else None,
    }
