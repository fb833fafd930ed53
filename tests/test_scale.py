"""A country's roster: what grows with the number of units stays within bounds.

The tests marked `scale` write tens of thousands of units (more people and submissions than
PostgreSQL's driver takes bind parameters in one statement, 32,767); they run with
`make test-scale` (left out of `make test`, run in CI). The others are their smoke in every
run: the same paths on a small roster, with the batch sizes made small.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select, update

from bench.scale import _link_everyone
from bench.scale_data import populate
from bot.cli import reminders as cli_reminders
from bot.clock import FrozenClock
from bot.ledger import report as report_module
from bot.ledger.checklist import prepare_database, set_deadline
from bot.ledger.report import build_report, report_json, write_report_json
from bot.services import Services
from bot.staff import acks, broadcasts
from bot.staff import export as export_module
from bot.staff.archive import build_archive
from bot.staff.export import export_workbook
from storage import repositories as repo
from storage.db import Database
from storage.models import ChecklistItem, OutboxMessage, Unit
from tests.support.cli import run_cli
from tests.support.settings import make_settings

STAFF = 900  # STAFF_IDS of the `services` fixture
# More than 32,767: each unit has a liaison and a lead, so 34,000 recipients.
BIG = 17_000


async def _broadcast_to_everyone(services: Services) -> broadcasts.Progress:
    await broadcasts.begin(services=services, actor_id=STAFF)
    await broadcasts.set_content(
        services=services, actor_id=STAFF, summary="通知", text="请于12月31日前报送资料台账。"
    )
    preview = await broadcasts.set_audience(
        services=services, actor_id=STAFF, audience="registered"
    )
    assert preview is not None
    return await broadcasts.confirm(
        services=services, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=1
    )


async def _broadcast_and_archive(services: Services, units: int, tmp_path: Path) -> None:
    """Every unit's two people get the notice once; staff see who has not acknowledged;
    the archive lists every kept file."""
    await populate(services, units)
    await _link_everyone(services.settings.database_url, tmp_path)
    sent = await _broadcast_to_everyone(services)
    assert sent.total == 2 * units
    async with services.db.sessions() as session:
        rows = await session.execute(
            select(func.count(), func.count(func.distinct(OutboxMessage.chat_id))).where(
                OutboxMessage.broadcast_id == sent.id
            )
        )
        assert tuple(rows.one()) == (2 * units, 2 * units)
    async with services.db.uow() as tx:
        await tx.execute(
            update(OutboxMessage).where(OutboxMessage.broadcast_id == sent.id).values(state="sent")
        )
    status = await acks.ack_status(services=services, actor_id=STAFF, broadcast_id=sent.id)
    assert len(status.not_acknowledged) == 2 * units
    assert all(line.name != "" and line.unit for line in status.not_acknowledged)
    nudged = await acks.nudge(
        services=services, actor_id=STAFF, broadcast_id=sent.id, round_number=1
    )
    assert nudged.queued == 2 * units

    archive = await build_archive(services=services, actor_id=None, out_dir=tmp_path / "zip")
    async with services.db.sessions() as session:
        kept = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.purpose == "reminder")
        )
    assert kept  # the roster has its reminder history
    # No file of the generated roster is on disk: each is listed as missing, none twice.
    assert archive.files == 0
    assert len(archive.missing) == len(set(archive.missing)) > units


async def test_broadcast_nudge_and_archive_in_batches(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The smoke of the test below: batches of 50 ids on a roster of 120 units."""
    monkeypatch.setattr(repo, "IN_CHUNK", 50)
    monkeypatch.setattr(export_module, "LOG_CHUNK", 50)
    await _broadcast_and_archive(services, 120, tmp_path)


@pytest.mark.scale
@pytest.mark.postgres
async def test_broadcast_and_archive_beyond_the_parameter_limit(
    pg_services: Services, tmp_path: Path
) -> None:
    await _broadcast_and_archive(pg_services, BIG, tmp_path)


@pytest.fixture
async def pg_services(pg_url: str, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Services]:
    """Services on a fresh PostgreSQL database with the checklist loaded."""
    settings = make_settings(pg_url, data_dir=tmp_path / "data", staff_ids="900")
    svc = Services(settings=settings, db=Database(pg_url), clock=clock)
    await prepare_database(svc)
    yield svc
    await svc.close()


async def test_report_json_is_written_in_parts_as_one_object(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "_CHUNK", 40)  # 250 units: seven parts
    await populate(services, 250)
    report = await build_report(services=services)
    out = io.StringIO()
    write_report_json(report, out)
    assert out.getvalue() == report_json(report) + "\n"
    assert len(json.loads(out.getvalue())["units"]) == 250


async def test_remind_dry_run_text_names_the_first_json_lists_all(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The text names the first reminders (200; 20 here) and how many more."""
    monkeypatch.setattr(cli_reminders, "TEXT_LINES", 20)
    await populate(services, 150)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    listed = json.loads((await run_cli("remind", "--dry-run", "--json")).out)
    count = len(listed["reminders"])
    assert count > 40
    text = (await run_cli("remind", "--dry-run")).out
    assert f"将发送{count}条提醒" in text
    assert text.count("\n· ") == 20
    assert f"……另有{count - 20}条" in text
    async with services.db.sessions() as session:
        assert not await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like("round:%"))
        )


async def test_units_own_items_share_one_column_when_many(
    services: Services, tmp_path: Path
) -> None:
    """One column per unit's own item while there are few; beyond OWN_COLUMNS one column
    lists each unit's own items with their state."""
    await populate(services, 30)
    await set_deadline(services=services, due=date(2026, 12, 31))
    async with services.db.uow() as tx:
        units = list((await tx.execute(select(Unit.id).order_by(Unit.id))).scalars())
        await tx.execute(
            insert(ChecklistItem),
            [
                {"kind": None, "unit_id": unit_id, "title": f"增列事项{n}", "description": "",
                 "position": 100, "active": True}
                for n, unit_id in enumerate(units[: export_module.OWN_COLUMNS + 1])
            ],
        )  # fmt: skip
    path = tmp_path / "status.xlsx"
    await export_workbook(services=services, actor_id=None, path=path)
    matrix = load_workbook(path)["资料报送情况"]
    header = [str(c.value) for c in matrix[1]]
    assert header[-1] == "本单位增列资料"
    assert not any(h.startswith("增列事项") for h in header)
    lines = [
        line
        for row in matrix.iter_rows(min_row=2)
        if row[-1].value
        for line in str(row[-1].value).split("\n")
        if line.startswith("增列事项")
    ]
    expected = [f"增列事项{n}：未报送" for n in range(export_module.OWN_COLUMNS + 1)]
    assert sorted(lines) == sorted(expected)


async def test_an_export_holds_up_no_writer(services: Services) -> None:
    """On SQLite the export reads a snapshot: the bot can write while it runs."""
    await populate(services, 20)
    async with services.db.snapshot() as snapshot:
        before = int(await snapshot.scalar(select(func.count()).select_from(Unit)) or 0)
        async with services.db.uow() as tx:
            # The generated roster gives its own ids (PostgreSQL's sequence knows none).
            last = int(await tx.scalar(select(func.max(Unit.id))) or 0)
            tx.add(Unit(id=last + 1, name="新增单位", kind="member", created_at=services.now()))
        assert await snapshot.scalar(select(func.count()).select_from(Unit)) == before
    async with services.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Unit)) == before + 1
