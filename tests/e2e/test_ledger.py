"""Ledger materials end to end: the bot as a separate process, over HTTP, against the emulator.

Liaisons and staff are written straight into the database (registration is another
feature); everything else happens in the chat.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.demo.simulation import Person
from bot.ledger.checklist import prepare_database, set_deadline
from bot.ledger.report import build_report
from bot.sandbox.client import SandboxClient
from bot.sandbox.models import SentMessage
from bot.sandbox.server import Emulator
from bot.services import Services
from messages import format_date
from storage.db import Database
from storage.models import ChecklistItem, OutboxMessage, Submission, SubmissionFile, Unit
from storage.models import Person as Holder
from tests.support.checklist import item_count, titles
from tests.support.messages import label, mentions, says
from tests.support.process import STAFF_ID, BotProcess
from tests.support.settings import make_settings

pytestmark = pytest.mark.e2e

LIAISON, OTHER_LIAISON, STRANGER = 1001, 2001, 3001
PLAN = "年度工作计划（含双拥工作内容）"
MINUTES = "党组（党委）会议研究部署双拥工作的记录"
EDUCATION = "国防教育和双拥宣传教育活动记录"
AGREEMENT = "与驻地部队签订的结对共建协议"
POLICY = "拥军优属政策落实台账"
PDF = b"%PDF-1.4\n% liaison-bot e2e\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(64)
SUBMIT, DONE = label("ledger.button_submit"), label("ledger.button_done")
SKIP, NOT_APPLICABLE = label("ledger.button_skip"), label("ledger.button_not_applicable")
ITEM_BUTTONS = [DONE, SKIP, NOT_APPLICABLE]
ACCEPT, RETURN = label("review.button_accept"), label("review.button_return")
CARD_BUTTONS = [ACCEPT, RETURN, label("review.button_later")]
RESUBMIT = label("review.button_resubmit")


def state(key: str, **values: object) -> str:
    """An item's state as /status shows it."""
    return label(f"ledger.state_{key}", **values)


@dataclass
class Office:
    """The database as the test sees it, and the people in the chat."""

    services: Services
    bot: BotProcess
    sandbox: SandboxClient
    data_dir: Path
    unit: int  # 市民政局, liaison LIAISON
    other: int  # 市卫健委, liaison OTHER_LIAISON
    items: dict[str, int]
    liaison: Person
    staff: Person

    async def submissions(self) -> list[Submission]:
        async with self.services.db.sessions() as session:
            query = select(Submission).order_by(Submission.id)
            return list((await session.scalars(query)).all())

    async def files(self) -> list[SubmissionFile]:
        async with self.services.db.sessions() as session:
            query = select(SubmissionFile).order_by(SubmissionFile.id)
            return list((await session.scalars(query)).all())


@pytest.fixture
async def office(
    make_bot: Callable[..., BotProcess], sandbox: SandboxClient, tmp_path: Path
) -> AsyncIterator[Office]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    services = Services(settings=make_settings(url), db=Database(url))
    await prepare_database(services)
    now = services.now()
    async with services.db.uow() as tx:
        unit = Unit(name="市民政局", kind="member", created_at=now)
        other = Unit(name="市卫健委", kind="member", created_at=now)
        tx.add_all([unit, other])
        await tx.flush()
        for unit_id, user_id, name in (
            (unit.id, LIAISON, "张伟"),
            (other.id, OTHER_LIAISON, "李娜"),
        ):
            tx.add(
                Holder(
                    unit_id=unit_id,
                    role="liaison",
                    name=name,
                    post="科员",
                    phone="13900000000",
                    telegram_user_id=user_id,
                    since=now,
                    until=None,
                )
            )
        query = select(ChecklistItem).where(ChecklistItem.kind == "member")
        items = {i.title: i.id for i in (await tx.scalars(query)).all()}
        unit_id, other_id = unit.id, other.id
    await set_deadline(services=services, due=date(2026, 12, 31))
    for user_id, name in (
        (LIAISON, "张伟"),
        (OTHER_LIAISON, "李娜"),
        (STRANGER, "路人"),
        (STAFF_ID, "市双拥办"),
    ):
        await sandbox.add_user(user_id=user_id, first_name=name, language_code="zh-hans")
    bot = make_bot(url)
    await bot.start()
    yield Office(
        services=services,
        bot=bot,
        sandbox=sandbox,
        data_dir=tmp_path / "data",
        unit=unit_id,
        other=other_id,
        items=items,
        liaison=Person(sandbox, LIAISON, "张伟"),
        staff=Person(sandbox, STAFF_ID, "市双拥办"),
    )
    await bot.stop()
    await services.close()


