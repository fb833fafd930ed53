"""Run the emulator as a process: `python -m bot.sandbox --port 0` prints its base URL."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bot.sandbox.server import Emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--username", default="liaison_demo_bot", help="the bot's username")
    parser.add_argument("--first-name", default="Liaison Demo Bot", help="the bot's name")
    parser.add_argument("--token", default=None, help="accept only this token")
    parser.add_argument("--no-limits", action="store_true", help="switch rate limits off")
    parser.add_argument(
        "--lenient-html", action="store_true", help='let a bare "&" through, as tdlib does'
    )
    parser.add_argument(
        "--no-privacy", action="store_true", help="deliver every group message to the bot"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start, print the base URL, run until SIGTERM/SIGINT, stop."""
    emulator = Emulator(
        username=args.username,
        first_name=args.first_name,
        token=args.token,
        rate_limits=not args.no_limits,
        strict_html=not args.lenient_html,
        privacy_mode=not args.no_privacy,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    url = await emulator.start(args.host, args.port)
    print(url, flush=True)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    asyncio.run(serve(parse_args(argv)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
