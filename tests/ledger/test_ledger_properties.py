"""Property: any sequence of submit / accept / send back / resubmit keeps the ledger's invariants.

A reference model says what each item's state must be; after every step the database must
agree with it, an accepted item never counts as missing, a sent-back item does, nothing
awaiting review is owed, a file is kept once per live submission, and /status == report.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.enums import ItemState
from bot.errors import DomainError
from bot.ledger import checklist, errors, permissions, review, submitting
from bot.ledger import status as ledger_status
from bot.ledger.files import IncomingFile
from bot.ledger.report import build_report, unit_statuses
from bot.services import Services
from bot.staff import console
from storage.models import ChecklistItem, Person, Submission, SubmissionFile, Unit

STAFF = 900  # in the services fixture's STAFF_IDS
ITEMS = 3  # the items the steps act on (the unit owes 6)
_units = itertools.count(1)

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["file", "text", "finish", "na", "accept", "return", "exempt", "add"]),
        st.integers(0, ITEMS - 1),
        st.integers(0, 2),  # which of three files (file_unique_id) is sent
    ),
    max_size=14,
)


@dataclass
class ItemModel:
    """What an item's state must be."""

    accepted: bool = False
    pending: bool = False
    not_applicable: bool = False
    returned: bool = False
    draft_files: set[int] = field(default_factory=set)
    draft_text: bool = False
    live_files: list[int] = field(default_factory=list)  # in pending/accepted submissions

    @property
    def is_open(self) -> bool:
        return not (self.accepted or self.pending)

    def expected(self) -> ItemState:
        if self.accepted:
            return ItemState.ACCEPTED
        if self.pending:
            return ItemState.NOT_APPLICABLE_PENDING if self.not_applicable else ItemState.PENDING
        return ItemState.RETURNED if self.returned else ItemState.MISSING


async def new_unit(services: Services) -> tuple[int, int, list[int]]:
    """A fresh member unit with a liaison: (unit id, liaison's user id, item ids)."""
    n = next(_units)
    now = services.now()
    async with services.db.uow() as tx:
        unit = Unit(name=f"测试单位{n}", kind="member", created_at=now)
        tx.add(unit)
        await tx.flush()
        user_id = 500_000 + n
        tx.add(
            Person(
                unit_id=unit.id,
                role="liaison",
                name="张伟",
                post="科员",
                phone="13800000000",
                telegram_user_id=user_id,
                since=now,
                until=None,
            )
        )
        query = (
            select(ChecklistItem.id)
            .where(ChecklistItem.kind == "member", ChecklistItem.active.is_(True))
            .order_by(ChecklistItem.position)
        )
        items = list((await tx.scalars(query)).all())
        return unit.id, user_id, items


async def pending_submission(services: Services, unit_id: int, item_id: int) -> int | None:
    async with services.db.sessions() as session:
        return await session.scalar(
            select(Submission.id).where(
                Submission.unit_id == unit_id,
                Submission.item_id == item_id,
                Submission.state == "pending",
            )
        )


async def apply(
    services: Services, step: Step, *, unit_id: int, user_id: int, item_id: int, model: ItemModel
) -> None:
    """Do one step through the use-cases and move the model the same way."""
    action, _, which = step
    if action in ("exempt", "add"):
        await change_what_is_owed(services, action, which, unit_id=unit_id)
        return

    async def fetch(file_id: str) -> bytes:
        return f"%PDF-1.4 file {which}".encode()

    async def act(name: str) -> submitting.DraftOut | submitting.SubmitStep:
        if name == "file":
            return await submitting.receive_file(
                services=services,
                actor_id=user_id,
                unit_id=unit_id,
                item_id=item_id,
                incoming=incoming(which),
                fetch=fetch,
            )
        if name == "text":
            return await submitting.add_text(
                services=services, actor_id=user_id, unit_id=unit_id, item_id=item_id, text="说明"
            )
        if name == "finish":
            return await submitting.finish_item(
                services=services, actor_id=user_id, unit_id=unit_id, item_id=item_id
            )
        return await submitting.declare_not_applicable(
            services=services,
            actor_id=user_id,
            unit_id=unit_id,
            item_id=item_id,
            reason="不适用本单位",
        )

    if action in ("file", "text", "finish", "na") and not model.is_open:
        with pytest.raises(errors.ItemNotOpen):
            await act(action)
        return
    if action == "file":
        out = await act("file")
        assert isinstance(out, submitting.DraftOut)
        assert out.added == (which not in model.draft_files)
        model.draft_files.add(which)
        assert out.files == len(model.draft_files)
    elif action == "text":
        await act("text")
        model.draft_text = True
    elif action == "finish":
        if not (model.draft_files or model.draft_text):
            with pytest.raises(errors.NothingReceived):
                await act("finish")
            return
        await act("finish")
        model.pending, model.not_applicable = True, False
        model.live_files = sorted(model.draft_files)
        model.draft_files, model.draft_text = set(), False
    elif action == "na":
        await act("na")
        model.pending, model.not_applicable = True, True
        model.live_files = sorted(model.draft_files)
        model.draft_files, model.draft_text = set(), False
    else:
        submission = await pending_submission(services, unit_id, item_id)
        assert (submission is not None) == model.pending
        if submission is None:
            return
        if action == "accept":
            await review.accept_submission(
                services=services, actor_id=STAFF, submission_id=submission
            )
            model.accepted, model.pending = True, False
        else:
            await review.return_submission(
                services=services, actor_id=STAFF, submission_id=submission, reason="请补充"
            )
            model.returned, model.pending, model.live_files = True, False, []
        with pytest.raises(DomainError):  # a decision is taken once
            await review.accept_submission(
                services=services, actor_id=STAFF, submission_id=submission
            )


