"""Broadcasts (通知): staff compose, choose the audience, preview and confirm; the outbox delivers.

The draft lives in the staff member's conversation step (flow "broadcast"), saved with each
choice. Confirming writes, in one transaction, the Broadcast row, one outbox row per
recipient (dedupe key `broadcast:{id}:{chat}`, purpose "broadcast"), where the progress
message is, the end of the draft and the audit entry; the Dispatcher then sends at its pace.
A tick (`progress_due`) reports progress from the outbox rows and, when none is left to send,
marks the broadcast done and queues the final report to its author, exactly once."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import roster
from bot.conversations import end_step, load_step, save_step
from bot.enums import KIND_ORDER, UnitKind
from bot.errors import DomainError
from bot.ledger.report import UnitStatus, unit_statuses
from bot.services import Services
from bot.transport.failures import why_unreachable
from bot.transport.outbox import enqueue, enqueue_many, text_payload
from messages import shorten, strip_html, t
from storage import repositories as repo
from storage.models import (
    UNIT_ORDER,
    Broadcast,
    BroadcastAck,
    OutboxMessage,
    Person,
    Setting,
    Unit,
)

Audience = str  # one of AUDIENCES
# Who a broadcast goes to: everyone registered, the units still behind, every unit of a kind
# (named by its UnitKind value), or units staff name.
AUDIENCES: tuple[Audience, ...] = (
    "registered", "outstanding", "contacts", "items", *(kind.value for kind in UnitKind), "units",
)  # fmt: skip
# What the kinds' audiences were called before they followed UnitKind. Buttons already sent in
# chats (bc:aud:counties), drafts saved in a step and broadcasts on record still carry them.
FORMER_AUDIENCES: dict[str, Audience] = {
    "counties": UnitKind.COUNTY.value,
    "members": UnitKind.MEMBER.value,
}
FLOW = "broadcast"
PURPOSE = "broadcast"
NUDGE_PURPOSE = "broadcast_nudge"
REPORT_PURPOSE = "notice"
OPEN_STATES = ("pending", "claimed", "sending")
SUMMARY_LENGTH = 60


class NoDraft(DomainError):
    key = "broadcast.no_draft"


class NoRecipients(DomainError):
    key = "broadcast.no_recipients"


class BroadcastNotFound(DomainError):
    key = "broadcast.not_found"


class Draft(BaseModel):
    """A broadcast being composed (the data of the staff member's step)."""

    text: str | None = None  # HTML, for a composed text (sendMessage)
    from_chat_id: int | None = None  # a message to copy (copyMessage)
    message_id: int | None = None
    summary: str = ""  # plain text, as recipients read it: what the record and the preview show
    audience: Audience | None = None
    unit_ids: list[int] = Field(default_factory=list)
    ack: bool = True

    @field_validator("audience")
    @classmethod
    def _known_audience(cls, value: str | None) -> str | None:
        """Read a former audience as today's; refuse one that is not an audience."""
        if value is None:
            return None
        audience = audience_of(value)
        if audience is None:
            raise ValueError(f"no audience {value!r}")
        return audience

    @property
    def has_content(self) -> bool:
        return bool(self.text) or self.message_id is not None


class Recipient(BaseModel):
    user_id: int
    unit_id: int
    unit: str
    role: str
    name: str


class Preview(BaseModel):
    draft: Draft
    units: int
    unit_names: list[str]  # the units chosen by name (audience "units"), as staff named them
    recipients: int
    known_unreachable: int
    units_without_contact: list[str]


class Progress(BaseModel):
    id: int
    audience: str
    summary: str
    created_by: int
    created_at: datetime
    ack_enabled: bool
    total: int
    delivered: int
    never_started: int
    blocked: int
    other_unreachable: int
    failed: int
    unknown: int
    cancelled: int
    pending: int
    acknowledged: int
    finished: bool

    @property
    def unreachable(self) -> int:
        return self.never_started + self.blocked + self.other_unreachable

    @property
    def signature(self) -> str:
        """The numbers the progress message shows (and so its button); it is edited only
        when this changes."""
        return (
            f"{self.total}/{self.pending}/{self.delivered}/{self.unreachable}/{self.failed}/"
            f"{self.unknown}/{self.cancelled}/{int(self.finished)}"
        )


class ProgressNote(BaseModel):
    """A progress message to bring up to date."""

    progress: Progress
    chat_id: int
    message_id: int
    lang: str


def summarize(text: str) -> str:
    """Excerpt a notice's plain text (as recipients read it) in one line."""
    line = re.sub(r"\s+", " ", text).strip()
    return shorten(line, SUMMARY_LENGTH)


def summary_of(broadcast: Broadcast) -> str:
    """Excerpt a notice on record: a composed one's HTML as read, a copy's recorded summary."""
    if broadcast.source_message_id is not None:  # its text is the summary, in plain text
        return summarize(broadcast.text or "")
    return summarize(strip_html(broadcast.text or ""))


def progress_key(broadcast_id: int) -> str:
    return f"broadcast_progress:{broadcast_id}"


async def _draft(tx: AsyncSession, actor_id: int, *, step: str | None = None) -> Draft:
    found = await load_step(tx, actor_id)
    if found is None or found.flow != FLOW or (step is not None and found.step != step):
        raise NoDraft()
    return Draft.model_validate(found.data)


async def _save(tx: AsyncSession, services: Services, actor_id: int, step: str, d: Draft) -> None:
    await save_step(
        tx, user_id=actor_id, flow=FLOW, step=step, data=d.model_dump(), now=services.now()
    )


async def begin(*, services: Services, actor_id: int) -> list[Progress]:
    """Start a new draft (forgetting any other); return the latest broadcasts for reference."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        await _save(tx, services, actor_id, "content", Draft())
        latest = (await tx.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(3))).all()
        return [await progress_of(tx, b) for b in latest]


async def set_content(
    *,
    services: Services,
    actor_id: int,
    summary: str,
    text: str | None = None,
    from_chat_id: int | None = None,
    message_id: int | None = None,
) -> Draft:
    """Take the notice: a composed text (HTML) or a message to copy; ask for the audience next."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        draft = await _draft(tx, actor_id)
        draft.text, draft.from_chat_id, draft.message_id = text, from_chat_id, message_id
        draft.summary = summarize(summary)
        await _save(tx, services, actor_id, "audience", draft)
        return draft


async def set_audience(*, services: Services, actor_id: int, audience: Audience) -> Preview | None:
    """Choose who receives it; None when the units are still to be named (audience "units")."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        draft = await _draft(tx, actor_id)
        if not draft.has_content:
            raise NoDraft()
        known = audience_of(audience)
        if known is None:
            raise ValueError(f"no audience {audience!r}")
        draft.audience = known
        if known == "units":
            draft.unit_ids = []
            await _save(tx, services, actor_id, "units", draft)
            return None
        await _save(tx, services, actor_id, "preview", draft)
        return await _preview(tx, draft)


async def set_units(*, services: Services, actor_id: int, names: list[str]) -> Preview:
    """Name the units (tolerantly matched, as /unit does); a name that fits none raises."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        draft = await _draft(tx, actor_id, step="units")
        ids: list[int] = []
        for name in names:
            unit = await roster.find_unit(tx, name)
            if unit.id not in ids:
                ids.append(unit.id)
        if not ids:
            raise NoRecipients()
        draft.unit_ids = ids
        await _save(tx, services, actor_id, "preview", draft)
        return await _preview(tx, draft)


async def toggle_ack(*, services: Services, actor_id: int) -> Preview:
    """Switch the "收到" button on or off."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        draft = await _draft(tx, actor_id, step="preview")
        draft.ack = not draft.ack
        await _save(tx, services, actor_id, "preview", draft)
        return await _preview(tx, draft)


async def back_to_audience(*, services: Services, actor_id: int) -> Draft:
    """Choose the audience again."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        draft = await _draft(tx, actor_id)
        await _save(tx, services, actor_id, "audience", draft)
        return draft


async def _recipients(
    tx: AsyncSession, draft: Draft
) -> tuple[list[Recipient], list[str], dict[int, str]]:
    """The people the draft would reach, the units it cannot reach, and the units chosen."""
    audience = draft.audience
    units = (await tx.execute(select(Unit.id, Unit.name, Unit.kind).order_by(*UNIT_ORDER))).all()
    if audience in ("outstanding", "contacts", "items"):
        statuses = {s.name: s for s in await unit_statuses(tx)}

        def wanted(s: UnitStatus) -> bool:
            if audience == "contacts":
                return s.missing_contacts
            if audience == "items":
                return bool(s.missing_items)
            return s.missing_contacts or bool(s.missing_items)

        chosen = [u for u in units if wanted(statuses[u.name])]
    elif audience in KIND_ORDER:
        chosen = [u for u in units if u.kind == audience]
    elif audience == "units":
        picked = set(draft.unit_ids)
        chosen = [u for u in units if u.id in picked]
    else:
        chosen = list(units)
    people: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    linked = await tx.execute(
        select(Person.unit_id, Person.role, Person.name, Person.telegram_user_id).where(
            Person.until.is_(None), Person.telegram_user_id.is_not(None)
        )
    )
    for unit_id, role, name, user_id in linked.all():
        if user_id is not None:
            people[unit_id].append((role, name, user_id))
    recipients: list[Recipient] = []
    seen: set[int] = set()
    without: list[str] = []
    for unit in chosen:
        mine = sorted(people.get(unit.id, []), key=lambda p: p[0] != "liaison")
        if not mine:
            without.append(unit.name)
        for role, name, user_id in mine:
            if user_id in seen:
                continue
            seen.add(user_id)
            recipients.append(
                Recipient.model_construct(
                    user_id=user_id, unit_id=unit.id, unit=unit.name, role=role, name=name
                )
            )
    return recipients, without, {unit.id: unit.name for unit in chosen}


async def _preview(tx: AsyncSession, draft: Draft) -> Preview:
    recipients, without, units = await _recipients(tx, draft)
    unreachable = await repo.unreachable_users(tx)
    named = [units[i] for i in draft.unit_ids if i in units] if draft.audience == "units" else []
    return Preview(
        draft=draft,
        units=len(units),
        unit_names=named,
        recipients=len(recipients),
        known_unreachable=sum(1 for r in recipients if r.user_id in unreachable),
        units_without_contact=without,
    )


async def preview(*, services: Services, actor_id: int) -> Preview:
    """The draft as it stands, with the number of recipients."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.sessions() as session:
        return await _preview(session, await _draft(session, actor_id, step="preview"))


def ack_markup(broadcast_id: int, lang: str) -> InlineKeyboardMarkup:
    """The "收到" button under a notice."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, "ack.button"), callback_data=f"ack:{broadcast_id}")]]
    )


