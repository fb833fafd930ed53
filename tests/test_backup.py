"""Backups that restore: `backup` while the bot writes, `restore` into an empty place, and the
refusals (data in the way, a damaged archive, no pg_dump), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot import roster
from bot.clock import FrozenClock
from bot.demo.sample import seed_notice_situation
from bot.errors import DomainError
from bot.ledger.checklist import prepare_database
from bot.ops import backup as ops
from bot.ops import daily_backup
from bot.ops.backup import BackupError, create_backup, restore_backup
from bot.ops.daily_backup import BackupSchedule
from bot.ops.health import Health
from bot.ops.running import ADVISORY_KEY, RunningMark, no_bot_running
from bot.services import Services
from bot.transport.outbox import enqueue, text_payload
from bot.transport.supervisor import Fatal
from messages import plain
from storage import repositories as repo
from storage.db import Database
from storage.models import (
    AuditEvent,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)
from tests.support.cli import Done, run_cli
from tests.support.databases import drop_pg_database, fresh_pg_database
from tests.support.messages import says
from tests.support.settings import make_settings, with_settings

TABLES: list[Any] = [Unit, Person, Submission, SubmissionFile, OutboxMessage]


async def seed(services: Services) -> None:
    """The notice's situation, two submissions with files on disk, and some outbox rows."""
    await seed_notice_situation(services=services)
    now = services.now()
    data_dir = services.settings.data_dir
    async with services.db.uow() as tx:
        units = list(await repo.units(tx))
        items = list(await repo.checklist(tx))
        for n, unit in enumerate(units[:2]):
            item = next(i for i in items if i.kind == unit.kind)
            submission = Submission(
                unit_id=unit.id, item_id=item.id, state="pending", answer_kind="files",
                submitted_by=1, created_at=now, submitted_at=now,
            )  # fmt: skip
            tx.add(submission)
            await tx.flush()
            for k in range(2):
                content = f"{unit.name} 第{k + 1}份材料".encode() * (200 + n)
                relative = f"{unit.id}/{item.id}/{k}_材料.pdf"
                target = data_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                tx.add(
                    SubmissionFile(
                        submission_id=submission.id, unit_id=unit.id, item_id=item.id,
                        file_id=f"f{unit.id}{k}", file_unique_id=f"u{unit.id}{k}",
                        file_name=f"{k}_材料.pdf", mime_type="application/pdf",
                        size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                        path=relative, created_at=now,
                    )
                )  # fmt: skip
        for unit in units[:5]:
            await enqueue(
                tx, key=f"reminder:{unit.id}", chat_id=unit.id + 1000, purpose="reminder",
                payload=text_payload("请报送"), now=now, unit_id=unit.id,
            )  # fmt: skip
    async with services.db.uow() as tx:
        for row in (await tx.scalars(select(OutboxMessage))).all():
            row.state, row.sent_at = "sent", now


async def rows(db: Database) -> dict[str, dict[int, dict[str, Any]]]:
    """Every row of the tables a backup must keep, by id."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    async with db.sessions() as session:
        for model in TABLES:
            columns = [c.key for c in model.__table__.columns]
            objects = (await session.scalars(select(model))).all()
            found[model.__tablename__] = {
                o.id: {c: getattr(o, c) for c in columns} for o in objects
            }
    return found


async def keep_writing(
    services: Services, stop: asyncio.Event, written: list[int], warm: asyncio.Event
) -> None:
    """What a running bot does meanwhile: notices queued and audited, one transaction each."""
    n = 0
    while not stop.is_set():
        n += 1
        async with services.db.uow() as tx:
            await enqueue(
                tx, key=f"notice:{n}", chat_id=5000 + n, purpose="notice",
                payload=text_payload(f"通知{n}"), now=services.now(),
            )  # fmt: skip
            repo.audit(tx, services.now(), None, "test_write", n=n)
        written.append(n)
        if n == 3:
            warm.set()
        await asyncio.sleep(0)


@pytest.fixture
async def empty_url(migrated_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second, empty database of the same kind as the test's: the place to restore into."""
    if migrated_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        return
    url, name = await fresh_pg_database()
    yield url
    await drop_pg_database(name)


