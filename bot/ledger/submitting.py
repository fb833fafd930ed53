"""Submitting an item through /submit: files, a text answer, or "not applicable"."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations import end_step, load_step, save_step
from bot.ledger import files
from bot.ledger.errors import AnswerTooLong, BadReason, EmptyAnswer, ItemNotOpen, NothingReceived
from bot.ledger.files import Fetch, IncomingFile, StoredFile
from bot.ledger.permissions import require_member
from bot.ledger.status import ItemStatus, load_obligations
from bot.services import Services
from storage import repositories as repo
from storage.models import (
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


class SubmitStep(BaseModel):
    """Where a person's walk through their unit's open items is."""

    unit_id: int
    unit_name: str
    deadline: date | None
    item: ItemStatus | None  # the item asked for now; None when the walk is over
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


async def _open_item(session: AsyncSession, unit_id: int, item_id: int) -> ItemStatus:
    ledger = (await load_obligations(session, [unit_id]))[0]
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
    ledger = (await load_obligations(tx, [unit.id]))[0]
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
        unit = await require_member(tx, actor_id, unit_id)
        return await _walk(tx, services, actor_id=actor_id, unit=unit, skipped=[], prefer=item_id)


async def skip_item(
    *, services: Services, actor_id: int, unit_id: int, item_id: int
) -> SubmitStep:
    """Skip for now (暂时跳过): what was received stays in the draft; on to the next item."""
    async with services.db.uow() as tx:
        unit = await require_member(tx, actor_id, unit_id)
        data = await _submit_data(tx, actor_id)
        skipped = [int(i) for i in data.get("skipped", []) if int(i) != item_id] + [item_id]
        return await _walk(tx, services, actor_id=actor_id, unit=unit, skipped=skipped)


async def _to_review(
    tx: AsyncSession,
    services: Services,
    unit: Unit,
    item: ItemStatus,
    draft: Submission,
    actor_id: int,
    now: datetime,
    **details: object,
) -> SubmitStep:
    """The draft goes to review (audited, with `details`); the person on to the next item."""
    draft.state, draft.submitted_at, draft.submitted_by = "pending", now, actor_id
    kind = draft.answer_kind
    repo.audit(
        tx, now, actor_id, "submission", unit_id=unit.id, submission_id=draft.id,
        item=item.title, kind=kind, **details,
    )  # fmt: skip
    return await _walk_on(tx, services, actor_id, unit, submitted=item.title)


async def _walk_on(
    tx: AsyncSession, services: Services, actor_id: int, unit: Unit, *, submitted: str
) -> SubmitStep:
    """After an item is settled: on to the next open one, the items skipped before still last."""
    skipped = [int(i) for i in (await _submit_data(tx, actor_id)).get("skipped", [])]
    return await _walk(
        tx, services, actor_id=actor_id, unit=unit, skipped=skipped, submitted=submitted
    )


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
        found = await repo.insert(
            tx,
            Submission(
                unit_id=unit_id,
                item_id=item_id,
                state="draft",
                answer_kind="files",
                text=None,
                submitted_by=actor_id,
                created_at=now,
            ),
        )
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
        unit = await require_member(tx, actor_id, unit_id)
        item = await _open_item(tx, unit_id, item_id)
        draft = await _draft(tx, unit_id=unit_id, item_id=item_id, actor_id=actor_id, now=now)
        count = await _file_count(tx, draft.id)
        if count == 0 and not draft.text:
            raise NothingReceived(title=item.title)
        draft.answer_kind = "files" if count else "text"
        return await _to_review(tx, services, unit, item, draft, actor_id, now, files=count)


async def ask_not_applicable(
    *, services: Services, actor_id: int, unit_id: int, item_id: int
) -> ItemStatus:
    """Not applicable (不适用): ask for the reason (the step waits for it)."""
    async with services.db.uow() as tx:
        await require_member(tx, actor_id, unit_id)
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


def clean_reason(reason: str, refusal: type[BadReason] = BadReason) -> str:
    """A reason as typed, trimmed; `refusal` if too short or too long."""
    cleaned = reason.strip()
    if not MIN_REASON_CHARS <= len(cleaned) <= MAX_REASON_CHARS:
        raise refusal(min=MIN_REASON_CHARS, max=MAX_REASON_CHARS)
    return cleaned


async def declare_not_applicable(
    *, services: Services, actor_id: int, unit_id: int, item_id: int, reason: str
) -> SubmitStep:
    """Submit "not applicable" with its reason for review; on to the next item."""
    reason = clean_reason(reason)
    now = services.now()
    async with services.db.uow() as tx:
        unit = await require_member(tx, actor_id, unit_id)
        item = await _open_item(tx, unit_id, item_id)
        draft = await _draft(tx, unit_id=unit_id, item_id=item_id, actor_id=actor_id, now=now)
        draft.answer_kind, draft.text = "not_applicable", reason
        return await _to_review(tx, services, unit, item, draft, actor_id, now, reason=reason)


async def add_text(
    *, services: Services, actor_id: int, unit_id: int, item_id: int, text: str
) -> DraftOut:
    """A text answer (or a note to the files) for the item; several messages add up."""
    now = services.now()
    text = text.strip()
    if not text:
        raise EmptyAnswer()
    async with services.db.uow() as tx:
        await require_member(tx, actor_id, unit_id)
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
    item: ItemStatus,
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
                forwarded_from=file.incoming.forwarded_from,
                caption=file.incoming.caption or None,
                created_at=now,
            )
        )
        await tx.flush()
        added = True
        repo.audit(
            tx,
            now,
            actor_id,
            "submission_file",
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
        await require_member(session, actor_id, unit_id)
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
            await require_member(tx, actor_id, unit_id)
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