async def confirm(
    *, services: Services, actor_id: int, progress_chat_id: int, progress_message_id: int
) -> Progress:
    """Send it: the broadcast, one outbox row per recipient, the progress message, the audit."""
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        draft = await _draft(tx, actor_id, step="preview")
        recipients, without, units = await _recipients(tx, draft)
        if not recipients:
            raise NoRecipients()
        audience: str = draft.audience or "registered"
        if audience == "units":
            audience = f"units:{len(draft.unit_ids)}"
        broadcast = await repo.insert(
            tx,
            Broadcast(
                created_by=actor_id,
                created_at=now,
                audience=audience,
                text=draft.text if draft.text is not None else draft.summary,
                source_chat_id=draft.from_chat_id,
                source_message_id=draft.message_id,
                ack_enabled=draft.ack,
                state="sending",
            ),
        )
        languages = await roster.languages_in(tx, services, [r.user_id for r in recipients])
        payloads: dict[str, dict[str, Any]] = {}  # one per language: shared by its rows
        for lang in set(languages.values()):
            markup = ack_markup(broadcast.id, lang) if draft.ack else None
            if draft.text is not None:
                payloads[lang] = text_payload(draft.text, markup)
            else:
                payloads[lang] = {
                    "method": "copyMessage",
                    "from_chat_id": draft.from_chat_id,
                    "message_id": draft.message_id,
                }
                if markup is not None:
                    payloads[lang]["reply_markup"] = markup.to_dict()
        await enqueue_many(
            tx,
            [
                {
                    "key": f"broadcast:{broadcast.id}:{r.user_id}",
                    "chat_id": r.user_id,
                    "purpose": PURPOSE,
                    "payload": payloads[languages[r.user_id]],
                    "unit_id": r.unit_id,
                    "broadcast_id": broadcast.id,
                }
                for r in recipients
            ],
            now=now,
        )
        initial = await progress_of(tx, broadcast)
        # The handler shows `initial` at once: a tick edits the message only once it differs
        # (Telegram refuses an edit to the same text: "message is not modified").
        where = {
            "chat_id": progress_chat_id,
            "message_id": progress_message_id,
            "shown": initial.signature,
        }
        tx.add(Setting(key=progress_key(broadcast.id), value=json.dumps(where)))
        await end_step(tx, actor_id)
        repo.audit(
            tx,
            now,
            actor_id,
            "broadcast",
            broadcast_id=broadcast.id,
            audience=audience,
            units=len(units),
            recipients=len(recipients),
            without_contact=len(without),
            ack=draft.ack,
            summary=draft.summary,
        )
        return initial


