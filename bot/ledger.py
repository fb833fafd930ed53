"""Use-cases of the ledger materials (资料台账): what each unit owes, submitting, reviewing.

Each item a unit owes (`bot.reports.required_items`) is in one state, computed from its
submissions exactly as `bot.reports.unit_statuses` counts them, so `/status`, the report and
the export agree at every moment:

    accepted       a submission was accepted (通过)                  — not missing
    pending        a submission awaits review (待审核)                — missing, pending_review
    not_applicable_pending  "not applicable" awaits review           — missing, pending_review
    returned       the latest submission was sent back (退回), reason — missing, open
    missing        nothing submitted yet (a draft may be in progress) — missing, open

A submission is put together as a `draft` (files and text arrive one message at a time and
are saved as they come, so a restart loses nothing), becomes `pending` when the person says
the item is complete, and `accepted` or `returned` when staff review it. A draft or pending
submission becomes `withdrawn` (closed, history only) when the unit is excused from the item.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import files
from bot.checklist import WITHDRAWN, deadline_for
from bot.conversations import end_step, load_step, save_step
from bot.delivery import enqueue, text_payload
from bot.errors import DomainError, NotStaff
from bot.files import Fetch, FileRefused, IncomingFile, StoredFile
from bot.reports import required_items
from bot.roster import find_unit
from bot.services import Services
from messages import t
from storage import repositories as repo
from storage.models import (
    Account,
    ChecklistItem,
    Exemption,
    Person,
    StaffMember,
    Submission,
    SubmissionFile,
    Unit,
)

FLOW_SUBMIT = "submit"
FLOW_STRAY = "stray"
FLOW_REVIEW = "review"
STEP_ITEM = "item"
STEP_NOT_APPLICABLE = "na_reason"
STEP_CHOOSE = "choose"
STEP_RETURN_REASON = "reason"

MAX_ANSWER_CHARS = 3000
MIN_REASON_CHARS = 2
MAX_REASON_CHARS = 500
MAX_HELD_FILES = 10
# Submissions whose files count: a file already in one of these is not recorded again.
KEEPING_STATES = ("draft", "pending", "accepted")


# ---- errors ---------------------------------------------------------------------------------


class NotAMember(DomainError):
    """The person holds no role in any unit."""

    key = "ledger.not_member"


class NotYourUnit(DomainError):
    """The person holds no role in the unit they act for."""

    key = "ledger.not_your_unit"


class ItemNotOpen(DomainError):
    """The item is not owed now (accepted, awaiting review, exempted or retired)."""

    key = "ledger.item_not_open"


class NothingReceived(DomainError):
    """This item is complete, said before any file or text arrived for it."""

    key = "ledger.nothing_received"


class NothingOwed(DomainError):
    """The person's units owe nothing that a file could belong to."""

    key = "ledger.nothing_owed"


class AnswerTooLong(DomainError):
    key = "ledger.text_too_long"


class BadReason(DomainError):
    key = "ledger.reason_invalid"


class NoHeldFiles(DomainError):
    """A choice of item for files outside /submit, when none are held any more."""

    key = "common.stale_button"


class SubmissionGone(DomainError):
    key = "review.gone"


class AlreadyReviewed(DomainError):
    key = "review.already_reviewed"


class SubmissionWithdrawn(SubmissionGone):
    """The unit was excused from the item while this awaited review (bot.checklist.exempt)."""

    key = "review.withdrawn"


# ---- what a unit owes -----------------------------------------------------------------------


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


# ---- who may act for a unit -----------------------------------------------------------------


class UnitRef(BaseModel):
    unit_id: int
    name: str
    kind: str


async def _member_units(session: AsyncSession, actor_id: int) -> list[Unit]:
    ids = sorted({p.unit_id for p in await repo.roles_of_user(session, actor_id)})
    if not ids:
        return []
    query = select(Unit).where(Unit.id.in_(ids)).order_by(Unit.kind, Unit.name)
    return list((await session.scalars(query)).all())


async def _require_member(session: AsyncSession, actor_id: int, unit_id: int) -> Unit:
    """The unit, if the actor is its liaison or lead now (checked on every action)."""
    holds = await session.scalar(
        select(Person.id).where(
            Person.unit_id == unit_id,
            Person.telegram_user_id == actor_id,
            Person.until.is_(None),
        )
    )
    unit = await session.get(Unit, unit_id) if holds is not None else None
    if unit is None:
        raise NotYourUnit()
    return unit


