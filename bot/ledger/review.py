"""Review by office staff: the next submission to look at, accept or send back."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import roster
from bot.conversations import end_step, load_step, save_step
from bot.ledger import files
from bot.ledger.checklist import WITHDRAWN
from bot.ledger.errors import (
    AlreadyReviewed,
    BadReturnReason,
    SubmissionGone,
    SubmissionWithdrawn,
)
from bot.ledger.permissions import UnitRef
from bot.ledger.status import UnitObligations, load_obligations
from bot.ledger.submitting import FLOW_REVIEW, STEP_RETURN_REASON, clean_reason
from bot.roster import find_unit
from bot.services import Services
from bot.transport.outbox import enqueue, text_payload
from messages import t
from storage import repositories as repo
from storage.models import (
    Account,
    ChecklistItem,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)


class ReviewFile(BaseModel):
    file_id: str
    file_name: str
    photo: bool
    size: int
    forwarded_from: str | None = None
    caption: str | None = None  # what the sender wrote under the file


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
    waiting: int  # submissions awaiting review: of the unit asked for, else in all
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
        await roster.require_staff(services=services, actor_id=actor_id, session=session)
        # The queue counted is the one shown: the unit's when one is named, else the office's.
        counted = select(func.count()).select_from(Submission).where(Submission.state == "pending")
        if unit_id is not None:
            counted = counted.where(Submission.unit_id == unit_id)
        waiting = int(await session.scalar(counted) or 0)
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
        await roster.require_staff(services=services, actor_id=actor_id, session=session)
        unit = await find_unit(session, name)
        return UnitRef(unit_id=unit.id, name=unit.name, kind=unit.kind)


async def _card(session: AsyncSession, submission: Submission, waiting: int) -> ReviewCard:
    unit = await session.get(Unit, submission.unit_id)
    ledger = (await load_obligations(session, [submission.unit_id]))[0]
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
                forwarded_from=f.forwarded_from,
                caption=f.caption,
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
    """The submission if it still awaits review; else the refusal saying what became of it."""
    submission = await tx.get(Submission, submission_id, populate_existing=True)
    if submission is None or submission.state == "draft":
        raise SubmissionGone()
    if submission.state == WITHDRAWN:
        raise SubmissionWithdrawn()
    if submission.state != "pending":
        by = submission.reviewed_by
        named = await roster.staff_names(tx, [by]) if by is not None else {}
        raise AlreadyReviewed(
            state=submission.state,
            not_applicable=submission.answer_kind == "not_applicable",
            by=by,
            by_name=named.get(by or 0),
            at=submission.reviewed_at,
            reason=submission.review_note,
        )
    return submission


async def ask_return_reason(
    *, services: Services, actor_id: int, submission_id: int
) -> ReviewCard:
    """Send back (退回): the step waits for the reason."""
    async with services.db.uow() as tx:
        await roster.require_staff(services=services, actor_id=actor_id, session=tx)
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
    not_applicable: bool  # the unit's answer was "not applicable" (accepted: agreed to)
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
        reason=clean_reason(reason, BadReturnReason),
    )


async def _decide(
    *, services: Services, actor_id: int, submission_id: int, reason: str | None
) -> ReviewDecision:
    now = services.now()
    accepted = reason is None
    async with services.db.uow() as tx:
        await roster.require_staff(services=services, actor_id=actor_id, session=tx)
        # Only from pending, in one conditional UPDATE: of two staff deciding at once, the
        # second's UPDATE waits for the first's commit, then finds nothing pending.
        decided = await tx.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.state == "pending")
            .values(
                state="accepted" if accepted else "returned",
                reviewed_by=actor_id,
                reviewed_at=now,
                review_note=reason,
            )
            .execution_options(synchronize_session=False)
        )
        if int(decided.rowcount) != 1:  # type: ignore[attr-defined]
            await _pending_submission(tx, submission_id)  # raises what became of it
            raise SubmissionGone()
        submission = await tx.get(Submission, submission_id, populate_existing=True)
        assert submission is not None
        step = await load_step(tx, actor_id)
        if step is not None and step.flow == FLOW_REVIEW:
            await end_step(tx, actor_id)
        await tx.flush()
        ledger = (await load_obligations(tx, [submission.unit_id]))[0]
        title = next(
            (i.title for i in ledger.items if i.item_id == submission.item_id), None
        ) or await _item_title(tx, submission.item_id)
        repo.audit(
            tx,
            now,
            actor_id,
            "review_accept" if accepted else "review_return",
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
            unit_name=ledger.name,
            item_title=title,
            accepted=accepted,
            not_applicable=submission.answer_kind == "not_applicable",
            reason=reason,
            notified=notified,
            unit_complete=not ledger.missing_items,
        )


async def _tell_unit(
    tx: AsyncSession,
    services: Services,
    *,
    submission: Submission,
    ledger: UnitObligations,
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
        if reason is None:  # accepted; a "not applicable" is agreed to, not passed
            agreed = "_na" if submission.answer_kind == "not_applicable" else ""
            key = (
                f"review.notice{agreed}_all_accepted"
                if not ledger.missing_items
                else f"review.notice{agreed}_accepted"
            )
            text = t(lang, key, unit=ledger.name, title=title, open=len(ledger.open_items))
            markup = None
        else:
            text = t(lang, "review.notice_returned", unit=ledger.name, title=title, reason=reason)
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
