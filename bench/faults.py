"""The fault suite (`make faults`): 10% of Bot API calls fail at random, and still every
reminder and notice arrives, none twice beyond the counted unknowns.

The emulator answers each call (of every method, getUpdates included) with a fault at
random: 2.5% 429 (retry after 1 s), 2.5% 500 or 502, 2.5% a timeout (the answer comes after
the bot stopped waiting; half of those calls were carried out), 2.5% a dropped connection
(half carried out). Staff queue a round of reminders for every outstanding unit and a notice
to every liaison; the bot (`liaison-bot run`) delivers them. A call that was never sent or
answered 429 or 5xx is sent again; one that may have been carried out (timeout, dropped
after writing) is recorded as outcome unknown and never sent again by itself."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.delivery import (
    LIAISONS,
    Delivery,
    office,
    outbox_states,
    queue_broadcast,
    queue_reminders,
    settled,
    tally,
)
from bot.sandbox.models import FaultIn
from messages import strip_html, t

TEXT = "关于报送双拥工作资料台账的通知（故障演练）"
REMINDER_MARK = strip_html(t("zh", "reminders.heading"))  # every reminder's first line
# (error, probability, carried out first): 10% of the calls in all.
FAULTS: tuple[tuple[int | str, float, bool], ...] = (
    (429, 0.025, False),
    (500, 0.0125, False),
    (502, 0.0125, False),
    ("timeout", 0.0125, True),
    ("timeout", 0.0125, False),
    ("reset", 0.0125, True),
    ("reset", 0.0125, False),
)


@dataclass
class Found:
    reminders: Delivery
    notices: Delivery
    faults: int
    calls: int
    states: dict[str, dict[str, int]]


async def one_run(workdir: Path, *, liaisons: int = 300, database_url: str | None = None) -> Found:
    """Reminders and a notice to `liaisons` liaisons with 10% of calls failing."""
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'faults.db'}"
    async with office(url, liaisons) as seeded:
        emulator, services = seeded.emulator, seeded.services
        bot = seeded.bot(
            workdir,
            SEND_RATE_GLOBAL="100",
            REQUEST_TIMEOUT="1",
            OUTBOX_LEASE_SECONDS="10",
        )
        try:
            await bot.start(ready=lambda: emulator.state.polling)
            await queue_reminders(services)
            await queue_broadcast(services, emulator, TEXT)
            # At once: the dispatcher looks at the outbox about once a second.
            calls_before = len(emulator.state.calls)
            for error, rate, deliver in FAULTS:
                emulator.state.inject_fault(
                    FaultIn(
                        method="*",
                        error=error,
                        rate=rate,
                        times=1_000_000,
                        retry_after=1 if error == 429 else None,
                        delay=2.0 if error == "timeout" else None,
                        deliver=deliver,
                    )
                )
            if not await settled(services, seconds=600):
                raise RuntimeError(f"the outbox did not empty:\n{bot.tail()}")
            emulator.state.clear_faults()
            chats = [LIAISONS + n for n in range(liaisons)]
            return Found(
                reminders=await tally(services, emulator, chats, REMINDER_MARK, "reminder"),
                notices=await tally(services, emulator, chats, TEXT, "broadcast"),
                faults=sum(1 for c in list(emulator.state.calls)[calls_before:] if c.fault),
                calls=len(emulator.state.calls) - calls_before,
                states={
                    p: dict(await outbox_states(services, p)) for p in ("reminder", "broadcast")
                },
            )
        finally:
            await bot.stop()


async def run(*, liaisons: int = 300) -> Found:
    print(f"Fault suite: a round of reminders and a notice to {liaisons} liaisons, 10% of")
    print("Bot API calls failing at random (429, 5xx, timeouts, dropped connections)")
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        found = await one_run(Path(tmp), liaisons=liaisons)
    print(
        f"  {found.faults} of {found.calls} calls failed ({100 * found.faults / found.calls:.1f}%)"
    )
    print(f"  reminders: {found.reminders.line()}")
    print(f"  notices:   {found.notices.line()}")
    print(f"  outbox rows by state: {found.states}")
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--liaisons", type=int, default=300)
    args = parser.parse_args(argv)
    found = asyncio.run(run(liaisons=args.liaisons))
    bad = sum(d.lost + d.duplicated for d in (found.reminders, found.notices))
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