async def _is_staff(session: AsyncSession, services: Services, actor_id: int) -> bool:
    if actor_id in services.settings.staff_ids:
        return True
    return await session.get(StaffMember, actor_id) is not None


async def _require_staff(session: AsyncSession, services: Services, actor_id: int) -> None:
    if not await _is_staff(session, services, actor_id):
        raise NotStaff()


async def my_units(*, services: Services, actor_id: int) -> list[UnitRef]:
    """The units a person is liaison or lead of now."""
    async with services.db.sessions() as session:
        return [
            UnitRef(unit_id=u.id, name=u.name, kind=u.kind)
            for u in await _member_units(session, actor_id)
        ]


async def my_ledgers(*, services: Services, actor_id: int) -> list[UnitLedger]:
    """`/status`: the ledger of each unit the person acts for (NotAMember if none)."""
    async with services.db.sessions() as session:
        units = await _member_units(session, actor_id)
        if not units:
            raise NotAMember()
        return await load_ledgers(session, [u.id for u in units])


async def unit_ledger(*, services: Services, actor_id: int, unit_id: int) -> UnitLedger:
    """One unit's ledger, for its own liaison or lead, or for staff."""
    async with services.db.sessions() as session:
        if not await _is_staff(session, services, actor_id):
            await _require_member(session, actor_id, unit_id)
        found = await load_ledgers(session, [unit_id])
    if not found:
        raise NotYourUnit()
    return found[0]


# ---- submitting ----------------------------------------------------------------------------


class SubmitStep(BaseModel):
    """Where a person's walk through their unit's open items is."""

    unit_id: int
    unit_name: str
    deadline: date | None
    item: LedgerItem | None  # the item asked for now; None when the walk is over
    open_count: int  # items still to be submitted, skipped ones included
    pending_review: int  # items awaiting review
    skipped: list[str]  # titles skipped during this walk
    submitted: str | None = None  # the title just sent for review, if any


class DraftOut(BaseModel):
    """What has been received for an item so far."""

    unit_id: int
    item_id: int
    title: str
    files: int
    text_chars: int
    added: bool = True
    duplicate_of: str | None = None  # the name of the file received before


async def _open_item(session: AsyncSession, unit_id: int, item_id: int) -> LedgerItem:
    ledger = (await load_ledgers(session, [unit_id]))[0]
    for item in ledger.items:
        if item.item_id == item_id:
            if not item.is_open:
                raise ItemNotOpen(title=item.title)
            return item
    raise ItemNotOpen(title="")


async def _submit_data(session: AsyncSession, actor_id: int) -> dict[str, Any]:
    step = await load_step(session, actor_id)
    return dict(step.data) if step is not None and step.flow == FLOW_SUBMIT else {}


async def _walk(
    tx: AsyncSession,
    services: Services,
    *,
    actor_id: int,
    unit: Unit,
    skipped: list[int],
    prefer: int | None = None,
    submitted: str | None = None,
) -> SubmitStep:
    """Move the person to the next open item (or end the walk) and say where they are."""
    ledger = (await load_ledgers(tx, [unit.id]))[0]
    open_items = ledger.open_items
    current = next((i for i in open_items if i.item_id == prefer), None)
    if current is None:
        current = next((i for i in open_items if i.item_id not in skipped), None)
    skipped = [i for i in skipped if any(o.item_id == i for o in open_items)]
    if current is None:
        await end_step(tx, actor_id)
    else:
        await save_step(
            tx,
            user_id=actor_id,
            flow=FLOW_SUBMIT,
            step=STEP_ITEM,
            data={"unit_id": unit.id, "item_id": current.item_id, "skipped": skipped},
            now=services.now(),
        )
    titles = {i.item_id: i.title for i in open_items}
    return SubmitStep(
        unit_id=unit.id,
        unit_name=unit.name,
        deadline=ledger.deadline,
        item=current,
        open_count=len(open_items),
        pending_review=ledger.pending_review,
        skipped=[titles[i] for i in skipped if i in titles],
        submitted=submitted,
    )


async def start_submission(
    *, services: Services, actor_id: int, unit_id: int, item_id: int | None = None
) -> SubmitStep:
    """`/submit`: walk through the unit's open items from the first (or from `item_id`)."""
    async with services.db.uow() as tx:
        unit = await _require_member(tx, actor_id, unit_id)
        return await _walk(tx, services, actor_id=actor_id, unit=unit, skipped=[], prefer=item_id)


