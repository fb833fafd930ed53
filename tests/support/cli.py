"""Running the command line in-process, as a person would from a shell."""

from __future__ import annotations

import asyncio
import contextlib
import io
from dataclasses import dataclass

from bot.cli.main import main


@dataclass
class Done:
    code: int
    out: str
    err: str


async def run_cli(*args: str) -> Done:
    """Run `liaison-bot ARGS…` with the current environment; capture what it prints."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                return main(list(args))
            except SystemExit as exc:  # argparse
                return int(exc.code or 0)

    code = await asyncio.to_thread(call)
    return Done(code, out.getvalue(), err.getvalue())
