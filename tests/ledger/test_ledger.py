"""Ledger use-cases on a real database: states, submitting, files once, review, rights."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import roster
from bot.clock import FrozenClock
from bot.conversations import current_step
from bot.enums import ItemState
from bot.errors import NotStaff
from bot.importing import parse_checklist
from bot.ledger import checklist, errors, permissions, review, stray, submitting
from bot.ledger.checklist import default_checklist_path
from bot.ledger.files import FileRefused, IncomingFile
from bot.ledger.report import build_report
from bot.ledger.status import UnitObligations, load_obligations
from bot.services import Services
from storage.models import (
    AuditEvent,
    ChecklistItem,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)
from tests.support.checklist import item_count, titles
from tests.support.concurrency import interleaved
from tests.support.factories import add_submission, add_unit, items_for
from tests.support.messages import label, says

LIAISON, LEAD, OTHER_LIAISON, STRANGER, STAFF = 1001, 1002, 2001, 3001, 900
AGREEMENT = "与驻地部队签订的结对共建协议"
PLAN = "年度工作计划（含双拥工作内容）"
MINUTES = "党组（党委）会议研究部署双拥工作的记录"


@dataclass
class World:
    services: Services
    unit: int  # 市民政局: liaison LIAISON, lead LEAD (linked)
    other: int  # 市卫健委: liaison OTHER_LIAISON
    items: dict[str, int]  # member items by title
    fetched: list[str]

    async def fetch(self, file_id: str) -> bytes:
        self.fetched.append(file_id)
        return content_of(file_id)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def content_of(file_id: str) -> bytes:
    if file_id.startswith("SAME"):
        return b"%PDF-1.4 the same bytes"
    return b"%PDF-1.4 " + file_id.encode()


def doc(n: int, name: str = "材料.pdf", *, unique: str | None = None) -> IncomingFile:
    return IncomingFile(
        kind="document",
        file_id=f"BQAC{n}",
        file_unique_id=unique or f"AQAD{n}",
        file_name=name,
        mime_type="application/pdf",
        size=1000,
    )


def pic(n: int) -> IncomingFile:
    return IncomingFile(kind="photo", file_id=f"AgAC{n}", file_unique_id=f"AQADp{n}", size=5000)


@pytest.fixture
async def world(services: Services) -> World:
    now = services.now()
    async with services.db.uow() as tx:
        unit = Unit(name="市民政局", kind="member", created_at=now)
        other = Unit(name="市卫健委", kind="member", created_at=now)
        tx.add_all([unit, other])
        await tx.flush()
        for unit_id, role, user_id in (
            (unit.id, "liaison", LIAISON),
            (unit.id, "lead", LEAD),
            (other.id, "liaison", OTHER_LIAISON),
        ):
            tx.add(
                Person(
                    unit_id=unit_id,
                    role=role,
                    name="张伟" if user_id == LIAISON else "李强",
                    post="科员",
                    phone="13800000000",
                    telegram_user_id=user_id,
                    since=now,
                    until=None,
                )
            )
        items = {
            i.title: i.id
            for i in (
                await tx.scalars(select(ChecklistItem).where(ChecklistItem.kind == "member"))
            ).all()
        }
        unit_id, other_id = unit.id, other.id
    return World(services, unit_id, other_id, items, [])


async def status_of(w: World, unit_id: int | None = None) -> UnitObligations:
    return await permissions.unit_ledger(
        services=w.services, actor_id=STAFF, unit_id=unit_id or w.unit
    )


async def assert_agrees_with_report(w: World) -> None:
    """/status and report --json show the same state at the same moment."""
    report = await build_report(services=w.services)
    for unit_id in (w.unit, w.other):
        mine = await status_of(w, unit_id)
        theirs = next(u for u in report.units if u.name == mine.name)
        assert mine.missing_items == theirs.missing_items
        assert mine.pending_review == theirs.pending_review
        assert mine.deadline == theirs.deadline


async def submit_file(w: World, title: str, *incoming: IncomingFile, actor: int = LIAISON) -> int:
    for file in incoming:
        await submitting.receive_file(
            services=w.services,
            actor_id=actor,
            unit_id=w.unit,
            item_id=w.items[title],
            incoming=file,
            fetch=w.fetch,
        )
    await submitting.finish_item(
        services=w.services, actor_id=actor, unit_id=w.unit, item_id=w.items[title]
    )
    state = await status_of(w)
    found = next(i for i in state.items if i.title == title)
    assert found.submission_id is not None
    return found.submission_id


async def count(w: World, model: type[SubmissionFile] | type[OutboxMessage]) -> int:
    async with w.services.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_new_unit_owes_every_item_and_agrees_with_the_report(world: World) -> None:
    state = await status_of(world)
    assert [i.title for i in state.items] == titles("member")
    assert [i.state for i in state.items] == [ItemState.MISSING] * item_count("member")
    assert state.items[0].title == PLAN
    assert state.items[0].description.startswith("请上传本单位本年度工作计划")
    assert len(state.open_items) == item_count("member")
    await assert_agrees_with_report(world)


async def test_walk_through_the_open_items_one_at_a_time(world: World) -> None:
    step = await submitting.start_submission(
        services=world.services, actor_id=LIAISON, unit_id=world.unit
    )
    assert step.item is not None
    assert step.item.title == PLAN
    assert step.open_count == item_count("member")
    saved = await current_step(services=world.services, user_id=LIAISON)
    assert saved is not None
    assert (saved.flow, saved.step) == ("submit", "item")
    assert saved.data["item_id"] == world.items[PLAN]
    step = await submitting.skip_item(
        services=world.services, actor_id=LIAISON, unit_id=world.unit, item_id=world.items[PLAN]
    )
    assert step.item is not None
    assert step.item.title == MINUTES
    assert step.skipped == [PLAN]
    for _ in range(item_count("member") - 1):
        assert step.item is not None
        step = await submitting.skip_item(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=step.item.item_id,
        )
    assert step.item is None
    assert step.skipped == titles("member")
    assert await current_step(services=world.services, user_id=LIAISON) is None


async def test_files_then_complete_sends_the_item_to_review(world: World) -> None:
    await submitting.start_submission(
        services=world.services, actor_id=LIAISON, unit_id=world.unit
    )
    first = await submitting.receive_file(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=world.items[PLAN],
        incoming=doc(1, "计划.pdf"),
        fetch=world.fetch,
    )
    second = await submitting.receive_file(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=world.items[PLAN],
        incoming=pic(2),
        fetch=world.fetch,
    )
    assert (first.files, second.files) == (1, 2)
    draft = await status_of(world)
    assert draft.items[0].state == ItemState.MISSING
    assert draft.items[0].draft_files == 2
    step = await submitting.finish_item(
        services=world.services, actor_id=LIAISON, unit_id=world.unit, item_id=world.items[PLAN]
    )
    assert step.submitted == PLAN
    assert step.item is not None
    assert step.item.title == MINUTES
    state = await status_of(world)
    assert state.items[0].state == ItemState.PENDING
    assert state.pending_review == 1
    assert PLAN in state.missing_items
    await assert_agrees_with_report(world)
    async with world.services.db.sessions() as session:
        rows = (await session.scalars(select(SubmissionFile).order_by(SubmissionFile.id))).all()
        submission = await session.get(Submission, rows[0].submission_id)
    assert submission is not None
    assert (submission.state, submission.answer_kind) == ("pending", "files")
    assert [r.file_name for r in rows] == ["计划.pdf", "photo.jpg"]
    assert [r.mime_type for r in rows] == ["application/pdf", None]
    data_dir = world.services.settings.data_dir
    for row in rows:
        assert row.path is not None
        assert row.path.startswith(f"{world.unit}/{world.items[PLAN]}/")
        assert (data_dir / row.path).read_bytes() == content_of(row.file_id)
        assert row.sha256 is not None
        assert len(row.sha256) == 64


async def test_complete_with_nothing_received_is_refused(world: World) -> None:
    await submitting.start_submission(
        services=world.services, actor_id=LIAISON, unit_id=world.unit
    )
    with pytest.raises(errors.NothingReceived):
        await submitting.finish_item(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=world.items[PLAN],
        )
    assert (await status_of(world)).items[0].state == ItemState.MISSING


async def test_a_text_answer_in_several_messages(world: World) -> None:
    for part in ("2026年开展活动3次。", "参加人员42人次。"):
        out = await submitting.add_text(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=world.items[MINUTES],
            text=part,
        )
    assert out.text_chars == len("2026年开展活动3次。\n参加人员42人次。")
    await submitting.finish_item(
        services=world.services, actor_id=LIAISON, unit_id=world.unit, item_id=world.items[MINUTES]
    )
    async with world.services.db.sessions() as session:
        submission = await session.scalar(select(Submission))
    assert submission is not None
    assert submission.answer_kind == "text"
    assert submission.text == "2026年开展活动3次。\n参加人员42人次。"
    with pytest.raises(errors.AnswerTooLong):
        await submitting.add_text(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=world.items[PLAN],
            text="字" * 3001,
        )


async def test_the_same_file_twice_is_recorded_once(world: World) -> None:
    item = world.items[PLAN]
    once = await submitting.receive_file(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=item,
        incoming=doc(1, unique="AQADsame"),
        fetch=world.fetch,
    )
    again = await submitting.receive_file(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=item,
        incoming=doc(2, "另存.pdf", unique="AQADsame"),
        fetch=world.fetch,
    )
    assert once.added
    assert not again.added
    assert again.duplicate_of == "材料.pdf"
    assert world.fetched == ["BQAC1"]  # the duplicate was not even downloaded
    # The same bytes under another file_unique_id: downloaded, found by SHA-256, dropped.
    same_bytes = [doc(10, unique="AQADx"), doc(11, unique="AQADy")]
    same_bytes[0].file_id, same_bytes[1].file_id = "SAME1", "SAME2"
    outcomes = [
        await submitting.receive_file(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=item,
            incoming=f,
            fetch=world.fetch,
        )
        for f in same_bytes
    ]
    assert [o.added for o in outcomes] == [True, False]
    assert await count(world, SubmissionFile) == 2
    assert len(listing(world.services.settings.data_dir / str(world.unit) / str(item))) == 2


async def test_sent_back_then_the_same_file_is_a_new_submission(world: World) -> None:
    first = await submit_file(world, AGREEMENT, doc(1, "协议.pdf"))
    decision = await review.return_submission(
        services=world.services, actor_id=STAFF, submission_id=first, reason="缺少盖章页"
    )
    assert not decision.accepted
    state = await status_of(world)
    returned = next(i for i in state.items if i.title == AGREEMENT)
    assert returned.state == ItemState.RETURNED
    assert returned.reason == "缺少盖章页"
    assert AGREEMENT in state.missing_items
    assert [(o.title, o.state, o.reason) for o in state.open_items if o.title == AGREEMENT] == [
        (AGREEMENT, "returned", "缺少盖章页")
    ]
    await assert_agrees_with_report(world)
    second = await submit_file(world, AGREEMENT, doc(1, "协议.pdf"))
    assert second != first
    async with world.services.db.sessions() as session:
        files = (await session.scalars(select(SubmissionFile))).all()
    assert sorted(f.submission_id for f in files) == sorted([first, second])
    assert {f.file_unique_id for f in files} == {"AQAD1"}
    state = await status_of(world)
    assert next(i for i in state.items if i.title == AGREEMENT).state == ItemState.PENDING
    await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=second)
    state = await status_of(world)
    assert next(i for i in state.items if i.title == AGREEMENT).state == ItemState.ACCEPTED
    assert AGREEMENT not in state.missing_items
    await assert_agrees_with_report(world)


async def test_the_unit_is_told_through_the_outbox_and_the_decision_audited(
    world: World,
) -> None:
    sid = await submit_file(world, PLAN, doc(1), actor=LEAD)
    decision = await review.accept_submission(
        services=world.services, actor_id=STAFF, submission_id=sid
    )
    assert decision.notified == 2  # the lead who submitted, and the liaison
    again = await review.return_submission(
        services=world.services, actor_id=STAFF, submission_id=await submit_file(
            world, MINUTES, doc(2)
        ), reason="请补充会议纪要",
    )  # fmt: skip
    assert again.notified == 1  # the liaison submitted it
    async with world.services.db.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        audit = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("review_%"))
            )
        ).all()
    assert [(r.dedupe_key, r.chat_id, r.purpose) for r in rows] == [
        (f"review:{sid}:{LEAD}", LEAD, "review"),
        (f"review:{sid}:{LIAISON}", LIAISON, "review"),
        (f"review:{again.submission_id}:{LIAISON}", LIAISON, "review"),
    ]
    assert says(rows[0].payload["text"], "review.notice_accepted", unit="市民政局", title=PLAN)
    returned = rows[2].payload
    assert says(returned["text"], "review.notice_returned", reason="请补充会议纪要")
    button = returned["reply_markup"]["inline_keyboard"][0][0]
    assert button == {
        "text": label("review.button_resubmit"),
        "callback_data": f"sub:go:{world.unit}:{world.items[MINUTES]}",
    }
    assert audit == ["review_accept", "review_return"]


async def test_a_decision_is_taken_once(world: World) -> None:
    sid = await submit_file(world, PLAN, doc(1))
    await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=sid)
    with pytest.raises(errors.AlreadyReviewed) as refused:
        await review.return_submission(
            services=world.services, actor_id=STAFF, submission_id=sid, reason="重复操作"
        )
    # What became of it, when and by whom: what the second reviewer is told.
    assert refused.value.values == {
        "state": "accepted", "not_applicable": False, "by": STAFF, "by_name": None,
        "at": world.services.now(), "reason": None,
    }  # fmt: skip
    with pytest.raises(errors.SubmissionGone):
        await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=999)
    assert await count(world, OutboxMessage) == 1  # the liaison, told once


async def test_not_applicable_asks_a_reason_and_goes_to_review(world: World) -> None:
    policy = "拥军优属政策落实台账"
    await submitting.start_submission(
        services=world.services, actor_id=LIAISON, unit_id=world.unit, item_id=world.items[policy]
    )
    await submitting.ask_not_applicable(
        services=world.services, actor_id=LIAISON, unit_id=world.unit, item_id=world.items[policy]
    )
    saved = await current_step(services=world.services, user_id=LIAISON)
    assert saved is not None
    assert saved.step == "na_reason"
    with pytest.raises(errors.BadReason):
        await submitting.declare_not_applicable(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=world.items[policy],
            reason=" ",
        )
    await submitting.declare_not_applicable(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=world.items[policy],
        reason="本单位无优抚政策职能",
    )
    state = await status_of(world)
    item = next(i for i in state.items if i.title == policy)
    assert item.state == ItemState.NOT_APPLICABLE_PENDING
    assert item.reason == "本单位无优抚政策职能"
    await assert_agrees_with_report(world)
    card = await review.next_review(services=world.services, actor_id=STAFF)
    assert card is not None
    assert (card.answer_kind, card.text) == ("not_applicable", "本单位无优抚政策职能")
    await review.accept_submission(
        services=world.services, actor_id=STAFF, submission_id=card.submission_id
    )
    assert policy not in (await status_of(world)).missing_items
    await assert_agrees_with_report(world)
    # Done as accepted material is done, but told apart from it, with the unit's reason, in
    # the detailed read model and in the lean one alike.
    agreed = next(i for i in (await status_of(world)).items if i.title == policy)
    assert (agreed.state, agreed.shown_state, agreed.reason) == (
        ItemState.ACCEPTED, "not_applicable_accepted", "本单位无优抚政策职能",
    )  # fmt: skip
    async with world.services.db.sessions() as session:
        [lean] = await load_obligations(session, [world.unit], detail=False)
    [lean_item] = [i for i in lean.items if i.title == policy]
    assert (lean_item.state, lean_item.shown_state) == (ItemState.ACCEPTED, agreed.shown_state)
    assert lean.accepted == (await status_of(world)).accepted == 1
    # The unit is told the office agreed it does not apply, not that its material "passed".
    async with world.services.db.sessions() as session:
        [notice] = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "review"))
        ).all()
    assert says(notice.payload["text"], "review.notice_na_accepted", title=policy)


async def test_review_queue_oldest_first_with_files(world: World, clock: FrozenClock) -> None:
    first = await submit_file(world, PLAN, doc(1, "计划.pdf"), pic(2))
    clock.advance(timedelta(minutes=5))
    second = await submit_file(world, MINUTES, doc(3))
    card = await review.next_review(services=world.services, actor_id=STAFF)
    assert card is not None
    assert card.submission_id == first
    assert card.waiting == 2
    assert (card.submitter, card.submitter_role) == ("张伟", "liaison")
    assert [(f.file_id, f.photo) for f in card.files] == [("BQAC1", False), ("AgAC2", True)]
    later = await review.next_review(services=world.services, actor_id=STAFF, after=first)
    assert later is not None
    assert later.submission_id == second
    assert await review.next_review(services=world.services, actor_id=STAFF, after=second) is None


async def test_a_forwarded_file_shows_staff_where_it_came_from(world: World) -> None:
    forwarded = doc(1, "协议.pdf").model_copy(update={"forwarded_from": "市卫健委工作群"})
    await submit_file(world, AGREEMENT, forwarded, doc(2, "照片.pdf"))
    card = await review.next_review(services=world.services, actor_id=STAFF)
    assert card is not None
    assert [(f.file_name, f.forwarded_from) for f in card.files] == [
        ("协议.pdf", "市卫健委工作群"),
        ("照片.pdf", None),
    ]


async def test_only_staff_review(world: World) -> None:
    sid = await submit_file(world, PLAN, doc(1))
    for call in (
        review.next_review(services=world.services, actor_id=LIAISON),
        review.accept_submission(services=world.services, actor_id=LIAISON, submission_id=sid),
        review.ask_return_reason(services=world.services, actor_id=LIAISON, submission_id=sid),
    ):
        with pytest.raises(NotStaff):
            await call
    assert (await status_of(world)).items[0].state == ItemState.PENDING


async def test_nobody_acts_for_a_unit_they_do_not_hold(world: World) -> None:
    with pytest.raises(errors.NotYourUnit):
        await submitting.start_submission(
            services=world.services, actor_id=OTHER_LIAISON, unit_id=world.unit
        )
    with pytest.raises(errors.NotYourUnit):
        await permissions.unit_ledger(
            services=world.services, actor_id=OTHER_LIAISON, unit_id=world.unit
        )
    with pytest.raises(errors.NotYourUnit):
        await submitting.receive_file(
            services=world.services,
            actor_id=OTHER_LIAISON,
            unit_id=world.unit,
            item_id=world.items[PLAN],
            incoming=doc(1),
            fetch=world.fetch,
        )
    with pytest.raises(errors.NotAMember):
        await permissions.my_ledgers(services=world.services, actor_id=STRANGER)
    assert world.fetched == []
    mine = await permissions.my_ledgers(services=world.services, actor_id=OTHER_LIAISON)
    assert [m.name for m in mine] == ["市卫健委"]


async def test_a_refused_file_stores_nothing(world: World) -> None:
    exe = IncomingFile(
        kind="document",
        file_id="BQACexe",
        file_unique_id="AQADexe",
        file_name="setup.exe",
        mime_type="application/x-msdownload",
        size=1000,
    )
    with pytest.raises(FileRefused):
        await submitting.receive_file(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=world.items[PLAN],
            incoming=exe,
            fetch=world.fetch,
        )
    assert world.fetched == []
    assert await count(world, SubmissionFile) == 0


async def test_a_file_outside_submit_is_matched_and_placed(world: World) -> None:
    held = await stray.hold_stray_file(
        services=world.services, actor_id=LIAISON, incoming=doc(1, "协议.pdf")
    )
    assert held.guess is not None
    assert held.guess.title == AGREEMENT
    assert len(held.candidates) == item_count("member")
    assert world.fetched == []
    saved = await current_step(services=world.services, user_id=LIAISON)
    assert saved is not None
    assert saved.flow == "stray"
    placed = await stray.place_held_files(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=world.items[AGREEMENT],
        fetch=world.fetch,
    )
    assert placed.added == 1
    assert placed.draft.files == 1
    assert placed.step.item is not None
    assert placed.step.item.title == AGREEMENT
    saved = await current_step(services=world.services, user_id=LIAISON)
    assert saved is not None
    assert (saved.flow, saved.data["item_id"]) == ("submit", world.items[AGREEMENT])
    # The same file again, now that it is kept for the item: recognised, not held.
    again = await stray.hold_stray_file(
        services=world.services, actor_id=LIAISON, incoming=doc(1, "协议.pdf")
    )
    assert again.known is not None
    assert again.known.title == AGREEMENT


async def test_a_file_outside_submit_for_another_units_item_is_refused(world: World) -> None:
    await stray.hold_stray_file(
        services=world.services,
        actor_id=OTHER_LIAISON,
        incoming=doc(1).model_copy(update={"caption": "计划"}),
    )
    with pytest.raises(errors.NotYourUnit):
        await stray.place_held_files(
            services=world.services,
            actor_id=OTHER_LIAISON,
            unit_id=world.unit,
            item_id=world.items[PLAN],
            fetch=world.fetch,
        )
    assert world.fetched == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("协议.pdf", AGREEMENT),
        ("共建协议扫描件.pdf", AGREEMENT),
        ("党组会议纪要.docx", MINUTES),
        ("2026年度工作计划.doc", PLAN),
        ("拥军优属台账.xlsx", "拥军优属政策落实台账"),
        ("八一慰问活动 照片", "拥军共建活动开展记录（不限于“八一”前后）"),
        ("IMG_2031.jpg", None),
        ("", None),
    ],
)
def test_guess_the_item_from_the_name_and_caption(text: str, expected: str | None) -> None:
    rows = [r for r in parse_checklist(default_checklist_path()) if r.kind == "member"]
    index = stray.guess_item([(r.title, r.description) for r in rows], text)
    assert (rows[index].title if index is not None else None) == expected


def test_a_tie_is_no_guess() -> None:
    assert stray.guess_item([("工作记录甲", ""), ("工作记录乙", "")], "记录.pdf") is None


async def test_owed_items_leave_out_what_awaits_review(world: World) -> None:
    await submit_file(world, PLAN, doc(1))
    async with world.services.db.sessions() as session:
        owed = [u for u in await load_obligations(session) if u.open_items]
    mine = next(o for o in owed if o.unit_id == world.unit)
    assert PLAN not in [i.title for i in mine.open_items]
    assert len(mine.open_items) == item_count("member") - 1
    assert {o.name for o in owed} == {"市民政局", "市卫健委"}


async def test_a_handover_ends_the_old_liaisons_rights(world: World) -> None:
    await submitting.start_submission(
        services=world.services, actor_id=LIAISON, unit_id=world.unit
    )
    async with world.services.db.uow() as tx:
        old = await tx.scalar(select(Person).where(Person.telegram_user_id == LIAISON))
        assert old is not None
        old.until = world.services.now()
    with pytest.raises(errors.NotYourUnit):
        await submitting.add_text(
            services=world.services,
            actor_id=LIAISON,
            unit_id=world.unit,
            item_id=world.items[PLAN],
            text="已离任",
        )


async def test_data_dir_holds_nothing_outside_units(world: World) -> None:
    await submit_file(world, PLAN, doc(1, "../../逃逸.pdf"))
    assert listing(world.services.settings.data_dir) == [str(world.unit)]


def test_file_format_words_are_no_hint() -> None:
    candidates = [("工作计划", "请上传PDF或Word文件"), ("活动记录", "请上传照片")]
    assert stray.guess_item(candidates, "IMG_0001.pdf  ") is None
    assert stray.guess_item(candidates, "scan copy.PDF") is None
    assert stray.guess_item([("Annual work plan", ""), ("Meeting minutes", "")], "plan.pdf") == 0


async def test_review_one_unit_and_stay_on_it(world: World, clock: FrozenClock) -> None:
    await submitting.add_text(
        services=world.services,
        actor_id=OTHER_LIAISON,
        unit_id=world.other,
        item_id=world.items[PLAN],
        text="计划已印发",
    )
    await submitting.finish_item(
        services=world.services,
        actor_id=OTHER_LIAISON,
        unit_id=world.other,
        item_id=world.items[PLAN],
    )
    clock.advance(timedelta(minutes=1))
    first = await submit_file(world, PLAN, doc(1))
    second = await submit_file(world, MINUTES, doc(2))
    oldest = await review.next_review(services=world.services, actor_id=STAFF)
    assert oldest is not None
    assert oldest.unit_name == "市卫健委"
    named = await review.unit_to_review(services=world.services, actor_id=STAFF, name="民政")
    assert named.unit_id == world.unit
    card = await review.next_review(services=world.services, actor_id=STAFF, unit_id=world.unit)
    assert card is not None
    assert card.submission_id == first
    # The queue counted is the unit's (2 of its own), not the office's (3 in all).
    assert (oldest.waiting, card.waiting) == (3, 2)
    await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=first)
    # After a decision the reviewer stays on the unit while it has anything waiting.
    card = await review.next_review(
        services=world.services, actor_id=STAFF, prefer_unit=world.unit
    )
    assert card is not None
    assert card.submission_id == second
    await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=second)
    card = await review.next_review(
        services=world.services, actor_id=STAFF, prefer_unit=world.unit
    )
    assert card is not None
    assert card.unit_name == "市卫健委"
    assert (
        await review.next_review(services=world.services, actor_id=STAFF, unit_id=world.unit)
        is None
    )
    with pytest.raises(NotStaff):
        await review.unit_to_review(services=world.services, actor_id=LIAISON, name="民政")


async def submission_states(w: World) -> dict[int, str]:
    async with w.services.db.sessions() as session:
        rows = (await session.scalars(select(Submission).order_by(Submission.id))).all()
        return {s.id: s.state for s in rows}


async def test_exempting_an_item_withdraws_what_of_it_awaits_review(
    world: World, clock: FrozenClock
) -> None:
    plan = await submit_file(world, PLAN, doc(1, "计划.pdf"))
    clock.advance(timedelta(minutes=5))
    minutes = await submit_file(world, MINUTES, doc(2))
    draft = await submitting.receive_file(
        services=world.services,
        actor_id=LIAISON,
        unit_id=world.unit,
        item_id=world.items[AGREEMENT],
        incoming=doc(3),
        fetch=world.fetch,
    )
    assert draft.files == 1
    # The other unit's submission of the same item is not touched.
    await submitting.receive_file(
        services=world.services,
        actor_id=OTHER_LIAISON,
        unit_id=world.other,
        item_id=world.items[PLAN],
        incoming=doc(4),
        fetch=world.fetch,
    )
    await submitting.finish_item(
        services=world.services,
        actor_id=OTHER_LIAISON,
        unit_id=world.other,
        item_id=world.items[PLAN],
    )
    card = await review.next_review(services=world.services, actor_id=STAFF)
    assert card is not None
    assert (card.submission_id, card.waiting) == (plan, 3)

    for title in (PLAN, AGREEMENT):
        await checklist.exempt(
            services=world.services, unit_name="市民政局", title=title, reason="职能调整"
        )

    # /review: the exempted item is gone from the queue and from its count.
    card = await review.next_review(services=world.services, actor_id=STAFF)
    assert card is not None
    assert (card.submission_id, card.waiting) == (minutes, 2)
    mine = await review.next_review(
        services=world.services, actor_id=STAFF, prefer_unit=world.unit
    )
    assert mine is not None
    assert mine.submission_id == minutes
    # /status and the report: one item of the unit awaits review, the exempted ones are not owed.
    state = await status_of(world)
    assert state.pending_review == 1
    assert PLAN not in state.missing_items
    assert AGREEMENT not in state.missing_items
    report = await build_report(services=world.services)
    assert next(u for u in report.units if u.name == "市民政局").pending_review == 1
    await assert_agrees_with_report(world)
    states = await submission_states(world)
    assert states[plan] == "withdrawn"
    assert sorted(states.values()) == ["pending", "pending", "withdrawn", "withdrawn"]
    # A card of the withdrawn submission still on a reviewer's screen decides nothing.
    with pytest.raises(errors.SubmissionWithdrawn):
        await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=plan)
    assert (await submission_states(world))[plan] == "withdrawn"


async def test_exempting_an_accepted_item_keeps_the_acceptance(world: World) -> None:
    plan = await submit_file(world, PLAN, doc(1))
    await review.accept_submission(services=world.services, actor_id=STAFF, submission_id=plan)
    await checklist.exempt(
        services=world.services, unit_name="市民政局", title=PLAN, reason="职能调整"
    )
    assert (await submission_states(world))[plan] == "accepted"
    await assert_agrees_with_report(world)


async def test_adding_the_same_item_twice_adds_it_once(world: World) -> None:
    first = await checklist.add_item(
        services=world.services, unit_name="市民政局", title="退役军人服务站建设台账"
    )
    again = await checklist.add_item(
        services=world.services, unit_name="民政局", title=" 退役军人服务站建设台账 "
    )
    assert (first.added, again.added) == (True, False)
    assert (again.unit, again.title) == ("市民政局", "退役军人服务站建设台账")
    # An item of the unit's kind already owed counts as existing too.
    kind_item = await checklist.add_item(services=world.services, unit_name="市民政局", title=PLAN)
    assert kind_item.added is False
    async with world.services.db.sessions() as session:
        titles = (
            await session.scalars(
                select(ChecklistItem.title).where(ChecklistItem.unit_id == world.unit)
            )
        ).all()
    assert titles == ["退役军人服务站建设台账"]
    state = await status_of(world)
    assert [i.title for i in state.items].count("退役军人服务站建设台账") == 1


@pytest.mark.parametrize("first", ["accept", "return"])
async def test_two_staff_deciding_at_once_one_decision_stands(world: World, first: str) -> None:
    """Two staff decide the same submission at the same moment (their transactions open
    together): exactly one decision is taken, the other is told which, and the unit hears
    exactly the decision that stands."""
    services = world.services
    for staff_id in (901, 902):  # staff from the database: each check is a read in the tx
        await roster.add_staff(services=services, user_id=staff_id)
    sid = await submit_file(world, PLAN, doc(1))
    accept = review.accept_submission(services=services, actor_id=901, submission_id=sid)
    send_back = review.return_submission(
        services=services, actor_id=902, submission_id=sid, reason="缺少盖章页"
    )
    racers = (accept, send_back) if first == "accept" else (send_back, accept)
    with interleaved(services, roster, "require_staff"):
        results = await asyncio.gather(*racers, return_exceptions=True)
    decisions = [r for r in results if isinstance(r, review.ReviewDecision)]
    refusals = [r for r in results if isinstance(r, errors.AlreadyReviewed)]
    assert (len(decisions), len(refusals)) == (1, 1), results
    [decision], [refusal] = decisions, refusals
    final = "accepted" if decision.accepted else "returned"
    async with services.db.sessions() as session:
        stored = await session.get(Submission, sid)
        assert stored is not None
        notices = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "review"))
        ).all()
        audit = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("review_%"))
            )
        ).all()
    assert stored.state == final
    assert refusal.values == {
        "state": final,
        "not_applicable": False,
        "by": stored.reviewed_by,
        "by_name": None,  # staff are named once the bot has seen them (handlers)
        "at": services.now(),
        "reason": None if decision.accepted else "缺少盖章页",
    }
    assert audit == ["review_accept" if decision.accepted else "review_return"]
    [notice] = notices  # the liaison, told once, of the decision that stands
    text = notice.payload["text"]
    if decision.accepted:
        assert "已审核通过" in text
        assert "退回" not in text
    else:
        assert "退回原因：缺少盖章页" in text
        assert "通过" not in text


async def test_both_read_models_take_accepted_material_before_an_accepted_not_applicable(
    services: Services,
) -> None:
    """An item with material accepted and, later, a "not applicable" accepted too (two staff
    deciding two answers at once): the lean model ranked "not applicable" first whatever came
    last, the detailed one took the latest: the workbook's widths and cells disagreed."""
    unit = await add_unit(services)
    item = (await items_for(services, unit))[0]
    await add_submission(services, unit, item, "accepted")
    await add_submission(services, unit, item, "accepted", answer_kind="not_applicable")
    async with services.db.sessions() as session:
        [detailed] = await load_obligations(session, [unit.id])
        [lean] = await load_obligations(session, [unit.id], detail=False)
    shown = [(i.state, i.shown_state) for i in detailed.every_item if i.item_id == item.id]
    assert shown == [(ItemState.ACCEPTED, "accepted")]
    assert [(i.state, i.shown_state) for i in lean.every_item if i.item_id == item.id] == shown
