"""The control API and its client: users, groups, presses, waits, faults, reset."""

from __future__ import annotations

import asyncio

import pytest

from bot.sandbox.client import SandboxClient, SandboxError, SandboxTimeout
from bot.sandbox.models import UserInfo

from .conftest import RawApi

KEYBOARD = {
    "inline_keyboard": [
        [{"text": "Yes", "callback_data": "y"}, {"text": "No", "callback_data": "n"}],
        [{"text": "Site", "url": "https://example.org"}],
    ]
}


async def _send(api: RawApi, chat_id: int, text: str, markup: object = None) -> int:
    params: dict[str, object] = {"chat_id": chat_id, "text": text}
    if markup is not None:
        params["reply_markup"] = markup
    return int((await api.call("sendMessage", params)).result["message_id"])


async def test_users_and_chats(sb: SandboxClient) -> None:
    alice = await sb.add_user(
        user_id=555, first_name="Alice", username="alice", language_code="en"
    )
    assert (alice.id, alice.started, alice.blocked) == (555, False, False)
    with pytest.raises(SandboxError) as caught:
        await sb.add_user(user_id=555)
    assert caught.value.status == 409
    group = await sb.add_group("Office", [555])
    assert group.id < 0
    assert group.members == [555]
    assert {c.id for c in await sb.chats()} == {555, group.id}
    with pytest.raises(SandboxError):
        await sb.add_group("Nobody", [777])


