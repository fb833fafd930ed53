"""The pictures of the guide (docs/使用指南.md, docs/guide.en.md), from real conversations.

The demo's world is set up again (the in-repo Bot API emulator, the bot running against it,
the sample roster, the demo's simulated people and clock); the demo's scenes are played,
with a few of the guide's own (a roster sent in the chat, an invite, a deadline passing, a
liaison replaced, the staff console). After each scene the transcript of each chat the
guide shows is taken from the emulator and drawn as a chat picture (bot/demo/chatpicture),
so the pictures show what the bot says today. The progress chart is the one /stats sends.

`scripts/guide_pictures.py` (`make guide`) writes them to docs/images/guide/ (Chinese) and
docs/images/guide/en/ (English).
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl

from bot.clock import FrozenClock
from bot.demo.chatpicture import Item, Span, render
from bot.demo.run import (
    Stage,
    _wait_until_serving,
    scene_first_contact,
    serving,
)
from bot.demo.sample import STAFF_USER_ID
from bot.demo.scenes.ledger import scene_ledger
from bot.demo.scenes.registration import LEAD_ID, LIAISON_ID, LINK_TOKEN, scene_registration
from bot.demo.scenes.reminders import cast_of, scene_reminders
from bot.demo.scenes.staff import scene_staff
from bot.demo.simulation import Person
from bot.importing import SAMPLE_ROSTER_PATH, parse_units
from bot.ledger.checklist import set_deadline
from bot.logs import quieted
from bot.reminders.planner import plan_tick
from bot.sandbox import models
from bot.sandbox.client import SandboxClient
from bot.sandbox.html import utf16_len
from bot.sandbox.records import detect_entities
from messages import catalogue, plain, strip_html

log = logging.getLogger(__name__)

USERNAME = "liaison_demo_bot"
NEW_LIAISON_ID = 790_000_001  # takes over from a liaison in the scene of the handover
LINKS = {"bold": "bold", "url": "link", "text_link": "link", "bot_command": "link"}
LINKS |= {"mention": "link", "email": "link"}


class RecordingSandbox(SandboxClient):
    """The emulator's client, remembering each button pressed and the message as it was then
    (the bot may edit it afterwards, or take its buttons away)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.pressed: dict[tuple[int, int], list[tuple[models.SentMessage, str]]] = {}

    async def _act(self, user_id: int, action: str, body: dict[str, Any]) -> models.UpdateRef:
        """Act as the emulator does, after noting which button is pressed, on which message."""
        if action == "press":
            await self._note_press(user_id, body)
        return await super()._act(user_id, action, body)

    async def _note_press(self, user_id: int, body: dict[str, Any]) -> None:
        chat, message_id = body["chat_id"] or user_id, body["message_id"]
        for message in reversed(await self.messages(chat)):
            if message_id is not None and message.message_id != message_id:
                continue
            labels = {b.get("callback_data"): b["text"] for b in message.buttons()}
            text = body["button_text"]
            label = text if text in labels.values() else labels.get(body["data"])
            if label is not None:
                seen = self.pressed.setdefault((chat, message.message_id), [])
                seen.append((message.model_copy(deep=True), label))
                return


@dataclass
class Shot:
    """One picture: a chat, the part of it a scene wrote, and what the picture is called."""

    name: str
    chat: int | Callable[[Marks], int]  # a chat, or how to find it from what the scene wrote
    start: str | None = None  # from the first message containing this text
    stop: str | None = None  # up to (not including) the first message after start with this
    limit: int | None = None  # at most this many messages
    pick: Callable[[list[models.SentMessage]], list[models.SentMessage]] | None = None


@dataclass
class Marks:
    """The last message id of each chat before a scene, and the chats the scene wrote in."""

    before: dict[int, int] = field(default_factory=dict)
    grown: dict[int, int] = field(default_factory=dict)  # chat → new messages

    def busiest(self, *, besides: Collection[int] = ()) -> int:
        """The private chat the scene wrote most in (besides those given)."""
        chats = [(n, c) for c, n in self.grown.items() if c > 0 and c not in besides]
        return max(chats)[1]


