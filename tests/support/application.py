"""The real application (`bot.app.build_application`) with Telegram replaced by a recording.

Updates go in through `Application.process_update`, exactly as the polling loop hands them
over; what the bot says comes back as `Replies`. A handler that raises fails the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from telegram import Update

from bot.app import App, build_application, on_error, remember_username
from bot.context import Context
from bot.services import Services
from storage.db import UpdateAlreadyHandled
from tests.support.request import Call, RecordingRequest, Sent
from tests.support.updates import (
    make_callback_update,
    make_command_update,
    make_contact,
    make_document,
    make_message_update,
    make_my_chat_member_update,
    make_photo,
)


@dataclass
class Replies:
    """What the bot did with one update: new messages, edited messages, button answers."""

    messages: list[Sent]
    edited: list[Sent]
    answers: list[dict[str, Any]]
    calls: list[Call]

    def one(self) -> Sent:
        """The one new message (fails if there were none or several)."""
        assert len(self.messages) == 1, [m.text for m in self.messages]
        return self.messages[0]

    @property
    def last(self) -> Sent:
        assert self.messages, "the bot sent nothing"
        return self.messages[-1]

    @property
    def answer(self) -> dict[str, Any]:
        """The one answer to the press (answerCallbackQuery)."""
        assert len(self.answers) == 1, self.answers
        return self.answers[0]

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


@dataclass
class BotHarness:
    """The application on a real database, with a `RecordingRequest` for Telegram."""

    app: App
    request: RecordingRequest
    services: Services
    errors: list[BaseException] = field(default_factory=list)

    async def send(self, update: Update) -> Replies:
        """Hand one update to the application; fail on any error a handler raised."""
        since = self.request.mark()
        await self.app.process_update(update)
        if self.errors:
            raise self.errors.pop(0)
        calls = self.request.calls[since:]
        edited_keys = [
            (int(c.params.get("chat_id", 0)), int(c.params.get("message_id", 0)))
            for c in calls
            if c.method.startswith("editMessage") and c.error is None
        ]
        return Replies(
            messages=self.request.sent(since=since),
            edited=[self.request.messages[k] for k in dict.fromkeys(edited_keys)],
            answers=self.request.answers(since=since),
            calls=calls,
        )

    async def command(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        language_code: str = "zh-hans",
    ) -> Replies:
        return await self.send(
            make_command_update(
                self.app.bot, user_id, text, chat_id=chat_id, language_code=language_code
            )
        )

    async def say(self, user_id: int, text: str, **options: Any) -> Replies:
        return await self.send(make_message_update(self.app.bot, user_id, text, **options))

    async def send_document(
        self,
        user_id: int,
        file_name: str = "材料.pdf",
        content: bytes = b"%PDF-1.4 test\n%%EOF\n",
        *,
        mime_type: str | None = "application/pdf",
        size: int | None = None,
        caption: str | None = None,
        file_unique_id: str | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> Replies:
        """A person sends a document (or forwards one from `forward_origin`, a MessageOrigin
        as Telegram describes it); its bytes can be downloaded."""
        document = make_document(
            file_name,
            mime_type=mime_type,
            size=len(content) if size is None else size,
            file_unique_id=file_unique_id,
        )
        self.request.add_file(document["file_id"], content, size=document["file_size"])
        forwarded = {"forward_origin": forward_origin} if forward_origin else None
        return await self.send(
            make_message_update(
                self.app.bot, user_id, document=document, caption=caption, extra=forwarded
            )
        )

    async def send_photo(self, user_id: int, content: bytes = b"\xff\xd8\xff\xe0 jpeg") -> Replies:
        photo = make_photo(size=len(content))
        self.request.add_file(photo[-1]["file_id"], content)
        return await self.send(make_message_update(self.app.bot, user_id, photo=photo))

    async def share_contact(self, user_id: int, phone: str, *, own: bool = True) -> Replies:
        contact = make_contact(phone, user_id=user_id if own else None)
        return await self.send(make_message_update(self.app.bot, user_id, contact=contact))

    async def block(self, user_id: int, *, chat_id: int | None = None) -> Replies:
        """The person blocks the bot (or removes it from group `chat_id`): my_chat_member."""
        return await self.send(
            make_my_chat_member_update(self.app.bot, user_id, "kicked", chat_id=chat_id)
        )

    async def unblock(self, user_id: int) -> Replies:
        """The person unblocks the bot (Telegram's status "member" again)."""
        return await self.send(make_my_chat_member_update(self.app.bot, user_id, "member"))

    async def press(
        self,
        user_id: int,
        label: str | None = None,
        *,
        on: Sent | None = None,
        data: str | None = None,
    ) -> Replies:
        """Press the button labelled `label` on message `on` (or send any `data` under it)."""
        if data is None:
            if on is None or label is None:
                raise ValueError("press a label on a message, or give the data")
            data = on.data_of(label)
        return await self.send(make_callback_update(self.app.bot, user_id, data, message=on))


@asynccontextmanager
async def running_bot(services: Services) -> AsyncIterator[BotHarness]:
    """Build and initialize the application offline (getMe is answered by the recording)."""
    request = RecordingRequest()
    app = build_application(services)
    # PTB keeps (getUpdates' request, every other call's request); both are the recording.
    app.bot._request = (request, request)
    harness = BotHarness(app=app, request=request, services=services)

    async def record(update: object, context: Context) -> None:
        if context.error is not None and not isinstance(context.error, UpdateAlreadyHandled):
            harness.errors.append(context.error)

    # Before the application's own error handler, which stops the update (and any error
    # handler after it): a handler that raises must fail the test, not be apologised for.
    app.remove_error_handler(on_error)
    app.add_error_handler(record)
    app.add_error_handler(on_error)
    await app.initialize()
    await remember_username(app)
    try:
        yield harness
    finally:
        await app.shutdown()
