"""A chat as a picture: the messages of one conversation drawn as a phone shows them.

The guide's pictures are drawn from the emulator's transcripts (bot/demo/guide.py), so they
show the bot's real wording. Bot messages are white bubbles on the left with their inline
buttons below (a pressed one darker), the person's are green on the right; files show their
name and size, photos the picture itself; a press of a button is a small note in the middle.
Text is laid out character by character (Chinese has no spaces to break at), in Noto Sans
CJK SC from the mplfonts package, bold drawn with a stroke; colours follow Telegram's.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from bot.staff.charts import cjk_font_path

WIDTH = 860
MARGIN = 22
BUBBLE_MAX = 620
PAD_X, PAD_Y = 16, 12
TEXT_SIZE = 21
LINE = 31
SMALL_SIZE = 17
HEADER = 84
GAP = 12
BUTTON_HEIGHT = 44
BUTTON_GAP = 6
RADIUS = 14
IMAGE_MAX = 560
# Punctuation that never begins a line (Chinese typesetting keeps it on the line before).
NO_LINE_START = frozenset("，。、；：？！”’）》」』】…,.;:?!)]")

BACKGROUND = (222, 229, 234)
HEADER_FILL = (82, 124, 168)
HEADER_TEXT = (255, 255, 255)
HEADER_SUB = (214, 228, 242)
BOT_FILL = (255, 255, 255)
USER_FILL = (225, 246, 203)
TEXT = (24, 24, 24)
LINK = (34, 110, 190)
SUBTLE = (110, 120, 130)
BUTTON_FILL = (236, 241, 245)
BUTTON_PRESSED = (176, 200, 222)
BUTTON_TEXT = (44, 92, 140)
NOTE_FILL = (190, 202, 212)
NOTE_TEXT = (255, 255, 255)
FILE_ICON = (86, 150, 214)


@dataclass
class Span:
    """A styled part of a message's text: [start, end) in characters."""

    start: int
    end: int
    style: str  # "bold" | "link"


@dataclass
class Item:
    """One thing in the chat: a message (the bot's or the person's) or a note between them."""

    from_bot: bool = True
    text: str = ""
    spans: list[Span] = field(default_factory=list)
    buttons: list[list[str]] = field(default_factory=list)
    pressed: str | None = None  # the label of the button pressed on this message
    file_name: str | None = None
    file_size: int | None = None
    image: bytes | None = None
    note: str | None = None  # a note across the chat (a button pressed, a day passing)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size)


@cache
def _advance(char: str, size: int) -> float:
    return float(_font(size).getlength(char))


def _wrap(text: str, width: float, size: int) -> list[tuple[int, int]]:
    """The (start, end) character ranges of each line of `text` within `width` pixels."""
    lines: list[tuple[int, int]] = []
    start, used, last_space = 0, 0.0, -1
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\n":
            lines.append((start, index))
            start, used, last_space = index + 1, 0.0, -1
            index += 1
            continue
        advance = _advance(char, size)
        if used + advance > width and index > start and char not in NO_LINE_START:
            # Break Latin words at their space when one is near, a number or a short word
            # before it; Chinese anywhere.
            run = index
            while run > start and text[run - 1].isascii() and text[run - 1].isalnum():
                run -= 1
            if char == " ":  # the space a line breaks at is not drawn
                lines.append((start, index))
                start = index + 1
            elif char.isascii() and last_space > start and index - last_space < 24:
                lines.append((start, last_space))
                start = last_space + 1
            elif char.isascii() and char.isalnum() and start < run and index - run < 24:
                lines.append((start, run))
                start = run
            else:
                lines.append((start, index))
                start = index
            index = max(index, start)
            used = sum(_advance(c, size) for c in text[start:index])
            last_space = -1
            continue
        if char == " ":
            last_space = index
        used += advance
        index += 1
    lines.append((start, len(text)))
    return lines


def _style_at(spans: Sequence[Span], index: int) -> set[str]:
    return {s.style for s in spans if s.start <= index < s.end}


def _line_width(text: str, size: int) -> float:
    return sum(_advance(c, size) for c in text)


@dataclass
class _Placed:
    item: Item
    height: int
    width: int
    lines: list[tuple[int, int]]
    image: Image.Image | None


def _measure(item: Item) -> _Placed:
    """The size of an item's bubble (or note) and the lines of its text."""
    if item.note is not None:
        width = int(_line_width(item.note, SMALL_SIZE)) + 2 * PAD_X
        return _Placed(item, SMALL_SIZE + 2 * 8, width, [], None)
    inner = BUBBLE_MAX - 2 * PAD_X
    # a character's width kept free for punctuation that hangs at the end of a line
    lines = _wrap(item.text, inner - TEXT_SIZE, TEXT_SIZE) if item.text else []
    widest = max((_line_width(item.text[a:b], TEXT_SIZE) for a, b in lines), default=0.0)
    height = len(lines) * LINE
    image = None
    if item.image is not None:
        image = _thumbnail(item.image)
        widest = max(widest, float(image.width) if image else 260.0)
        height += (image.height if image else 180) + (8 if lines else 0)
    if item.file_name is not None:
        widest = max(widest, min(inner, _line_width(item.file_name, TEXT_SIZE) + 70))
        height += 54 + (8 if lines else 0)
    width = int(min(inner, widest)) + 2 * PAD_X
    if item.buttons:
        width = BUBBLE_MAX
    return _Placed(item, height + 2 * PAD_Y, width, lines, image)


