"""Property: random updates in every registration state never raise, and none goes unanswered.

The real application (bot.app.build_application) runs through `Application.process_update`
with a recording request in place of Telegram. A fresh person is driven with valid input
to a chosen step of a chosen conversation (the liaison's, the lead's, `/contacts`), on a unit
of its own (so every example takes the path it means to), and must be seen to arrive there;
then it gets a random sequence of texts, commands, contacts, stickers, locations, voice notes,
edits and button presses (current, old and forged). After each update: no handler raised,
a person who was in the flow got an answer, and the registrations stay consistent.
"""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

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
from bot.roster import roles_of
from storage.models import Person, Unit
from tests.support.application import BotHarness
from tests.support.registration import Event, Harness, drive, step_of, token_for
from tests.support.tally import SENT
from tests.support.updates import NO_NUL

_ids = itertools.count(10_000)
_units = itertools.count(1)

# Where a person can be put before the random part: (conversation, step).
STATES = [
    ("liaison", CONFIRM_UNIT), ("liaison", NAME), ("liaison", POST), ("liaison", PHONE),
    ("liaison", SUMMARY), ("liaison", LEAD_OFFER), ("liaison", LEAD_NAME),
    ("liaison", LEAD_POST), ("liaison", LEAD_PHONE), ("liaison", LEAD_SUMMARY),
    ("lead", CONFIRM_UNIT), ("lead", SUMMARY), ("lead", NAME),
    ("self", SUMMARY), ("relead", LEAD_NAME), ("relead", LEAD_SUMMARY),
    ("done", ""),
]  # fmt: skip
ACTIONS = [
    "yes", "no", "ok", "e-name", "e-post", "e-phone", "keep", "redo", "skip",
    "e-lname", "e-lpost", "e-lphone", "zzz",
]  # fmt: skip
TEXTS = [
    "张伟", "王强", "科员", "副局长", "13912345678", "+86 138 1234 5678", "12345", "张伟2",
    "<b>x</b>", "&amp;", "😀", "张" * 40, "是", "/cancel", "/help", "/contacts",
    "/contacts 市民政局", "/status", "/submit", "/invite 市文旅局", "/start", "/start garbage",
    "/start " + "A" * 64, "/language en", "/language zh", "/frobnicate",
]  # fmt: skip
FORGED = ["c:me", "c:lead", "c:link", "i:rv:1", "i:lead:2", "i:liaison:3", "lang:en", "junk", ""]

events = st.lists(
    st.one_of(
        st.tuples(
            st.just("text"), st.sampled_from(TEXTS) | st.text(NO_NUL, min_size=1, max_size=40)
        ),
        st.tuples(
            st.just("contact"),
            st.tuples(
                st.sampled_from(["8613912345678", "12025550123", "+8613812345678", "123"]),
                st.booleans(),
            ),
        ),
        st.tuples(st.just("press"), st.tuples(st.integers(-2, 1), st.sampled_from(ACTIONS))),
        st.tuples(st.just("forged"), st.sampled_from(FORGED)),
        st.tuples(
            st.sampled_from(["sticker", "location", "voice", "photo", "document", "edited"]),
            st.none(),
        ),
    ),
    max_size=8,
)


def answered(h: BotHarness, user_id: int, since: int) -> bool:
    """Whether the bot answered this person (a message or a button answer) since a call."""
    if h.request.answers(since=since):
        return True
    return bool(h.request.sent(user_id, since=since))


async def fresh_unit(h: Harness, *, staffed: bool) -> str:
    """A unit of this example alone, so no earlier example's registrations change its path.

    Staffed: a liaison and a lead are on record (neither linked to a chat), as for the sample
    units that reported on paper; otherwise nobody is.
    """
    name = f"属性测试单位{next(_units)}"
    now = h.services.now()
    async with h.services.db.uow() as tx:
        unit = Unit(name=name, kind="member", created_at=now)
        tx.add(unit)
        await tx.flush()
        if staffed:
            for role, person in (("liaison", "赵敏"), ("lead", "钱进")):
                tx.add(
                    Person(
                        unit_id=unit.id, role=role, name=person, post="科长",
                        phone="13700000000", telegram_user_id=None, since=now, until=None,
                    )
                )  # fmt: skip
    return name


async def put(h: Harness, user_id: int, conversation: str, target: str) -> None:
    """Bring a fresh person, on a fresh unit, to a state; fail if it is not reached."""
    if conversation == "liaison":
        unit = await fresh_unit(h, staffed=target == LEAD_OFFER)
        await h.text(user_id, f"/start {await token_for(h, unit, 'liaison')}")
        await drive(h, user_id, target)
    elif conversation == "lead":
        unit = await fresh_unit(h, staffed=target != NAME)
        await h.text(user_id, f"/start {await token_for(h, unit, 'lead')}")
        await drive(h, user_id, target)
    else:
        unit = await fresh_unit(h, staffed=False)
        await h.text(user_id, f"/start {await token_for(h, unit, 'liaison')}")
        await drive(h, user_id, LEAD_NAME)
        assert await step_of(h, user_id) == LEAD_NAME
        await h.act(user_id, ("press", (0, "skip")))
        if conversation == "self":
            await h.press(user_id, "c:me")
        elif conversation == "relead":
            await h.press(user_id, "c:lead")
            await drive(h, user_id, target)
    assert await step_of(h, user_id) == (target or None), (conversation, target)
    if conversation == "done":
        held = [(r.unit, r.role) for r in await roles_of(services=h.services, user_id=user_id)]
        assert held == [(unit, "liaison")]


async def consistent(h: Harness, user_id: int) -> None:
    """A person holds at most one role; a unit has at most one current holder per role."""
    async with h.services.db.sessions() as session:
        roles = await session.scalar(
            select(func.count())
            .select_from(Person)
            .where(Person.telegram_user_id == user_id, Person.until.is_(None))
        )
        doubled = (
            await session.execute(
                select(Person.unit_id, Person.role)
                .where(Person.until.is_(None))
                .group_by(Person.unit_id, Person.role)
                .having(func.count() > 1)
            )
        ).all()
    assert (roles or 0) <= 1
    assert doubled == []


@pytest.mark.parametrize("state", STATES, ids=lambda s: "-".join(filter(None, s)))
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=events)
async def test_random_updates_in_every_state_never_raise(
    harness: Harness, state: tuple[str, str], sequence: list[Event]
) -> None:
    h = harness
    user_id = next(_ids)
    conversation, target = state
    await put(h, user_id, conversation, target)
    assert h.errors == []
    for event in sequence:
        in_flow = await step_of(h, user_id) is not None
        before = len(h.request.calls)
        await h.act(user_id, event)
        SENT["test_registration_properties"] += 1
        assert h.errors == [], (state, event)
        if in_flow:
            assert answered(h.bot, user_id, before), (state, event)
        await consistent(h, user_id)
