"""The guide's pictures: real conversations with the bot, drawn from the emulator's transcripts."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

from PIL import Image

from bot.demo.chatpicture import Item, _wrap, render
from bot.demo.guide import Picture, _chart, make_pictures
from bot.sandbox.models import FileInfo, SentMessage
from messages import plain, strip_html

ROOT = Path(__file__).resolve().parent.parent


def test_the_script_writes_each_picture_asked_for(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "scripts/guide_pictures.py", "--lang", "zh",
            "--only", "staff-start", "--only", "staff-import", "--out", str(tmp_path),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["staff-import.png", "staff-start.png"]
    for name in ("staff-start", "staff-import"):
        with Image.open(tmp_path / f"{name}.png") as picture:
            assert picture.format == "PNG"
            assert picture.width == 860
            assert picture.height > 400
            # A chat, not an empty frame: the header, bubbles and text in many shades.
            assert len(picture.convert("RGB").getcolors(1 << 20) or []) > 50


async def test_a_picture_shows_what_the_bot_says_in_the_language_asked(tmp_path: Path) -> None:
    [picture] = await make_pictures(tmp_path, lang="en", only={"staff-import"})

    said = "\n".join(picture.texts)
    title = plain("en", "uploads.units_title", file=plain("en", "guide.roster_file"))
    assert strip_html(title) in said
    assert "市卫健委 → 市卫生健康委员会" in said
    assert plain("en", "uploads.units_applied", file=plain("en", "guide.roster_file"),
                 added=1, renamed=1, retyped=0, removed=0) in said  # fmt: skip
    assert picture.path == tmp_path / "staff-import.png"


def test_lines_never_begin_with_closing_punctuation_nor_split_a_number() -> None:
    text = "共51家单位，13家单位未报送分管领导和联络员，24家单位资料台账未报齐。"
    for width in range(120, 600, 7):
        lines = [text[a:b] for a, b in _wrap(text, width, 21)]
        assert "".join(lines) == text
        assert not any(line.startswith(("，", "。", "、")) for line in lines)
        for left, right in itertools.pairwise(lines):
            assert not (left[-1:].isdigit() and right[:1].isdigit())


def test_a_chat_with_a_press_is_drawn(tmp_path: Path) -> None:
    png = render(
        "市双拥办联络机器人",
        "测试",
        [
            Item(from_bot=False, text="/start"),
            Item(text="请确认。", buttons=[["确认", "取消"]], pressed="确认"),
            Item(note="点击“确认”"),
            Item(text="照片", image=b"not a picture"),
            Item(file_name="名单.xlsx", file_size=2048),
        ],
    )
    path = tmp_path / "chat.png"
    path.write_bytes(png)
    with Image.open(path) as picture:
        assert picture.width == 860
        assert picture.height > 84 + 5 * 40


class TwoPhotos:
    """The staff's chat after the staff scene: the chart from /stats, then the 通报's page."""

    def __init__(self) -> None:
        self.files = {"chart": b"chart png", "page": b"page png"}

    async def messages(self, chat_id: int) -> list[SentMessage]:
        def photo(message_id: int, file_id: str, caption: str) -> SentMessage:
            info = FileInfo(file_id=file_id, file_unique_id=file_id, kind="photo", file_size=9)
            return SentMessage(
                chat_id=chat_id,
                message_id=message_id,
                date=0,
                kind="photo",
                method="sendPhoto",
                caption=caption,
                files=[info],
            )

        return [
            photo(1, "chart", plain("zh", "stats.caption", units=50, missing_contacts=12,
                                    missing_items=23, pending_review=9)),
            photo(2, "page", "关于双拥工作联络员和资料台账报送情况的通报（第1页）"),
        ]  # fmt: skip

    async def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id]


async def test_the_progress_chart_picture_is_the_chart_not_the_last_photo(
    tmp_path: Path,
) -> None:
    """It was the 通报's first page, which /notice sends after /stats."""
    pictures: list[Picture] = []
    await _chart(TwoPhotos(), tmp_path, pictures, "zh")  # type: ignore[arg-type]
    assert (tmp_path / "progress-chart.png").read_bytes() == b"chart png"
    assert [p.name for p in pictures] == ["progress-chart"]
