"""Driving one person through the real application: texts, contacts, presses, edits, and the
registration conversation step by step (valid input until a chosen step)."""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot.conversations import current_step
from bot.registration import flow, invites
from bot.registration.flow import (
    CONFIRM_UNIT,
    LEAD_NAME,
    LEAD_OFFER,
    LEAD_PHONE,
    LEAD_POST,
    LEAD_SUMMARY,
    NAME,
    PHONE,
    POST,
    SUMMARY,
)
from tests.support.application import BotHarness
from tests.support.updates import make_callback_update, make_contact, make_message_update

# What a person may send that is not text.
CONTENT: dict[str, dict[str, Any]] = {
    "sticker": {"sticker": {
        "file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False,
    }},
    "location": {"location": {"latitude": 36.0, "longitude": 106.2}},
    "voice": {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}},
    "photo": {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
    "document": {"document": {"file_id": "d", "file_unique_id": "d"}},
}  # fmt: skip

# One thing a person does: ("text", str), ("contact", (phone, own)), ("press", (version offset,
# action)), ("forged", callback data), or a kind of CONTENT, or ("edited", None).
Event = tuple[str, Any]


class Harness:
    """Random events of one person, as updates to the application."""

    def __init__(self, bot: BotHarness) -> None:
        self.bot = bot
        self.services = bot.services
        self.request = bot.request
        self.errors = bot.errors

    async def send(self, update: Update) -> None:
        """Hand the update over; a handler's error is kept for the test to check."""
        await self.bot.app.process_update(update)

    async def text(self, user_id: int, text: str) -> None:
        await self.send(make_message_update(self.bot.app.bot, user_id, text))

    async def press(self, user_id: int, data: str, *, with_buttons: bool = True) -> None:
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data or "x"}]]}
        message = self.request.bot_message(user_id, "…", markup if with_buttons else None)
        await self.send(make_callback_update(self.bot.app.bot, user_id, data, message=message))

    async def version(self, user_id: int) -> int:
        step = await current_step(services=self.services, user_id=user_id)
        return int(step.data["v"]) if step and step.flow == flow.FLOW else 0

    async def act(self, user_id: int, event: Event) -> None:
        kind, value = event
        bot = self.bot.app.bot
        if kind == "text":
            await self.text(user_id, value)
        elif kind == "contact":
            phone, own = value
            contact = make_contact(phone, user_id=user_id if own else None)
            await self.send(make_message_update(bot, user_id, contact=contact))
        elif kind == "press":
            offset, action = value
            await self.press(user_id, f"r:{max(await self.version(user_id) + offset, 0)}:{action}")
        elif kind == "forged":
            await self.press(user_id, value, with_buttons=bool(value))
        elif kind == "edited":
            await self.send(make_message_update(bot, user_id, "张伟", edited=True))
        else:
            await self.send(make_message_update(bot, user_id, extra=CONTENT[kind]))


VALID: dict[str, Event] = {
    CONFIRM_UNIT: ("press", (0, "yes")),
    NAME: ("text", "张伟"),
    POST: ("text", "科员"),
    PHONE: ("text", "13912345678"),
    SUMMARY: ("press", (0, "ok")),
    LEAD_OFFER: ("press", (0, "redo")),
    LEAD_NAME: ("text", "王强"),
    LEAD_POST: ("text", "副局长"),
    LEAD_PHONE: ("text", "13812345678"),
    LEAD_SUMMARY: ("press", (0, "ok")),
}


async def token_for(h: Harness, unit: str, role: invites.Role) -> str:
    [made] = await invites.create_invites(services=h.services, units=[unit], role=role)
    return made.token


async def step_of(h: Harness, user_id: int) -> str | None:
    step = await current_step(services=h.services, user_id=user_id)
    return step.step if step is not None and step.flow == flow.FLOW else None


async def drive(h: Harness, user_id: int, target: str) -> None:
    """Valid input until the person is at `target` (or the conversation ends)."""
    for _ in range(14):
        now = await step_of(h, user_id)
        if now is None or now == target:
            return
        await h.act(user_id, VALID[now])
