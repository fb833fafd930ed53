"""`make bench`: every benchmark, each printing ratios measured in the same run."""

from __future__ import annotations

import asyncio

from bench import http_client, pacing, throughput


def main() -> None:
    asyncio.run(http_client.run())
    asyncio.run(throughput.run())
    asyncio.run(pacing.run())


if __name__ == "__main__":
    main()
