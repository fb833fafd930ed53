"""Taking the status away: /export (the workbook, and the archive of materials) and /stats.

Both are behind the staff gate; from a group they are sent to the staff member privately.

Buttons: `exp:files`, under a workbook, sends the archive of collected materials.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatAction

from bot.context import Context
from bot.staff.archive import build_archive
from bot.staff.charts import stats_chart
from bot.staff.export import export_workbook
from bot.staff.outputs import sending_folder, stamped_name
from handlers.shared import (
    Audience,
    Button,
    Command,
    Feature,
    edit,
    keyboard,
    pressed,
    private_chat,
    send_file,
    send_picture,
    services_of,
    working,
)
from messages import t


async def export(update: Update, context: Context, lang: str) -> None:
    """`/export`: the status workbook; `/export files`: also the archive of materials."""
    user = update.effective_user
    assert user is not None
    chat_id = await private_chat(update, context, lang)
    if chat_id is None:
        return
    if context.args and context.args[0].lower() in ("files", "archive", "资料", "附件"):
        await send_archive(context, lang, chat_id, user.id)
        return
    services = services_of(context)
    note = await context.bot.send_message(chat_id, t(lang, "export.working"))
    await working(context, chat_id, ChatAction.UPLOAD_DOCUMENT)
    async with sending_folder(services) as folder:
        path = folder / stamped_name(services, "export.file_name")
        done = await export_workbook(services=services, actor_id=user.id, path=path, via="chat")
        await send_file(
            context,
            chat_id,
            done.path,
            t(lang, "export.caption", **done.totals.model_dump()),
            keyboard([[(t(lang, "export.button_files"), "exp:files")]]),
        )
    await edit(note, t(lang, "export.done"), None)


async def send_archive(context: Context, lang: str, chat_id: int, actor_id: int) -> None:
    """Zip the collected materials and send them in parts under the 50 MB upload limit."""
    services = services_of(context)
    note = await context.bot.send_message(chat_id, t(lang, "export.archive_working"))
    await working(context, chat_id, ChatAction.UPLOAD_DOCUMENT)
    async with sending_folder(services) as folder:
        archive = await build_archive(
            services=services, actor_id=actor_id, out_dir=folder, via="chat"
        )
        if archive.files == 0 and not archive.missing:
            await edit(note, t(lang, "export.archive_empty"), None)
            return
        for number, part in enumerate(archive.parts, start=1):
            await working(context, chat_id, ChatAction.UPLOAD_DOCUMENT)
            caption = t(lang, "export.archive_part", number=number, parts=len(archive.parts))
            await send_file(context, chat_id, part.path, caption)
    text = t(lang, "export.archive_done", files=archive.files, parts=len(archive.parts))
    if archive.missing:
        text += t(lang, "export.archive_missing", count=len(archive.missing))
    await edit(note, text, None)


async def stats(update: Update, context: Context, lang: str) -> None:
    """`/stats`: the progress chart, as a picture."""
    user = update.effective_user
    assert user is not None
    chat_id = await private_chat(update, context, lang)
    if chat_id is None:
        return
    services = services_of(context)
    await working(context, chat_id, ChatAction.UPLOAD_PHOTO)
    chart = await stats_chart(services=services, actor_id=user.id, lang=lang)
    caption = t(lang, "stats.caption", **chart.totals.model_dump())
    await send_picture(context, chat_id, chart.png, "stats.png", caption)


async def files_pressed(update: Update, context: Context, lang: str) -> None:
    """The button under a workbook: the archive of the collected materials."""
    user, query = pressed(update)
    await query.answer()
    chat = query.message.chat.id if query.message else user.id
    await send_archive(context, lang, chat, user.id)


FEATURE = Feature(
    commands=(
        Command("export", export, Audience.STAFF),
        Command("stats", stats, Audience.STAFF),
    ),
    buttons=(Button(r"^exp:files$", files_pressed, staff=True),),
)
