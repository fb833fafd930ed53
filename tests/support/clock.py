"""A monotonic clock for the dispatcher's pacing that moves only when something sleeps."""

from __future__ import annotations

from bot.transport.pacing import Intervals, Pacer


class FakeTime:
    """A monotonic clock that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer_on(
    time: FakeTime,
    *,
    per_second: int = 25,
    private_per_second: int = 1,
    group_per_minute: int = 20,
) -> Pacer:
    """A pacer with the dispatcher's default limits, on a fake clock."""
    return Pacer(
        Intervals.of(
            per_second=per_second,
            private_per_second=private_per_second,
            group_per_minute=group_per_minute,
        ),
        monotonic=time.monotonic,
        sleep=time.sleep,
    )