def text_of(message: SentMessage) -> str:
    return message.text or message.caption or ""


async def send_document(
    office: Office,
    person: Person,
    file_name: str,
    data: bytes | None = PDF,
    *,
    size: int | None = None,
    caption: str | None = None,
    expect: int = 1,
) -> list[SentMessage]:
    await office.sandbox.send_document(
        person.user_id, file_name=file_name, data=data, size=size, caption=caption
    )
    return await person.wait(expect)


async def send_photo(office: Office, person: Person, data: bytes = JPEG) -> list[SentMessage]:
    await office.sandbox.send_photo(person.user_id, data=data)
    return await person.wait(1)


async def test_documents_photos_and_text_answers(office: Office) -> None:
    liaison = office.liaison
    [status] = await liaison.say("/status")
    assert mentions(status.text, "ledger.status_title", unit="市民政局")
    assert mentions(
        status.text, "ledger.status_deadline", date=format_date(date(2026, 12, 31), "zh")
    )
    assert mentions(status.text, "ledger.status_line", title=PLAN, state=state("missing"))
    owed = item_count("member")
    assert mentions(
        status.text, "ledger.status_summary", total=owed, accepted=0, pending=0, open=owed
    )
    assert status.button_texts() == [SUBMIT]

    [prompt] = await liaison.press(SUBMIT)
    assert mentions(prompt.text, "ledger.prompt", title=PLAN)
    assert "请上传本单位本年度工作计划" in text_of(prompt)  # what is wanted (the checklist's)
    assert prompt.button_texts() == ITEM_BUTTONS
    [ack] = await send_document(office, liaison, "2026年度工作计划.pdf")
    assert says(ack.text, "ledger.file_received", name="2026年度工作计划.pdf", files=1)
    [moved] = await liaison.press(DONE)
    assert mentions(moved.text, "ledger.submitted", title=PLAN)
    assert mentions(moved.text, "ledger.prompt", title=MINUTES)

    [ack] = await send_photo(office, liaison)
    assert says(ack.text, "ledger.file_received", name="photo.jpg", files=1)
    [moved] = await liaison.press(DONE)
    assert mentions(moved.text, "ledger.prompt", title=EDUCATION)

    [ack] = await liaison.say("2026年开展国防教育活动4次，参加人员120人次。")
    assert says(ack.text, "ledger.text_received")
    [moved] = await liaison.press(DONE)
    assert mentions(moved.text, "ledger.submitted", title=EDUCATION)
    [cancelled] = await liaison.say("/cancel")
    assert says(cancelled.text, "common.cancelled")

    [status] = await liaison.say("/status")
    for title in (PLAN, MINUTES, EDUCATION):
        assert mentions(status.text, "ledger.status_line", title=title, state=state("pending"))
    assert mentions(
        status.text, "ledger.status_summary", total=owed, accepted=0, pending=3, open=owed - 3
    )

    submissions = await office.submissions()
    assert [(s.item_id, s.state, s.answer_kind) for s in submissions] == [
        (office.items[PLAN], "pending", "files"),
        (office.items[MINUTES], "pending", "files"),
        (office.items[EDUCATION], "pending", "text"),
    ]
    assert submissions[2].text == "2026年开展国防教育活动4次，参加人员120人次。"
    files = await office.files()
    assert [(f.file_name, f.mime_type) for f in files] == [
        ("2026年度工作计划.pdf", "application/pdf"),
        ("photo.jpg", None),
    ]
    for file, data in zip(files, (PDF, JPEG), strict=True):
        assert file.path is not None
        assert file.path.startswith(f"{office.unit}/{file.item_id}/")
        assert (office.data_dir / file.path).read_bytes() == data
        assert file.sha256 == hashlib.sha256(data).hexdigest()
        assert file.size == len(data)
    # /status and the report agree at this moment.
    report = await build_report(services=office.services)
    mine = next(u for u in report.units if u.name == "市民政局")
    assert mine.pending_review == 3
    assert mine.missing_items == titles("member")
    assert await office.sandbox.warnings() == []


