"""An update recorded as handled by its own first write transaction, not by bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storage.db import Database, UpdateAlreadyHandled, current_update
from storage.models import Account, HandledUpdate


async def handled(db: Database) -> list[int]:
    async with db.sessions() as session:
        return list((await session.scalars(select(HandledUpdate.update_id))).all())


async def test_bookkeeping_leaves_the_update_to_its_own_transaction(migrated_url: str) -> None:
    """Recorded by a note about the person acting, an update killed before its reply was
    skipped on restart, and its answer lost."""
    db = Database(migrated_url)
    now = datetime.now(UTC)
    token = current_update.set(41)
    try:
        async with db.uow(bookkeeping=True) as tx:
            tx.add(Account(user_id=7, first_seen=now, last_seen=now, name="张三"))
        assert await handled(db) == []
        async with db.uow() as tx:  # the update's own first write records it
            account = await tx.get(Account, 7)
            assert account is not None
            account.language = "en"
        assert await handled(db) == [41]
        current_update.set(41)  # the same update again, as after a restart
        with pytest.raises(UpdateAlreadyHandled):
            async with db.uow():
                pass
    finally:
        current_update.reset(token)
        await db.dispose()