async def skip_item(
    *, services: Services, actor_id: int, unit_id: int, item_id: int
) -> SubmitStep:
    """Skip for now (暂时跳过): what was received stays in the draft; on to the next item."""
    async with services.db.uow() as tx:
        unit = await _require_member(tx, actor_id, unit_id)
        data = await _submit_data(tx, actor_id)
        skipped = [int(i) for i in data.get("skipped", []) if int(i) != item_id] + [item_id]
        return await _walk(tx, services, actor_id=actor_id, unit=unit, skipped=skipped)


async def _draft(
    tx: AsyncSession, *, unit_id: int, item_id: int, actor_id: int, now: datetime
) -> Submission:
    found = await tx.scalar(
        select(Submission)
        .where(
            Submission.unit_id == unit_id,
            Submission.item_id == item_id,
            Submission.state == "draft",
        )
        .order_by(Submission.id)
        .limit(1)
    )
    if found is None:
        found = Submission(
            unit_id=unit_id,
            item_id=item_id,
            state="draft",
            answer_kind="files",
            text=None,
            submitted_by=actor_id,
            created_at=now,
        )
        tx.add(found)
        await tx.flush()
    return found


async def _file_count(session: AsyncSession, submission_id: int) -> int:
    query = select(func.count()).where(SubmissionFile.submission_id == submission_id)
    return int(await session.scalar(query) or 0)


async def finish_item(
    *, services: Services, actor_id: int, unit_id: int, item_id: int
) -> SubmitStep:
    """This item is complete (本项已报齐): the draft goes to review; on to the next item."""
    now = services.now()
    async with services.db.uow() as tx:
        unit = await _require_member(tx, actor_id, unit_id)
        item = await _open_item(tx, unit_id, item_id)
        draft = await _draft(tx, unit_id=unit_id, item_id=item_id, actor_id=actor_id, now=now)
        count = await _file_count(tx, draft.id)
        if count == 0 and not draft.text:
            raise NothingReceived(title=item.title)
        draft.state, draft.submitted_at, draft.submitted_by = "pending", now, actor_id
        draft.answer_kind = "files" if count else "text"
        repo.audit(
            tx,
            at=now,
            actor_id=actor_id,
            action="submission",
            unit_id=unit_id,
            submission_id=draft.id,
            item=item.title,
            kind=draft.answer_kind,
            files=count,
        )
        data = await _submit_data(tx, actor_id)
        skipped = [int(i) for i in data.get("skipped", [])]
        return await _walk(
            tx, services, actor_id=actor_id, unit=unit, skipped=skipped, submitted=item.title
        )


async def ask_not_applicable(
    *, services: Services, actor_id: int, unit_id: int, item_id: int
) -> LedgerItem:
    """Not applicable (不适用): ask for the reason (the step waits for it)."""
    async with services.db.uow() as tx:
        await _require_member(tx, actor_id, unit_id)
        item = await _open_item(tx, unit_id, item_id)
        data = await _submit_data(tx, actor_id)
        data.update(unit_id=unit_id, item_id=item_id)
        data.setdefault("skipped", [])
        await save_step(
            tx,
            user_id=actor_id,
            flow=FLOW_SUBMIT,
            step=STEP_NOT_APPLICABLE,
            data=data,
            now=services.now(),
        )
        return item


def clean_reason(reason: str) -> str:
    """A reason as typed, trimmed; BadReason if too short or too long."""
    cleaned = reason.strip()
    if not MIN_REASON_CHARS <= len(cleaned) <= MAX_REASON_CHARS:
        raise BadReason(min=MIN_REASON_CHARS, max=MAX_REASON_CHARS)
    return cleaned


async def declare_not_applicable(
    *, services: Services, actor_id: int, unit_id: int, item_id: int, reason: str
) -> SubmitStep:
    """Submit "not applicable" with its reason for review; on to the next item."""
    reason = clean_reason(reason)
    now = services.now()
    async with services.db.uow() as tx:
        unit = await _require_member(tx, actor_id, unit_id)
        item = await _open_item(tx, unit_id, item_id)
        draft = await _draft(tx, unit_id=unit_id, item_id=item_id, actor_id=actor_id, now=now)
        draft.state, draft.submitted_at, draft.submitted_by = "pending", now, actor_id
        draft.answer_kind, draft.text = "not_applicable", reason
        repo.audit(
            tx,
            at=now,
            actor_id=actor_id,
            action="submission",
            unit_id=unit_id,
            submission_id=draft.id,
            item=item.title,
            kind="not_applicable",
            reason=reason,
        )
        data = await _submit_data(tx, actor_id)
        skipped = [int(i) for i in data.get("skipped", [])]
        return await _walk(
            tx, services, actor_id=actor_id, unit=unit, skipped=skipped, submitted=item.title
        )