@pytest.fixture
async def target(empty_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """The empty database (and DATA_DIR `restored/`) a test restores into."""
    into = Services(
        settings=make_settings(empty_url, data_dir=tmp_path / "restored"), db=Database(empty_url)
    )
    yield into
    await into.close()


# A test of one engine's own path: the `services` fixture on that engine alone.
ON_POSTGRES = pytest.mark.parametrize(
    "migrated_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("migrated_url", ["sqlite"], indirect=True)


def use(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    """Point the command line at a database and a DATA_DIR."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("LANGUAGE", "zh")


def report_less_time(done: Done) -> dict[str, Any]:
    assert done.code == 0, done.err
    report: dict[str, Any] = json.loads(done.out)
    del report["generated_at"]
    return report


async def test_backup_while_writing_restores_every_row_file_and_the_report(
    services: Services,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    await seed(services)
    before = await rows(services.db)
    archive = tmp_path / "backup.tar.gz"
    source_data = services.settings.data_dir

    stop, warm, written = asyncio.Event(), asyncio.Event(), list[int]()
    writer = asyncio.create_task(keep_writing(services, stop, written, warm))
    await warm.wait()
    use(monkeypatch, services.db.url, source_data)
    made = await run_cli("backup", str(archive))
    during = len(written)
    stop.set()
    await writer
    assert made.code == 0, made.err
    assert made.out.startswith(f"已备份到 {archive}")
    assert during > 3, "the bot kept writing while the backup ran"

    restored_data = tmp_path / "restored-data"
    use(monkeypatch, empty_url, restored_data)
    done = await run_cli("restore", str(archive))
    assert done.code == 0, done.err
    with tarfile.open(archive) as tar:
        body = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
    manifest = ops.Manifest.model_validate_json(body)
    counts = manifest.counts
    assert done.out.startswith("已恢复")
    assert f"单位{counts.units}家、人员{counts.people}人、报送{counts.submissions}份" in done.out
    assert f"资料文件4个已写入 {restored_data}" in done.out

    target = Database(empty_url)
    try:
        after_source = await rows(services.db)
        restored = await rows(target)
        # Every row there before the backup began is back, unchanged …
        for table, by_id in before.items():
            for row_id, row in by_id.items():
                assert restored[table].get(row_id) == row, (table, row_id)
        # … and nothing that was not in the database at one moment during the backup.
        for table, by_id in restored.items():
            for row_id, row in by_id.items():
                assert after_source[table][row_id] == row, (table, row_id)
        notices = [r for r in restored["outbox"].values() if r["purpose"] == "notice"]
        assert 3 <= len(notices) == counts.outbox - 5
        assert counts.units == len(restored["unit"]) == len(before["unit"])
        assert counts.files == 4
        # Every submitted file is on disk again, byte for byte.
        for row in restored["submission_file"].values():
            assert (
                hashlib.sha256((restored_data / row["path"]).read_bytes()).hexdigest()
                == (row["sha256"])
            )
        async with target.sessions() as session:
            audited = await session.scalar(select(func.count()).select_from(AuditEvent))
        assert (audited or 0) >= len(notices)
    finally:
        await target.dispose()

    use(monkeypatch, services.db.url, source_data)
    original = report_less_time(await run_cli("report", "--json"))
    use(monkeypatch, empty_url, restored_data)
    assert report_less_time(await run_cli("report", "--json")) == original
    assert original["totals"]["missing_contacts"] == 13


async def test_restore_refuses_a_database_with_data_unless_forced(
    services: Services, empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await seed(services)
    archive = tmp_path / "b.tar.gz"
    await create_backup(services=services, target=archive)

    # The place to restore into already holds another office's roster.
    other = Services(
        settings=make_settings(empty_url, data_dir=tmp_path / "other"),
        db=Database(empty_url),
        clock=FrozenClock(datetime(2026, 12, 1, tzinfo=UTC)),
    )
    try:
        await prepare_database(other)
        async with other.db.uow() as tx:
            tx.add(Unit(name="别的单位", kind="member", created_at=other.now()))
        use(monkeypatch, empty_url, tmp_path / "other")
        refused = await run_cli("restore", str(archive))
        assert refused.code == 2
        assert refused.err.strip() == plain("zh", "ops.has_data", units=1, submissions=0)
        assert {u.name for u in await _units(other.db)} == {"别的单位"}

        forced = await run_cli("restore", str(archive), "--force")
        assert forced.code == 0, forced.err
        assert {u.name for u in await _units(other.db)} == {
            u.name for u in await _units(services.db)
        }
    finally:
        await other.close()


async def _units(db: Database) -> list[Unit]:
    async with db.sessions() as session:
        return list((await session.scalars(select(Unit))).all())


def _rewrite(archive: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Rewrite an archive member by member; `change` returns new bytes, or None to drop one."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.isfile()]  # type: ignore[union-attr]
    with tarfile.open(archive, "w:gz") as tar:
        for member, body in members:
            changed = change(member.name, body)
            if changed is None:
                continue
            member.size = len(changed)
            tar.addfile(member, io.BytesIO(changed))


async def test_a_damaged_or_incomplete_archive_is_refused_before_anything_changes(
    services: Services, target: Services, tmp_path: Path
) -> None:
    await seed(services)
    archive = tmp_path / "b.tar.gz"
    made = await create_backup(services=services, target=archive)
    victim = made.manifest.files[0].path
    _rewrite(archive, lambda name, body: body[:-1] + b"!" if name == victim else body)
    with pytest.raises(BackupError) as damaged:
        await restore_backup(services=target, source=archive)
    assert damaged.value.key == "ops.checksum_mismatch"
    assert damaged.value.values == {"member": victim}

    _rewrite(archive, lambda name, body: None if name == victim else body)
    with pytest.raises(BackupError) as incomplete:
        await restore_backup(services=target, source=archive)
    assert incomplete.value.key == "ops.missing_member"

    (tmp_path / "notes.txt").write_text("not a backup")
    with pytest.raises(BackupError) as foreign:
        await restore_backup(services=target, source=tmp_path / "notes.txt")
    assert foreign.value.key == "ops.not_an_archive"

    assert await ops.count_rows(target.db) is None  # nothing was created
    assert not any((tmp_path / "restored").iterdir())


async def test_without_pg_dump_the_message_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(ops, "PG_BIN_DIRS", tmp_path / "no-postgresql")
    url = "postgresql+asyncpg://bot@127.0.0.1:1/bot"
    services = Services(settings=make_settings(url, data_dir=tmp_path), db=Database(url))
    try:
        with pytest.raises(BackupError) as caught:
            await create_backup(services=services, target=tmp_path / "b.tar.gz")
    finally:
        await services.close()
    message = plain("zh", caught.value.key, **caught.value.values)
    assert "pg_dump" in message
    assert "postgresql-client" in message
    assert not (tmp_path / "b.tar.gz").exists()


@pytest.fixture
async def scheduled(
    sqlite_url: str, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[Services]:
    settings = make_settings(
        sqlite_url,
        data_dir=tmp_path / "data",
        staff_ids="900,901",
        backup_dir=tmp_path / "backups",
        backup_time="03:00",
        backup_keep=2,
    )
    svc = Services(settings=settings, db=Database(sqlite_url), clock=clock)
    await prepare_database(svc)
    yield svc
    await svc.close()


def office_time(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-12-`day` at hour:minute in Shanghai, as UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


async def test_the_daily_backup_runs_once_a_day_after_its_time_and_keeps_the_newest(
    scheduled: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    first, second = BackupSchedule(scheduled), BackupSchedule(scheduled)  # two processes
    clock.set(office_time(1, 2, 59))
    assert await first.run_once() is None
    clock.set(office_time(1, 3, 0))
    made = await first.run_once()
    assert made is not None
    assert made.path.parent == folder
    assert await second.run_once() is None  # today's is made
    clock.set(office_time(1, 14))
    assert await first.run_once() is None
    for day in (2, 3):
        clock.set(office_time(day, 3, 5))
        assert await second.run_once() is not None
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == ["liaison-bot-20261202-030500.tar.gz", "liaison-bot-20261203-030500.tar.gz"]
    assert await daily_backup.last_backup_at(scheduled) == office_time(3, 3, 5)


async def test_a_failed_daily_backup_tells_staff_after_the_quiet_hours(
    scheduled: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    (tmp_path / "backups").write_text("a file where the folder should be")
    for user_id in (901, 899):  # 901 is in STAFF_IDS too: one notice for them all the same
        await roster.add_staff(services=scheduled, user_id=user_id)
    woken: list[bool] = []
    clock.set(office_time(4, 3, 0))
    assert await BackupSchedule(scheduled, on_notice=lambda: woken.append(True)).run_once() is None
    assert woken == [True]
    async with scheduled.db.sessions() as session:
        notices = (
            await session.scalars(select(OutboxMessage).order_by(OutboxMessage.chat_id))
        ).all()
    assert [n.chat_id for n in notices] == [899, 900, 901]
    text = notices[0].payload["text"]
    assert text.startswith("2026年12月4日的自动备份未完成：")
    assert str(tmp_path / "backups") in text
    # 03:00 is inside the quiet hours (20:00-08:00): staff read it at 08:00.
    assert notices[0].due_at == office_time(4, 8, 0)


async def test_a_sqlite_database_kept_in_data_dir_is_archived_once(
    clock: FrozenClock, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite+aiosqlite:///{data_dir / 'bot.db'}"
    services = Services(
        settings=make_settings(url, data_dir=data_dir), db=Database(url), clock=clock
    )
    try:
        await prepare_database(services)
        async with services.db.uow() as tx:
            tx.add(Unit(name="市民政局", kind="member", created_at=services.now()))
        (data_dir / "1").mkdir()
        (data_dir / "1" / "a.pdf").write_bytes(b"%PDF")
        (data_dir / "bot.db.lock").touch()  # the running mark of a bot on it
        made = await create_backup(services=services, target=tmp_path / "b.tar.gz")
    finally:
        await services.close()
    # The live file and its WAL would be a torn copy, and restoring them would undo the restore
    # (and a restored lock file would be renamed over the one a bot may hold).
    assert [f.path for f in made.manifest.files] == ["data/1/a.pdf"]
    assert made.manifest.counts.units == 1


async def test_a_backup_leaves_out_the_files_made_to_send_in_the_chat(
    services: Services, tmp_path: Path
) -> None:
    """An archive of the materials sent in the chat was kept in DATA_DIR/exports, and every
    daily backup took it again: each press of 「资料」 added every material to every backup."""
    data_dir = services.settings.data_dir
    for name in ("1/2/ab12cd34_报告.pdf", "notices/supervision/催办通知_市民政局.docx"):
        (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / name).write_bytes(b"kept")
    for name in (
        "exports/双拥工作联络情况_资料_20261130_0900.zip",
        "exports/.sending-ab12_x9z/a.xlsx",
    ):
        (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / name).write_bytes(b"made to be sent")
    made = await create_backup(services=services, target=tmp_path / "b.tar.gz")
    assert sorted(f.path for f in made.manifest.files) == [
        "data/1/2/ab12cd34_报告.pdf",
        "data/notices/supervision/催办通知_市民政局.docx",
    ]


@pytest.mark.parametrize("above", [0, 1])
async def test_a_backup_dir_above_data_dir_leaves_out_only_the_daily_archives(
    services: Services, above: int
) -> None:
    """BACKUP_DIR set to DATA_DIR, or to the install folder above it: the whole of it was left
    out, and with it every collected file, without a word."""
    data_dir = services.settings.data_dir
    folder = data_dir.parents[above - 1] if above else data_dir
    services = with_settings(services, backup_dir=folder)
    (data_dir / "1/2").mkdir(parents=True, exist_ok=True)
    (data_dir / "1/2/ab12cd34_报告.pdf").write_bytes(b"kept")
    (folder / "liaison-bot-20261130-030000.tar.gz").write_bytes(b"yesterday's")
    made = await create_backup(services=services, target=folder / "liaison-bot-manual.tar.gz")
    assert [f.path for f in made.manifest.files] == ["data/1/2/ab12cd34_报告.pdf"]


# ---- a PostgreSQL restore that fails leaves the data it would have replaced ----------------


REAL_PG_RESTORE = shutil.which("pg_restore") or "pg_restore"


def fake_tool(folder: Path, name: str, body: str) -> None:
    """Put a program `name` running `body` (sh) first on PATH."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def fake_pg_restore(folder: Path, body: str) -> None:
    """Put a `pg_restore` running `body` (sh) first on PATH; $REAL is the real one."""
    fake_tool(folder, "pg_restore", f'REAL="{REAL_PG_RESTORE}"\n{body}')


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("fake", "key"),
    [
        # The reviewer's: a client older than the dump's format.
        (
            'echo "pg_restore: error: unsupported version (1.16) in file header" >&2; exit 1',
            "ops.pg_dump_unreadable",
        ),
        # The dump reads, but its SQL fails half way, after the old tables were dropped.
        (
            'case "$*" in *--file=*) "$REAL" "$@" || exit 1\n'
            '  for a in "$@"; do case "$a" in --file=*) echo "SELECT 1/0;" >> "${a#--file=}";;'
            " esac; done;;\n"
            '*) exec "$REAL" "$@";; esac',
            "ops.pg_restore_rolled_back",
        ),
    ],
    ids=["unreadable", "fails-midway"],
)
@ON_POSTGRES
async def test_a_failed_postgres_restore_leaves_the_old_tables_and_rows(
    services: Services,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: str,
    key: str,
) -> None:
    await seed(services)
    archive = tmp_path / "b.tar.gz"
    await create_backup(services=services, target=archive)
    other = Services(
        settings=make_settings(empty_url, data_dir=tmp_path / "other"), db=Database(empty_url)
    )
    try:
        await prepare_database(other)
        async with other.db.uow() as tx:
            tx.add(Unit(name="别的单位", kind="member", created_at=services.now()))
        before = await ops.count_rows(other.db)
        fake_pg_restore(tmp_path / "bin", fake)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
        use(monkeypatch, empty_url, tmp_path / "other")
        done = await run_cli("restore", str(archive), "--force")
        assert done.code == 2
        assert says(done.err, key), done.err
        await other.db.dispose()
        assert await ops.count_rows(other.db) == before
        assert {u.name for u in await _units(other.db)} == {"别的单位"}
        assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())
    finally:
        await other.close()


# ---- a PostgreSQL backup that pg_dump cannot write says why in the office's words -----------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("said", "key", "values"),
    [
        (
            "pg_dump: error: could not write to output file: No space left on device",
            "disk_full",
            {},
        ),
        (
            'pg_dump: error: could not open output file "/x/d.dump": Read-only file system',
            "folder_not_writable",
            {},
        ),
        (
            "pg_dump: error: could not close output file: Input/output error",
            "cannot_write",
            {"reason": "Input/output error"},
        ),
        (
            "pg_dump: error: query failed: ERROR:  permission denied for table units\n"
            "pg_dump: detail: Query was: LOCK TABLE public.units IN ACCESS SHARE MODE",
            "pg_failed",
            {
                "tool": "pg_dump",
                "reason": "query failed: ERROR:  permission denied for table units",
            },
        ),
    ],
    ids=["full", "read-only", "other-write", "not-a-write"],
)
@ON_POSTGRES
async def test_a_postgres_backup_pg_dump_cannot_write_says_why_in_the_offices_words(
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    said: str,
    key: str,
    values: dict[str, str],
) -> None:
    """pg_dump onto a full disk: the office read pg_dump's own English ("No space left on
    device") where a SQLite backup says the backup folder's disk is full."""
    (tmp_path / "said.txt").write_text(said + "\n")
    # In the server's language pg_dump would say it in Chinese: it must be asked in C.
    fake_tool(
        tmp_path / "bin",
        "pg_dump",
        f'[ "$LC_ALL" = C ] || {{ echo "pg_dump: 错误: 设备上没有空间" >&2; exit 1; }}\n'
        f'cat "{tmp_path / "said.txt"}" >&2; exit 1',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    folder = tmp_path / "out"
    with pytest.raises(BackupError) as caught:
        await create_backup(services=services, target=folder / "b.tar.gz")
    where = {} if key == "pg_failed" else {"folder": folder}
    assert (caught.value.key, caught.value.values) == (f"ops.{key}", where | values)
    assert list(folder.iterdir()) == []  # no scratch folder left
    use(monkeypatch, services.db.url, services.settings.data_dir)
    done = await run_cli("backup", str(folder / "b.tar.gz"))
    assert done.code == 2
    assert done.err.strip() == plain("zh", f"ops.{key}", **where, **values), done.err


# ---- restore refuses while a bot runs on the database ----------------------------------------


async def test_restore_is_refused_while_a_bot_runs_on_the_database(
    services: Services, target: Services, tmp_path: Path
) -> None:
    await seed(services)
    archive = tmp_path / "b.tar.gz"
    await create_backup(services=services, target=archive)
    running = RunningMark(Database(target.db.url))
    try:
        await prepare_database(target)
        await running.hold()  # what `run` holds while it runs
        with pytest.raises(DomainError) as refused:
            await restore_backup(services=target, source=archive, force=True)
        assert refused.value.key == "ops.bot_running"
        assert await ops.count_rows(target.db) == ops.Counts(
            units=0, people=0, submissions=0, files=0, outbox=0
        )
        await running.release()  # the bot stopped
        await restore_backup(services=target, source=archive, force=True)
        assert (await ops.count_rows(target.db)) == (await ops.count_rows(services.db))
    finally:
        await running.release()
        await running.db.dispose()


# ---- a backup that cannot be written, an archive cut short ----------------------------------


async def test_a_backup_to_a_place_that_cannot_be_written_says_why_in_one_line(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await seed(services)
    use(monkeypatch, services.db.url, services.settings.data_dir)
    done = await run_cli("backup", "/proc/y.tar.gz")
    assert done.code == 2
    assert done.err.strip() == plain("zh", "ops.folder_not_writable", folder=Path("/proc"))

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ops, "_write_archive", full)
    with pytest.raises(BackupError) as caught:
        await create_backup(services=services, target=tmp_path / "out" / "b.tar.gz")
    assert caught.value.key == "ops.disk_full"
    assert list((tmp_path / "out").iterdir()) == []  # no scratch folder left


async def test_a_data_dir_file_that_cannot_be_read_is_named_not_the_backup_folder(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A root-owned material in DATA_DIR: the office was told the backup folder did not exist
    or could not be written, and checked the wrong folder."""
    monkeypatch.chdir(tmp_path)
    await seed(services)
    data_dir = services.settings.data_dir
    locked = sorted(data_dir.rglob("*.pdf"))[0]
    original = ops._sha256

    def denied(path: Path) -> str:
        if path == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return original(path)

    monkeypatch.setattr(ops, "_sha256", denied)
    use(monkeypatch, services.db.url, data_dir)
    done = await run_cli("backup", str(tmp_path / "out" / "b.tar.gz"))
    assert done.code == 2
    assert done.err.strip() == plain(
        "zh", "ops.cannot_read", path=locked, reason="Permission denied"
    ), done.err
    assert list((tmp_path / "out").iterdir()) == []
    reason = daily_backup.failure_reason(
        BackupError("ops.cannot_read", path=locked, reason="x"), "zh"
    )
    assert reason == plain("zh", "ops.cannot_read_cause", path=locked, reason="x")


@ON_SQLITE
async def test_a_database_that_cannot_be_opened_is_named_not_the_backup_folder(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(services)

    def cannot_open(*args: object) -> None:
        sqlite3.connect(f"file:{tmp_path / 'nowhere' / 'x.db'}?mode=rw", uri=True)

    monkeypatch.setattr(ops, "_sqlite_copy", cannot_open)
    with pytest.raises(BackupError) as caught:
        await create_backup(services=services, target=tmp_path / "out" / "b.tar.gz")
    assert caught.value.key == "ops.cannot_read"
    assert caught.value.values["path"] == ops.sqlite_file(services.db.url)


async def test_an_archive_of_ours_cut_short_is_called_damaged_not_foreign(
    services: Services, target: Services, tmp_path: Path
) -> None:
    await seed(services)
    archive = tmp_path / "b.tar.gz"
    await create_backup(services=services, target=archive)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:5000])  # head -c 5000
    with pytest.raises(BackupError) as caught:
        await restore_backup(services=target, source=cut)
    assert caught.value.key == "ops.archive_damaged"


# ---- collected files missing from DATA_DIR -------------------------------------------------


async def test_backup_warns_when_collected_files_are_missing_from_data_dir(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await seed(services)
    data_dir = services.settings.data_dir
    gone = sorted(p for p in data_dir.rglob("*.pdf"))[0]
    gone.unlink()
    use(monkeypatch, services.db.url, data_dir)
    done = await run_cli("backup", str(tmp_path / "b.tar.gz"))
    assert done.code == 0, done.err  # the backup is made and restores what there is
    assert says(done.out, "ops.backup_done", archived=3)
    assert says(done.err, "ops.backup_missing_files", count=1, data_dir=data_dir), done.err

    gone.write_bytes(b"%PDF back")
    done = await run_cli("backup", str(tmp_path / "d.tar.gz"))
    assert done.code == 0
    assert done.err == ""


# ---- the daily backup: tried again when it fails, only its own archives pruned ---------------


async def test_a_failed_daily_backup_is_tried_again_the_same_day_and_shows_in_health(
    scheduled: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    await create_backup(services=scheduled, target=tmp_path / "manual.tar.gz")
    assert (
        await daily_backup.last_backup_at(scheduled) is None
    )  # the metric's age is the daily one's
    folder.write_text("a file where the folder should be")
    schedule = BackupSchedule(scheduled)
    clock.set(office_time(5, 3, 0))
    assert await schedule.run_once() is None
    async with scheduled.db.sessions() as session:
        notice = await session.scalar(select(OutboxMessage))
    assert notice is not None
    reason = plain("zh", "ops.folder_not_writable_cause", folder=folder)
    assert says(notice.payload["text"], "ops.backup_failed_notice", reason=reason)
    health = await Health(services=scheduled).problems()
    assert any(says(p, "ops.health_backup_failed", reason=reason, folder=folder) for p in health)

    folder.unlink()  # the cause is fixed
    clock.set(office_time(5, 3, 10))
    assert await schedule.run_once() is None  # not before RETRY_AFTER
    clock.set(office_time(5, 3, 31))
    made = await BackupSchedule(scheduled).run_once()  # a restarted process retries too
    assert made is not None
    assert made.path.parent == folder
    assert not any(says(p, "ops.health_backup_failed") for p in await Health(scheduled).problems())
    assert await daily_backup.last_backup_at(scheduled) == office_time(5, 3, 31)
    clock.set(office_time(5, 5, 0))
    assert await schedule.run_once() is None  # done for today


async def test_a_daily_backup_still_being_made_is_not_started_again(
    services: Services,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A backup that took over 30 minutes: the claim of the day ran out, and the next process
    to look began a second one into the same folder while the first was still writing."""
    folder = tmp_path / "backups"
    first = with_settings(services, backup_dir=folder, backup_time=time(3, 0))
    other = Services(settings=first.settings, db=Database(services.db.url), clock=clock)
    started: list[Path] = []
    writing, finish = asyncio.Event(), asyncio.Event()
    real = create_backup

    async def slow(*, services: Services, target: Path) -> ops.BackupOut:
        started.append(target)
        if len(started) == 1:  # the first one takes its time
            writing.set()
            await finish.wait()
        return await real(services=services, target=target)

    monkeypatch.setattr(daily_backup, "create_backup", slow)
    clock.set(office_time(6, 3, 0))
    making = asyncio.create_task(BackupSchedule(first).run_once())
    await writing.wait()
    second = BackupSchedule(other)  # another process
    try:
        with caplog.at_level(logging.INFO, logger=daily_backup.__name__):
            for minutes in (45, 46, 80):  # past RETRY_AFTER, the next tick, past it again
                clock.set(office_time(6, 3, 0) + timedelta(minutes=minutes))
                assert await second.run_once() is None
        assert len(started) == 1
        busy = [r for r in caplog.records if "already being made" in r.getMessage()]
        assert len(busy) == 1  # said once, not at every tick
        finish.set()
        made = await making
        assert made is not None
        assert await second.run_once() is None  # today's is made
        assert [p.name for p in folder.iterdir()] == [made.path.name]
        clock.set(office_time(7, 3, 0))  # the lock went with the first: the next day's is made
        assert await second.run_once() is not None
    finally:
        finish.set()
        await making
        await other.close()


async def test_the_daily_backup_prunes_only_its_own_archives(
    scheduled: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    others = ["liaison-bot-manual-keepme.tar.gz", "liaison-bot-20261130-030000.tar.gz.bak"]
    for name in others:
        (folder / name).write_bytes(b"kept by hand")
    for day in (1, 2, 3):
        clock.set(office_time(day, 3, 0))
        assert await BackupSchedule(scheduled).run_once() is not None
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*others, "liaison-bot-20261202-030000.tar.gz", "liaison-bot-20261203-030000.tar.gz"]
    )


async def test_files_that_cannot_be_written_after_the_database_is_restored_say_so(
    services: Services, target: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(services)
    archive = tmp_path / "b.tar.gz"
    await create_backup(services=services, target=archive)

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ops, "_move_files", full)
    with pytest.raises(BackupError) as caught:
        await restore_backup(services=target, source=archive)
    assert caught.value.key == "ops.files_not_restored"
    assert await ops.count_rows(target.db) == await ops.count_rows(services.db)


async def _lose_the_marks_connection(mark: RunningMark, other: Database) -> None:
    """PostgreSQL ends the session that holds the mark; the mark's next look finds it gone."""
    async with other.engine.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND objid = :low"
            ),
            {"low": ADVISORY_KEY & 0xFFFFFFFF},
        )
        await connection.commit()
    with pytest.raises(DBAPIError):  # the connection is gone
        await mark.step(asyncio.Event())


