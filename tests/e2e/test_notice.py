"""/notice and the 催办通知 button, end to end: the bot as a process against the emulator."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import pytest

from bot.sandbox.client import SandboxClient
from bot.staff.documents.preview import can_preview
from tests.support.office import Office, start_office, text
from tests.support.process import STAFF_ID, BotProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def office(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Office]:
    made, services = await start_office(make_bot, sandbox, tmp_path)
    yield made
    await services.close()


def document_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


async def test_notice_sends_the_numbers_then_the_bulletin(office: Office) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    pictures = 1 if can_preview() else 0
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    preview, document, *picture = await staff.say("/notice 8", expect=2 + pictures)
    assert "13家单位未报送分管领导和联络员；25家单位资料台账未报齐" in text(preview)
    assert f"固双拥办发〔{year}〕8号" in text(preview)
    assert document.kind == "document"
    name = document.files[0].file_name or ""
    assert name.startswith("双拥工作情况通报_")
    assert name.endswith(".docx")
    assert "13家单位未报送分管领导和联络员" in text(document)
    content = document_text(await sandbox.file_bytes(document.files[0].file_id))
    assert f"固双拥办发〔{year}〕8号" in content
    assert "关于双拥工作联络员和资料台账\n报送情况的通报" in content
    assert "13家单位未报送分管领导和联络员，25家单位资料台账未报齐" in content
    assert "泾源县" in content
    if pictures:
        [page] = picture
        assert page.kind == "photo"
        assert text(page) == "第1页预览"
        png = await sandbox.file_bytes(page.files[-1].file_id)
        assert png.startswith(b"\x89PNG")

    [refused] = await staff.say("/notice 八号")
    assert text(refused).startswith("文号应为数字")
    assert await sandbox.warnings() == []


async def test_the_unit_card_offers_its_urging_notice(office: Office) -> None:
    sandbox = office.sandbox
    staff = await office.person(STAFF_ID, "市双拥办")
    [card] = await staff.say("/unit 泾源县")
    assert "催办通知（Word）" in card.button_texts()
    pictures = 1 if can_preview() else 0
    document, *_ = await staff.press("催办通知（Word）", expect=1 + pictures)
    assert document.kind == "document"
    assert text(document) == "泾源县催办通知，核对后可直接打印、签发。"
    content = document_text(await sandbox.file_bytes(document.files[0].file_id))
    assert "泾源县：" in content
    assert "贵单位尚未登记联络员" in content
    assert "https://t.me/liaison_test_bot?start=" in content  # its own invite link
    for other in ("原州区", "西吉县", "市民政局", "市文旅局"):
        assert other not in content
    # A complete unit has nothing to urge: no button.
    [complete] = await staff.say("/unit 市卫健委")
    assert "催办通知（Word）" not in complete.button_texts()
    assert await sandbox.warnings() == []
