"""Demo scene: the office's console — who is outstanding, a notice to everyone registered with
its delivery report and acknowledgements, then the chart, the workbook and the 通报 (a Word
document in the 公文 layout) written to files in `./demo-output/`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.demo.sample import STAFF_USER_ID
from bot.demo.simulation import Person
from bot.staff.broadcasts import NUDGE_PURPOSE, PURPOSE, REPORT_PURPOSE
from bot.staff.documents.preview import can_preview
from messages import plain
from storage.models import OutboxMessage
from storage.models import Person as Holder

if TYPE_CHECKING:
    from bot.demo.run import Stage

OUTPUT = Path("demo-output")
ACKNOWLEDGING = 6  # recipients who press "收到" before staff look


async def _liaisons(stage: Stage) -> list[tuple[int, str]]:
    async with stage.services.db.sessions() as session:
        rows = await session.execute(
            select(Holder.telegram_user_id, Holder.name).where(
                Holder.until.is_(None), Holder.telegram_user_id.is_not(None)
            )
        )
        return sorted((int(user), str(name)) for user, name in rows.all() if user)


async def scene_staff(stage: Stage) -> None:
    """/outstanding, a broadcast with its report and "收到", /stats and /export to files."""
    lang, sandbox = stage.lang, stage.sandbox

    def label(key: str, /, **values: object) -> str:
        return plain(lang, key, **values)

    stage.say("demo_staff.intro")
    staff = Person(sandbox, STAFF_USER_ID, label("demo.staff_name"), narrate=stage.narrate)
    staff.timeout = 60.0
    staff.seen = len(await sandbox.messages(STAFF_USER_ID))
    await staff.say("/outstanding")

    # Everyone on record gets the notice; one liaison has blocked the bot meanwhile.
    known = {u.id for u in await sandbox.users()}
    people = await _liaisons(stage)
    code = {"zh": "zh-hans", "en": "en"}[lang]
    for user_id, name in people:
        if user_id not in known:
            await sandbox.add_user(
                user_id=user_id, first_name=name, language_code=code, started=True
            )
    blocked_id, blocked_name = next((u, n) for u, n in people if u != STAFF_USER_ID)
    await sandbox.block(blocked_id)
    stage.say("demo_staff.broadcast", count=len(people), blocked=blocked_name)
    await staff.say("/broadcast")
    [choose] = await staff.say(label("demo_staff.notice"))
    await staff.press(label("broadcast.audience_registered"), expect=0)
    preview = await staff.edited(choose.message_id)
    send = next(b["text"] for b in preview.buttons() if b.get("callback_data") == "bc:send")
    await staff.press(send, expect=0)
    await stage.delivered(OutboxMessage.purpose == PURPOSE)
    await stage.delivered(OutboxMessage.purpose == REPORT_PURPOSE)
    await staff.wait(1)  # the delivery report
    # The one progress message, edited as the notice went out, shows the final count.
    for _ in range(600):
        [progress] = [
            m for m in await sandbox.messages(STAFF_USER_ID) if m.message_id == choose.message_id
        ]
        if progress.reply_markup is None:
            stage.narrate(staff.name, "bot", progress.text or "")
            break
        await asyncio.sleep(0.1)

    # A few press "收到"; staff see who has not and remind only them.
    delivered = [u for u, _ in people if u != blocked_id]
    answered = len(await sandbox.callback_answers())
    for user_id in delivered[:ACKNOWLEDGING]:
        messages = await sandbox.messages(user_id)
        if messages and label("ack.button") in messages[-1].button_texts():
            stage.narrate(str(dict(people)[user_id]), "says", f"[{label('ack.button')}]")
            await sandbox.press(user_id, button_text=label("ack.button"))
            answered += 1
    await sandbox.wait_callback_answers(answered)
    [status] = await staff.press(label("broadcast.button_acks"))
    nudge = next((b for b in status.button_texts() if b != label("broadcast.button_refresh")), "")
    if nudge:
        await staff.press(nudge, expect=0)
        await stage.delivered(OutboxMessage.purpose == NUDGE_PURPOSE)
        stage.say("demo_staff.nudged")

    # The chart and the workbook, as staff receive them, written to files.
    [chart] = await staff.say("/stats")
    path = await _write(
        label("demo_staff.chart_file"), await sandbox.file_bytes(chart.files[-1].file_id)
    )
    stage.say("demo_staff.written", path=path)
    _, workbook = await staff.say("/export", expect=2)
    name = workbook.files[0].file_name or "export.xlsx"
    path = await _write(name, await sandbox.file_bytes(workbook.files[0].file_id))
    stage.say("demo_staff.written", path=path)

    # The 通报 in the 公文 layout, and (where LibreOffice is installed) its first page.
    stage.say("demo_staff.bulletin")
    pictures = 1 if can_preview() else 0
    _, bulletin, *page = await staff.say("/notice", expect=2 + pictures)
    name = bulletin.files[0].file_name or "bulletin.docx"
    path = await _write(name, await sandbox.file_bytes(bulletin.files[0].file_id))
    stage.say("demo_staff.written", path=path)
    if page:
        picture = await sandbox.file_bytes(page[0].files[-1].file_id)
        path = await _write(label("demo_staff.bulletin_page_file"), picture)
        stage.say("demo_staff.written", path=path)


async def _write(name: str, data: bytes) -> str:
    """Write a file into ./demo-output/; its full path."""

    def write() -> str:
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / name
        path.write_bytes(data)
        return str(path.resolve())

    return await asyncio.to_thread(write)
