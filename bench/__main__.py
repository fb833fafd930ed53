"""`make bench`: run every benchmark and print its ratios (each against a baseline of the same run)."""

from __future__ import annotations

import asyncio

from bench import http_client


def main() -> None:
    asyncio.run(http_client.run())


if __name__ == "__main__":
    main()
