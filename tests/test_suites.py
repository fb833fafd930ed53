"""Short runs of the crash and fault suites (`make crash`, `make faults` run them in full):
the bot as a process against the emulator, killed with SIGKILL in a broadcast and in
conversations, or with one Bot API call in ten failing."""

from __future__ import annotations

from pathlib import Path

from bench import crash, faults


async def test_a_kill_9_in_a_broadcast_and_in_conversations_loses_nothing(
    tmp_path: Path,
) -> None:
    found = await crash.trial(tmp_path, notices=200, people=3, seed_value=3)
    notices = found.notices
    assert (notices.lost, notices.duplicated) == (0, 0), notices
    assert notices.delivered + notices.unknown - notices.unknown_delivered == notices.meant
    assert found.broken == 0


async def test_one_call_in_ten_failing_loses_no_reminder_or_notice(tmp_path: Path) -> None:
    found = await faults.one_run(tmp_path, liaisons=60)
    assert found.faults > 0
    for delivery in (found.reminders, found.notices):
        assert (delivery.lost, delivery.duplicated) == (0, 0), delivery
        assert delivery.delivered + delivery.unknown - delivery.unknown_delivered == 60
