"""kill -9 of the bot with updates in hand, then restart: each update handled exactly once."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select

from bot.sandbox.client import SandboxClient
from storage.db import Database
from storage.models import Account, HandledUpdate
from tests.support.process import BotProcess
from tests.support.waiting import eventually

USERS = list(range(5001, 5061))


async def replies(sandbox: SandboxClient) -> dict[int, int]:
    return {user: len(await sandbox.messages(user)) for user in USERS}


async def test_kill_9_with_updates_in_hand(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient
) -> None:
    bot = make_bot()
    await bot.start()
    for user in USERS:
        await sandbox.add_user(user_id=user, first_name=f"用户{user}", language_code="zh-hans")
    update_ids = [await sandbox.start(user) for user in USERS]

    # Kill it while it is working through the batch it fetched.
    async def ten_answered() -> bool:
        return sum(1 for n in (await replies(sandbox)).values() if n) >= 10

    await eventually(ten_answered, seconds=8, every=0.02)
    await bot.kill()
    at_kill = await replies(sandbox)
    state = await sandbox.state()
    assert 10 <= sum(1 for n in at_kill.values() if n) < len(USERS), "kill came too late"
    assert state.confirmed_offset <= max(update_ids), "the whole batch was confirmed early"

    await bot.start()
    await sandbox.wait_confirmed(max(update_ids), timeout=60)

    def skipped() -> set[int]:
        """The updates the restarted bot found handled already (their answers may be lost)."""
        text = bot.log_path.read_text(errors="replace")
        return {int(n) for n in re.findall(r"update (\d+) .*: was handled before; skipped", text)}

    async def settled() -> bool:
        answered = {u for u, n in (await replies(sandbox)).items() if n}
        return all(u in answered or n in skipped() for u, n in zip(USERS, update_ids, strict=True))

    await eventually(settled, seconds=20)
    final = await replies(sandbox)
    unanswered = {n for u, n in zip(USERS, update_ids, strict=True) if not final[u]}
    # Nobody was answered twice. An update in flight at the kill may have lost its answer (one
    # a chat: its transaction had committed, its reply was not yet sent), never its data.
    assert max(final.values()) == 1, {u: n for u, n in final.items() if n > 1}
    assert unanswered <= skipped()
    assert len(unanswered) < len(USERS) - sum(1 for n in at_kill.values() if n)
    db = Database(bot.database_url)
    try:
        async with db.sessions() as session:
            handled = set(
                (
                    await session.scalars(
                        select(HandledUpdate.update_id).where(
                            HandledUpdate.update_id.in_(update_ids)
                        )
                    )
                ).all()
            )
            accounts = await session.scalar(select(func.count()).select_from(Account))
    finally:
        await db.dispose()
    assert handled == set(update_ids)
    assert accounts == len(USERS)
    # The updates handled before the kill came again and were recognised.
    assert "was handled before; skipped" in bot.logs()
