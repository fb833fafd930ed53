"""Simulated people talking to the bot through the emulator (the demo and the tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sandbox.client import SandboxClient
from bot.sandbox.models import SentMessage

Narrate = Callable[[str, str, str], None]  # (who, "says" | "bot", text)


def _quiet(who: str, kind: str, text: str) -> None:
    return None


@dataclass
class Person:
    """One simulated Telegram user: sends, presses, and reads the bot's replies."""

    sandbox: SandboxClient
    user_id: int
    name: str
    narrate: Narrate = _quiet
    seen: int = 0
    timeout: float = 15.0
    replies: list[SentMessage] = field(default_factory=list)

    async def _collect(self, expect: int) -> list[SentMessage]:
        messages = await self.sandbox.wait_messages(self.user_id, self.seen + expect, self.timeout)
        new = messages[self.seen :]
        self.seen = len(messages)
        for message in new:
            self.narrate(self.name, "bot", message.text or message.caption or message.kind)
        self.replies.extend(new)
        return new

    async def say(self, text: str, *, expect: int = 1) -> list[SentMessage]:
        """Send a text (or a command) and wait for `expect` new messages from the bot."""
        self.narrate(self.name, "says", text)
        await self.sandbox.send_text(self.user_id, text)
        return await self._collect(expect)

    async def start(self, payload: str | None = None, *, expect: int = 1) -> list[SentMessage]:
        self.narrate(self.name, "says", "/start" + (f" {payload}" if payload else ""))
        await self.sandbox.start(self.user_id, payload)
        return await self._collect(expect)

    async def press(self, button_text: str, *, expect: int = 1) -> list[SentMessage]:
        """Press the inline button with this text on the latest message that has it."""
        self.narrate(self.name, "says", f"[{button_text}]")
        await self.sandbox.press(self.user_id, button_text=button_text)
        return await self._collect(expect)

    async def wait(self, expect: int = 1) -> list[SentMessage]:
        """Wait for messages the bot sends on its own (a reminder, a notice)."""
        return await self._collect(expect)

    async def edited(self, message_id: int, *, edits: int = 1) -> SentMessage:
        """Wait until the bot has edited one of its messages `edits` times; return it."""
        for _ in range(int(self.timeout * 20)):
            for message in await self.sandbox.messages(self.user_id):
                if message.message_id == message_id and message.edits >= edits:
                    self.narrate(self.name, "bot", message.text or message.caption or "")
                    return message
            await asyncio.sleep(0.05)
        raise TimeoutError(f"message {message_id} was not edited")

    async def latest(self) -> SentMessage:
        """The bot's latest message in this chat, as it is now (after any edits)."""
        messages = await self.sandbox.messages(self.user_id)
        return messages[-1]