async def add_text(
    *, services: Services, actor_id: int, unit_id: int, item_id: int, text: str
) -> DraftOut:
    """A text answer (or a note to the files) for the item; several messages add up."""
    now = services.now()
    text = text.strip()
    async with services.db.uow() as tx:
        await _require_member(tx, actor_id, unit_id)
        item = await _open_item(tx, unit_id, item_id)
        draft = await _draft(tx, unit_id=unit_id, item_id=item_id, actor_id=actor_id, now=now)
        combined = f"{draft.text}\n{text}" if draft.text else text
        if len(combined) > MAX_ANSWER_CHARS:
            raise AnswerTooLong(max=MAX_ANSWER_CHARS)
        draft.text = combined
        count = await _file_count(tx, draft.id)
        if count == 0:
            draft.answer_kind = "text"
        return DraftOut(
            unit_id=unit_id,
            item_id=item_id,
            title=item.title,
            files=count,
            text_chars=len(combined),
        )


async def _known_file(
    session: AsyncSession,
    *,
    unit_ids: Collection[int],
    item_id: int | None,
    file_unique_id: str | None = None,
    sha256: str | None = None,
) -> tuple[SubmissionFile, Submission] | None:
    """A file already kept for the item (or any item of the units) in a live submission."""
    query = (
        select(SubmissionFile, Submission)
        .join(Submission, Submission.id == SubmissionFile.submission_id)
        .where(
            SubmissionFile.unit_id.in_(list(unit_ids)),
            Submission.state.in_(KEEPING_STATES),
        )
        .order_by(SubmissionFile.id)
        .limit(1)
    )
    if item_id is not None:
        query = query.where(SubmissionFile.item_id == item_id)
    if file_unique_id is not None:
        query = query.where(SubmissionFile.file_unique_id == file_unique_id)
    elif sha256 is not None:
        query = query.where(SubmissionFile.sha256 == sha256)
    else:
        return None
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


class Received(BaseModel):
    """A file downloaded for an item, to be recorded."""

    incoming: IncomingFile
    stored: StoredFile


async def _record(
    tx: AsyncSession,
    services: Services,
    *,
    actor_id: int,
    unit_id: int,
    item: LedgerItem,
    received: Sequence[Received],
) -> tuple[DraftOut, list[str]]:
    """Add downloaded files to the item's draft once each; return the draft and the paths of
    duplicates, to be deleted once the transaction is committed."""
    now = services.now()
    draft = await _draft(tx, unit_id=unit_id, item_id=item.item_id, actor_id=actor_id, now=now)
    added, duplicate_of, unwanted = False, None, []
    for file in received:
        known = await _known_file(
            tx,
            unit_ids=[unit_id],
            item_id=item.item_id,
            file_unique_id=file.incoming.file_unique_id,
        ) or await _known_file(
            tx, unit_ids=[unit_id], item_id=item.item_id, sha256=file.stored.sha256
        )
        if known is not None:
            duplicate_of = known[0].file_name
            unwanted.append(file.stored.path)
            continue
        tx.add(
            SubmissionFile(
                submission_id=draft.id,
                unit_id=unit_id,
                item_id=item.item_id,
                file_id=file.incoming.file_id,
                file_unique_id=file.incoming.file_unique_id,
                file_name=file.incoming.display_name,
                mime_type=file.stored.mime_type,
                size=file.stored.size,
                sha256=file.stored.sha256,
                path=file.stored.path,
                created_at=now,
            )
        )
        await tx.flush()
        added = True
        repo.audit(
            tx,
            at=now,
            actor_id=actor_id,
            action="submission_file",
            unit_id=unit_id,
            submission_id=draft.id,
            item=item.title,
            file=file.incoming.display_name,
            size=file.stored.size,
            sha256=file.stored.sha256,
        )
    if added:
        draft.answer_kind = "files"
    return (
        DraftOut(
            unit_id=unit_id,
            item_id=item.item_id,
            title=item.title,
            files=await _file_count(tx, draft.id),
            text_chars=len(draft.text or ""),
            added=added,
            duplicate_of=None if added else duplicate_of,
        ),
        unwanted,
    )