async def test_several_files_for_one_item(office: Office) -> None:
    liaison = office.liaison
    await liaison.say("/submit")
    await send_document(office, liaison, "计划正文.docx", b"PK\x03\x04 docx body")
    await send_document(office, liaison, "计划附件.xlsx", b"PK\x03\x04 xlsx body")
    [ack] = await send_photo(office, liaison)
    assert says(ack.text, "ledger.file_received", files=3)
    await liaison.press(DONE)
    [submission] = await office.submissions()
    files = await office.files()
    assert [f.submission_id for f in files] == [submission.id] * 3
    assert [f.file_name for f in files] == ["计划正文.docx", "计划附件.xlsx", "photo.jpg"]
    assert await office.sandbox.warnings() == []


async def test_too_large_and_wrong_type_are_refused_with_the_reason(office: Office) -> None:
    liaison = office.liaison
    await liaison.say("/submit")
    [big] = await send_document(office, liaison, "全年台账扫描.pdf", None, size=25 * 1024 * 1024)
    assert says(big.text, "files.too_large", name="全年台账扫描.pdf", size="25.0 MB")
    assert big.button_texts() == ITEM_BUTTONS
    [exe] = await send_document(office, liaison, "setup.exe", b"MZ\x90\x00program")
    assert says(exe.text, "files.wrong_type", name="setup.exe")
    [archive] = await send_document(office, liaison, "全部材料.zip", b"PK\x03\x04zip")
    assert says(archive.text, "files.archive", name="全部材料.zip")
    [fake] = await send_document(office, liaison, "看似文档.pdf", b"MZ\x90\x00program")
    assert says(fake.text, "files.executable", name="看似文档.pdf")
    await liaison.say("/cancel")
    # Outside /submit, too.
    [outside] = await send_document(office, liaison, "tool.exe", b"MZ")
    assert says(outside.text, "files.wrong_type", name="tool.exe")

    assert await office.files() == []
    assert await office.submissions() == []
    # Only the disguised program was downloaded (its name looked right), and then deleted.
    assert len(await office.sandbox.calls("getFile")) == 1
    assert not (office.data_dir / str(office.unit)).exists()
    assert await office.sandbox.warnings() == []


async def test_the_same_file_twice_is_recorded_once(office: Office, emulator: Emulator) -> None:
    liaison = office.liaison
    await liaison.say("/submit")
    ref = await office.sandbox.send_document(LIAISON, file_name="计划.pdf", data=PDF)
    await liaison.wait(1)
    assert ref.file_id is not None
    stored = emulator.state.files[ref.file_id]

    # The client cannot send a file again with its file_unique_id (as Telegram does when a
    # person forwards or re-sends a file), so the test puts that message in the emulator itself.
    emulator.state.user_message(LIAISON, None, "document", files=[stored])
    [again] = await liaison.wait(1)
    assert says(again.text, "ledger.file_duplicate", name="计划.pdf", files=1)
    # The same bytes uploaded anew (another file_unique_id): recognised by SHA-256.
    [same] = await send_document(office, liaison, "计划（副本）.pdf")
    assert says(same.text, "ledger.file_duplicate", files=1)
    assert len(await office.files()) == 1
    await liaison.press(DONE)

    # Sent back: the same file again is a new submission.
    [first] = await office.submissions()
    await office.staff.say("/review", expect=2)
    await office.staff.press(RETURN)
    await office.staff.say("请补充盖章页", expect=2)
    await liaison.wait(1)  # the notice of the send-back
    await liaison.press(RESUBMIT)
    emulator.state.user_message(LIAISON, None, "document", files=[stored])
    [ack] = await liaison.wait(1)
    assert says(ack.text, "ledger.file_received", name="计划.pdf", files=1)
    await liaison.press(DONE)
    files = await office.files()
    assert [f.file_unique_id for f in files] == [stored.file_unique_id] * 2
    second = [s for s in await office.submissions() if s.id != first.id]
    assert [(s.state, s.id) for s in second] == [("pending", files[1].submission_id)]
    assert await office.sandbox.warnings() == []


