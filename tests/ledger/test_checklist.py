"""The checklist: a file's items matched with the stored ones, and an item named by staff."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.demo.sample import seed_notice_situation
from bot.errors import ItemAmbiguous
from bot.importing import ChecklistRow, parse_checklist
from bot.ledger import checklist
from bot.ledger.checklist import apply_checklist, default_checklist_path, plan_checklist
from bot.services import Services
from storage.models import ChecklistItem

HALF_WIDTH = str.maketrans({"（": "(", "）": ")", "“": '"', "”": '"'})


async def stored(services: Services) -> dict[int, str]:
    async with services.db.sessions() as session:
        items = await session.scalars(select(ChecklistItem).where(ChecklistItem.active))
        return {i.id: i.title for i in items}


async def test_a_file_with_half_width_brackets_and_quotes_keeps_the_same_items(
    services: Services,
) -> None:
    """Written with half-width brackets, an item was retired and added anew, so the units'
    materials of it no longer counted."""
    before = await stored(services)
    rows = [
        ChecklistRow(kind=r.kind, title=r.title.translate(HALF_WIDTH), description=r.description)
        for r in parse_checklist(default_checklist_path())
    ]
    reworded = sum(1 for r in rows if r.title not in before.values())
    assert reworded >= 3  # brackets and quotes in the shipped titles
    async with services.db.uow() as tx:
        plan = await plan_checklist(tx, rows)
        assert (plan.added, plan.retired, plan.changed) == ([], [], reworded)
        await apply_checklist(tx, rows)
    after = await stored(services)
    assert after.keys() == before.keys()  # the same items: what units sent still counts
    assert sorted(after.values()) == sorted(r.title for r in rows)


async def test_staff_name_an_item_by_some_of_its_words(services: Services) -> None:
    await seed_notice_situation(services=services)
    unit, title = await checklist.exempt(
        services=services, unit_name="市民政局", title="年度工作计划", reason="本年度无此项"
    )
    assert (unit, title) == ("市民政局", "年度工作计划（含双拥工作内容）")
    with pytest.raises(ItemAmbiguous) as several:
        await checklist.exempt(services=services, unit_name="市民政局", title="双拥", reason="无")
    assert len(several.value.values["matches"]) > 1  # type: ignore[arg-type]
    # Adding an item matches whole titles only: 计划 is a new item, not the annual plan.
    added = await checklist.add_item(services=services, unit_name="市民政局", title="计划")
    assert added.added


async def test_two_stored_spellings_of_one_title_leave_one_item_owed(services: Services) -> None:
    """An older import could keep both spellings (one retired, or both active); matching by the
    folded title must neither bring the retired one back beside the other nor keep two."""
    title = "年度工作计划（含双拥工作内容）"
    half = title.translate(HALF_WIDTH)
    async with services.db.uow() as tx:
        original = await tx.scalar(select(ChecklistItem).where(ChecklistItem.title == title))
        assert original is not None
        tx.add(ChecklistItem(kind="member", title=half, description="", position=0, active=False))
        tx.add(
            ChecklistItem(kind="member", title=half + " ", description="", position=0, active=True)
        )
    rows = [
        ChecklistRow(kind=r.kind, title=r.title.translate(HALF_WIDTH), description=r.description)
        for r in parse_checklist(default_checklist_path())
    ]
    async with services.db.uow() as tx:
        plan = await plan_checklist(tx, rows)
        assert plan.added == []
        await apply_checklist(tx, rows)
    async with services.db.sessions() as session:
        owed = (
            await session.scalars(
                select(ChecklistItem).where(
                    ChecklistItem.active, ChecklistItem.title.startswith("年度工作计划")
                )
            )
        ).all()
    assert [i.title for i in owed] == [half]  # one item, as the file writes it