async def progress_of(tx: AsyncSession, broadcast: Broadcast) -> Progress:
    rows = await tx.execute(
        select(OutboxMessage.state, OutboxMessage.error, func.count())
        .where(OutboxMessage.broadcast_id == broadcast.id, OutboxMessage.purpose == PURPOSE)
        .group_by(OutboxMessage.state, OutboxMessage.error)
    )
    counts: dict[str, int] = defaultdict(int)
    for state, error, count in rows.all():
        if state == "unreachable":
            state = why_unreachable(error) or "other_unreachable"
        counts[state] += count
    acked = await tx.scalar(
        select(func.count())
        .select_from(BroadcastAck)
        .where(BroadcastAck.broadcast_id == broadcast.id)
    )
    pending = sum(counts[s] for s in OPEN_STATES)
    return Progress(
        id=broadcast.id,
        audience=broadcast.audience,
        summary=summary_of(broadcast),
        created_by=broadcast.created_by,
        created_at=broadcast.created_at,
        ack_enabled=broadcast.ack_enabled,
        total=sum(counts.values()),
        delivered=counts["sent"],
        never_started=counts["never_started"],
        blocked=counts["blocked"],
        other_unreachable=counts["other_unreachable"],
        failed=counts["failed"],
        unknown=counts["unknown"],
        cancelled=counts["cancelled"],
        pending=pending,
        acknowledged=int(acked or 0),
        finished=broadcast.state == "done",
    )