_additions = itertools.count(1)


async def change_what_is_owed(
    services: Services, action: str, which: int, *, unit_id: int
) -> None:
    """Excuse the unit from one of the items the steps leave alone, or add an item of its own."""
    async with services.db.sessions() as session:
        unit = await session.get(Unit, unit_id)
        assert unit is not None
        name = unit.name
        others = (await ledger_status.load_unit(session, unit_id)).items[ITEMS:]
    if action == "add":
        await checklist.add_item(
            services=services, unit_name=name, title=f"补充材料{next(_additions)}", actor_id=STAFF
        )
    elif others:
        title = others[which % len(others)].title
        await checklist.exempt(
            services=services, unit_name=name, title=title, reason="无此职能", actor_id=STAFF
        )


async def check_one_computation(services: Services, unit_id: int) -> None:
    """The staff card and the report show the read model's state of every item, read at
    the same moment; the model lists every active item of the unit, excused ones included."""
    card = await console.unit_card(services=services, actor_id=STAFF, unit_id=unit_id)
    async with services.db.sessions() as session:
        unit = await ledger_status.load_unit(session, unit_id, reminders=True)
        lean = await ledger_status.load_unit(session, unit_id, detail=False)
        status = next(s for s in await unit_statuses(session) if s.name == unit.name)
        everything = list(
            await session.scalars(
                select(ChecklistItem).where(
                    ChecklistItem.active.is_(True),
                    (ChecklistItem.kind == unit.kind) | (ChecklistItem.unit_id == unit_id),
                )
            )
        )
    assert {i.item_id for i in unit.every_item} == {i.id for i in everything}
    # The lean model (lists, the workbook's widths) reads each item as the detailed one does,
    # an accepted "not applicable" answer told apart from accepted material included.
    assert [(i.item_id, i.state, i.shown_state) for i in lean.every_item] == [
        (i.item_id, i.state, i.shown_state) for i in unit.every_item
    ]
    assert [(i.item_id, i.state, i.note) for i in card.items] == [
        (i.item_id, i.state, i.reason) for i in unit.every_item
    ]
    for shown, item in zip(card.items, unit.every_item, strict=True):
        assert shown.draft == (item.is_open and (item.draft_files + item.draft_chars) > 0)
    required = [i for i in unit.every_item if i.state != ItemState.EXEMPT]
    assert status.missing_items == [i.title for i in required if i.state != ItemState.ACCEPTED]
    assert status.pending_review == sum(1 for i in required if i.awaiting_review)
    assert card.status == status


def incoming(which: int) -> IncomingFile:
    return IncomingFile(
        kind="document",
        file_id=f"BQAC{which}",
        file_unique_id=f"AQAD{which}",
        file_name=f"材料{which}.pdf",
        mime_type="application/pdf",
        size=100,
    )


async def check_invariants(
    services: Services, *, unit_id: int, item_ids: list[int], models: list[ItemModel]
) -> None:
    status = await permissions.unit_ledger(services=services, actor_id=STAFF, unit_id=unit_id)
    states = {i.item_id: i for i in status.items}
    report = await build_report(services=services)
    reported = next(u for u in report.units if u.name == status.name)
    owed_ids = {i.item_id for i in status.open_items}
    # /status == report --json, at the same moment.
    assert status.missing_items == reported.missing_items
    assert status.pending_review == reported.pending_review
    for item_id, model in zip(item_ids, models, strict=True):
        item = states[item_id]
        assert item.state == model.expected()
        missing = item.title in reported.missing_items
        if model.accepted:
            assert not missing  # an accepted item never counts as missing
            assert item_id not in owed_ids
        else:
            assert missing
        if item.state == ItemState.RETURNED:
            assert item_id in owed_ids  # a sent-back item is owed again, with its reason
            assert item.reason == "请补充"
        if model.pending:
            assert item_id not in owed_ids  # never remind of what awaits review
        assert item.draft_files == (len(model.draft_files) if item.is_open else 0)
    async with services.db.sessions() as session:
        rows = (
            await session.execute(
                select(SubmissionFile.item_id, SubmissionFile.file_unique_id, Submission.state)
                .join(Submission, Submission.id == SubmissionFile.submission_id)
                .where(Submission.unit_id == unit_id)
            )
        ).all()
    for item_id, model in zip(item_ids, models, strict=True):
        live = [u for i, u, s in rows if i == item_id and s in ("pending", "accepted")]
        draft = [u for i, u, s in rows if i == item_id and s == "draft"]
        assert sorted(live) == [f"AQAD{w}" for w in model.live_files]
        assert sorted(draft) == sorted(f"AQAD{w}" for w in model.draft_files)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
async def test_any_sequence_keeps_the_invariants(services: Services, sequence: list[Step]) -> None:
    unit_id, user_id, all_items = await new_unit(services)
    item_ids = all_items[:ITEMS]
    models = [ItemModel() for _ in item_ids]
    for step in sequence:
        index = step[1]
        await apply(
            services,
            step,
            unit_id=unit_id,
            user_id=user_id,
            item_id=item_ids[index],
            model=models[index],
        )
        await check_invariants(services, unit_id=unit_id, item_ids=item_ids, models=models)
        await check_one_computation(services, unit_id)
