"""`make bench`: every benchmark, each printing ratios measured in the same run."""

from __future__ import annotations

import asyncio

from bench import http_client


def main() -> None:
    asyncio.run(http_client.run())


if __name__ == "__main__":
    main()
