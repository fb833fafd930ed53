"""Dead letters: updates whose handling failed on every try, kept for staff.

A dead letter is stored with the update as Telegram sent it, the error and the number of
tries, in one transaction that also confirms the update (so the ones behind it go on),
writes the audit entry staff see in /audit, queues one short apology to the person (it says
staff will look into it) and a message to every member of staff naming who sent what, their
unit and why it failed, so that they can; that one waits for the end of the quiet hours (staff
are not woken; it then says when it was sent). A disk that refuses the writes (full,
read-only) turns every upload into a dead letter for as long as it lasts: staff are then told
once an office day per reason, by a message that says the ones that follow are not told one
by one. Dead letters are kept, like the audit log: each is a case to look at.

`liaison-bot deadletters` also lists the outbox messages that ended failed or with their
outcome unknown (the process stopped during the send): nobody else is told of those."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot import roster
from bot.clock import office_date
from bot.services import Services
from bot.settings import after_quiet_hours
from bot.transport.failures import disk_reason, is_transient
from bot.transport.outbox import enqueue, text_payload
from messages import format_clock, format_short_date, plain, role_name, shorten, t
from storage import repositories as repo
from storage.db import insert_ignore
from storage.models import DeadLetter, HandledUpdate, OutboxMessage, Person, Unit

PURPOSE = "apology"
STAFF_PURPOSE = "notice"
# Outbox rows that ended without a delivery nobody else is told of.
UNDELIVERED = ("failed", "unknown")


class DeadLetterOut(BaseModel):
    # A dead letter's fields, read by name (`update`: the update as Telegram sent it).
    model_config = ConfigDict(from_attributes=True)

    id: int
    update_id: int
    user_id: int | None
    chat_id: int | None
    kind: str
    at: datetime
    attempts: int
    error: str
    update: dict[str, Any] = Field(validation_alias="payload")


def _kind(data: dict[str, Any]) -> str:
    return next((key for key in data if key != "update_id"), "update")


class UndeliveredOut(BaseModel):
    # An outbox row's fields, read by name (`at`: when it was last due).
    model_config = ConfigDict(from_attributes=True)

    id: int
    chat_id: int
    purpose: str
    state: str
    at: datetime = Field(validation_alias="due_at")
    attempts: int
    error: str | None


async def store(
    *,
    services: Services,
    update: Update,
    error: str,
    attempts: int,
    cause: BaseException | None = None,
) -> DeadLetterOut:
    """Keep a failed update, confirm it, audit it, apologise to the person once, and tell
    staff what was lost."""
    now = services.now()
    user = update.effective_user
    chat = update.effective_chat
    data = update.to_dict()
    async with services.db.uow() as session:
        letter = await repo.insert(
            session,
            DeadLetter(
                update_id=update.update_id,
                user_id=user.id if user else None,
                chat_id=chat.id if chat else None,
                kind=_kind(data),
                payload=data,
                error=error,
                attempts=attempts,
                at=now,
            ),
        )
        await session.execute(
            insert_ignore(services.db.dialect, HandledUpdate).values(
                update_id=update.update_id, handled_at=datetime.now(UTC)
            )
        )
        repo.audit(
            session,
            now,
            user.id if user else None,
            "dead_letter",
            dead_letter=letter.id,
            error=error[:200],
        )
        told = user is not None and chat is not None and chat.type == "private"
        if user is not None and chat is not None and told:
            lang = await roster.language_in(session, services, user.id, user.language_code)
            await enqueue(
                session,
                key=f"dead_letter:{letter.id}",
                chat_id=chat.id,
                purpose=PURPOSE,
                payload=text_payload(t(lang, "runtime.apology")),
                now=now,
            )
        await _tell_staff(session, services, letter=letter, update=update, cause=cause, told=told)
        return DeadLetterOut.model_validate(letter)


async def _tell_staff(
    session: AsyncSession,
    services: Services,
    *,
    letter: DeadLetter,
    update: Update,
    cause: BaseException | None,
    told: bool,
) -> None:
    """Queue to every member of staff, each in their language, who sent what and why it
    was lost, after the quiet hours; a disk's refusal only once an office day per reason."""
    user = update.effective_user
    now = services.now()
    disk = disk_reason(cause, "en") if cause is not None else None
    due = after_quiet_hours(services.settings, now)
    if disk is not None:
        code = re.sub(r"\W+", "-", disk.lower()).strip("-")[:80]
        day = office_date(due, services.settings.tz).isoformat()
    roles: Sequence[Row[str, str, str]] = []
    if user is not None:
        roles = (
            await session.execute(
                select(Unit.name, Person.role, Person.name)
                .join(Person, Person.unit_id == Unit.id)
                .where(Person.telegram_user_id == user.id, Person.until.is_(None))
            )
        ).all()
    staff = await roster.staff_ids(session, services)
    for staff_id, lang in (await roster.languages_in(session, services, staff)).items():
        if user is not None and roles:
            who = [
                plain(
                    lang,
                    "runtime.dead_letter_who_role",
                    unit=unit,
                    role=role_name(lang, r),
                    name=n,
                )
                for unit, r, n in roles
            ]
        elif user is not None:
            who = [plain(lang, "runtime.dead_letter_who_user", name=user.full_name, id=user.id)]
        else:
            who = ["-"]
        what = _lost(update, lang)
        when = _when(services, now, due, lang)
        if disk is not None and cause is not None:
            text = t(
                lang,
                "runtime.dead_letter_staff_disk",
                who=who,
                when=when,
                what=what,
                reason=disk_reason(cause, lang),
                id=letter.id,
                told=plain(
                    lang, "runtime.dead_letter_told" if told else "runtime.dead_letter_untold"
                ),
            )
            key = f"dead_letter:disk:{code}:{day}:staff:{staff_id}"
        else:
            text = t(
                lang,
                "runtime.dead_letter_staff" if told else "runtime.dead_letter_staff_untold",
                who=who,
                when=when,
                what=what,
                reason=plain(lang, _reason_key(cause)),
                id=letter.id,
            )
            key = f"dead_letter:{letter.id}:staff:{staff_id}"
        await enqueue(
            session,
            key=key,
            chat_id=staff_id,
            purpose=STAFF_PURPOSE,
            payload=text_payload(text),
            now=now,
            due_at=due,
        )


