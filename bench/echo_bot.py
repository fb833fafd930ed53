"""The baseline: a bare python-telegram-bot echo bot with PTB's defaults, as its own process.

`python -m bench.echo_bot`: reads BOT_TOKEN and TELEGRAM_API_URL, polls with PTB's `Updater`
and its default `HTTPXRequest`, handles one update at a time (PTB's default) and answers each
message with one message (its text, or a word for anything else) and each button press with
answerCallbackQuery. It stops on SIGTERM.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a message with its text (or a word for a file, a contact, a photo)."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(message.text or "收到")


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a button press."""
    if update.callback_query is not None:
        await update.callback_query.answer()


def main() -> None:
    """Poll until SIGTERM."""
    root = os.environ["TELEGRAM_API_URL"]
    app = (
        Application.builder()
        .token(os.environ["BOT_TOKEN"])
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .build()
    )
    app.add_handler(MessageHandler(filters.ALL, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    print("serving (updates: echo)", flush=True)
    app.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
