"""What each unit owes, item by item: the state of every required item."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ledger.checklist import deadline_for
from bot.ledger.report import required_items
from bot.services import Services
from storage import repositories as repo
from storage.models import (
    Exemption,
    Submission,
    SubmissionFile,
    Unit,
)


class ItemState(StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    NOT_APPLICABLE_PENDING = "not_applicable_pending"
    RETURNED = "returned"
    MISSING = "missing"


AWAITING_REVIEW = (ItemState.PENDING, ItemState.NOT_APPLICABLE_PENDING)
OPEN = (ItemState.MISSING, ItemState.RETURNED)


class LedgerItem(BaseModel):
    item_id: int
    title: str
    description: str
    state: ItemState
    # The reviewer's reason (returned) or the unit's reason (not applicable, pending).
    reason: str | None = None
    submission_id: int | None = None
    # A draft in progress (files and text received, not yet submitted).
    draft_files: int = 0
    draft_chars: int = 0  # length of the drafted text answer or note

    @property
    def is_open(self) -> bool:
        """Still to be submitted: missing or sent back."""
        return self.state in OPEN


class UnitLedger(BaseModel):
    unit_id: int
    unit_name: str
    kind: str
    deadline: date | None
    items: list[LedgerItem]

    @property
    def missing_items(self) -> list[str]:
        """The titles not yet accepted (the report's `missing_items`)."""
        return [i.title for i in self.items if i.state != ItemState.ACCEPTED]

    @property
    def pending_review(self) -> int:
        """How many items await review (the report's `pending_review`)."""
        return sum(1 for i in self.items if i.state in AWAITING_REVIEW)

    @property
    def open_items(self) -> list[LedgerItem]:
        return [i for i in self.items if i.is_open]

    @property
    def accepted(self) -> int:
        return sum(1 for i in self.items if i.state == ItemState.ACCEPTED)


def item_state(submissions: Sequence[Submission]) -> tuple[ItemState, Submission | None]:
    """One item's state from its submissions (oldest first), with the one that decides it.

    The same precedence as `bot.reports.unit_statuses`: accepted wins over awaiting review,
    which wins over anything else.
    """
    accepted = [s for s in submissions if s.state == "accepted"]
    if accepted:
        return ItemState.ACCEPTED, accepted[-1]
    pending = [s for s in submissions if s.state == "pending"]
    if pending:
        first = pending[0]
        if first.answer_kind == "not_applicable":
            return ItemState.NOT_APPLICABLE_PENDING, first
        return ItemState.PENDING, first
    returned = [s for s in submissions if s.state == "returned"]
    if returned:
        return ItemState.RETURNED, returned[-1]
    return ItemState.MISSING, None


async def load_ledgers(
    session: AsyncSession, unit_ids: Collection[int] | None = None
) -> list[UnitLedger]:
    """The ledger of every unit (or of the units given), in a handful of queries."""
    query = select(Unit).order_by(Unit.kind, Unit.name)
    if unit_ids is not None:
        query = query.where(Unit.id.in_(list(unit_ids)))
    units = (await session.scalars(query)).all()
    if not units:
        return []
    ids = [u.id for u in units]
    items = list(await repo.checklist(session))
    exemptions = select(Exemption)
    submissions = select(Submission).order_by(Submission.id)
    drafts = (
        select(SubmissionFile.submission_id, func.count())
        .join(Submission, Submission.id == SubmissionFile.submission_id)
        .where(Submission.state == "draft")
        .group_by(SubmissionFile.submission_id)
    )
    if unit_ids is not None:
        exemptions = exemptions.where(Exemption.unit_id.in_(ids))
        submissions = submissions.where(Submission.unit_id.in_(ids))
        drafts = drafts.where(Submission.unit_id.in_(ids))
    exempt: dict[int, set[int]] = defaultdict(set)
    for e in (await session.scalars(exemptions)).all():
        exempt[e.unit_id].add(e.item_id)
    by_item: dict[tuple[int, int], list[Submission]] = defaultdict(list)
    for s in (await session.scalars(submissions)).all():
        by_item[(s.unit_id, s.item_id)].append(s)
    draft_files: dict[int, int] = {sid: n for sid, n in (await session.execute(drafts)).all()}  # noqa: C416
    deadlines = await repo.deadlines(session)
    result = []
    for unit in units:
        entries = []
        for item in required_items(unit, items, exempt[unit.id]):
            subs = by_item.get((unit.id, item.id), [])
            state, deciding = item_state(subs)
            draft = next((s for s in subs if s.state == "draft"), None)
            reason = None
            if deciding is not None and state == ItemState.RETURNED:
                reason = deciding.review_note
            elif deciding is not None and state == ItemState.NOT_APPLICABLE_PENDING:
                reason = deciding.text
            entries.append(
                LedgerItem(
                    item_id=item.id,
                    title=item.title,
                    description=item.description,
                    state=state,
                    reason=reason,
                    submission_id=deciding.id if deciding else None,
                    draft_files=draft_files.get(draft.id, 0) if draft else 0,
                    draft_chars=len(draft.text or "") if draft else 0,
                )
            )
        result.append(
            UnitLedger(
                unit_id=unit.id,
                unit_name=unit.name,
                kind=unit.kind,
                deadline=deadline_for(unit.kind, deadlines),
                items=entries,
            )
        )
    return result


class OwedItem(BaseModel):
    item_id: int
    title: str
    state: Literal["missing", "returned"]
    reason: str | None = None


class UnitOwes(BaseModel):
    unit_id: int
    unit_name: str
    kind: str
    deadline: date | None
    items: list[OwedItem]


async def owed_items(
    session: AsyncSession, unit_ids: Collection[int] | None = None
) -> list[UnitOwes]:
    """Per unit, the items still to be submitted: missing or sent back, never those
    awaiting review. Units owing nothing are left out. (For reminders, in their transaction.)
    """
    result = []
    for ledger in await load_ledgers(session, unit_ids):
        owed = [
            OwedItem(
                item_id=i.item_id,
                title=i.title,
                state="returned" if i.state == ItemState.RETURNED else "missing",
                reason=i.reason if i.state == ItemState.RETURNED else None,
            )
            for i in ledger.open_items
        ]
        if owed:
            result.append(
                UnitOwes(
                    unit_id=ledger.unit_id,
                    unit_name=ledger.unit_name,
                    kind=ledger.kind,
                    deadline=ledger.deadline,
                    items=owed,
                )
            )
    return result


async def units_owing(
    *, services: Services, unit_ids: Collection[int] | None = None
) -> list[UnitOwes]:
    """`owed_items` on its own connection."""
    async with services.db.sessions() as session:
        return await owed_items(session, unit_ids)
