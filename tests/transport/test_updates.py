"""An update as the transport hands it to the handlers."""

from __future__ import annotations

from telegram import Bot

from bot.transport.intake import update_from
from tests.support.process import TOKEN


def test_nul_characters_are_removed_before_anything_reads_the_update() -> None:
    """PostgreSQL refuses NUL in text: an answer holding one could never be saved, and the
    update ended as a dead letter with the answer lost."""
    data = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 1_764_900_000,
            "chat": {"id": 1001, "type": "private"},
            "from": {"id": 1001, "is_bot": False, "first_name": "梁\x00敏"},
            "text": "本年度召开\x00双拥工作会议2次。\x00",
            "entities": [{"type": "bold", "offset": 0, "length": 2}],
        },
    }
    update = update_from(data, Bot(TOKEN))
    assert update.message is not None
    assert update.message.text == "本年度召开双拥工作会议2次。"
    assert update.message.from_user is not None
    assert update.message.from_user.first_name == "梁敏"
    assert update.message.entities[0].length == 2  # the rest is as Telegram sent it
