"""The order units are listed in (storage/models.py UNIT_ORDER): counties first, then member
units, each as the office's roster file lists them, never by the code points of their names.

Every list of units the office reads follows it: the read model, /outstanding, the workbook,
`report --json`, the 通报 and `units list`; a roster imported again in another order
reorders them, and a unit added any other way comes last in its kind.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bot import roster
from bot.ledger.report import build_report
from bot.ledger.status import load_obligations
from bot.services import Services
from bot.staff.console import outstanding
from bot.staff.documents.data import Letterhead, bulletin_from
from bot.staff.documents.notices import parse_number
from bot.staff.export import collect
from tests.support import factories
from tests.support.cli import run_cli

STAFF = 900  # in STAFF_IDS of the `services` fixture

# The office's order: the counties in the official administrative order, the member units
# in the protocol order of the roster; neither is the code-point order of the names, and
# one member unit is listed among the counties.
ROSTER = [
    ("原州区", "county"),
    ("西吉县", "county"),
    ("市委组织部", "member"),
    ("隆德县", "county"),
    ("泾源县", "county"),
    ("彭阳县", "county"),
    ("市卫健委", "member"),
    ("市民政局", "member"),
    ("团市委", "member"),
    ("市总工会", "member"),
]
COUNTIES = [name for name, kind in ROSTER if kind == "county"]
MEMBERS = [name for name, kind in ROSTER if kind == "member"]
IN_ORDER = COUNTIES + MEMBERS


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> None:
    """The command line on the `services` fixture's database."""
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


async def import_roster(services: Services, rows: list[tuple[str, str]], name: str) -> None:
    """Import a roster file listing `rows` in their order, as `units import` does."""
    path = services.settings.data_dir.parent / name
    path.write_text("name,kind\n" + "".join(f"{n},{k}\n" for n, k in rows), encoding="utf-8")
    await roster.import_units(services=services, path=path, actor="test")


async def listed(services: Services) -> list[str]:
    """The units as the read model lists them."""
    async with services.db.sessions() as session:
        return [d.name for d in await load_obligations(session, detail=False)]


async def json_units() -> list[str]:
    done = await run_cli("units", "list", "--json")
    assert done.code == 0, done.err
    return [unit["name"] for unit in json.loads(done.out)]


async def test_every_list_of_units_follows_the_roster_file(services: Services) -> None:
    assert [name for name, _ in sorted(ROSTER, key=lambda row: (row[1], row[0]))] != IN_ORDER
    await import_roster(services, ROSTER, "名单.csv")
    lists: dict[str, list[str]] = {}

    async with services.db.sessions() as session:
        lists["read model"] = [d.name for d in await load_obligations(session)]
        lists["read model, lean"] = [d.name for d in await load_obligations(session, detail=False)]
        by_name = {d.name: d.unit_id for d in await load_obligations(session, detail=False)}
        asked = [by_name[name] for name in reversed(IN_ORDER)]  # asked for in another order
        lists["read model, units asked for"] = [
            d.name for d in await load_obligations(session, asked)
        ]
    view = await outstanding(services=services, actor_id=STAFF)  # no one has registered yet
    lists["/outstanding"] = [line.name for line in view.lines]
    workbook = await collect(services=services)
    lists["workbook"] = [row.obligations.name for row in workbook.units]
    done = await run_cli("report", "--json")
    assert done.code == 0, done.err
    lists["report --json"] = [unit["name"] for unit in json.loads(done.out)["units"]]
    lists["units list"] = await json_units()
    report = await build_report(services=services)
    head = Letterhead.of(services.settings, parse_number(services, None, 2026))
    async with services.db.sessions() as session:
        bulletin = await bulletin_from(
            session, report, head=head, as_of=date(2026, 12, 4), signed=date(2026, 12, 4)
        )
    lists["通报"] = [unit.name for group in bulletin.groups for unit in group.owing]

    assert lists == dict.fromkeys(lists, IN_ORDER)
    assert [group.kind for group in bulletin.groups] == ["county", "member"]


async def test_a_roster_imported_again_in_another_order_reorders_the_units(
    services: Services,
) -> None:
    await import_roster(services, ROSTER, "名单.csv")
    again = list(reversed(ROSTER))

    await import_roster(services, again, "新名单.csv")

    assert await listed(services) == list(reversed(COUNTIES)) + list(reversed(MEMBERS))


async def test_units_a_roster_leaves_out_keep_their_order_after_the_files_units(
    services: Services,
) -> None:
    await import_roster(services, ROSTER, "名单.csv")
    # Only two counties and two member units, in an order of their own, and a new one.
    some = [("彭阳县", "county"), ("市民政局", "member"), ("原州区", "county")]
    some += [("市委组织部", "member"), ("市科协", "member")]

    await import_roster(services, some, "部分名单.csv")

    counties = ["彭阳县", "原州区", *[n for n in COUNTIES if n not in ("彭阳县", "原州区")]]
    members = ["市民政局", "市委组织部", "市科协"]
    members += [n for n in MEMBERS if n not in ("市民政局", "市委组织部")]
    assert await listed(services) == counties + members


async def test_a_unit_added_on_its_own_comes_last_in_its_kind(services: Services) -> None:
    await import_roster(services, ROSTER, "名单.csv")

    await factories.add_unit(services, "一中心", kind="member")  # first by code point
    await factories.add_unit(services, "乙县", kind="county")

    assert await listed(services) == [*COUNTIES, "乙县", *MEMBERS, "一中心"]
    assert await json_units() == [*COUNTIES, "乙县", *MEMBERS, "一中心"]