async def broadcast_row(tx: AsyncSession, broadcast_id: int) -> Broadcast:
    found = await tx.get(Broadcast, broadcast_id)
    if found is None:
        raise BroadcastNotFound(id=broadcast_id)
    return found


async def progress(*, services: Services, actor_id: int, broadcast_id: int) -> Progress:
    """Where one broadcast stands."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.sessions() as session:
        return await progress_of(session, await broadcast_row(session, broadcast_id))


async def progress_due(*, services: Services) -> list[ProgressNote]:
    """Broadcasts whose progress message is out of date; finish those with nothing left to send.

    Finishing marks the broadcast done and queues the final report to its author in one
    transaction, guarded so that two processes running the tick finish it once.
    """
    notes: list[ProgressNote] = []
    async with services.db.uow() as tx:
        sending = (await tx.scalars(select(Broadcast).where(Broadcast.state == "sending"))).all()
        for broadcast in sending:
            current = await progress_of(tx, broadcast)
            if current.pending == 0:
                await _finish(tx, services, broadcast, current)
                current = current.model_copy(update={"finished": True})
            note = await _note(tx, services, current)
            if note is not None:
                notes.append(note)
        # A broadcast finished by another process may still show its last count.
        recent = (
            await tx.scalars(
                select(Broadcast)
                .where(Broadcast.state == "done")
                .order_by(Broadcast.id.desc())
                .limit(5)
            )
        ).all()
        for broadcast in recent:
            if any(n.progress.id == broadcast.id for n in notes):
                continue
            stored = await tx.get(Setting, progress_key(broadcast.id))
            if stored is None or json.loads(stored.value).get("shown", "").endswith("/1"):
                continue  # its final state is on show already
            note = await _note(tx, services, await progress_of(tx, broadcast))
            if note is not None:
                notes.append(note)
    return notes


async def _note(tx: AsyncSession, services: Services, current: Progress) -> ProgressNote | None:
    stored = await tx.get(Setting, progress_key(current.id))
    if stored is None:
        return None
    where = json.loads(stored.value)
    if where.get("shown") == current.signature:
        return None
    lang = await roster.language_in(tx, services, current.created_by)
    return ProgressNote(
        progress=current, chat_id=where["chat_id"], message_id=where["message_id"], lang=lang
    )


async def mark_progress_shown(*, services: Services, broadcast_id: int, signature: str) -> None:
    """Remember what the progress message now shows (so it is not edited again for nothing)."""
    async with services.db.uow() as tx:
        stored = await tx.get(Setting, progress_key(broadcast_id))
        if stored is None:
            return
        where = json.loads(stored.value)
        where["shown"] = signature
        await tx.execute(
            update(Setting)
            .where(Setting.key == stored.key, Setting.value == stored.value)
            .values(value=json.dumps(where))
        )


async def _finish(
    tx: AsyncSession, services: Services, broadcast: Broadcast, current: Progress
) -> None:
    done = await tx.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast.id, Broadcast.state == "sending")
        .values(state="done")
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        return
    lang = await roster.language_in(tx, services, broadcast.created_by)
    finished = current.model_copy(update={"finished": True})
    await enqueue(
        tx,
        key=f"broadcast:{broadcast.id}:report",
        chat_id=broadcast.created_by,
        purpose=REPORT_PURPOSE,
        payload=text_payload(report_text(finished, lang), report_markup(finished, lang)),
        now=services.now(),
    )
    repo.audit(
        tx,
        services.now(),
        None,
        "broadcast_done",
        broadcast_id=broadcast.id,
        delivered=current.delivered,
        unreachable=current.unreachable,
        failed=current.failed,
        unknown=current.unknown,
        cancelled=current.cancelled,
    )


def audience_of(value: str) -> Audience | None:
    """The audience a button or a record names (by today's name or a former one), else None."""
    audience = FORMER_AUDIENCES.get(value, value)
    return audience if audience in AUDIENCES else None


def audience_name(audience: str, lang: str) -> str:
    """The audience as staff read it (`units:3` → 指定的3家单位)."""
    if audience.startswith("units:"):
        return t(lang, "broadcast.audience_units_n", count=audience.split(":", 1)[1])
    return t(lang, f"broadcast.audience_{audience_of(audience) or audience}")


def report_text(p: Progress, lang: str) -> str:
    """The final report: delivered, unreachable (never started or blocked), failed."""
    lines = [
        t(lang, "broadcast.report_title", id=p.id, audience=audience_name(p.audience, lang)),
        t(lang, "broadcast.report_total", total=p.total),
        t(lang, "broadcast.report_delivered", count=p.delivered),
        t(
            lang,
            "broadcast.report_unreachable",
            count=p.unreachable,
            never_started=p.never_started,
            blocked=p.blocked,
            other=p.other_unreachable,
        ),
        t(lang, "broadcast.report_failed", count=p.failed),
    ]
    if p.unknown:
        lines.append(t(lang, "broadcast.report_unknown", count=p.unknown))
    if p.cancelled:
        lines.append(t(lang, "broadcast.report_cancelled", count=p.cancelled))
    if p.ack_enabled:
        lines.append(t(lang, "broadcast.report_acks", acked=p.acknowledged, delivered=p.delivered))
    return "\n".join(lines)


def report_markup(p: Progress, lang: str) -> InlineKeyboardMarkup:
    """The report's button: who has (not) acknowledged, and who could not be reached."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, "broadcast.button_acks"), callback_data=f"bc:acks:{p.id}")]]
    )


async def stop_sending(*, services: Services, actor_id: int, broadcast_id: int) -> int:
    """Cancel what has not been sent yet; return how many messages were held back."""
    await roster.require_staff(services=services, actor_id=actor_id)
    async with services.db.uow() as tx:
        await broadcast_row(tx, broadcast_id)
        result = await tx.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.purpose == PURPOSE,
                OutboxMessage.state == "pending",
            )
            .values(state="cancelled", error="stopped by staff")
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        repo.audit(
            tx,
            services.now(),
            actor_id,
            "broadcast_stop",
            broadcast_id=broadcast_id,
            cancelled=count,
        )
        return count