async def test_sent_back_and_resubmitted(office: Office) -> None:
    liaison, staff = office.liaison, office.staff
    await liaison.say("/submit")
    await send_document(office, liaison, "计划.pdf")
    await liaison.press(DONE)
    await liaison.say("/cancel")
    reason = "计划中缺少双拥工作内容，请补充后重新报送。"

    [resent, card] = await staff.say("/review", expect=2)
    assert resent.kind == "document"
    assert resent.files[0].file_name == "计划.pdf"
    assert says(resent.caption, "review.file_caption", unit="市民政局", title=PLAN)
    assert mentions(card.text, "review.card", unit="市民政局", title=PLAN)
    submitter = label("review.card_submitter_role", name="张伟", role=label("common.role_liaison"))
    assert mentions(card.text, "review.card", submitter=submitter)
    assert card.button_texts() == CARD_BUTTONS
    [ask] = await staff.press(RETURN)
    assert says(ask.text, "review.ask_reason", unit="市民政局", title=PLAN)
    [done, nothing] = await staff.say(reason, expect=2)
    assert says(done.text, "review.returned", unit="市民政局", title=PLAN, reason=reason)
    assert says(nothing.text, "review.nothing")

    [notice] = await liaison.wait(1)  # through the outbox
    assert says(notice.text, "review.notice_returned", unit="市民政局", title=PLAN, reason=reason)
    assert notice.button_texts() == [RESUBMIT]
    [status] = await liaison.say("/status")
    assert mentions(
        status.text, "ledger.status_line", title=PLAN, state=state("returned", reason=reason)
    )

    [prompt] = await liaison.press(RESUBMIT)
    assert mentions(prompt.text, "ledger.prompt", title=PLAN)
    assert mentions(prompt.text, "ledger.prompt_returned", reason=reason)
    await send_document(office, liaison, "计划（修改稿）.pdf", PDF + b"% revised\n")
    await liaison.press(DONE)

    [unknown] = await staff.say("/review 不存在的单位")
    assert says(unknown.text, "common.unit_not_found", name="不存在的单位")
    [resent, card] = await staff.say("/review 民政", expect=2)  # one unit, by part of its name
    assert resent.files[0].file_name == "计划（修改稿）.pdf"
    assert mentions(card.text, "review.card_returned_before", count=1)
    [accepted, nothing] = await staff.press(ACCEPT, expect=2)
    assert says(accepted.text, "review.accepted", unit="市民政局", title=PLAN)
    [notice] = await liaison.wait(1)
    assert says(notice.text, "review.notice_accepted", unit="市民政局", title=PLAN)
    [status] = await liaison.say("/status")
    assert mentions(status.text, "ledger.status_line", title=PLAN, state=state("accepted"))

    report = await build_report(services=office.services)
    mine = next(u for u in report.units if u.name == "市民政局")
    assert PLAN not in mine.missing_items
    assert len(mine.missing_items) == item_count("member") - 1
    assert [(s.state, s.review_note) for s in await office.submissions()] == [
        ("returned", "计划中缺少双拥工作内容，请补充后重新报送。"),
        ("accepted", None),
    ]
    async with office.services.db.sessions() as session:
        keys = (await session.scalars(select(OutboxMessage.dedupe_key))).all()
    assert len(keys) == 2
    assert all(k.startswith("review:") and k.endswith(f":{LIAISON}") for k in keys)
    assert await office.sandbox.warnings() == []