async def receive_file(
    *,
    services: Services,
    actor_id: int,
    unit_id: int,
    item_id: int,
    incoming: IncomingFile,
    fetch: Fetch,
) -> DraftOut:
    """A document or photo for the item: checked before download, downloaded, kept once."""
    files.check_incoming(incoming)
    async with services.db.sessions() as session:
        await _require_member(session, actor_id, unit_id)
        item = await _open_item(session, unit_id, item_id)
        known = await _known_file(
            session, unit_ids=[unit_id], item_id=item_id, file_unique_id=incoming.file_unique_id
        )
        if known is not None:
            count = await _file_count(session, known[1].id)
            return DraftOut(
                unit_id=unit_id,
                item_id=item_id,
                title=item.title,
                files=count,
                text_chars=len(known[1].text or ""),
                added=False,
                duplicate_of=known[0].file_name,
            )
    data_dir = services.settings.data_dir
    stored = await files.download(
        fetch=fetch, data_dir=data_dir, unit_id=unit_id, item_id=item_id, incoming=incoming
    )
    try:
        async with services.db.uow() as tx:
            await _require_member(tx, actor_id, unit_id)
            item = await _open_item(tx, unit_id, item_id)
            draft, unwanted = await _record(
                tx,
                services,
                actor_id=actor_id,
                unit_id=unit_id,
                item=item,
                received=[Received(incoming=incoming, stored=stored)],
            )
    except BaseException:
        await files.remove(data_dir, stored.path)
        raise
    for path in unwanted:
        await files.remove(data_dir, path)
    return draft


# ---- a file sent outside /submit -----------------------------------------------------------


class Candidate(BaseModel):
    unit_id: int
    unit_name: str
    item_id: int
    title: str


class KnownFile(BaseModel):
    unit_name: str
    title: str
    state: str  # draft | pending | accepted


class StrayOut(BaseModel):
    """Files held until the person says which item they belong to."""

    files: list[str]
    guess: Candidate | None
    candidates: list[Candidate]
    known: KnownFile | None = None


_CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]+|[a-z]{3,}")
# Words of file formats and cameras say nothing about which item a file is.
# fmt: off
_NOT_A_HINT = frozenset({
    "pdf", "doc", "docx", "xls", "xlsx", "wps", "ofd", "jpg", "jpeg", "png", "heic", "heif",
    "webp", "bmp", "tif", "tiff", "img", "dsc", "scan", "word", "excel", "file", "copy",
    "photo", "image", "final",
})
# fmt: on