def _thumbnail(data: bytes) -> Image.Image | None:
    try:
        picture: Image.Image = Image.open(io.BytesIO(data))
        picture.load()
    except Exception:  # the demo's stand-in photos are not real images
        return None
    picture = picture.convert("RGB")
    if picture.width > IMAGE_MAX:
        ratio = IMAGE_MAX / picture.width
        picture = picture.resize((IMAGE_MAX, int(picture.height * ratio)))
    return picture


def _buttons_height(item: Item) -> int:
    rows = len(item.buttons)
    return rows * BUTTON_HEIGHT + rows * BUTTON_GAP if rows else 0


def render(title: str, subtitle: str, items: Sequence[Item]) -> bytes:
    """The chat as a PNG image."""
    placed = [_measure(item) for item in items]
    height = HEADER + GAP
    for p in placed:
        height += p.height + _buttons_height(p.item) + GAP
    height += MARGIN
    canvas = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, WIDTH, HEADER), fill=HEADER_FILL)
    draw.text((MARGIN, 14), title, font=_font(26), fill=HEADER_TEXT)
    draw.text((MARGIN, 50), subtitle, font=_font(SMALL_SIZE), fill=HEADER_SUB)
    y = HEADER + GAP
    for p in placed:
        if p.item.note is not None:
            x = (WIDTH - p.width) // 2
            draw.rounded_rectangle((x, y, x + p.width, y + p.height), radius=12, fill=NOTE_FILL)
            draw.text((x + PAD_X, y + 6), p.item.note, font=_font(SMALL_SIZE), fill=NOTE_TEXT)
        else:
            _bubble(canvas, draw, p, y)
        y += p.height + _buttons_height(p.item) + GAP
    # 256 colours are plenty for a chat and keep the pictures a third of the size.
    reduced = canvas.quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    out = io.BytesIO()
    reduced.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _bubble(canvas: Image.Image, draw: ImageDraw.ImageDraw, p: _Placed, y: int) -> None:
    item = p.item
    x = MARGIN if item.from_bot else WIDTH - MARGIN - p.width
    fill = BOT_FILL if item.from_bot else USER_FILL
    draw.rounded_rectangle((x, y, x + p.width, y + p.height), radius=RADIUS, fill=fill)
    top = y + PAD_Y
    if p.image is not None or item.image is not None:
        if p.image is not None:
            canvas.paste(p.image, (x + PAD_X, top))
            top += p.image.height
        else:
            # A photo that is no picture (the demo's stand-ins): a grey frame with a landscape.
            left = x + PAD_X
            draw.rectangle((left, top, left + 260, top + 180), fill=(200, 208, 214))
            draw.polygon(
                [(left + 40, top + 150), (left + 110, top + 70), (left + 170, top + 150)],
                fill=SUBTLE,
            )
            draw.ellipse((left + 180, top + 40, left + 210, top + 70), fill=SUBTLE)
            top += 180
        top += 8 if p.lines else 0
    if item.file_name is not None:
        draw.rounded_rectangle((x + PAD_X, top, x + PAD_X + 46, top + 46), 10, fill=FILE_ICON)
        extension = item.file_name.rsplit(".", 1)[-1][:4].upper() if "." in item.file_name else ""
        mark = _font(12 if len(extension) > 3 else 14)
        centred = x + PAD_X + (46 - float(mark.getlength(extension))) / 2
        draw.text((centred, top + 15), extension, font=mark, fill=(255, 255, 255))
        draw.text((x + PAD_X + 58, top), item.file_name, font=_font(TEXT_SIZE), fill=TEXT)
        if item.file_size is not None:
            size = f"{item.file_size / 1024:.1f} KB"
            draw.text((x + PAD_X + 58, top + 28), size, font=_font(SMALL_SIZE), fill=SUBTLE)
        top += 54 + (8 if p.lines else 0)
    for start, end in p.lines:
        cursor = float(x + PAD_X)
        for index in range(start, end):
            char = item.text[index]
            styles = _style_at(item.spans, index)
            color = LINK if "link" in styles else TEXT
            stroke = 1 if "bold" in styles else 0
            draw.text(
                (cursor, top), char, font=_font(TEXT_SIZE), fill=color,
                stroke_width=stroke, stroke_fill=color,
            )  # fmt: skip
            cursor += _advance(char, TEXT_SIZE)
        top += LINE
    _keyboard(draw, item, x, y + p.height + BUTTON_GAP, p.width)


def _keyboard(draw: ImageDraw.ImageDraw, item: Item, x: int, y: int, width: int) -> None:
    for row in item.buttons:
        each = (width - BUTTON_GAP * (len(row) - 1)) / max(len(row), 1)
        for column, label in enumerate(row):
            left = x + column * (each + BUTTON_GAP)
            fill = BUTTON_PRESSED if label == item.pressed else BUTTON_FILL
            box = (left, y, left + each, y + BUTTON_HEIGHT)
            draw.rounded_rectangle(box, radius=10, fill=fill)
            shown = label
            while _line_width(shown, SMALL_SIZE + 1) > each - 16 and len(shown) > 2:
                shown = shown[:-2] + "…"
            text_width = _line_width(shown, SMALL_SIZE + 1)
            draw.text(
                (left + (each - text_width) / 2, y + 11),
                shown,
                font=_font(SMALL_SIZE + 1),
                fill=BUTTON_TEXT,
            )
        y += BUTTON_HEIGHT + BUTTON_GAP