def _when(services: Services, at: datetime, due: datetime, lang: str) -> str:
    """When it was sent, as read at `due`: "just now", or its day and time if held till then."""
    if due <= at:
        return plain(lang, "runtime.dead_letter_just_now")
    tz = services.settings.tz
    sent, read = at.astimezone(tz), due.astimezone(tz)
    day = format_short_date(sent.date(), read.date(), lang)
    return plain(lang, "runtime.dead_letter_at", date=day, time=format_clock(sent, lang))


def _reason_key(cause: BaseException | None) -> str:
    """Why an update other than a disk's refusal was set aside: it kept failing on retry (the
    network, Telegram or the database out of reach while others went through), or a bug."""
    if cause is not None and is_transient(cause):
        return "runtime.dead_letter_retries"
    return "runtime.dead_letter_program"


def _lost(update: Update, lang: str) -> str:
    """What the person sent, in a few words: a file by its name, a text by its start."""
    message = update.effective_message
    if update.callback_query is not None:
        return plain(lang, "runtime.lost_button")
    if message is not None and message.document is not None:
        return plain(lang, "runtime.lost_document", name=message.document.file_name or "")
    if message is not None and message.photo:
        return plain(lang, "runtime.lost_photo")
    if message is not None and message.text:
        return plain(lang, "runtime.lost_text", text=shorten(message.text, 40))
    return plain(lang, "runtime.lost_other")


async def list_undelivered(*, services: Services, limit: int = 100) -> list[UndeliveredOut]:
    """The latest outbox messages that failed or whose outcome is unknown, newest first."""
    async with services.db.sessions() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.state.in_(UNDELIVERED))
            .order_by(OutboxMessage.due_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
        return [UndeliveredOut.model_validate(row) for row in (await session.scalars(query)).all()]


async def list_dead_letters(*, services: Services, limit: int = 100) -> list[DeadLetterOut]:
    """The latest dead letters, newest first."""
    async with services.db.sessions() as session:
        query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        return [
            DeadLetterOut.model_validate(letter) for letter in (await session.scalars(query)).all()
        ]
