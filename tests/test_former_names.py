"""Units renamed by a roster (机构改革) are still found by the names they had: staff who type
the former name reach the unit under its current name, and an older roster file that still
lists it neither adds the unit a second time nor renames it back. A name a unit has now is
never also a former name (bot/roster.py, storage/models.py UnitFormerName)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import roster
from bot.errors import UnitNotFound
from bot.importing import ImportProblems
from bot.services import Services
from storage.models import Unit, UnitFormerName
from tests.support.checklist import titles
from tests.support.cli import run_cli
from tests.support.messages import mentions, says

OLD = "单位名称,类型\n市民政局,成员单位\n市卫健委,成员单位\n西吉县,县（区）\n"
RENAMED = (
    "单位名称,类型,原单位名称\n"
    "市民政局,成员单位,\n"
    "市卫生健康委员会,成员单位,市卫健委\n"
    "西吉县,县（区）,\n"
)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> None:
    """The command line on the `services` fixture's database."""
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STAFF_IDS", raising=False)


async def import_roster(services: Services, csv: str, name: str = "名单.csv") -> Path:
    """Import a roster file with these lines, as `units import` does; return its path."""
    path = services.settings.data_dir.parent / name
    path.write_text(csv, encoding="utf-8")
    await roster.import_units(services=services, path=path, actor="test")
    return path


async def units(services: Services) -> dict[str, int]:
    """The units on record: name → id."""
    async with services.db.sessions() as session:
        return {u.name: u.id for u in (await session.scalars(select(Unit))).all()}


async def found(services: Services, name: str) -> str:
    """The current name of the unit `find_unit` takes `name` to mean."""
    async with services.db.sessions() as session:
        return (await roster.find_unit(session, name)).name


async def former(services: Services) -> dict[str, int]:
    """The former names on record: name → the unit's id."""
    async with services.db.sessions() as session:
        rows = await session.execute(select(UnitFormerName.name, UnitFormerName.unit_id))
        return dict(rows.all())


async def test_a_renamed_unit_is_found_by_its_former_name(services: Services) -> None:
    await import_roster(services, OLD)
    before = await units(services)
    await import_roster(services, RENAMED, "新名单.csv")

    assert await found(services, "市卫健委") == "市卫生健康委员会"
    assert await former(services) == {"市卫健委": before["市卫健委"]}
    async with services.db.sessions() as session:
        looked_up = await roster.lookup_unit(session, " 市卫健委 ")
        assert (looked_up.unit.id, looked_up.former) == (before["市卫健委"], "市卫健委")
        by_name = await roster.lookup_unit(session, "市卫生健康委员会")
        assert by_name.former is None


async def test_the_command_line_takes_a_former_name_and_says_the_current_one(
    services: Services,
) -> None:
    await import_roster(services, OLD)
    await import_roster(services, RENAMED, "新名单.csv")
    title = titles("member")[0]

    done = await run_cli("checklist", "exempt", "市卫健委", title, "--reason", "无此职能")

    assert done.code == 0, done.err
    assert says(done.out.strip(), "cli.exempted", unit="市卫生健康委员会", title=title)


async def test_an_older_roster_listing_the_former_name_adds_no_unit(services: Services) -> None:
    """The office sends last year's file again: 市卫健委 is the renamed unit, not a new one."""
    await import_roster(services, OLD)
    await import_roster(services, RENAMED, "新名单.csv")
    before = await units(services)
    path = services.settings.data_dir.parent / "旧名单.csv"
    path.write_text(OLD, encoding="utf-8")

    done = await run_cli("units", "import", str(path))

    assert done.code == 0, done.err
    assert await units(services) == before  # no second 市卫健委, none renamed back
    assert mentions(done.out, "cli.units_imported", count=3, added=0, updated=0)
    assert mentions(
        done.out, "cli.units_by_former", count=1, names="市卫健委（现名市卫生健康委员会）"
    )
    assert json.loads((await run_cli("units", "list", "--json")).out)[-1]["name"] == (
        "市卫生健康委员会"
    )


async def test_a_roster_listing_a_unit_by_both_names_is_refused(services: Services) -> None:
    await import_roster(services, OLD)
    await import_roster(services, RENAMED, "新名单.csv")
    before = await units(services)

    with pytest.raises(ImportProblems) as refused:
        await import_roster(services, OLD + "市卫生健康委员会,成员单位\n", "两个名称.csv")

    [problem] = refused.value.problems
    assert (problem.row, problem.code) == (3, "former_of_listed")
    assert problem.details == {
        "column": "单位名称",
        "value": "市卫健委",
        "name": "市卫生健康委员会",
    }
    with pytest.raises(ImportProblems) as renaming:
        await import_roster(
            services,
            "单位名称,类型,原单位名称\n市卫健委,成员单位,\n市卫健局,成员单位,市卫生健康委员会\n",
            "又更名.csv",
        )
    [problem] = renaming.value.problems
    assert (problem.row, problem.code, problem.details["value"]) == (
        2,
        "former_of_listed",
        "市卫健委",
    )
    assert await units(services) == before


async def test_a_unit_renamed_back_keeps_no_former_name_equal_to_its_name(
    services: Services,
) -> None:
    await import_roster(services, OLD)
    await import_roster(services, RENAMED, "新名单.csv")
    unit_id = (await units(services))["市卫生健康委员会"]

    await import_roster(
        services,
        "单位名称,类型,原单位名称\n市卫健委,成员单位,市卫生健康委员会\n",
        "改回.csv",
    )

    assert (await units(services))["市卫健委"] == unit_id
    assert await former(services) == {"市卫生健康委员会": unit_id}
    assert await found(services, "市卫健委") == "市卫健委"
    assert await found(services, "市卫生健康委员会") == "市卫健委"


async def test_another_unit_taking_a_former_name_is_found_by_it(services: Services) -> None:
    """市卫健委 became 市卫生健康委员会; later 市民政局 takes the name 市卫健委: the name is
    the unit's that has it now, and no longer the other's former name."""
    await import_roster(services, OLD)
    await import_roster(services, RENAMED, "新名单.csv")
    before = await units(services)

    await import_roster(
        services,
        "单位名称,类型,原单位名称\n市卫健委,成员单位,市民政局\n",
        "再改.csv",
    )

    assert await found(services, "市卫健委") == "市卫健委"
    assert (await units(services))["市卫健委"] == before["市民政局"]
    assert await former(services) == {"市民政局": before["市民政局"]}


async def test_a_name_on_record_wins_over_a_stale_former_name(services: Services) -> None:
    """A former-name row left behind (written by hand, say) never hides a unit's own name."""
    await import_roster(services, OLD)
    ids = await units(services)
    async with services.db.uow() as tx:
        tx.add(UnitFormerName(unit_id=ids["西吉县"], name="市民政局", renamed_at=services.now()))

    assert await found(services, "市民政局") == "市民政局"
    with pytest.raises(UnitNotFound):
        await found(services, "市卫生健康委员会")