async def test_press_by_message_and_data_or_by_text(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    first = await _send(api, user.id, "first", KEYBOARD)
    second = await _send(api, user.id, "second", KEYBOARD)
    by_text = await sb.press(user.id, button_text="No")
    assert by_text.message_id == second
    by_data = await sb.press(user.id, message_id=first, data="y")
    assert by_data.message_id == first
    updates = (await api.call("getUpdates")).result
    assert [u["callback_query"]["data"] for u in updates] == ["n", "y"]
    assert updates[1]["callback_query"]["message"]["text"] == "first"


async def test_pressing_a_missing_button_is_refused_unless_forced(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    message_id = await _send(api, user.id, "q", KEYBOARD)
    with pytest.raises(SandboxError) as caught:
        await sb.press(user.id, message_id=message_id, data="maybe")
    assert caught.value.status == 404
    with pytest.raises(SandboxError):
        await sb.press(user.id, button_text="Site")  # a URL button sends no callback
    forced = await sb.press(user.id, message_id=message_id, data="maybe", force=True)
    assert forced.callback_query_id
    await api.call(
        "editMessageReplyMarkup", {"chat_id": user.id, "message_id": message_id}
    )  # keyboard removed
    with pytest.raises(SandboxError):
        await sb.press(user.id, message_id=message_id, data="y")


async def test_block_sends_my_chat_member(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    update_id = await sb.block(user.id)
    assert (await sb.user(user.id)).blocked
    [update] = (await api.call("getUpdates")).result
    assert update["update_id"] == update_id
    member = update["my_chat_member"]
    assert (member["old_chat_member"]["status"], member["new_chat_member"]["status"]) == (
        "member",
        "kicked",
    )
    with pytest.raises(SandboxError):
        await sb.send_text(user.id, "blocked users cannot write")
    await sb.unblock(user.id)
    assert not (await sb.user(user.id)).blocked


async def test_group_privacy_mode(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    group = await sb.add_group("Office", [user.id])
    assert await sb.send_text(user.id, "just chatting", chat_id=group.id) == 0
    command = await sb.send_text(user.id, "/report@liaison_demo_bot", chat_id=group.id)
    mention = await sb.send_text(user.id, "hi @liaison_demo_bot", chat_id=group.id)
    updates = (await api.call("getUpdates")).result
    assert [u["update_id"] for u in updates] == [command, mention]
    assert updates[0]["message"]["chat"] == {"id": group.id, "type": "group", "title": "Office"}
    await sb.configure(privacy_mode=False)
    assert await sb.send_text(user.id, "everything now", chat_id=group.id) > 0


async def test_messages_list_edits_and_deletes(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    message_id = await _send(api, user.id, "one")
    await _send(api, user.id, "two")
    await api.call("editMessageText", {"chat_id": user.id, "message_id": message_id, "text": "1"})
    await api.call("deleteMessage", {"chat_id": user.id, "message_id": message_id})
    first, second = await sb.messages(user.id)
    assert (first.text, first.edits, first.deleted) == ("1", 1, True)
    assert (second.text, second.deleted, second.kind) == ("two", False, "text")


async def test_a_transcript_has_the_users_messages_too(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    await sb.send_text(user.id, "/help")
    await _send(api, user.id, "the answer")
    await sb.share_contact(user.id, "+8613800138000")

    transcript = await sb.transcript(user.id)

    assert [(m.from_bot, m.kind, m.text) for m in transcript] == [
        (False, "text", "/help"),
        (True, "text", "the answer"),
        (False, "contact", None),
    ]
    assert transcript[0].sender_id == user.id
    assert transcript[2].extra["contact"]["phone_number"] == "+8613800138000"
    assert [m.text for m in await sb.messages(user.id)] == ["the answer"]


async def test_wait_messages_long_polls_and_times_out(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        await _send(api, user.id, "late")

    task = asyncio.create_task(later())
    [message] = await sb.wait_messages(user.id, 1, timeout=5)
    assert message.text == "late"
    await task
    with pytest.raises(SandboxTimeout) as caught:
        await sb.wait_messages(user.id, 2, timeout=0.3)
    assert len(caught.value.got) == 1


async def test_callback_answers_wait(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    await _send(api, user.id, "q", KEYBOARD)
    ref = await sb.press(user.id, data="y")

    async def answer() -> None:
        await asyncio.sleep(0.2)
        await api.call("answerCallbackQuery", {"callback_query_id": ref.callback_query_id})

    task = asyncio.create_task(answer())
    [answer_record] = await sb.wait_callback_answers(1, timeout=5)
    assert answer_record.callback_query_id == ref.callback_query_id
    await task


async def test_late_callback_answer_is_too_old(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    await sb.configure(callback_timeout=0.1)
    await _send(api, user.id, "q", KEYBOARD)
    ref = await sb.press(user.id, data="y")
    await asyncio.sleep(0.3)
    reply = await api.call("answerCallbackQuery", {"callback_query_id": ref.callback_query_id})
    assert reply.status == 400


async def test_faults_per_chat_and_clearing(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    other = await sb.add_user(started=True)
    await sb.inject_fault("sendMessage", 500, chat_id=other.id, times=3)
    assert (await api.call("sendMessage", {"chat_id": user.id, "text": "x"})).status == 200
    failed = await api.call("sendMessage", {"chat_id": other.id, "text": "x"})
    assert (failed.status, failed.description) == (500, "Internal Server Error")
    [active] = (await sb.faults()).active
    assert active.remaining == 2
    await sb.clear_faults()
    assert (await api.call("sendMessage", {"chat_id": other.id, "text": "x"})).status == 200
    with pytest.raises(SandboxError):
        await sb.inject_fault("sendMesage", 500)


async def test_fault_with_delivery_records_the_message(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    await sb.inject_fault("sendMessage", 502, deliver=True)
    reply = await api.call("sendMessage", {"chat_id": user.id, "text": "sent anyway"})
    assert reply.status == 502
    [message] = await sb.messages(user.id)
    assert message.text == "sent anyway"


async def test_calls_log(api: RawApi, sb: SandboxClient, user: UserInfo) -> None:
    await _send(api, user.id, "x" * 1000)
    await api.call("sendMessage", {"chat_id": user.id})
    calls = await sb.calls("sendmessage")
    assert [(c.status, c.ok) for c in calls] == [(200, True), (400, False)]
    assert calls[0].params["text"].endswith("…")
    assert calls[1].description == "Bad Request: message text is empty"
    assert await sb.calls(since=calls[-1].seq) == []


async def test_reset_forgets_state_and_restores_config(
    api: RawApi, sb: SandboxClient, user: UserInfo
) -> None:
    await sb.configure(username="other_bot")
    await sb.send_text(user.id, "x")
    await sb.reset()
    assert await sb.users() == []
    assert (await sb.state()).pending_update_count == 0
    assert (await sb.config()).username == "liaison_demo_bot"
    assert (await api.call("getMe")).result["username"] == "liaison_demo_bot"


async def test_unknown_user_and_bad_bodies(sb: SandboxClient) -> None:
    with pytest.raises(SandboxError) as caught:
        await sb.send_text(999, "x")
    assert caught.value.status == 404
    with pytest.raises(SandboxError) as caught:
        await sb.send_document(999)
    assert caught.value.status in (400, 404)
