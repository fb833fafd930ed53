"""The reminder policy from settings, and the outbox purposes (the calendar: bot/holidays)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from bot.services import Services
from bot.settings import Settings, in_quiet_hours, parse_quiet_hours
from bot.workdays import WorkCalendar

log = logging.getLogger(__name__)

# Outbox purposes. "reminder" rows are addressed to a unit's own people (the report counts
# them as `reminders_sent`); the others go to staff or to a group.
REMINDER = "reminder"
TASK = "reminder_task"
DIGEST = "reminder_digest"
ROLLCALL = "rollcall"
WARNING = "calendar_warning"

# The button every reminder carries when items are owed: handlers/ledger.py answers
# `sub:start:<unit>` by starting /submit for that unit.
SUBMIT_CALLBACK = "sub:start:{unit_id}"
# Telegram allows 4096 characters a message; digests and roll calls are split below this.
PART_LIMIT = 3500
# A daily digest lists at most this many units per section (and says how many more).
DIGEST_LIMIT = 50
# A roll call names at most this many units per list (and says how many more).
ROLLCALL_LIMIT = 500
# A /remind preview can be confirmed for this long.
PREVIEW_VALID = timedelta(hours=24)
# States of an outbox row that mean "this reminder happened, or may have".
_HAPPENED = ("pending", "claimed", "sending", "sent", "unknown", "unreachable")

Role = Literal["liaison", "lead"]
Why = Literal["count", "deadline", "liaison_unreachable", "no_liaison"]


@dataclass(frozen=True)
class Policy:
    """The reminder settings, with the rules that use them."""

    reminder_time: time
    quiet_start: time
    quiet_end: time
    every: int
    daily_last: int
    cap: int
    lead_after: int
    office_after: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        start, end = parse_quiet_hours(settings.quiet_hours)
        return cls(
            reminder_time=settings.reminder_time,
            quiet_start=start,
            quiet_end=end,
            every=settings.reminder_every_workdays,
            daily_last=settings.reminder_daily_last_workdays,
            cap=settings.reminder_cap,
            lead_after=settings.escalate_lead_after,
            office_after=settings.escalate_office_after_workdays,
        )

    def quiet(self, local: datetime) -> bool:
        """Whether an office-time moment falls in the quiet hours."""
        return in_quiet_hours(local.time().replace(tzinfo=None), self.quiet_start, self.quiet_end)

    def round_time(self, local: datetime) -> bool:
        """Whether a scheduled round may be planned at this office-time moment."""
        return local.time().replace(tzinfo=None) >= self.reminder_time and not self.quiet(local)

    def phase(
        self, cal: WorkCalendar, today: date, deadline: date | None
    ) -> Literal["regular", "final", "overdue"]:
        """Regular cadence, the last working days up to the deadline, or past it."""
        if deadline is None:
            return "regular"
        if today > deadline:
            return "overdue"
        if cal.workdays_between(today, deadline) < self.daily_last:
            return "final"
        return "regular"

    def due(
        self, cal: WorkCalendar, today: date, deadline: date | None, last: date | None
    ) -> bool:
        """Whether a unit last reminded on `last` is due again today (a working day)."""
        if last is None:
            return True
        gap = self.every if self.phase(cal, today, deadline) == "regular" else 1
        return cal.workdays_between(last, today) >= gap

    def supervised(self, cal: WorkCalendar, today: date, deadline: date | None) -> bool:
        """督办: the deadline plus ESCALATE_OFFICE_AFTER_WORKDAYS working days have passed."""
        return (
            deadline is not None
            and today > deadline
            and cal.workdays_between(deadline, today) > self.office_after
        )


def office_now(services: Services) -> datetime:
    return services.now().astimezone(services.settings.tz)
