"""getUpdates: long polling, offsets, limits, allowed_updates, conflicts."""

from __future__ import annotations

import asyncio
import time

from bot.sandbox.client import SandboxClient
from bot.sandbox.models import UserInfo

from .conftest import RawApi


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(api.call("getUpdates", {"timeout": 10}))
    await asyncio.sleep(0.2)
    assert not poll.done()
    update_id = await sb.send_text(user.id, "hello")
    reply = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 3
    assert [u["update_id"] for u in reply.result] == [update_id]
    assert reply.result[0]["message"]["text"] == "hello"


async def test_long_poll_times_out_empty(api: RawApi) -> None:
    started = time.monotonic()
    reply = await api.call("getUpdates", {"timeout": 1})
    assert reply.result == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_offsets_confirm_and_forget(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    ids = [await sb.send_text(user.id, f"m{i}") for i in range(3)]
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
    first = (await api.call("getUpdates")).result
    assert [u["update_id"] for u in first] == ids
    again = (await api.call("getUpdates")).result
    assert [u["update_id"] for u in again] == ids  # not confirmed yet
    rest = (await api.call("getUpdates", {"offset": ids[1]})).result
    assert [u["update_id"] for u in rest] == ids[1:]
    state = await sb.state()
    assert (state.confirmed_offset, state.pending_update_count) == (ids[1], 2)
    assert state.last_update_id == ids[2]
    empty = (await api.call("getUpdates", {"offset": ids[2] + 1})).result
    assert empty == []
    assert (await sb.state()).pending_update_count == 0


async def test_limit_and_negative_offset(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    ids = [await sb.send_text(user.id, f"m{i}") for i in range(5)]
    limited = (await api.call("getUpdates", {"limit": 2})).result
    assert [u["update_id"] for u in limited] == ids[:2]
    last_two = (await api.call("getUpdates", {"offset": -2})).result
    assert [u["update_id"] for u in last_two] == ids[3:]
    assert (await sb.state()).pending_update_count == 2


async def test_allowed_updates_filters_new_updates(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    await api.call("getUpdates", {"allowed_updates": ["callback_query"]})
    await sb.send_text(user.id, "ignored")
    assert (await api.call("getUpdates")).result == []
    await api.call("getUpdates", {"allowed_updates": []})
    await sb.send_text(user.id, "seen")
    [update] = (await api.call("getUpdates")).result
    assert update["message"]["text"] == "seen"


async def test_a_second_poller_terminates_the_first_with_409(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    first = asyncio.create_task(api.call("getUpdates", {"timeout": 10}))
    await asyncio.sleep(0.2)
    assert (await sb.state()).polling
    second = asyncio.create_task(api.call("getUpdates", {"timeout": 10}))
    older = await asyncio.wait_for(first, 5)
    assert older.status == 409
    assert older.description == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    await sb.send_text(user.id, "to the newer one")
    newer = await asyncio.wait_for(second, 5)
    assert newer.result[0]["message"]["text"] == "to the newer one"


async def test_webhook_blocks_get_updates(api: RawApi) -> None:
    assert (await api.call("setWebhook", {"url": "https://example.org/hook"})).result is True
    info = (await api.call("getWebhookInfo")).result
    assert info["url"] == "https://example.org/hook"
    reply = await api.call("getUpdates")
    assert reply.status == 409
    assert "webhook is active" in reply.description
    await api.call("deleteWebhook", {"drop_pending_updates": True})
    assert (await api.call("getUpdates")).result == []


async def test_wait_confirmed(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    update_id = await sb.send_text(user.id, "x")

    async def poller() -> None:
        await asyncio.sleep(0.2)
        await api.call("getUpdates", {"offset": update_id + 1})

    task = asyncio.create_task(poller())
    state = await sb.wait_confirmed(update_id, timeout=5)
    assert state.confirmed_offset == update_id + 1
    await task
