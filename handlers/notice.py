"""`/notice [N]`: the 通报 as a Word document; the "催办通知" button of a unit's file.

Staff only. The numbers come first, then the document, then page 1 as a picture where
LibreOffice is installed (so it can be checked on a phone). From a group the answer goes to
the staff member privately: an urging notice may hold an invite link meant for one person.

Buttons (`callback_data`): nt:u:{unit}   the unit's 催办通知
"""

from __future__ import annotations

from pathlib import Path

from telegram import Update
from telegram.constants import ChatAction

from bot.context import Context
from bot.errors import BadInput
from bot.ledger.report import build_report
from bot.staff.documents import notices
from bot.staff.documents.preview import first_page_png
from bot.staff.outputs import sending_folder, stamped_name
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    matched,
    pressed,
    private_chat,
    send_file,
    send_picture,
    services_of,
    tell,
    working,
)
from messages import format_time, t


async def _send_document(
    context: Context, chat_id: int, path: Path, caption: str, lang: str
) -> None:
    """Send the .docx, then (where LibreOffice is installed) its first page as a picture."""
    await working(context, chat_id, ChatAction.UPLOAD_DOCUMENT)
    await send_file(context, chat_id, path, caption)
    png = await first_page_png(path)
    if png is not None:
        page = t(lang, "notice.caption_page")
        await send_picture(context, chat_id, png, f"{path.stem}.png", page)


async def notice(update: Update, context: Context, lang: str) -> None:
    """Answer `/notice [N]`: the numbers, then the 通报 (number N, else left blank)."""
    user = update.effective_user
    assert user is not None
    services = services_of(context)
    number = " ".join(context.args or []) or None
    today = services.now().astimezone(services.settings.tz).date()
    try:
        shown_number = notices.parse_number(services, number, today.year)
    except BadInput:
        await tell(update, t(lang, "notice.bad_number"))
        return
    chat_id = await private_chat(update, context, lang)
    if chat_id is None:
        return
    report = await build_report(services=services)
    await context.bot.send_message(
        chat_id,
        t(
            lang,
            "notice.preview",
            time=format_time(report.generated_at, lang),
            number=shown_number,
            **report.totals.model_dump(),
        ),
    )
    async with sending_folder(services) as folder:
        path = folder / stamped_name(services, "notice.bulletin_file")
        done = await notices.write_bulletin(
            services=services, actor_id=user.id, path=path, number=number, via="chat"
        )
        caption = t(lang, "notice.caption_bulletin", **done.totals.model_dump())
        await _send_document(context, chat_id, done.path, caption, lang)


async def urge(update: Update, context: Context, lang: str) -> None:
    """Answer `nt:u:{unit}` with the unit's 催办通知, where the staff member is (privately)."""
    user, query = pressed(update)
    services = services_of(context)
    async with sending_folder(services) as folder:
        [done] = await notices.write_urges(
            services=services,
            actor_id=user.id,
            unit_ids=[matched(context)],
            target=folder,
            via="chat",
        )
        await query.answer(t(lang, "notice.working_urge", unit=done.unit))
        chat_id = query.message.chat.id if query.message is not None else user.id
        caption = t(lang, "notice.caption_urge", unit=done.unit)
        await _send_document(context, chat_id, done.path, caption, lang)


FEATURE = Feature(
    commands=(Command("notice", notice, Audience.STAFF),),
    buttons=(Button(r"^nt:u:(\d+)$", urge, staff=True),),
)