def _terms(text: str) -> set[str]:
    """Chinese character pairs and Latin words of a text (what a file name and a title share)."""
    terms: set[str] = set()
    for run in _CJK_OR_WORD.findall(text.lower()):
        if run.isascii():
            if run not in _NOT_A_HINT:
                terms.add(run)
        else:
            terms.update(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def guess_item(candidates: Sequence[tuple[str, str]], text: str) -> int | None:
    """The index of the (title, description) a file most likely belongs to, from its name and
    caption (协议 → …共建协议), or None when nothing or several match equally well.

    Character pairs shared with the title count fully, with the description a third; a pair
    found in many candidates (双拥, 记录) counts less than one found in a single one.
    """
    query = _terms(text)
    if not query or not candidates:
        return None
    titles = [_terms(title) for title, _ in candidates]
    descriptions = [_terms(description) for _, description in candidates]
    n = len(candidates)

    def weight(term: str) -> float:
        df = sum(1 for a, b in zip(titles, descriptions, strict=True) if term in a or term in b)
        return math.log(1 + n / df) if df else 0.0

    scores = [
        sum(weight(term) for term in query & title)
        + sum(weight(term) for term in (query & description) - title) / 3
        for title, description in zip(titles, descriptions, strict=True)
    ]
    best = max(scores)
    if best <= 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


async def hold_stray_file(
    *, services: Services, actor_id: int, incoming: IncomingFile, caption: str | None
) -> StrayOut:
    """A file sent outside /submit: kept in hand (not downloaded) with the item it most
    likely belongs to, until the person confirms or chooses another."""
    async with services.db.uow() as tx:
        units = await _member_units(tx, actor_id)
        if not units:
            raise NotAMember()
        files.check_incoming(incoming)
        unit_ids = [u.id for u in units]
        known = await _known_file(
            tx, unit_ids=unit_ids, item_id=None, file_unique_id=incoming.file_unique_id
        )
        if known is not None:
            ledger = (await load_ledgers(tx, [known[1].unit_id]))[0]
            title = next((i.title for i in ledger.items if i.item_id == known[1].item_id), "")
            return StrayOut(
                files=[incoming.display_name],
                guess=None,
                candidates=[],
                known=KnownFile(unit_name=ledger.unit_name, title=title, state=known[1].state),
            )
        ledgers = await load_ledgers(tx, unit_ids)
        candidates = [
            Candidate(
                unit_id=ledger.unit_id,
                unit_name=ledger.unit_name,
                item_id=item.item_id,
                title=item.title,
            )
            for ledger in ledgers
            for item in ledger.open_items
        ]
        if not candidates:
            raise NothingOwed()
        descriptions = {
            (ledger.unit_id, i.item_id): i.description for ledger in ledgers for i in ledger.items
        }
        step = await load_step(tx, actor_id)
        data: dict[str, Any] = (
            dict(step.data) if step is not None and step.flow == FLOW_STRAY else {}
        )
        held = [f for f in data.get("files", []) if f["file_unique_id"] != incoming.file_unique_id]
        held = [*held, {**incoming.model_dump(), "caption": caption or ""}][-MAX_HELD_FILES:]
        await save_step(
            tx,
            user_id=actor_id,
            flow=FLOW_STRAY,
            step=STEP_CHOOSE,
            data={"files": held},
            now=services.now(),
        )
    hint = " ".join(f"{f.get('file_name') or ''} {f.get('caption') or ''}" for f in held)
    index = guess_item(
        [(c.title, descriptions.get((c.unit_id, c.item_id), "")) for c in candidates], hint
    )
    return StrayOut(
        files=[IncomingFile.model_validate(f).display_name for f in held],
        guess=candidates[index] if index is not None else None,
        candidates=candidates,
    )


class Refusal(BaseModel):
    """Why a file was not kept: a message key and its values."""

    key: str
    values: dict[str, str]


class Placed(BaseModel):
    """Files outside /submit put into the item the person chose."""

    draft: DraftOut
    added: int  # files recorded (not refused, not received before)
    refused: list[Refusal]  # files that could not be kept after all
    step: SubmitStep


def _held(data: dict[str, Any]) -> list[IncomingFile]:
    return [
        IncomingFile.model_validate({k: v for k, v in f.items() if k != "caption"})
        for f in data.get("files", [])
    ]


async def place_held_files(
    *, services: Services, actor_id: int, unit_id: int, item_id: int, fetch: Fetch
) -> Placed:
    """The person chose the item for the files in hand: download them into its draft and
    continue with /submit at that item."""
    async with services.db.sessions() as session:
        step = await load_step(session, actor_id)
        if step is None or step.flow != FLOW_STRAY:
            raise NoHeldFiles()
        held = _held(step.data)
        await _require_member(session, actor_id, unit_id)
        await _open_item(session, unit_id, item_id)
    data_dir = services.settings.data_dir
    received: list[Received] = []
    refused: list[Refusal] = []
    try:
        for incoming in held:
            try:
                stored = await files.download(
                    fetch=fetch,
                    data_dir=data_dir,
                    unit_id=unit_id,
                    item_id=item_id,
                    incoming=incoming,
                )
            except FileRefused as refusal:
                values = {k: str(v) for k, v in refusal.values.items()}
                refused.append(Refusal(key=refusal.key, values=values))
                continue
            received.append(Received(incoming=incoming, stored=stored))
        async with services.db.uow() as tx:
            unit = await _require_member(tx, actor_id, unit_id)
            item = await _open_item(tx, unit_id, item_id)
            draft, unwanted = await _record(
                tx, services, actor_id=actor_id, unit_id=unit_id, item=item, received=received
            )
            walk = await _walk(
                tx, services, actor_id=actor_id, unit=unit, skipped=[], prefer=item_id
            )
    except BaseException:
        for file in received:
            await files.remove(data_dir, file.stored.path)
        raise
    for path in unwanted:
        await files.remove(data_dir, path)
    added = len(received) - len(unwanted)
    return Placed(draft=draft, added=added, refused=refused, step=walk)


async def drop_held_files(*, services: Services, actor_id: int) -> int:
    """The person does not want the files in hand kept; tell how many were dropped."""
    async with services.db.uow() as tx:
        step = await load_step(tx, actor_id)
        if step is None or step.flow != FLOW_STRAY:
            return 0
        count = len(step.data.get("files", []))
        await end_step(tx, actor_id)
        return count


# ---- review --------------------------------------------------------------------------------


class ReviewFile(BaseModel):
    file_id: str
    file_name: str
    photo: bool
    size: int


class ReviewCard(BaseModel):
    """One submission awaiting review, as staff see it."""

    submission_id: int
    unit_id: int
    unit_name: str
    item_title: str
    answer_kind: str
    text: str | None
    submitted_at: datetime
    submitter: str
    submitter_role: str | None
    files: list[ReviewFile]
    waiting: int  # submissions awaiting review in all
    returned_before: int  # earlier submissions of this item that were sent back


async def next_review(
    *,
    services: Services,
    actor_id: int,
    after: int | None = None,
    unit_id: int | None = None,
    prefer_unit: int | None = None,
) -> ReviewCard | None:
    """For staff: the oldest submission awaiting review — of one unit if `unit_id` is given;
    of `prefer_unit` while it has any (the reviewer stays on a unit), else of any unit — or
    the next one after the submission `after`."""
    async with services.db.sessions() as session:
        await _require_staff(session, services, actor_id)
        waiting = int(
            await session.scalar(
                select(func.count()).select_from(Submission).where(Submission.state == "pending")
            )
            or 0
        )
        query = (
            select(Submission)
            .where(Submission.state == "pending")
            .order_by(Submission.submitted_at, Submission.id)
        )
        if unit_id is not None:
            query = query.where(Submission.unit_id == unit_id)
        if after is not None:
            previous = await session.get(Submission, after)
            if previous is not None and previous.submitted_at is not None:
                query = query.where(
                    (Submission.submitted_at > previous.submitted_at)
                    | (
                        (Submission.submitted_at == previous.submitted_at)
                        & (Submission.id > previous.id)
                    )
                )
        submission = None
        if prefer_unit is not None:
            submission = await session.scalar(
                query.where(Submission.unit_id == prefer_unit).limit(1)
            )
        if submission is None:
            submission = await session.scalar(query.limit(1))
        if submission is None:
            return None
        return await _card(session, submission, waiting)


async def unit_to_review(*, services: Services, actor_id: int, name: str) -> UnitRef:
    """The unit staff name in `/review NAME` (exact, part of the name, or pinyin initials)."""
    async with services.db.sessions() as session:
        await _require_staff(session, services, actor_id)
        unit = await find_unit(session, name)
        return UnitRef(unit_id=unit.id, name=unit.name, kind=unit.kind)


async def _card(session: AsyncSession, submission: Submission, waiting: int) -> ReviewCard:
    unit = await session.get(Unit, submission.unit_id)
    ledger = (await load_ledgers(session, [submission.unit_id]))[0]
    title = next((i.title for i in ledger.items if i.item_id == submission.item_id), None)
    if title is None:  # exempted or retired since: still show what it was
        title = await _item_title(session, submission.item_id)
    person = await session.scalar(
        select(Person)
        .where(
            Person.unit_id == submission.unit_id,
            Person.telegram_user_id == submission.submitted_by,
        )
        .order_by(Person.until.is_not(None), Person.id.desc())
        .limit(1)
    )
    stored = (
        await session.scalars(
            select(SubmissionFile)
            .where(SubmissionFile.submission_id == submission.id)
            .order_by(SubmissionFile.id)
        )
    ).all()
    returned_before = int(
        await session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.unit_id == submission.unit_id,
                Submission.item_id == submission.item_id,
                Submission.state == "returned",
            )
        )
        or 0
    )
    assert submission.submitted_at is not None
    return ReviewCard(
        submission_id=submission.id,
        unit_id=submission.unit_id,
        unit_name=unit.name if unit else "?",
        item_title=title,
        answer_kind=submission.answer_kind,
        text=submission.text,
        submitted_at=submission.submitted_at,
        submitter=person.name if person else str(submission.submitted_by),
        submitter_role=person.role if person else None,
        files=[
            ReviewFile(
                file_id=f.file_id,
                file_name=f.file_name,
                photo=files.is_photo(f.mime_type),
                size=f.size,
            )
            for f in stored
        ],
        waiting=waiting,
        returned_before=returned_before,
    )


