"""Dead letters: updates whose handling failed by a bug on every try, kept for staff.

A dead letter is stored with the update as Telegram sent it, the error and the number of
tries, in one transaction that also confirms the update (so the ones behind it go on),
writes the audit entry staff see in /audit, and queues one short apology to the person.
Dead letters are kept, like the audit log: they are few, and each is a case to look at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from telegram import Update

from bot import roster
from bot.services import Services
from bot.transport.outbox import enqueue, text_payload
from messages import t
from storage import repositories as repo
from storage.db import insert_ignore
from storage.models import DeadLetter, HandledUpdate

PURPOSE = "apology"


class DeadLetterOut(BaseModel):
    id: int
    update_id: int
    user_id: int | None
    chat_id: int | None
    kind: str
    at: datetime
    attempts: int
    error: str
    update: dict[str, Any]


def _kind(data: dict[str, Any]) -> str:
    return next((key for key in data if key != "update_id"), "update")


async def store(*, services: Services, update: Update, error: str, attempts: int) -> DeadLetterOut:
    """Keep a failed update, confirm it, audit it, and apologise to the person once."""
    now = services.now()
    user = update.effective_user
    chat = update.effective_chat
    data = update.to_dict()
    async with services.db.uow() as session:
        letter = DeadLetter(
            update_id=update.update_id,
            user_id=user.id if user else None,
            chat_id=chat.id if chat else None,
            kind=_kind(data),
            payload=data,
            error=error,
            attempts=attempts,
            at=now,
        )
        session.add(letter)
        await session.flush()
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
        if user is not None and chat is not None and chat.type == "private":
            lang = await roster.language_in(session, services, user.id, user.language_code)
            await enqueue(
                session,
                key=f"dead_letter:{letter.id}",
                chat_id=chat.id,
                purpose=PURPOSE,
                payload=text_payload(t(lang, "runtime.apology")),
                now=now,
            )
        return _out(letter)


async def list_dead_letters(*, services: Services, limit: int = 100) -> list[DeadLetterOut]:
    """The latest dead letters, newest first."""
    async with services.db.sessions() as session:
        query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        return [_out(letter) for letter in (await session.scalars(query)).all()]


def _out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        update_id=letter.update_id,
        user_id=letter.user_id,
        chat_id=letter.chat_id,
        kind=letter.kind,
        at=letter.at,
        attempts=letter.attempts,
        error=letter.error,
        update=letter.payload,
    )