@dataclass
class Scene:
    name: str
    play: Callable[[Stage], Awaitable[None]]
    shots: list[Shot]


# ---- the guide's own scenes ------------------------------------------------------------------


def _label(stage: Stage, key: str, /, **values: object) -> str:
    return plain(stage.lang, key, **values)


def _staff(stage: Stage) -> Person:
    return Person(stage.sandbox, STAFF_USER_ID, _label(stage, "demo.staff_name"), timeout=60.0)


async def _staff_now(stage: Stage) -> Person:
    staff = _staff(stage)
    staff.seen = len(await stage.sandbox.messages(STAFF_USER_ID))
    return staff


def _xlsx(rows: Sequence[Sequence[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def _roster_rows(stage: Stage) -> list[list[str]]:
    """The sample roster as the office would send it next: one unit renamed, one added."""
    if stage.lang == "zh":
        rows = [["单位名称", "类型", "原单位名称"]]
        kinds = {"member": "成员单位", "county": "县（区）"}
    else:
        rows = [["name", "kind", "former_name"]]
        kinds = {"member": "member", "county": "county"}
    for unit in parse_units(SAMPLE_ROSTER_PATH):
        name, former = unit.name, ""
        if unit.name == "市卫健委":
            name, former = "市卫生健康委员会", "市卫健委"
        rows.append([name, kinds[unit.kind], former])
    rows.append(["市气象局", kinds["member"], ""])
    return rows


async def scene_import(stage: Stage) -> None:
    """Staff send a roster with two mistakes, then the corrected one, and confirm it."""
    staff = await _staff_now(stage)
    rows = _roster_rows(stage)
    wrong = [list(row) for row in rows]
    wrong[8][1] = "局"  # a kind the bot does not know
    wrong[12][0] = wrong[11][0]  # a unit twice
    await stage.sandbox.send_document(
        STAFF_USER_ID, file_name=_label(stage, "guide.roster_file"), data=_xlsx(wrong)
    )
    await staff.wait(1)
    await stage.sandbox.send_document(
        STAFF_USER_ID, file_name=_label(stage, "guide.roster_file"), data=_xlsx(rows)
    )
    await staff.wait(1)
    await staff.press(_label(stage, "uploads.button_apply"))


async def scene_invite(stage: Stage) -> None:
    """Staff ask for a registration link for one of the units without a liaison."""
    staff = await _staff_now(stage)
    await staff.say("/invite 市科技局")


async def scene_deadline(stage: Stage) -> None:
    """The deadline comes closer and passes: daily reminders, then overdue, then 督办."""
    services = stage.services
    clock = services.clock
    assert isinstance(clock, FrozenClock)
    tz = services.settings.tz
    today = clock.now().astimezone(tz).date()
    calendar_days = [today + timedelta(days=n) for n in range(1, 12)]
    due = calendar_days[3]
    await set_deadline(services=services, due=due)
    for day in calendar_days:
        clock.set(datetime.combine(day, time(9, 30), tzinfo=tz))
        await plan_tick(services=services)
        await stage.delivered()


async def _until(person: Person, button: str) -> None:
    """Read the bot's new messages until one offers this button."""
    for _ in range(10):
        if any(button in m.button_texts() for m in await person.wait(1)):
            return
    raise RuntimeError(f"{person.name} was never offered {button!r}")


async def scene_handover(stage: Stage) -> None:
    """A new liaison registers for the followed unit; the liaison before is told."""
    staff = await _staff_now(stage)
    cast = await cast_of(stage.services)
    [link] = await staff.say(f"/invite {cast.watched.name}")
    found = LINK_TOKEN.search(link.text or "")
    assert found is not None
    name = "李娜" if stage.lang == "zh" else "Li Na"
    newcomer = await stage.person(NEW_LIAISON_ID, name)
    newcomer.timeout = 60.0
    await newcomer.start(found[1])
    await newcomer.press(_label(stage, "registration.button_confirm"))
    await newcomer.say(name)
    await newcomer.say("科员" if stage.lang == "zh" else "clerk")
    await stage.sandbox.send_text(NEW_LIAISON_ID, "13995400188")
    await _until(newcomer, _label(stage, "registration.button_ok"))
    await stage.sandbox.press(NEW_LIAISON_ID, button_text=_label(stage, "registration.button_ok"))
    await _until(newcomer, _label(stage, "registration.button_keep"))
    await newcomer.press(_label(stage, "registration.button_keep"))
    await stage.delivered()


async def scene_urge(stage: Stage) -> None:
    """Staff open a unit's file and take its 催办通知 (Word)."""
    from bot.staff.documents.preview import can_preview

    staff = await _staff_now(stage)
    await staff.say("/unit 市科技局")
    await staff.press(_label(stage, "unitcard.button_notice"), expect=2 if can_preview() else 1)


# ---- the pictures --------------------------------------------------------------------------


def marker(lang: str, key: str) -> str:
    """The longest fixed part of a sentence (between its placeholders), as a person reads it:
    what tells that sentence apart in a transcript."""
    import re

    parts = re.split(r"\{[^}]*\}", catalogue(lang)[key])
    return strip_html(max(parts, key=len)).strip()


def _contains(text: str) -> Callable[[models.SentMessage], bool]:
    return lambda m: text in (m.text or m.caption or "")


def _first_with(*texts: str) -> Callable[[list[models.SentMessage]], list[models.SentMessage]]:
    """The first bot message containing each text, in the chat's order."""

    def pick(messages: list[models.SentMessage]) -> list[models.SentMessage]:
        chosen: list[models.SentMessage] = []
        for text in texts:
            found = next((m for m in messages if m.from_bot and _contains(text)(m)), None)
            if found is not None and found not in chosen:
                chosen.append(found)
        return sorted(chosen, key=lambda m: m.message_id)

    return pick


def scenes(lang: str, watched: int) -> list[Scene]:
    """Every scene, in the order they are played, with the pictures taken after each;
    `watched`: the liaison of the unit whose reminders the guide follows."""

    def word(key: str, /, **values: object) -> str:
        return plain(lang, key, **values)

    staff = STAFF_USER_ID

    return [
        Scene(
            "first_contact",
            scene_first_contact,
            [Shot("staff-start", staff, start="/start")],
        ),
        Scene(
            "import",
            scene_import,
            [
                Shot("staff-import-errors", staff, limit=1),
                Shot("staff-import", staff, start=marker(lang, "uploads.units_title")),
            ],
        ),
        Scene("invite", scene_invite, [Shot("staff-invite", staff)]),
        Scene(
            "registration",
            scene_registration,
            [Shot("liaison-register", LIAISON_ID), Shot("lead-register", LEAD_ID)],
        ),
        Scene(
            "ledger",
            scene_ledger,
            [
                Shot(
                    "liaison-submit",
                    lambda m: m.busiest(besides=(staff,)),
                    stop=word("demo_ledger.return_reason"),
                ),
                Shot(
                    "liaison-returned",
                    lambda m: m.busiest(besides=(staff,)),
                    start=word("demo_ledger.return_reason"),
                ),
                Shot("staff-review", staff, stop="/review"),
            ],
        ),
        Scene(
            "reminders",
            scene_reminders,
            [
                Shot("reminder-liaison", watched, limit=1),
                Shot("reminder-lead", LEAD_ID, limit=1),
                Shot("staff-digest", staff, limit=1),
            ],
        ),
        Scene(
            "deadline",
            scene_deadline,
            [
                Shot(
                    "reminder-overdue",
                    watched,
                    pick=_first_with(
                        marker(lang, "reminders.due_by"), marker(lang, "reminders.overdue")
                    ),
                ),
                Shot(
                    "staff-supervision",
                    staff,
                    start=marker(lang, "notice.caption_supervise"),
                    limit=1,
                ),
            ],
        ),
        Scene("handover", scene_handover, [Shot("liaison-replaced", watched)]),
        Scene(
            "staff",
            scene_staff,
            [
                Shot("staff-outstanding", staff, start="/outstanding", stop="/broadcast"),
                Shot("staff-broadcast", staff, start="/broadcast", stop="/stats"),
                Shot("liaison-notice", LIAISON_ID, limit=1),
                Shot("staff-export", staff, start="/export", stop="/notice"),
                Shot("staff-notice", staff, start="/notice"),
            ],
        ),
        Scene("urge", scene_urge, [Shot("staff-urge", staff)]),
    ]


async def _marks(sandbox: SandboxClient) -> dict[int, int]:
    counts: dict[int, int] = {}
    for chat in await sandbox.chats():
        transcript = await sandbox.transcript(chat.id)
        counts[chat.id] = transcript[-1].message_id if transcript else 0
    return counts


def _slice(messages: list[models.SentMessage], shot: Shot) -> list[models.SentMessage]:
    if shot.start is not None:
        first = next((i for i, m in enumerate(messages) if _contains(shot.start)(m)), None)
        if first is not None and first > 0 and not messages[first - 1].from_bot:
            first -= 1  # what the person sent that the bot answers
        messages = messages[first:] if first is not None else []
    if shot.stop is not None:
        end = next(
            (i for i, m in enumerate(messages) if i and _contains(shot.stop)(m)), len(messages)
        )
        messages = messages[:end]
    if shot.pick is not None:
        messages = shot.pick(messages)
    if shot.limit is not None:
        bot = [m for m in messages if m.from_bot][: shot.limit]
        if bot:
            messages = [m for m in messages if m.message_id <= bot[-1].message_id]
    return messages


def _spans(text: str, entities: Sequence[dict[str, Any]]) -> list[Span]:
    """Entities (UTF-16 offsets) as character spans of the styles the picture draws."""
    starts = [0]
    for char in text:
        starts.append(starts[-1] + utf16_len(char))
    index = {offset: i for i, offset in enumerate(starts)}
    spans = []
    for entity in entities:
        style = LINKS.get(str(entity.get("type")))
        begin = index.get(int(entity["offset"]))
        end = index.get(int(entity["offset"]) + int(entity["length"]))
        if style is not None and begin is not None and end is not None:
            spans.append(Span(begin, end, style))
    return spans


async def items_of(
    sandbox: RecordingSandbox, chat: int, messages: list[models.SentMessage], lang: str
) -> list[Item]:
    """A transcript as the picture's items: each message as the person saw it when they
    pressed one of its buttons (with a note of the press), then as it is now."""
    items = []
    for m in messages:
        if m.deleted:
            continue
        states = [*sandbox.pressed.get((chat, m.message_id), [])]
        if not states or _text(states[-1][0]) != _text(m):
            states.append((m, ""))
        for state, label in states:
            items.append(await _item(sandbox, state, label or None, lang))
            if label:
                items.append(Item(note=plain(lang, "guide.pressed", label=label)))
    return items


def _text(message: models.SentMessage) -> str:
    return message.text or message.caption or ""


async def _item(
    sandbox: RecordingSandbox, m: models.SentMessage, pressed: str | None, lang: str
) -> Item:
    text = _text(m)
    entities = m.entities or m.caption_entities
    markup = m.reply_markup or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    item = Item(
        from_bot=m.from_bot,
        text=text,
        spans=_spans(text, [*entities, *detect_entities(text)]),
        buttons=[[b["text"] for b in row] for row in rows],
        pressed=pressed,
    )
    if m.kind == "contact":
        phone = str((m.extra.get("contact") or {}).get("phone_number", ""))
        item.text = plain(lang, "guide.contact", phone=phone)
    if m.kind == "document" and m.files:
        item.file_name = m.files[0].file_name or "file"
        item.file_size = m.files[0].file_size
    if m.kind == "photo" and m.files:
        item.image = await sandbox.file_bytes(m.files[-1].file_id)
    return item


@dataclass
class Picture:
    """A picture written, and the transcript it was drawn from (for checks and alt text)."""

    name: str
    path: Path
    texts: list[str]


async def make_pictures(
    out: Path, *, lang: str = "zh", only: Collection[str] | None = None
) -> list[Picture]:
    """Play the scenes the wanted pictures need and write the pictures (all by default)."""
    with quieted(("bot", logging.ERROR)):
        return await _draw(out, lang=lang, only=only)


async def _draw(out: Path, *, lang: str, only: Collection[str] | None) -> list[Picture]:
    workdir = Path(tempfile.mkdtemp(prefix="liaison-guide-"))
    pictures: list[Picture] = []
    try:
        async with serving(
            lang=lang, database=workdir / "guide.db", workdir=workdir, username=USERNAME
        ) as bot:
            sandbox = RecordingSandbox(bot.url)
            async with sandbox:
                await sandbox.configure(rate_limits=False)
                await _wait_until_serving(sandbox, bot.task)
                stage = QuietStage(services=bot.services, sandbox=sandbox, lang=lang)
                await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
                followed = (await cast_of(bot.services)).watched.liaison
                assert followed is not None
                assert followed.user_id is not None
                for scene in scenes(lang, followed.user_id):
                    wanted = [s for s in scene.shots if only is None or s.name in only]
                    charted = scene.name == "staff" and (only is None or "progress-chart" in only)
                    if not wanted and not charted and scene.name != "first_contact":
                        continue  # the first scene is always played: staff open the bot there
                    marks = Marks(before=await _marks(sandbox))
                    await scene.play(stage)
                    await stage.delivered()
                    after = await _marks(sandbox)
                    marks.grown = {c: n - marks.before.get(c, 0) for c, n in after.items()}
                    for shot in wanted:
                        pictures.append(await _take(stage, sandbox, marks, shot, out))
                    if charted:
                        await _chart(sandbox, out, pictures, stage.lang)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return pictures


class QuietStage(Stage):
    """The demo's stage without its narration."""

    def say(self, key: str, /, **values: object) -> None:
        return None

    def narrate(self, who: str, kind: str, text: str) -> None:
        return None


async def _take(
    stage: Stage, sandbox: RecordingSandbox, marks: Marks, shot: Shot, out: Path
) -> Picture:
    chat = shot.chat if isinstance(shot.chat, int) else shot.chat(marks)
    since = marks.before.get(chat, 0)
    messages = [m for m in await sandbox.transcript(chat) if m.message_id > since]
    messages = _slice(messages, shot)
    if not messages:
        raise RuntimeError(f"the picture {shot.name} has no messages")
    items = await items_of(sandbox, chat, messages, stage.lang)
    png = render(
        plain(stage.lang, "guide.title"),
        plain(stage.lang, f"guide.shot_{shot.name.replace('-', '_')}"),
        items,
    )
    path = out / f"{shot.name}.png"
    await asyncio.to_thread(path.write_bytes, png)
    texts = [m.text or m.caption or "" for m in messages]
    return Picture(shot.name, path, texts)


async def _chart(sandbox: RecordingSandbox, out: Path, pictures: list[Picture], lang: str) -> None:
    """The progress chart /stats sent, as it is (after the staff's scene): the photo with the
    chart's caption, not the last photo (/notice sends the 通报's first page after it)."""
    words = catalogue(lang)["stats.caption"].split("{")[0]
    for message in reversed(await sandbox.messages(STAFF_USER_ID)):
        if message.kind == "photo" and message.files and (message.caption or "").startswith(words):
            path = out / "progress-chart.png"
            data = await sandbox.file_bytes(message.files[-1].file_id)
            await asyncio.to_thread(path.write_bytes, data)
            pictures.append(Picture("progress-chart", path, [message.caption or ""]))
            return


def guide_folder(root: Path, lang: str) -> Path:
    """Where a language's pictures go: docs/images/guide/ for Chinese, …/guide/en/ else."""
    folder = root / "docs" / "images" / "guide"
    return folder if lang == "zh" else folder / lang