@pytest.mark.postgres
async def test_the_postgres_running_mark_is_taken_again_when_its_connection_is_lost(
    pg_url: str,
) -> None:
    mark = RunningMark(Database(pg_url))
    other = Database(pg_url)
    try:
        await mark.hold()
        await _lose_the_marks_connection(mark, other)
        await mark.step(asyncio.Event())  # the supervisor's next try takes it again
        with pytest.raises(DomainError) as refused:
            async with no_bot_running(other):
                pass
        assert refused.value.key == "ops.bot_running"
    finally:
        await mark.release()
        await mark.db.dispose()
        await other.dispose()


@pytest.mark.postgres
async def test_a_bot_that_finds_a_restore_holding_the_mark_it_lost_stops(pg_url: str) -> None:
    """Its connection lost, the mark was free: a restore took it. Waiting to take it again
    would have kept the bot serving, writing into the data being replaced."""
    mark = RunningMark(Database(pg_url))
    other = Database(pg_url)
    try:
        await mark.hold()
        await _lose_the_marks_connection(mark, other)
        async with no_bot_running(other):  # the restore, in the gap
            with pytest.raises(Fatal) as stopped:
                await asyncio.wait_for(mark.step(asyncio.Event()), 10)
        assert stopped.value.key == "ops.restore_under_bot"
    finally:
        await mark.release()
        await mark.db.dispose()
        await other.dispose()