async def _item_title(session: AsyncSession, item_id: int) -> str:
    found = await session.get(ChecklistItem, item_id)
    return found.title if found else "?"


async def _pending_submission(tx: AsyncSession, submission_id: int) -> Submission:
    submission = await tx.get(Submission, submission_id)
    if submission is None or submission.state == "draft":
        raise SubmissionGone()
    if submission.state == WITHDRAWN:
        raise SubmissionWithdrawn()
    if submission.state != "pending":
        raise AlreadyReviewed(state=submission.state)
    return submission


async def ask_return_reason(
    *, services: Services, actor_id: int, submission_id: int
) -> ReviewCard:
    """Send back (退回): the step waits for the reason."""
    async with services.db.uow() as tx:
        await _require_staff(tx, services, actor_id)
        submission = await _pending_submission(tx, submission_id)
        await save_step(
            tx,
            user_id=actor_id,
            flow=FLOW_REVIEW,
            step=STEP_RETURN_REASON,
            data={"submission_id": submission_id},
            now=services.now(),
        )
        return await _card(tx, submission, 0)


class ReviewDecision(BaseModel):
    submission_id: int
    unit_id: int
    unit_name: str
    item_title: str
    accepted: bool
    reason: str | None
    notified: int  # messages put in the outbox for the unit
    unit_complete: bool  # nothing left to accept


