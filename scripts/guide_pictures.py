"""Draw the guide's pictures from real conversations with the bot (`make guide`).

    .venv/bin/python scripts/guide_pictures.py [--lang zh|en|all] [--only NAME …] [--out DIR]

Plays the demo's people against the in-repo Bot API emulator (no token, no network) and
writes one PNG per conversation to docs/images/guide/ (English: docs/images/guide/en/).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.demo.guide import guide_folder, make_pictures
from messages import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=[*LANGUAGES, "all"], default="all")
    parser.add_argument("--only", action="append", metavar="NAME", help="only this picture")
    parser.add_argument("--out", type=Path, help="the folder (default: the guide's)")
    args = parser.parse_args(argv)
    for lang in LANGUAGES if args.lang == "all" else [args.lang]:
        out = args.out / lang if args.out and args.lang == "all" else args.out
        folder = out or guide_folder(ROOT, lang)
        pictures = asyncio.run(make_pictures(folder, lang=lang, only=args.only))
        for picture in pictures:
            print(picture.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