# ---- the daily backup on a disk with little room, and what one killed half way left --------


MB = 1 << 20


class Disk:
    """A disk of `size` bytes holding everything under `root` (the database, DATA_DIR and
    BACKUP_DIR): its free space, as shutil.disk_usage would say."""

    def __init__(self, root: Path, size: int) -> None:
        self.root, self.size = root, size

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def usage(self, path: Any) -> Any:
        used = self.used()
        return shutil._ntuple_diskusage(self.size, used, self.size - used)


def materials(scheduled: Services, name: str, size: int) -> None:
    """A collected file of `size` bytes that does not compress (a scan, a photo)."""
    folder = scheduled.settings.data_dir / "1" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(os.urandom(size))


def daily_archives(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ops.SCHEDULED_PATTERN.fullmatch(p.name))


async def test_a_daily_backup_short_of_room_makes_it_from_the_oldest_archives_not_the_newest(
    scheduled: Services, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reviewer's disk: three days of backups fit; then more materials came, and every
    backup failed with the disk full, filled it at each try and never rotated the old ones."""
    kept = with_settings(scheduled, backup_keep=3)
    folder = tmp_path / "backups"
    materials(kept, "scan.pdf", 2 * MB)
    for day in (1, 2, 3):
        clock.set(office_time(day, 3, 0))
        assert await BackupSchedule(kept).run_once() is not None
    disk = Disk(tmp_path, 0)
    disk.size = disk.used() + 5 * MB  # room for one more archive as it was
    monkeypatch.setattr("bot.ops.daily_backup.shutil.disk_usage", disk.usage)
    materials(kept, "more.pdf", 2 * MB)  # not for one twice as large
    clock.set(office_time(4, 3, 0))
    made = await BackupSchedule(kept).run_once()
    assert made is not None
    assert disk.used() <= disk.size
    # The oldest went to make room; the newest before today's stayed.
    assert daily_archives(folder) == [
        "liaison-bot-20261203-030000.tar.gz",
        "liaison-bot-20261204-030000.tar.gz",
    ]


@ON_POSTGRES
async def test_a_postgres_daily_backup_is_measured_by_its_last_dump_not_the_server(
    services: Services, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twice pg_database_size (indexes, free space: megabytes for a dump of kilobytes) was
    asked for: a tight disk refused every backup, or lost older archives for nothing."""
    scheduled = with_settings(services, backup_dir=tmp_path / "backups", backup_time=time(3, 0))
    clock.set(office_time(1, 3, 0))
    first = await BackupSchedule(scheduled).run_once()
    assert first is not None
    assert first.manifest.database.size < MB
    disk = Disk(tmp_path, 0)
    disk.size = disk.used() + 3 * MB  # room for a dump many times the last, not for the server
    monkeypatch.setattr("bot.ops.daily_backup.shutil.disk_usage", disk.usage)
    clock.set(office_time(2, 3, 0))
    assert await BackupSchedule(scheduled).run_once() is not None


async def test_a_daily_backup_that_cannot_fit_is_not_begun_and_keeps_every_archive(
    scheduled: Services, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "backups"
    materials(scheduled, "scan.pdf", 2 * MB)
    for day in (1, 2):
        clock.set(office_time(day, 3, 0))
        assert await BackupSchedule(scheduled).run_once() is not None
    before = daily_archives(folder)
    materials(scheduled, "more.pdf", 2 * MB)
    disk = Disk(tmp_path, 0)
    disk.size = disk.used() + 1 * MB  # not enough even with the older archive gone
    monkeypatch.setattr("bot.ops.daily_backup.shutil.disk_usage", disk.usage)
    begun: list[Path] = []

    async def spy(*, services: Services, target: Path) -> ops.BackupOut:
        begun.append(target)
        raise AssertionError("a backup that cannot fit was begun")

    monkeypatch.setattr(daily_backup, "create_backup", spy)
    clock.set(office_time(3, 3, 0))
    assert await BackupSchedule(scheduled).run_once() is None
    assert begun == []
    assert daily_archives(folder) == before  # never the last good one, nor one not needed
    failure = await daily_backup.backup_failure(scheduled)
    assert failure is not None
    assert says(failure[1], "ops.no_room_cause", folder=folder)
    async with scheduled.db.sessions() as session:
        notice = await session.scalar(select(OutboxMessage))
    assert notice is not None
    assert says(notice.payload["text"], "ops.backup_failed_notice", reason=failure[1])
    assert any(says(p, "ops.health_backup_failed") for p in await Health(scheduled).problems())


async def test_the_daily_backup_clears_what_one_killed_half_way_left_and_nothing_else(
    scheduled: Services, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    killed = folder / "liaison-bot-20261201-030000.tar.gz.part"
    killed.write_bytes(b"half an archive")
    work = folder / ".liaison-backup-k1ll3d_x"
    work.mkdir()
    (work / "database.sqlite3").write_bytes(b"a copy")
    hour_ago = (office_time(2, 1, 0)).timestamp()
    for path in (work / "database.sqlite3", work):
        os.utime(path, (hour_ago, hour_ago))
    busy = folder / ".liaison-backup-n0w_busy"  # a `backup FILE` by hand, writing now
    busy.mkdir()
    (busy / "database.sqlite3").write_bytes(b"being copied")
    others = ["manual.tar.gz.part", "notes.part", "liaison-bot-20261201-030000.tar.gz.part.txt"]
    for name in others:
        (folder / name).write_bytes(b"not ours")
    (folder / ".liaison-backup-notes.txt").write_bytes(b"a file, not a work folder")
    clock.set(office_time(2, 3, 0))
    made = await BackupSchedule(scheduled).run_once()
    assert made is not None
    assert not killed.exists()
    assert not work.exists()
    assert busy.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*others, ".liaison-backup-notes.txt", busy.name, made.path.name]
    )
