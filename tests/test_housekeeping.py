"""Retention, logs and the dead-letter listing: what an unattended bot needs."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from telegram import Chat, Message, Update, User

from bot.deadletters import store
from bot.logs import configure_logging
from bot.registration.throttle import FAILURE_WINDOW
from bot.retention import prune
from bot.services import Services
from bot.staff.console import audit_log
from handlers.staff import audit_text
from storage import repositories as repo
from storage.models import AuditEvent, HandledUpdate, InviteAttempt, OutboxMessage
from tests.support.cli import run_cli
from tests.support.settings import make_settings, with_settings

SHANGHAI = "Asia/Shanghai"


def touched(path: Path, hours: float, *, folder: bool = False) -> Path:
    """Make `path` (a file, or a folder holding one) last changed `hours` ago."""
    if folder:
        path.mkdir(parents=True)
        (path / "database.sqlite3").write_bytes(b"x")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    moment = datetime.now(UTC).timestamp() - hours * 3600
    os.utime(path, (moment, moment))
    return path


async def test_pruning_deletes_what_a_killed_process_left_and_only_that(
    services: Services, tmp_path: Path
) -> None:
    """A download, a write check, a file made to send, a restore: each killed half way left
    its file for ever (and the daily backup took the ones under DATA_DIR's exports again)."""
    services = with_settings(services, data_dir=tmp_path / "data")
    data = tmp_path / "data"
    gone = [
        touched(data / "3" / "7" / "ab12cd34_报告.pdf.part", 25),
        touched(data / ".write-check-4242.part", 25),
        touched(data / "exports" / ".sending-ab1_cd2x", 25, folder=True),
        touched(tmp_path / ".liaison-restore-q9_w8e7r", 25, folder=True),
        touched(data / "notices" / "supervision" / "催办通知_市民政局_20261201_0900.docx", 25),
        # Sent in the chat, and kept by a bot before this one for good:
        touched(data / "exports" / "双拥工作联络情况_20261130_0900.xlsx", 25),
        touched(data / "exports" / "双拥资料台账_20261130_0901_第2部分.zip", 25),
        touched(data / "exports" / "ledger-materials_20261130_0901.zip", 25),
        touched(data / "notices" / "双拥工作情况通报_20261130_0902.docx", 25),
        touched(data / "notices" / "催办通知_市民政局_20261130_0903.docx", 25),
    ]
    kept = [
        touched(data / "3" / "7" / "ab12cd34_报告.pdf.part.pdf", 25),  # a material of its own
        touched(data / "3" / "7" / "ab12cd34_报告.pdf", 25),
        touched(data / "3" / "7" / "ab12cd34_新.pdf.part", 1),  # being written, maybe
        touched(data / "3" / "notes.part", 25),
        touched(data / "notes" / "7" / "ab12cd34_x.part", 25),
        touched(data / "exports" / ".sending-n0w_n0w0", 1, folder=True),
        touched(data / "exports" / "双拥工作联络情况_20261205_0900.xlsx", 1),
        touched(data / "exports" / "台账备注.xlsx", 25),
        touched(data / "notices" / "红头模板.docx", 25),
        touched(data / "notices" / "双拥工作情况通报_20261130_0902.docx.bak.txt", 25),
        touched(tmp_path / ".liaison-restore-x", 25, folder=True),
        touched(tmp_path / "liaison-restore-a1b2c3d4", 25, folder=True),
        touched(data / "notices" / "supervision" / "催办通知_西吉县_20261201_0900.docx", 25),
        touched(data / "notices" / "supervision" / "催办通知_泾源县_20261204_0900.docx", 1),
        touched(data / "notices" / "supervision" / "说明.txt", 25),
    ]
    waiting = kept[12]  # after the quiet hours, say: its message is still to be sent
    async with services.db.uow() as tx:
        tx.add(
            OutboxMessage(
                dedupe_key="supervise:2:2026-11-30:900", chat_id=900, purpose="task",
                payload={"method": "sendDocument", "path": str(waiting)}, state="pending",
                due_at=services.now(), created_at=services.now(),
            )
        )  # fmt: skip

    out = await prune(services=services)

    assert out.files == len(gone)
    assert [p for p in gone if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


async def test_pruning_follows_no_link_out_of_data_dir_and_stops_for_no_folder(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exports` and `notices` linked to a shared drive lost the office's own files there; a
    folder the bot may not list stopped the housekeeping, and so the bot, every 15 minutes."""
    services = with_settings(services, data_dir=tmp_path / "data")
    share = tmp_path / "share"
    kept = [
        touched(share / "双拥工作联络情况_20261130_0900.xlsx", 25),
        touched(share / "双拥工作情况通报_20261130_0902.docx", 25),
    ]
    (tmp_path / "data").mkdir()
    for name in ("exports", "notices"):
        (tmp_path / "data" / name).symlink_to(share, target_is_directory=True)
    gone = touched(tmp_path / "data" / ".write-check-4242.part", 25)
    unlisted = (tmp_path / "data" / "3").resolve()
    unlisted.mkdir()
    listing = Path.iterdir

    def iterdir(self: Path) -> Iterator[Path]:
        if self == unlisted or self == tmp_path.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    out = await prune(services=services)
    assert [p for p in kept if not p.exists()] == []
    assert out.files == 1
    assert not gone.exists()


async def test_pruning_keeps_what_must_be_kept(services: Services) -> None:
    now = services.now()
    wall = datetime.now(UTC)
    async with services.db.uow() as tx:
        tx.add(HandledUpdate(update_id=1, handled_at=wall - timedelta(hours=49)))
        tx.add(HandledUpdate(update_id=2, handled_at=wall - timedelta(hours=47)))
        for key, state, age in (
            ("old-sent", "sent", 366),
            ("new-sent", "sent", 364),
            ("old-failed", "failed", 500),
            ("old-unknown", "unknown", 500),
            ("old-reminder", "sent", 3000),
        ):
            tx.add(
                OutboxMessage(
                    dedupe_key=key, chat_id=1, payload={}, state=state,
                    purpose="reminder" if key == "old-reminder" else "notice",
                    due_at=now - timedelta(days=age), created_at=now - timedelta(days=age),
                    sent_at=now - timedelta(days=age) if state == "sent" else None,
                )
            )  # fmt: skip
        repo.audit(tx, now - timedelta(days=3000), None, "export")
    async with services.db.sessions() as session:
        audits_before = await session.scalar(select(func.count()).select_from(AuditEvent))

    out = await prune(services=services)

    assert (out.handled_updates, out.outbox_rows) == (1, 1)
    async with services.db.sessions() as session:
        handled = set((await session.scalars(select(HandledUpdate.update_id))).all())
        keys = set((await session.scalars(select(OutboxMessage.dedupe_key))).all())
        audits = await session.scalar(select(func.count()).select_from(AuditEvent))
    assert handled == {2}  # Telegram may still send update 2 again; 1 is past its window
    assert keys == {"new-sent", "old-failed", "old-unknown", "old-reminder"}
    assert audits == audits_before  # the audit log is kept


async def test_invite_attempts_past_their_window_are_deleted(services: Services) -> None:
    """Every refused /start link stayed in invite_attempt for ever."""
    now = services.now()
    async with services.db.uow() as tx:
        for minutes, reason in ((5, "unknown"), (59, "throttled"), (61, "unknown"), (900, "used")):
            tx.add(InviteAttempt(user_id=4004, at=now - timedelta(minutes=minutes), reason=reason))

    out = await prune(services=services)

    assert out.invite_attempts == 2
    async with services.db.sessions() as session:
        kept = (await session.scalars(select(InviteAttempt.at))).all()
    assert sorted(now - at for at in kept) == [timedelta(minutes=5), timedelta(minutes=59)]
    assert all(now - at < FAILURE_WINDOW for at in kept)


def test_the_log_never_holds_the_token_and_masks_phone_numbers() -> None:
    token = "4242424:E2E-TEST-TOKEN-abcdefghijklmnop"
    settings = make_settings("sqlite+aiosqlite:///x.db", bot_token=token)
    stream = io.StringIO()
    handler = configure_logging(settings, stream)
    try:
        log = logging.getLogger("bot.test")
        log.warning("update 1234567 from 5001 chat -1001234567890 at 1780000000")
        log.warning("contact +86 138 0013 8000 and 13900139000, office 0951-2345678")
        try:
            raise OSError(f"cannot reach https://api.telegram.org/bot{token}/sendMessage")
        except OSError:
            log.exception("sending failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert token not in text
    assert token.split(":")[1] not in text
    assert "/bot<token>/sendMessage" in text
    assert "update 1234567 from 5001 chat -1001234567890 at 1780000000" in text  # ids stay
    for number in ("13800138000", "13900139000", "0951-2345678"):
        assert number not in text
    assert "contact 138****8000 and 139****9000, office 095****5678" in text


def _update(update_id: int, user_id: int, text: str) -> Update:
    user = User(id=user_id, first_name="李", is_bot=False, language_code="zh")
    chat = Chat(id=user_id, type="private")
    message = Message(
        message_id=1, date=datetime(2026, 11, 30, tzinfo=UTC), chat=chat, from_user=user,
        text=text,
    )  # fmt: skip
    return Update(update_id=update_id, message=message)


async def test_dead_letters_are_listed_for_staff_in_the_cli_and_in_audit(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter = await store(
        services=services,
        update=_update(88, 7001, "/status"),
        error="ValueError: a bug",
        attempts=3,
    )
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("TIMEZONE", SHANGHAI)
    monkeypatch.setenv("LANGUAGE", "zh")

    listed = await run_cli("deadletters", "--json")
    assert listed.code == 0, listed.err
    [shown] = json.loads(listed.out)
    assert (shown["id"], shown["update_id"], shown["user_id"]) == (letter.id, 88, 7001)
    assert (shown["error"], shown["attempts"]) == ("ValueError: a bug", 3)
    assert shown["update"]["message"]["text"] == "/status"
    text = await run_cli("deadletters")
    assert text.out.startswith(f"#{letter.id} ")
    assert "ValueError: a bug（已尝试3次）" in text.out

    page = await audit_log(services=services, actor_id=900)
    assert "消息未能处理，已转人工核查" in audit_text(page, "zh", services.settings.tz)
    # The update is confirmed: a redelivery is skipped.
    assert await services.db.is_handled(88)


async def test_no_dead_letters_says_so(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    done = await run_cli("deadletters")
    assert (done.code, done.out.strip()) == (0, "没有未能处理的消息。")
