"""Dead letters tell staff what was lost; `deadletters` also lists what was not delivered."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from telegram import Chat, Document, Message, Update, User
from telegram.error import TimedOut

from bot.clock import FrozenClock
from bot.deadletters import store
from bot.ops.metrics import read_figures, stuck_outbox
from bot.services import Services
from messages import format_clock, format_short_date, plain, role_name
from storage.models import OutboxMessage
from tests.support.cli import run_cli
from tests.support.factories import add_account, add_outbox, add_person, add_unit
from tests.support.messages import says
from tests.support.settings import with_settings


def document_update(update_id: int, user_id: int, file_name: str) -> Update:
    user = User(id=user_id, first_name="伟", last_name="张", is_bot=False, language_code="zh")
    message = Message(
        message_id=1,
        date=datetime(2026, 11, 30, tzinfo=UTC),
        chat=Chat(id=user_id, type="private"),
        from_user=user,
        document=Document(file_id="BQAC", file_unique_id="AQAD", file_name=file_name),
    )
    return Update(update_id=update_id, message=message)


async def staff_messages(services: Services) -> dict[int, str]:
    async with services.db.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.like("dead_letter:%:staff:%"))
            )
        ).all()
    return {row.chat_id: row.payload["text"] for row in rows}


async def test_a_dead_letter_tells_every_member_of_staff_who_lost_what_and_why(
    services: Services,
) -> None:
    """A full disk: the liaison was told staff would look at it, and staff heard nothing."""
    services = with_settings(services, staff_ids=(900, 901))
    await add_account(services, 901, language="en")
    unit = await add_unit(services, "市民政局")
    await add_person(services, unit, user_id=7001, name="张伟")
    full = OSError(errno.ENOSPC, "No space left on device")

    letter = await store(
        services=services,
        update=document_update(17, 7001, "计划3.pdf"),
        error="OSError: [Errno 28] No space left on device",
        attempts=120,
        cause=full,
    )

    told = await staff_messages(services)
    assert set(told) == {900, 901}
    for staff_id, lang in ((900, "zh"), (901, "en")):
        who = plain(
            lang,
            "runtime.dead_letter_who_role",
            unit="市民政局",
            role=role_name(lang, "liaison"),
            name="张伟",
        )
        assert says(
            told[staff_id],
            "runtime.dead_letter_staff_disk",
            lang,
            who=who,
            what=plain(lang, "runtime.lost_document", name="计划3.pdf"),
            reason=plain(lang, "runtime.disk_full"),
            id=letter.id,
            told=plain(lang, "runtime.dead_letter_told"),
        ), told[staff_id]
    assert letter.attempts == 120


async def test_a_dead_letter_from_someone_without_a_unit_names_them_and_the_bug(
    services: Services,
) -> None:
    letter = await store(
        services=services,
        update=document_update(18, 7002, "总结.docx"),
        error="ValueError: a bug",
        attempts=3,
        cause=ValueError("a bug"),
    )
    [text] = (await staff_messages(services)).values()
    assert says(
        text,
        "runtime.dead_letter_staff",
        who=plain("zh", "runtime.dead_letter_who_user", name="伟 张", id=7002),
        what=plain("zh", "runtime.lost_document", name="总结.docx"),
        reason=plain("zh", "runtime.dead_letter_program"),
        id=letter.id,
    )


async def test_deadletters_lists_the_messages_that_failed_or_went_unknown(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message that failed after 45 minutes of tries, or whose send a kill -9 cut (unknown),
    was seen by nobody."""
    failed = await add_outbox(services, 7001, purpose="reminder", state="failed", error="502")
    unknown = await add_outbox(
        services,
        7002,
        state="unknown",
        error="the sending process stopped; outcome unknown",
    )
    await add_outbox(services, 7003, state="sent")
    async with services.db.uow() as tx:  # the failed one is the older
        await tx.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == failed.id)
            .values(due_at=services.now() - timedelta(hours=1))
        )
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("LANGUAGE", "zh")

    done = await run_cli("deadletters")

    assert done.code == 0, done.err
    lines = done.out.strip().splitlines()
    assert says(lines[0], "runtime.deadletters_none")
    assert says(lines[2], "runtime.undelivered_heading", count=2)
    assert says(
        lines[3],
        "runtime.undelivered_line",
        id=unknown.id,
        purpose=plain("zh", "export.purpose_notice"),  # in the office's words, not "notice"
        chat=7002,
        state=plain("zh", "export.state_unknown"),
    )
    assert says(
        lines[4],
        "runtime.undelivered_line",
        id=failed.id,
        purpose=plain("zh", "export.purpose_reminder"),
        chat=7001,
        state=plain("zh", "export.state_failed"),
        error="502",
    )
    assert says(lines[5], "runtime.undelivered_unknown_hint")


async def staff_rows(services: Services) -> list[OutboxMessage]:
    async with services.db.sessions() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like("dead_letter:%:staff:%"))
            .order_by(OutboxMessage.id)
        )
        return list((await session.scalars(query)).all())


