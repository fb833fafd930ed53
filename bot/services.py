"""The long-lived services a handler or command reaches: settings, database, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.clock import Clock, SystemClock, office_date
from bot.ops.metrics import Metrics
from bot.settings import Settings
from storage.db import Database


@dataclass
class Services:
    """What every use-case needs; created once in main() and closed at exit."""

    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics = field(default_factory=Metrics)

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        """The office's date now."""
        return office_date(self.clock.now(), self.settings.tz)

    async def close(self) -> None:
        await self.db.dispose()
