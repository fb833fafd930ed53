"""Property: any update, from anyone, in any conversation state, and the bot holds.

The real application runs through `Application.process_update` with a recording request. A
fresh person (a stranger, a unit's liaison or lead, a member of staff) is put, on a unit of
their own, into a state: idle, or a step of `/submit`, of a file held outside it, of `/review`,
of `/broadcast`, of excusing a unit from an item, of adding an item, of `/contacts`. Then they
send a random sequence of updates of every kind: text of any length and script, commands with
and without arguments (also a bare `/`), stickers, voice notes, locations, contacts, polls,
documents and photos, forwarded files, edited messages, group messages addressed to the bot or
not, channel posts, and presses of current, stale and forged buttons of every feature.

After every update: no handler raised; a unit has at most one current holder per role; every
submission's state agrees with its review (decided ones have a reviewer and exactly one audit
entry of that decision; at most one draft and one awaiting review per unit and item); and no
two outbox rows share a dedupe key.

`make test` runs a few examples per state (and always a bare `/`, `/   `, `/@` and `/@bot`);
`make fuzz` runs the full property (> 10,000 updates; the figure is printed at the end).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import menus
from bot.conversations import current_step
from bot.services import Services
from handlers import registry
from handlers.shared import Command, Feature
from storage.models import AuditEvent, ChecklistItem, OutboxMessage, Submission, Unit
from storage.models import Person as Holder
from tests.support.application import BotHarness, running_bot
from tests.support.factories import add_item, add_person, add_submission, add_unit
from tests.support.request import Sent
from tests.support.tally import SENT
from tests.support.updates import (
    NO_NUL,
    make_callback_update,
    make_contact,
    make_document,
    make_message_update,
    make_photo,
    update_ids,
)

STAFF = 900  # in the services fixture's STAFF_IDS
BOT = "liaison_test_bot"
# `make fuzz` sets FUZZ_EXAMPLES for the full run (16 states × 150 examples × ~5 updates).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
_people = itertools.count(800_000)


def fuzzed_commands() -> list[str]:
    """List every command the bot registers (a new one is sent too), then one it does not know."""
    return [*sorted({command.name for command in registry.commands()}), "frobnicate"]


COMMANDS = fuzzed_commands()
ARGUMENTS = ["", " 市民政局", " mzj", " files", " on", " off", " en", " zh", " 1", " " + "A" * 70]
PREFIXES = [
    "sub:start", "sub:go", "sub:done", "sub:skip", "sub:na", "sf", "sf:x", "rv:ok", "rv:back",
    "rv:later", "st:o:a:any", "st:u", "st:x", "st:xi", "st:p", "st:r", "st:n", "st:a", "st:i",
    "st:m", "exp:files", "nt:u", "bc:acks", "bc:nudge", "bc:stop", "bc:send", "bc:aud:all",
    "bc:ackt", "bc:drop", "ack", "i:lead", "i:liaison", "i:rv", "c:me", "c:lead", "c:link",
    "r:1:ok", "r:0:yes", "remind:ok", "remind:no", "lang:en", "lang:xx", "",
]  # fmt: skip
TEXTS = [
    "/", "/   ", "/@", "//", "/start@" + BOT, "/status@" + BOT + " x", "本单位无此项职能", "是",
    "完成", "<b>x</b>", "&amp;", "😀", "\u200b", "A" * 4096, "张" * 5000, "市民政局",
    "年度工作计划", "13912345678", "\n\n", " ",
]  # fmt: skip
CONTENT: dict[str, dict[str, Any]] = {
    "sticker": {"sticker": {
        "file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False,
    }},
    "voice": {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}},
    "location": {"location": {"latitude": 36.0, "longitude": 106.2}},
    "poll": {"poll": {
        "id": "p", "question": "?",
        "options": [{"persistent_id": "1", "text": "a", "voter_count": 0}],
        "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
        "allows_multiple_answers": False, "allows_revoting": False, "members_only": False,
    }},
    "venue": {"venue": {
        "location": {"latitude": 36.0, "longitude": 106.2}, "title": "市政府", "address": "x",
    }},
}  # fmt: skip

Event = tuple[str, Any]
events = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.sampled_from(TEXTS) | st.text(NO_NUL, max_size=300)),
        st.tuples(
            st.just("command"),
            st.tuples(st.sampled_from(COMMANDS), st.sampled_from(ARGUMENTS), st.booleans()),
        ),
        st.tuples(st.just("press"), st.tuples(st.sampled_from(PREFIXES), st.integers(-1, 99))),
        st.tuples(st.just("press_shown"), st.integers(0, 5)),
        st.tuples(
            st.just("file"),
            st.tuples(
                st.sampled_from(["材料.pdf", "a.zip", "b.exe", "照片.jpg", "无名", "x" * 300]),
                st.sampled_from(["application/pdf", "application/zip", None, "image/jpeg"]),
                st.sampled_from([100, 0, 25 * 1024 * 1024]),
                st.booleans(),  # forwarded
            ),
        ),
        st.tuples(st.just("photo"), st.none()),
        st.tuples(st.just("contact"), st.booleans()),
        st.tuples(st.just("content"), st.sampled_from(sorted(CONTENT))),
        st.tuples(st.just("edited"), st.sampled_from(["张伟", "/status", "年度工作计划"])),
        st.tuples(
            st.just("group"), st.sampled_from(["/status", "/rollcall", "随便说说", "/help"])
        ),
        st.tuples(st.just("channel"), st.none()),
    ),
    max_size=9,
)


class Person:
    """One person of an example: who they are, where they are, what they can press."""

    def __init__(self, bot: BotHarness, user_id: int, unit: Unit, item: ChecklistItem) -> None:
        self.bot = bot
        self.user_id = user_id
        self.unit = unit
        self.item = item
        self.shown: list[Sent] = []  # messages with buttons the bot sent them

    async def send(self, update: Any) -> None:
        SENT["test_any_update"] += 1
        replies = await self.bot.send(update)
        self.shown += [m for m in replies.messages if m.reply_markup]
        self.shown = self.shown[-6:]

    async def act(self, event: Event) -> None:
        kind, value = event
        app_bot = self.bot.app.bot
        user = self.user_id
        if kind == "text":
            await self.send(make_message_update(app_bot, user, value or " "))
        elif kind == "command":
            name, argument, addressed = value
            text = f"/{name}{'@' + BOT if addressed else ''}{argument}"
            await self.send(make_message_update(app_bot, user, text))
        elif kind == "press":
            prefix, number = value
            data = f"{prefix}:{number}" if number >= 0 and prefix else prefix
            await self.send(make_callback_update(app_bot, user, data))
        elif kind == "press_shown":
            if not self.shown:
                return
            message = self.shown[value % len(self.shown)]
            rows = (message.reply_markup or {}).get("inline_keyboard", [])
            buttons = [b for row in rows for b in row if "callback_data" in b]
            if buttons:
                data = buttons[value % len(buttons)]["callback_data"]
                await self.send(make_callback_update(app_bot, user, data, message=message))
        elif kind == "file":
            name, mime, size, forwarded = value
            document = make_document(name, mime_type=mime, size=size)
            self.bot.request.add_file(document["file_id"], b"%PDF-1.4\n%%EOF\n", size=size)
            await self.send(
                make_message_update(app_bot, user, document=document, forwarded=forwarded)
            )
        elif kind == "photo":
            photo = make_photo()
            self.bot.request.add_file(photo[-1]["file_id"], b"\xff\xd8\xff\xe0")
            await self.send(make_message_update(app_bot, user, photo=photo))
        elif kind == "contact":
            contact = make_contact("13912345678", user_id=user if value else None)
            await self.send(make_message_update(app_bot, user, contact=contact))
        elif kind == "content":
            await self.send(make_message_update(app_bot, user, extra=CONTENT[value]))
        elif kind == "edited":
            await self.send(make_message_update(app_bot, user, value, edited=True))
        elif kind == "group":
            await self.send(make_message_update(app_bot, user, value, chat_id=-100_000 - user))
        else:  # a post in a channel the bot was added to
            from telegram import Update

            post = {
                "message_id": 1,
                "date": 0,
                "chat": {"id": -200_000, "type": "channel", "title": "频道"},
                "text": "频道消息",
            }
            await self.send(
                Update.de_json({"update_id": next(update_ids), "channel_post": post}, app_bot)
            )


Setup = Callable[[Person], Awaitable[None]]


async def _idle(p: Person) -> None:
    return None


async def _submit(p: Person) -> None:
    await p.act(("command", ("submit", "", False)))


async def _not_applicable(p: Person) -> None:
    await _submit(p)
    await p.send(make_callback_update(p.bot.app.bot, p.user_id, f"sub:na:{p.item.id}"))


async def _held_file(p: Person) -> None:
    await p.act(("file", ("材料.pdf", "application/pdf", 100, False)))


async def _review_reason(p: Person) -> None:
    pending = await add_submission(p.bot.services, p.unit, p.item, "pending")
    await p.act(("command", ("review", "", False)))
    await p.send(make_callback_update(p.bot.app.bot, p.user_id, f"rv:back:{pending.id}"))


async def _broadcast(p: Person) -> None:
    await p.act(("command", ("broadcast", "", False)))


async def _broadcast_audience(p: Person) -> None:
    await _broadcast(p)
    await p.act(("text", "关于报送资料台账的通知"))


async def _exempt_reason(p: Person) -> None:
    app_bot = p.bot.app.bot
    await p.send(make_callback_update(app_bot, p.user_id, f"st:xi:{p.unit.id}:{p.item.id}"))


async def _add_item(p: Person) -> None:
    await p.send(make_callback_update(p.bot.app.bot, p.user_id, f"st:n:{p.unit.id}"))


async def _contacts_me(p: Person) -> None:
    await p.send(make_callback_update(p.bot.app.bot, p.user_id, "c:me"))


async def _contacts_lead(p: Person) -> None:
    await p.send(make_callback_update(p.bot.app.bot, p.user_id, "c:lead"))


# (who, where, and the conversation they must then be in; None: no conversation).
STATES: list[tuple[str, Setup, str | None]] = [
    ("stranger", _idle, None),
    ("liaison", _idle, None),
    ("lead", _idle, None),
    ("staff", _idle, None),
    ("liaison", _submit, "submit"),
    ("liaison", _not_applicable, "submit"),
    ("lead", _submit, "submit"),
    ("liaison", _held_file, "stray"),
    ("liaison", _contacts_me, "registration"),
    ("liaison", _contacts_lead, "registration"),
    ("staff", _review_reason, "review"),
    ("staff", _broadcast, "broadcast"),
    ("staff", _broadcast_audience, "broadcast"),
    ("staff", _exempt_reason, "staff_exempt"),
    ("staff", _add_item, "staff_add_item"),
    ("staff_liaison", _submit, "submit"),
]


async def person_in(bot: BotHarness, who: str, setup: Setup) -> Person:
    """A fresh person on a fresh unit (with one item of its own), in the state asked for."""
    services = bot.services
    unit = await add_unit(services)
    item = await add_item(services, unit=unit)
    user_id = STAFF if who == "staff" else next(_people)
    if who in ("liaison", "staff_liaison"):
        await add_person(services, unit, "liaison", user_id=user_id)
    elif who == "lead":
        await add_person(services, unit, "liaison")
        await add_person(services, unit, "lead", user_id=user_id)
    if who == "staff_liaison":  # a liaison who is also office staff
        from bot import roster

        await roster.add_staff(services=services, user_id=user_id)
    person = Person(bot, user_id, unit, item)
    if who == "staff":  # staff start from nothing in hand
        await person.act(("command", ("cancel", "", False)))
    await setup(person)
    return person


async def invariants(services: Services) -> None:
    """What must hold after any update, whatever it was."""
    async with services.db.sessions() as session:
        doubled_roles = (
            await session.execute(
                select(Holder.unit_id, Holder.role)
                .where(Holder.until.is_(None))
                .group_by(Holder.unit_id, Holder.role)
                .having(func.count() > 1)
            )
        ).all()
        doubled_live = (
            await session.execute(
                select(Submission.unit_id, Submission.item_id, Submission.state)
                .where(Submission.state.in_(("draft", "pending")))
                .group_by(Submission.unit_id, Submission.item_id, Submission.state)
                .having(func.count() > 1)
            )
        ).all()
        decided = (
            await session.execute(
                select(Submission.id, Submission.state, Submission.reviewed_by).where(
                    Submission.state.in_(("accepted", "returned"))
                )
            )
        ).all()
        reviews = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(("review_accept", "review_return")))
            )
        ).all()
        doubled_keys = (
            await session.execute(
                select(OutboxMessage.dedupe_key)
                .group_by(OutboxMessage.dedupe_key)
                .having(func.count() > 1)
            )
        ).all()
        unknown_states = await session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.state.not_in(("draft", "pending", "accepted", "returned", "withdrawn"))
            )
        )
    assert doubled_roles == [], "a unit has two current holders of one role"
    assert doubled_live == [], "two drafts, or two submissions awaiting review, of one item"
    assert unknown_states == 0
    assert doubled_keys == []
    logged: dict[int, list[str]] = {}
    for event in reviews:
        logged.setdefault(int(event.details["submission_id"]), []).append(event.action)
    for submission_id, state, reviewer in decided:  # every decision was taken in the chat here
        want = "review_accept" if state == "accepted" else "review_return"
        assert reviewer is not None, submission_id
        assert logged.get(submission_id) == [want], (submission_id, state, logged)
    for submission_id, actions in logged.items():
        assert len(actions) == 1, (submission_id, actions)


@pytest.mark.parametrize(
    "state", STATES, ids=[f"{who}-{setup.__name__.strip('_')}" for who, setup, _ in STATES]
)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=events)
# The texts that once crashed the flow router, in every state whatever hypothesis draws.
@example(sequence=[("text", "/")])
@example(sequence=[("text", "/   ")])
@example(sequence=[("text", "/@")])
@example(sequence=[("text", "/@" + BOT)])
async def test_any_update_in_any_state_holds(
    services: Services, state: tuple[str, Setup, str | None], sequence: list[Event]
) -> None:
    who, setup, flow = state
    async with running_bot(services) as bot:
        person = await person_in(bot, who, setup)
        step = await current_step(services=services, user_id=person.user_id)
        assert (step.flow if step else None) == flow, (who, setup.__name__, step)
        for event in sequence:
            await person.act(event)  # raises whatever a handler raised
            await invariants(services)
        # Whatever happened, the person can always leave and start again.
        await person.act(("command", ("cancel", "", False)))
        assert await current_step(services=services, user_id=person.user_id) is None
        assert (await bot.command(person.user_id, "/help")).messages


async def test_a_new_command_is_sent_too_and_its_crash_fails_the_run(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(update: object, context: object) -> None:
        raise RuntimeError("boom")

    assert "frobnicate" not in {command.name for command in registry.commands()}
    monkeypatch.setattr(menus, "_MENUS", dict(menus._MENUS))  # put back after the test
    new = Feature(commands=(Command("boom", boom),))
    monkeypatch.setattr(registry, "FEATURES", (*registry.FEATURES, new))
    assert set(fuzzed_commands()) == {*COMMANDS, "boom"}
    async with running_bot(services) as bot:
        person = await person_in(bot, "stranger", _idle)
        with pytest.raises(RuntimeError, match="boom"):
            await person.act(("command", ("boom", "", False)))