async def test_a_full_disk_tells_each_member_of_staff_once_a_day_and_not_at_night(
    services: Services, clock: FrozenClock
) -> None:
    """DATA_DIR full for hours: every upload is a dead letter, people retry; staff got one
    message per dead letter each, at night too."""
    services = with_settings(services, staff_ids=(900, 901), quiet_hours="20:00-08:00")
    await add_account(services, 901, language="en")
    tz = services.settings.tz
    clock.set(datetime(2026, 11, 30, 22, 30, tzinfo=tz))  # in the quiet hours
    full = OSError(errno.ENOSPC, "No space left on device")
    letters = [
        await store(
            services=services,
            update=document_update(30 + n, 7001 + n, f"计划{n}.pdf"),
            error="OSError: [Errno 28] No space left on device",
            attempts=120,
            cause=full,
        )
        for n in range(3)
    ]

    rows = await staff_rows(services)
    assert sorted(row.chat_id for row in rows) == [900, 901]
    for row in rows:
        assert row.due_at.astimezone(tz) == datetime(2026, 12, 1, 8, 0, tzinfo=tz)
        lang = "en" if row.chat_id == 901 else "zh"
        assert says(
            row.payload["text"],
            "runtime.dead_letter_staff_disk",
            lang,
            what=plain(lang, "runtime.lost_document", name="计划0.pdf"),
            reason=plain(lang, "runtime.disk_full"),
            id=letters[0].id,
            told=plain(lang, "runtime.dead_letter_told"),
        ), row.payload["text"]

    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=tz))  # the same office day as the notice
    await store(services=services, update=document_update(40, 7001, "a.pdf"), error="e",
                attempts=1, cause=full)  # fmt: skip
    assert len(await staff_rows(services)) == 2
    clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=tz))  # the next day: told again
    await store(services=services, update=document_update(41, 7001, "b.pdf"), error="e",
                attempts=1, cause=full)  # fmt: skip
    assert len(await staff_rows(services)) == 4


async def test_program_errors_and_retries_are_each_told_after_the_quiet_hours(
    services: Services, clock: FrozenClock
) -> None:
    """A bug or a download that kept timing out at 22:30 woke every member of staff (the disk's
    refusals already waited for the morning)."""
    services = with_settings(services, staff_ids=(900, 901), quiet_hours="20:00-08:00")
    await add_account(services, 901, language="en")
    tz = services.settings.tz
    night = datetime(2026, 11, 30, 22, 30, tzinfo=tz)
    clock.set(night)
    causes: list[BaseException] = [ValueError("a bug"), ValueError("a bug"), TimedOut()]
    letters = [
        await store(
            services=services,
            update=document_update(50 + n, 7001, "x.pdf"),
            error=repr(cause),
            attempts=3,
            cause=cause,
        )
        for n, cause in enumerate(causes)
    ]
    rows = await staff_rows(services)
    assert len(rows) == 2 * len(letters)  # one notice per letter and member of staff, as by day
    morning = datetime(2026, 12, 1, 8, 0, tzinfo=tz)
    assert {row.due_at.astimezone(tz) for row in rows} == {morning}
    for row in rows:  # read at 08:00, they say when it was sent, not "just now"
        lang = "en" if row.chat_id == 901 else "zh"
        day = format_short_date(night.date(), morning.date(), lang)
        when = plain(lang, "runtime.dead_letter_at", date=day, time=format_clock(night, lang))
        assert says(row.payload["text"], "runtime.dead_letter_staff", lang, when=when), row
    async with services.db.sessions() as session:
        apologies = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "apology"))
        ).all()
    assert len(apologies) == 3  # the person who just sent it is answered at once
    assert all(a.due_at.astimezone(tz) == night for a in apologies)
    # Waiting for the morning is not being stuck: /healthz and /metrics leave them alone.
    assert await stuck_outbox(services.db, services.now()) is None
    assert (await read_figures(services.db, services.now())).outbox_depth == 3

    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=tz))  # by day: told at once, "just now"
    await store(services=services, update=document_update(60, 7001, "y.pdf"),
                error="ValueError: a bug", attempts=3, cause=ValueError("a bug"))  # fmt: skip
    *_, last = await staff_rows(services)
    assert last.due_at.astimezone(tz) == datetime(2026, 12, 1, 10, 0, tzinfo=tz)
    lang = "en" if last.chat_id == 901 else "zh"
    just_now = plain(lang, "runtime.dead_letter_just_now")
    assert says(last.payload["text"], "runtime.dead_letter_staff", lang, when=just_now)


async def test_staff_are_not_told_the_person_was_answered_when_they_were_not(
    services: Services,
) -> None:
    """A group message: no apology is queued, yet staff read "they were told"."""
    update = document_update(60, 7001, "y.pdf")
    group = Message(
        message_id=2,
        date=datetime(2026, 11, 30, tzinfo=UTC),
        chat=Chat(id=-100, type="group"),
        from_user=update.effective_user,
        text="你好",
    )
    letter = await store(
        services=services,
        update=Update(update_id=60, message=group),
        error="ValueError: a bug",
        attempts=3,
        cause=ValueError("a bug"),
    )
    [text] = (await staff_messages(services)).values()
    assert says(text, "runtime.dead_letter_staff_untold", id=letter.id), text


async def test_an_update_that_kept_failing_on_retry_is_not_called_a_program_error(
    services: Services,
) -> None:
    """A download that kept timing out while the rest went through was reported to staff as
    程序出错, sending them to look for a bug."""
    letter = await store(
        services=services,
        update=document_update(70, 7001, "z.pdf"),
        error="TimedOut: Timed out",
        attempts=40,
        cause=TimedOut(),
    )
    [text] = (await staff_messages(services)).values()
    retries = plain("zh", "runtime.dead_letter_retries")
    assert says(text, "runtime.dead_letter_staff", reason=retries, id=letter.id), text