async def test_a_file_outside_submit_is_matched_to_its_item(office: Office) -> None:
    liaison = office.liaison
    [ask] = await send_document(office, liaison, "协议.pdf", caption="已盖章")
    assert says(ask.text, "ledger.stray_ask_guess", names="协议.pdf", title=AGREEMENT)
    buttons = ask.button_texts()
    confirm = label("ledger.stray_button_confirm", title=AGREEMENT)
    assert buttons[0] == confirm
    assert PLAN in buttons
    assert buttons[-1] == label("ledger.stray_button_drop")
    assert await office.sandbox.calls("getFile") == []  # nothing downloaded before the choice
    [placed] = await liaison.press(confirm)
    assert mentions(placed.text, "ledger.stray_placed", count=1, title=AGREEMENT, files=1)
    assert placed.button_texts() == ITEM_BUTTONS
    [moved] = await liaison.press(DONE)
    assert mentions(moved.text, "ledger.submitted", title=AGREEMENT)
    [file] = await office.files()
    assert file.item_id == office.items[AGREEMENT]

    # Another file, filed under another item by choice.
    await liaison.say("/cancel")
    [ask] = await send_document(office, liaison, "IMG_0001.pdf")
    assert says(ask.text, "ledger.stray_ask", names="IMG_0001.pdf")
    await liaison.press(MINUTES)
    files = await office.files()
    assert files[-1].item_id == office.items[MINUTES]
    # Not kept when the person says so.
    await liaison.say("/cancel")
    await send_document(office, liaison, "随手拍.pdf")
    [dropped] = await liaison.press(label("ledger.stray_button_drop"))
    assert says(dropped.text, "ledger.stray_dropped")
    assert len(await office.files()) == 2
    assert await office.sandbox.warnings() == []


async def test_not_applicable_with_a_reason(office: Office) -> None:
    liaison = office.liaison
    await liaison.say("/submit")
    members = titles("member")
    for _ in range(members.index(POLICY)):  # on to the policy ledger
        await liaison.press(SKIP)
    [ask] = await liaison.press(NOT_APPLICABLE)
    assert says(ask.text, "ledger.not_applicable_ask", title=POLICY)
    [short] = await liaison.say("无")
    assert says(short.text, "ledger.reason_invalid", min=2, max=500)
    [moved] = await liaison.say("本单位无拥军优属政策职能，经市双拥办同意不设台账。")
    assert mentions(moved.text, "ledger.submitted", title=POLICY)
    for later in members[members.index(POLICY) + 1 :]:  # items after it, if any: skipped too
        assert mentions(moved.text, "ledger.prompt", title=later)
        [moved] = await liaison.press(SKIP)
    assert mentions(moved.text, "ledger.walk_skipped")
    [status] = await liaison.say("/status")
    not_applicable = state("not_applicable_pending")
    assert mentions(status.text, "ledger.status_line", title=POLICY, state=not_applicable)
    [submission] = await office.submissions()
    assert (submission.answer_kind, submission.state) == ("not_applicable", "pending")
    assert submission.text == "本单位无拥军优属政策职能，经市双拥办同意不设台账。"
    [card] = await office.staff.say("/review")
    assert mentions(
        card.text,
        "review.card_not_applicable",
        text="本单位无拥军优属政策职能，经市双拥办同意不设台账。",
    )
    assert await office.sandbox.warnings() == []


async def test_a_submission_in_progress_survives_kill_9(office: Office) -> None:
    liaison = office.liaison
    await liaison.say("/submit")
    await liaison.press(SKIP)
    [ack] = await send_document(office, liaison, "会议记录第一页.pdf")
    assert says(ack.text, "ledger.file_received", files=1)

    await office.bot.kill()
    await office.bot.start()

    [ack] = await send_document(office, liaison, "会议记录第二页.pdf", PDF + b"% p2\n")
    assert says(ack.text, "ledger.file_received", name="会议记录第二页.pdf", files=2)
    [moved] = await liaison.press(DONE)
    assert mentions(moved.text, "ledger.submitted", title=MINUTES)
    [submission] = await office.submissions()
    assert submission.item_id == office.items[MINUTES]
    files = await office.files()
    assert [f.file_name for f in files] == ["会议记录第一页.pdf", "会议记录第二页.pdf"]
    assert all(f.path and (office.data_dir / f.path).exists() for f in files)
    assert await office.sandbox.warnings() == []


