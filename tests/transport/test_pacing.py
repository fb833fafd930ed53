"""The dispatcher's pacing, on a clock the test moves: overall, per chat, per group, 429."""

from __future__ import annotations

import itertools

import pytest

from bot.transport.pacing import Pacer
from tests.support.clock import FakeTime, pacer_on


async def send_times(p: Pacer, clock: FakeTime, chats: list[int]) -> list[float]:
    times = []
    for chat in chats:
        await p.wait(chat)
        times.append(round(clock.now - 1000.0, 3))
    return times


async def test_different_private_chats_go_at_25_per_second() -> None:
    clock = FakeTime()
    times = await send_times(pacer_on(clock), clock, list(range(1, 51)))
    assert times[0] == 0.0
    assert times[-1] == pytest.approx(49 / 25)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(0.04)


async def test_one_private_chat_gets_one_message_a_second() -> None:
    clock = FakeTime()
    assert await send_times(pacer_on(clock), clock, [7, 7, 7]) == [0.0, 1.0, 2.0]


async def test_a_group_gets_20_a_minute_while_others_go_on() -> None:
    clock = FakeTime()
    p = pacer_on(clock)
    assert await send_times(p, clock, [-100, -100]) == [0.0, 3.0]
    # Another chat is not held up by the group's pace.
    await p.wait(8)
    assert clock.now - 1000.0 == pytest.approx(3.04)


async def test_a_429_pauses_every_chat() -> None:
    clock = FakeTime()
    p = pacer_on(clock)
    await p.wait(1)
    p.pause(5)
    await p.wait(2)  # a different chat still waits out the pause
    assert clock.now - 1000.0 == pytest.approx(5.0)


async def test_the_chats_remembered_are_those_whose_next_slot_is_still_ahead() -> None:
    """One entry per chat ever sent to stayed for the life of the process (200,000 at scale)."""
    clock = FakeTime()
    p = pacer_on(clock)
    for chat in range(1, 20_001):
        await p.wait(chat if chat % 7 else -chat)
    # A private chat's slot lasts 1 s (25 sends), a group's 3 s (75): a few hundred at most.
    assert len(p._next_chat) < 400
    last = clock.now  # the last chat still waits its second
    await p.wait(20_000)
    assert clock.now == pytest.approx(last + 1.0)