async def accept_submission(
    *, services: Services, actor_id: int, submission_id: int
) -> ReviewDecision:
    """通过: the item stops counting as outstanding; the unit is told through the outbox."""
    return await _decide(
        services=services, actor_id=actor_id, submission_id=submission_id, reason=None
    )


async def return_submission(
    *, services: Services, actor_id: int, submission_id: int, reason: str
) -> ReviewDecision:
    """退回 with a reason: the item reopens; the unit is told through the outbox."""
    return await _decide(
        services=services,
        actor_id=actor_id,
        submission_id=submission_id,
        reason=clean_reason(reason),
    )


async def _decide(
    *, services: Services, actor_id: int, submission_id: int, reason: str | None
) -> ReviewDecision:
    now = services.now()
    accepted = reason is None
    async with services.db.uow() as tx:
        await _require_staff(tx, services, actor_id)
        submission = await _pending_submission(tx, submission_id)
        submission.state = "accepted" if accepted else "returned"
        submission.reviewed_by, submission.reviewed_at = actor_id, now
        submission.review_note = reason
        step = await load_step(tx, actor_id)
        if step is not None and step.flow == FLOW_REVIEW:
            await end_step(tx, actor_id)
        await tx.flush()
        ledger = (await load_ledgers(tx, [submission.unit_id]))[0]
        title = next(
            (i.title for i in ledger.items if i.item_id == submission.item_id), None
        ) or await _item_title(tx, submission.item_id)
        repo.audit(
            tx,
            at=now,
            actor_id=actor_id,
            action="review_accept" if accepted else "review_return",
            unit_id=submission.unit_id,
            submission_id=submission.id,
            item=title,
            reason=reason,
        )
        notified = await _tell_unit(
            tx,
            services,
            submission=submission,
            ledger=ledger,
            title=title,
            reason=reason,
        )
        return ReviewDecision(
            submission_id=submission.id,
            unit_id=submission.unit_id,
            unit_name=ledger.unit_name,
            item_title=title,
            accepted=accepted,
            reason=reason,
            notified=notified,
            unit_complete=not ledger.missing_items,
        )


async def _tell_unit(
    tx: AsyncSession,
    services: Services,
    *,
    submission: Submission,
    ledger: UnitLedger,
    title: str,
    reason: str | None,
) -> int:
    """Put the review's result in the outbox for whoever submitted and the unit's liaison."""
    people = (
        await tx.scalars(
            select(Person).where(
                Person.unit_id == submission.unit_id,
                Person.until.is_(None),
                Person.telegram_user_id.is_not(None),
            )
        )
    ).all()
    # Whoever submitted (if they still act for the unit), and the unit's liaison.
    submitter = [p for p in people if p.telegram_user_id == submission.submitted_by]
    liaison = [p for p in people if p.role == "liaison"]
    chats = [p.telegram_user_id for p in submitter + liaison if p.telegram_user_id is not None]
    count = 0
    for chat_id in dict.fromkeys(chats):
        account = await tx.get(Account, chat_id)
        lang = (account.language if account else None) or services.settings.language
        if reason is None:
            key = (
                "review.notice_all_accepted"
                if not ledger.missing_items
                else "review.notice_accepted"
            )
            text = t(lang, key, unit=ledger.unit_name, title=title, open=len(ledger.open_items))
            markup = None
        else:
            text = t(
                lang, "review.notice_returned", unit=ledger.unit_name, title=title, reason=reason
            )
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            t(lang, "review.button_resubmit"),
                            callback_data=f"sub:go:{submission.unit_id}:{submission.item_id}",
                        )
                    ]
                ]
            )
        if await enqueue(
            tx,
            key=f"review:{submission.id}:{chat_id}",
            chat_id=chat_id,
            purpose="review",
            payload=text_payload(text, markup),
            now=services.now(),
            unit_id=submission.unit_id,
        ):
            count += 1
    return count