async def test_a_liaison_cannot_see_or_submit_another_units_items(office: Office) -> None:
    other = Person(office.sandbox, OTHER_LIAISON, "李娜")
    [status] = await other.say("/status")
    assert mentions(status.text, "ledger.status_title", unit="市卫健委")
    assert "市民政局" not in text_of(status)
    for data in (f"sub:start:{office.unit}", f"sub:go:{office.unit}:{office.items[PLAN]}"):
        await office.sandbox.press(
            OTHER_LIAISON, message_id=status.message_id, data=data, force=True
        )
        [refused] = await other.wait(1)
        assert says(refused.text, "ledger.not_your_unit")
    # A file held outside /submit cannot be filed under the other unit's item either.
    [ask] = await send_document(office, other, "计划.pdf")
    await office.sandbox.press(
        OTHER_LIAISON,
        message_id=ask.message_id,
        data=f"sf:{office.unit}:{office.items[PLAN]}",
        force=True,
    )
    [refused] = await other.wait(1)
    assert says(refused.text, "ledger.not_your_unit")
    # Someone with no role at all.
    stranger = Person(office.sandbox, STRANGER, "路人")
    [status] = await stranger.say("/status")
    assert says(status.text, "ledger.not_member")
    await office.sandbox.press(
        STRANGER, message_id=status.message_id, data="sub:start:1", force=True
    )
    [refused] = await stranger.wait(1)
    assert says(refused.text, "ledger.not_your_unit")

    assert await office.submissions() == []
    assert await office.sandbox.calls("getFile") == []
    assert await office.sandbox.warnings() == []


async def test_a_non_staff_user_is_refused_review(office: Office) -> None:
    liaison = office.liaison
    await liaison.say("/submit")
    await send_document(office, liaison, "计划.pdf")
    [moved] = await liaison.press(DONE)
    await liaison.say("/cancel")
    [refused] = await liaison.say("/review")
    assert says(refused.text, "common.staff_only")
    [submission] = await office.submissions()
    # A forged decision button changes nothing and tells nothing.
    await office.sandbox.press(
        LIAISON, message_id=moved.message_id, data=f"rv:ok:{submission.id}", force=True
    )
    answers = await office.sandbox.wait_callback_answers(2)
    assert says(answers[-1].text, "common.staff_only")
    [after] = await office.submissions()
    assert after.state == "pending"
    assert len(await office.sandbox.messages(LIAISON)) == liaison.seen
    assert await office.sandbox.warnings() == []


async def test_review_asked_in_a_group_is_answered_privately(office: Office) -> None:
    liaison, staff, sandbox = office.liaison, office.staff, office.sandbox
    await liaison.say("/submit")
    await send_document(office, liaison, "计划.pdf")
    await liaison.press(DONE)
    await liaison.say("/cancel")
    group = await sandbox.add_group("联络员工作群", [STAFF_ID, LIAISON])

    # The staff member has never opened the private chat: told so in the group, nothing else.
    await sandbox.send_text(STAFF_ID, "/review", chat_id=group.id)
    [first] = await sandbox.wait_messages(group.id, 1)
    assert says(first.text, "review.open_private_first")
    assert await sandbox.messages(STAFF_ID) == []

    await staff.say("/start")
    await sandbox.send_text(STAFF_ID, "/review 民政", chat_id=group.id)
    [resent, card] = await staff.wait(2)
    assert resent.files[0].file_name == "计划.pdf"
    assert mentions(card.text, "review.card", unit="市民政局")
    assert card.button_texts() == CARD_BUTTONS
    messages = await sandbox.wait_messages(group.id, 2)
    assert says(messages[-1].text, "review.sent_privately")
    assert len(messages) == 2  # the materials are not in the group
    [accepted, nothing] = await staff.press(ACCEPT, expect=2)
    assert says(accepted.text, "review.accepted", unit="市民政局")
    assert says(nothing.text, "review.nothing")
    assert [s.state for s in await office.submissions()] == ["accepted"]
    assert await sandbox.warnings() == []
