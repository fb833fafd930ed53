"""An update failing "transiently" alone: set aside only when others went through a while."""

from __future__ import annotations

import errno
from typing import Any, cast

from bot.transport.intake import ALONE_AFTER, Intake


def test_the_clock_starts_when_others_go_through_again_not_at_an_outage() -> None:
    """After a three-minute outage of everyone's, the first failure that followed it set an
    update aside at once (a 429 in the burst of the backlog), its answer lost."""
    now = [0.0]
    intake = Intake(cast(Any, object()), monotonic=lambda: now[0])
    assert not intake._failing_alone(7)  # the outage: nothing goes through
    now[0] = 180.0
    assert not intake._failing_alone(7)
    intake.last_handled = 181.0  # the others go through again
    now[0] = 182.0
    assert not intake._failing_alone(7)  # failing alone for 1 s only
    now[0] = 181.0 + ALONE_AFTER
    assert intake._failing_alone(7)


def test_a_disks_refusal_is_set_aside_with_nothing_else_going_through_but_an_outage_is_not() -> (
    None
):
    """A full disk in a quiet hour kept the run of failures open until the supervisor ended
    the process; the database or the network out of reach is everyone's, and waits."""
    now = [0.0]
    intake = Intake(cast(Any, object()), monotonic=lambda: now[0])
    full = OSError(errno.ENOSPC, "No space left on device")
    down = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert not intake._failing_alone(7, full)
    assert not intake._failing_alone(8, down)
    now[0] = ALONE_AFTER
    assert intake._failing_alone(7, full)
    assert not intake._failing_alone(8, down)
