"""Updates as Telegram sends them, bound to a bot: commands, messages, files, contacts, presses.

Each factory builds the JSON Telegram would post and turns it into a real `telegram.Update`
with `Update.de_json(…, bot)`, so `reply_text`, `answer` and the rest reach the bot's request.
A person's private chat has the person's id; a negative `chat_id` is a group.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from hypothesis import strategies as st
from telegram import Bot, Update

from tests.support.request import DATE, Sent, chat_of, message_ids

# Characters of text as the transport hands it on: it removes NUL, which PostgreSQL refuses
# in text (bot.transport.intake.update_from; tests/transport/test_updates.py).
NO_NUL = st.characters(exclude_characters="\x00")

update_ids = itertools.count(1)
file_numbers = itertools.count(1)
COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@\w{1,32})?")


def make_user(
    user_id: int, *, language_code: str | None = "zh-hans", first_name: str = "测试"
) -> dict[str, Any]:
    """A person as Telegram describes them."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code is not None:
        user["language_code"] = language_code
    return user


def make_document(
    file_name: str = "材料.pdf",
    *,
    mime_type: str | None = "application/pdf",
    size: int = 1000,
    file_id: str | None = None,
    file_unique_id: str | None = None,
) -> dict[str, Any]:
    """A document as it appears in a message (register its bytes with the request to fetch it)."""
    number = next(file_numbers)
    document: dict[str, Any] = {
        "file_id": file_id or f"BQACAgIAAx{number}",
        "file_unique_id": file_unique_id or f"AgADdoc{number}",
        "file_name": file_name,
        "file_size": size,
    }
    if mime_type is not None:
        document["mime_type"] = mime_type
    return document


def make_photo(*, size: int = 50_000, file_id: str | None = None) -> list[dict[str, Any]]:
    """A photo as Telegram sends it: several sizes, the largest last."""
    number = next(file_numbers)
    large = file_id or f"AgACAgIAAx{number}"
    return [
        {"file_id": f"{large}-s", "file_unique_id": f"AgADs{number}", "width": 90,
         "height": 68, "file_size": 1_000},
        {"file_id": large, "file_unique_id": f"AgADp{number}", "width": 1280, "height": 960,
         "file_size": size},
    ]  # fmt: skip


def make_contact(
    phone: str, *, user_id: int | None = None, first_name: str = "测试"
) -> dict[str, Any]:
    """A shared contact: the person's own when `user_id` is theirs."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name}
    if user_id is not None:
        contact["user_id"] = user_id
    return contact


def _message(
    user_id: int,
    *,
    chat_id: int | None,
    language_code: str | None,
    content: dict[str, Any],
    message_id: int | None = None,
) -> dict[str, Any]:
    return {
        "message_id": next(message_ids) if message_id is None else message_id,
        "date": DATE,
        "chat": chat_of(user_id if chat_id is None else chat_id),
        "from": make_user(user_id, language_code=language_code),
        **content,
    }


def make_message_update(
    bot: Bot,
    user_id: int,
    text: str | None = None,
    *,
    chat_id: int | None = None,
    language_code: str | None = "zh-hans",
    document: dict[str, Any] | None = None,
    photo: list[dict[str, Any]] | None = None,
    contact: dict[str, Any] | None = None,
    caption: str | None = None,
    forwarded: bool = False,
    edited: bool = False,
    message_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Update:
    """A message from a person: text, a document, a photo or a contact (or `extra` content);
    `edited` with the `message_id` of one sent earlier is that message edited."""
    content: dict[str, Any] = dict(extra or {})
    if text is not None:
        content["text"] = text
        found = COMMAND.match(text)
        if found:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": found.end()}]
    if document is not None:
        content["document"] = document
    if photo is not None:
        content["photo"] = photo
    if contact is not None:
        content["contact"] = contact
    if caption is not None:
        content["caption"] = caption
    if forwarded:
        content["forward_origin"] = {
            "type": "user",
            "date": DATE,
            "sender_user": make_user(user_id + 1, first_name="转发"),
        }
    message = _message(
        user_id,
        chat_id=chat_id,
        language_code=language_code,
        content=content,
        message_id=message_id,
    )
    if edited:
        message["edit_date"] = DATE + 60
    field = "edited_message" if edited else "message"
    return Update.de_json({"update_id": next(update_ids), field: message}, bot)


def make_command_update(
    bot: Bot,
    user_id: int,
    command: str,
    *,
    chat_id: int | None = None,
    language_code: str | None = "zh-hans",
) -> Update:
    """A command such as `/start TOKEN` or `/rollcall@bot on`, marked as Telegram marks it."""
    assert command.startswith("/"), command
    return make_message_update(bot, user_id, command, chat_id=chat_id, language_code=language_code)


def make_callback_update(
    bot: Bot,
    user_id: int,
    data: str,
    *,
    message: Sent | None = None,
    language_code: str | None = "zh-hans",
) -> Update:
    """A press on a button with `data`, under `message` (a bot message the request recorded)."""
    query: dict[str, Any] = {
        "id": str(next(update_ids)),
        "from": make_user(user_id, language_code=language_code),
        "chat_instance": f"ci{user_id}",
        "data": data,
    }
    if message is not None:
        query["message"] = message.as_message()
    else:  # a button on a message too old for Telegram to include
        query["message"] = {
            "message_id": next(message_ids),
            "date": 0,
            "chat": chat_of(user_id),
        }
    return Update.de_json({"update_id": next(update_ids), "callback_query": query}, bot)


def make_my_chat_member_update(
    bot: Bot, user_id: int, status: str, *, chat_id: int | None = None
) -> Update:
    """The bot's own membership of a chat changed: in a person's private chat, "kicked" when
    they block the bot and "member" when they unblock it (by `user_id`)."""
    me = {"id": bot.id, "is_bot": True, "first_name": "双拥联络", "username": bot.username}
    member = {"status": "member", "user": me}
    kicked = {"status": "kicked", "user": me, "until_date": 0}
    changed = {
        "chat": chat_of(user_id if chat_id is None else chat_id),
        "from": make_user(user_id),
        "date": DATE,
        "old_chat_member": member if status == "kicked" else kicked,
        "new_chat_member": kicked if status == "kicked" else member,
    }
    return Update.de_json({"update_id": next(update_ids), "my_chat_member": changed}, bot)
