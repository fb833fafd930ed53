"""Slow down a person guessing invite links: a hold after FAILURE_LIMIT failures in an hour."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import repositories as repo
from storage.models import InviteAttempt

log = logging.getLogger(__name__)

FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(hours=1)


async def held_until(tx: AsyncSession, user_id: int, now: datetime) -> datetime | None:
    """When a person who failed too often may try again (None: they may now)."""
    failures = (
        await tx.scalars(
            select(InviteAttempt.at)
            .where(
                InviteAttempt.user_id == user_id,
                InviteAttempt.at > now - FAILURE_WINDOW,
                InviteAttempt.reason != "throttled",
            )
            .order_by(InviteAttempt.at.desc())
            .limit(FAILURE_LIMIT)
        )
    ).all()
    if len(failures) < FAILURE_LIMIT:
        return None
    return failures[-1] + FAILURE_WINDOW


async def refuse(tx: AsyncSession, user_id: int, now: datetime, until: datetime) -> bool:
    """Record a try refused while the person is held, the first of the hold only (and log
    it); whether it was the first."""
    if await _refused_before(tx, user_id):
        return False
    tx.add(InviteAttempt(user_id=user_id, at=now, reason="throttled"))
    log.warning("invite attempt by user %s refused: slowed down until %s", user_id, until)
    return True


async def _refused_before(tx: AsyncSession, user_id: int) -> bool:
    """Whether a try was already refused while the person is held (the hold began at their
    last failure: no try counts as one while it lasts)."""
    began = await tx.scalar(
        select(func.max(InviteAttempt.at)).where(
            InviteAttempt.user_id == user_id, InviteAttempt.reason != "throttled"
        )
    )
    if began is None:
        return False
    refused = await tx.scalar(
        select(InviteAttempt.id)
        .where(
            InviteAttempt.user_id == user_id,
            InviteAttempt.reason == "throttled",
            InviteAttempt.at >= began,
        )
        .limit(1)
    )
    return refused is not None


async def count_failure(tx: AsyncSession, user_id: int, now: datetime, reason: str) -> None:
    """Record a failed try (a link unknown, used, expired…); say so when it starts a hold."""
    await repo.insert(tx, InviteAttempt(user_id=user_id, at=now, reason=reason))
    until = await held_until(tx, user_id, now)
    log.info("invite attempt by user %s failed: %s", user_id, reason)
    if until is not None:
        log.warning(
            "user %s failed %d invite attempts within %s; further tries refused until %s",
            user_id,
            FAILURE_LIMIT,
            FAILURE_WINDOW,
            until.isoformat(),
        )
