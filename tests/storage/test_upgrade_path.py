"""The upgrade path: a database holding data at the first released schema (revision 0001) is
brought to the newest by `liaison-bot db upgrade`, and every row is found again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, select, text

from bot.ledger.report import build_report
from bot.services import Services
from storage.db import Database, alembic_config
from storage.models import (
    ChecklistItem,
    Invite,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)
from tests.support.cli import run_cli
from tests.support.messages import says
from tests.support.settings import make_settings

FIRST_RELEASE = "0001"
AT = datetime(2026, 11, 28, 1, 30)  # naive UTC, as 0001 stores it


def write_first_release_rows(connection: Connection) -> None:
    """Rows as the first release wrote them: into its own tables, not today's models."""
    tables = MetaData()
    tables.reflect(connection)

    def put(table: str, /, **values: Any) -> int:
        result = connection.execute(tables.tables[table].insert().values(**values))
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0

    civil = put("unit", name="市民政局", kind="member", created_at=AT)
    county = put("unit", name="西吉县", kind="county", created_at=AT)
    put(
        "person", unit_id=civil, role="liaison", name="张伟", post="科员",
        phone="13800000001", telegram_user_id=7001, since=AT, entered_by=7001,
    )  # fmt: skip
    put(
        "person", unit_id=civil, role="lead", name="李娜", post="副局长",
        phone="13800000002", since=AT, entered_by=7001,
    )  # fmt: skip
    item = put(
        "checklist_item", kind="member", title="年度工作计划（含双拥工作内容）",
        description="", position=1, active=True,
    )  # fmt: skip
    submission = put(
        "submission", unit_id=civil, item_id=item, state="pending", answer_kind="files",
        submitted_by=7001, created_at=AT, submitted_at=AT,
    )  # fmt: skip
    put(
        "submission_file", submission_id=submission, unit_id=civil, item_id=item,
        file_id="F1", file_unique_id="U1", file_name="计划.pdf", mime_type="application/pdf",
        size=1234, sha256="ab" * 32, path="1/1/0a1b2c3d_计划.pdf", created_at=AT,
    )  # fmt: skip
    put(
        "outbox", dedupe_key="reminder:2:0:2026-11-28", chat_id=7002,
        purpose="reminder", payload={"method": "sendMessage", "text": "请报送"},
        unit_id=county, state="sent", due_at=AT, attempts=1, created_at=AT, sent_at=AT,
        message_id=42,
    )  # fmt: skip
    put(
        "invite", unit_id=county, role="liaison", token_hash="cd" * 32, created_at=AT,
        expires_at=AT, created_by=None,
    )  # fmt: skip


def upgrade_to(revision: str) -> Any:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return run


async def test_data_of_the_first_release_survives_db_upgrade_to_the_newest(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(db_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(upgrade_to(FIRST_RELEASE))
            await connection.run_sync(write_first_release_rows)
    finally:
        await db.dispose()

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("db", "upgrade")
    assert done.code == 0, done.err
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert says(done.out, "setup.upgraded", before=FIRST_RELEASE, after=head)

    services = Services(settings=make_settings(db_url), db=Database(db_url))
    try:
        async with services.db.sessions() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
            assert revision == head
            units = {u.id: u for u in (await session.scalars(select(Unit))).all()}
            people = (await session.scalars(select(Person).order_by(Person.id))).all()
            submission = await session.get(Submission, 1)
            stored = await session.get(SubmissionFile, 1)
            sent = await session.get(OutboxMessage, 1)
            invite = await session.get(Invite, 1)
            items = (await session.scalars(select(ChecklistItem))).all()
        assert {u.name for u in units.values()} == {"市民政局", "西吉县"}
        assert units[1].created_at == AT.replace(tzinfo=UTC)
        assert [(p.name, p.role, p.telegram_user_id) for p in people] == [
            ("张伟", "liaison", 7001),
            ("李娜", "lead", None),
        ]
        assert submission is not None
        assert (submission.state, submission.unit_id) == ("pending", 1)
        assert stored is not None
        assert (stored.file_name, stored.sha256, stored.size) == ("计划.pdf", "ab" * 32, 1234)
        assert sent is not None
        assert (sent.payload["text"], sent.state, sent.message_id) == ("请报送", "sent", 42)
        assert invite is not None
        assert invite.token_hash == "cd" * 32
        assert [i.title for i in items] == ["年度工作计划（含双拥工作内容）"]

        # The newest code reads the old data as it always has, and goes on writing.
        async with services.db.uow() as tx:
            tx.add(Unit(name="隆德县", kind="county", created_at=services.now()))
        report = await build_report(services=services)
        [civil] = [u for u in report.units if u.name == "市民政局"]
        assert civil.liaison_registered
        assert civil.lead_registered
        assert civil.pending_review == 1
        assert civil.missing_items == ["年度工作计划（含双拥工作内容）"]
        [county] = [u for u in report.units if u.name == "西吉县"]
        assert county.reminders_sent == 1
    finally:
        await services.close()
