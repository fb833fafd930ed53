"""The bot as a real process against the in-process emulator: start, kill -9, restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bot.sandbox.client import SandboxClient
from tests.support.settings import TEST_TOKEN
from tests.support.waiting import eventually

TOKEN = TEST_TOKEN
ROOT = Path(__file__).resolve().parents[2]
# The office staff member of the end-to-end bot (its STAFF_IDS).
STAFF_ID = 900_001


@dataclass
class BotProcess:
    """`python -m bot run` (or any other command) with its own environment and log."""

    api_url: str
    database_url: str
    workdir: Path
    sandbox: SandboxClient
    staff_ids: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "PYTHONPATH": str(ROOT),
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.api_url,
            "DATABASE_URL": self.database_url,
            "STAFF_IDS": self.staff_ids,
            "LANGUAGE": "zh",
            "DATA_DIR": str(self.workdir / "data"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            # Scheduled rounds follow the real clock; tests that want them turn them on.
            "SCHEDULED_REMINDERS": "false",
        }
        env.update(self.extra_env)
        return env

    @property
    def log_path(self) -> Path:
        return self.workdir / f"bot-{self.starts}.log"

    async def start(self, *args: str) -> None:
        """Start the bot and wait until it polls for updates (or plans, with --no-updates)."""
        self.starts += 1
        log = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", *args,
            cwd=self.workdir, env=self.env(), stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        process = self.process

        async def serving() -> bool:
            if process.returncode is not None:
                raise RuntimeError(f"the bot exited: {self.log_path.read_text()}")
            return "serving (updates:" in self.log_path.read_text(errors="replace")

        try:
            await eventually(serving, seconds=20)
        except AssertionError:
            raise RuntimeError(f"the bot did not start: {self.log_path.read_text()}") from None

    async def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, and wait for a clean exit."""
        if self.process is None:
            return 0
        if self.process.returncode is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    def logs(self) -> str:
        return "\n".join(
            (self.workdir / f"bot-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )
