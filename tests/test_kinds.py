"""What a kind of unit (bot/enums.py UnitKind) needs, and the places that follow UnitKind."""

from __future__ import annotations

from typing import cast

import pytest

import bot.ledger.checklist
from bot.enums import KIND_ALIASES, KINDS_IN_TEXT, UnitKind
from bot.importing import ChecklistRow, parse_checklist, parse_kind
from bot.ledger.checklist import default_checklist_path, plan_checklist
from bot.services import Services
from messages import LANGUAGES, kind_name, own
from tests.support.kinds import add_trial, today_s_kinds

NOTICE_PARTS = ("count", "lead", "summary", "none")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(UnitKind))
def test_every_kind_has_its_names_in_every_language(kind: UnitKind, lang: str) -> None:
    keys = [
        f"common.kind_{kind}",
        f"common.kinds_{kind}",
        f"common.kind_label_{kind}",
        f"broadcast.audience_{kind}",
        *(f"notice.bulletin.{part}_{kind}" for part in NOTICE_PARTS),
    ]
    assert [key for key in keys if key not in own(lang)] == []


@pytest.mark.parametrize("kind", list(UnitKind))
def test_every_kind_is_read_from_its_spellings_and_its_chinese_name(kind: UnitKind) -> None:
    assert len(kind.value) <= 10  # the kind columns are String(10)
    for spelling in (kind.value, *KIND_ALIASES[kind], kind_name("zh", kind)):
        assert parse_kind(spelling) == kind


def test_lists_ordered_by_the_kind_column_keep_unitkinds_order() -> None:
    assert sorted(kind.value for kind in UnitKind) == [kind.value for kind in UnitKind]


def test_sentences_name_every_kind_once_member_units_first() -> None:
    assert sorted(KINDS_IN_TEXT) == sorted(UnitKind)
    assert KINDS_IN_TEXT[0] == UnitKind.MEMBER


async def test_a_checklist_plan_counts_the_items_of_every_kind(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        ChecklistRow(kind="county", title="县区台账一"),
        ChecklistRow(kind="county", title="县区台账二"),
        ChecklistRow(kind="member", title="成员单位台账"),
    ]
    today_s_kinds(monkeypatch, bot.ledger.checklist)
    async with services.db.sessions() as session:
        plan = await plan_checklist(session, rows)
    assert list(plan.by_kind.items()) == [("county", 2), ("member", 1)]

    kind = add_trial(monkeypatch, bot.ledger.checklist)
    trial = ChecklistRow.model_construct(kind=cast(UnitKind, kind), title="试点台账")
    async with services.db.sessions() as session:
        plan = await plan_checklist(session, [*rows, trial])
    assert list(plan.by_kind.items()) == [("county", 2), ("member", 1), ("trial", 1)]


def test_every_kind_has_items_in_the_default_checklist() -> None:
    kinds = {row.kind for row in parse_checklist(default_checklist_path())}
    assert kinds == set(UnitKind)
