"""A round of reminders asked for by staff (/remind, `liaison-bot remind`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot import roster
from bot.errors import DomainError
from bot.holidays import office_calendar
from bot.ledger.status import gc_paused, load_obligations
from bot.reminders.history import History, load_history
from bot.reminders.ladder import Decision, Recipient, decide
from bot.reminders.planner import reminder_payload
from bot.reminders.policy import PREVIEW_VALID, REMINDER, Policy, Role
from bot.services import Services
from bot.transport.outbox import enqueue_many
from messages import join, role_name, t
from storage import repositories as repo
from storage.models import (
    AuditEvent,
)


class StaleRound(DomainError):
    """The preview a button refers to is gone, or was not a preview."""

    key = "reminders.round.stale"


class RoundLine(BaseModel):
    unit: str
    role: Role
    name: str
    chat_id: int
    items: list[str]
    contacts_missing: list[Role]


class RoundOut(BaseModel):
    """A round of reminders: who gets what, and the units no chat reaches."""

    round_id: int | None
    dry_run: bool
    queued: int = 0
    already: bool = False
    reminders: list[RoundLine]
    no_chat: list[str]
    paused: list[str]


@dataclass
class _Round:
    out: RoundOut
    messages: list[tuple[Decision, Recipient]]


async def _compose_round(
    tx: AsyncSession,
    services: Services,
    *,
    dry_run: bool,
    unit_ids: Collection[int] | None = None,
) -> _Round:
    """The round now for every outstanding unit, or only for the units given."""
    with gc_paused():  # a country's round: a few hundred thousand objects at once
        return await _compose(tx, services, dry_run=dry_run, unit_ids=unit_ids)


async def _compose(
    tx: AsyncSession, services: Services, *, dry_run: bool, unit_ids: Collection[int] | None
) -> _Round:
    today = services.today()
    policy = Policy.of(services.settings)
    cal = await office_calendar(tx, services.settings)
    # Without detail: who is told and what they owe (the words are written at delivery).
    dues = await load_obligations(tx, unit_ids, detail=False)
    history = await load_history(tx, services.settings)
    lines: list[RoundLine] = []
    messages: list[tuple[Decision, Recipient]] = []
    no_chat: list[str] = []
    paused: list[str] = []
    for d in dues:
        if not d.owes:
            continue
        if d.paused_on(today):
            paused.append(d.name)
            continue
        decision = decide(
            d,
            history.get(d.unit_id, History()),
            today=today,
            policy=policy,
            cal=cal,
            scheduled=False,
        )
        if not decision.reminders:
            no_chat.append(d.name)
        for r in decision.reminders:
            assert r.contact.chat is not None
            messages.append((decision, r))
            missing: list[Role] = []
            if not d.liaison_registered:
                missing.append("liaison")
            if not d.lead_registered:
                missing.append("lead")
            lines.append(
                RoundLine.model_construct(  # from the read model as it is: no validation
                    unit=d.name,
                    role="lead" if r.contact.role == "lead" else "liaison",
                    name=r.contact.name,
                    chat_id=r.contact.chat,
                    items=[i.title for i in d.open_items],
                    contacts_missing=missing,
                )
            )
    out = RoundOut(round_id=None, dry_run=dry_run, reminders=lines, no_chat=no_chat, paused=paused)
    return _Round(out, messages)


async def _enqueue_round(
    tx: AsyncSession, services: Services, plan: _Round, round_id: int, now: datetime
) -> int:
    """The round as one set of inserts; each reminder's words are written when it is sent
    (ReminderDelivery renders what the unit owes at that moment, as for the planner's)."""
    rows = []
    for decision, r in plan.messages:
        chat = r.contact.chat
        assert chat is not None
        unit = decision.dues
        meta = {
            "kind": "round",
            "round": round_id,
            "unit": unit.unit_id,
            "person": r.contact.person_id,
            "role": r.contact.role,
            "why": r.why,
            "count": decision.silent,
        }
        rows.append(
            {
                "key": f"round:{round_id}:{chat}:{unit.unit_id}",
                "chat_id": chat,
                "purpose": REMINDER,
                "payload": reminder_payload("", None, meta),
                "unit_id": unit.unit_id,
            }
        )
    return await enqueue_many(tx, rows, now=now)


async def preview_round(
    *, services: Services, actor_id: int | None, unit_ids: Collection[int] | None = None
) -> RoundOut:
    """Who a round asked for now would reach, with what; recorded so it can be confirmed.

    With `unit_ids`, the round is for those units only (the "remind now" button of a unit's
    file); the confirmation sends to exactly the units the preview was for.
    """
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    ids = sorted(set(unit_ids)) if unit_ids is not None else None
    async with services.db.uow() as tx:
        plan = await _compose_round(tx, services, dry_run=True, unit_ids=ids)
        details: dict[str, Any] = {
            "reminders": len(plan.out.reminders),
            "no_chat": len(plan.out.no_chat),
        }
        if ids is not None:
            details["unit_ids"] = ids
        event = await repo.insert(
            tx,
            AuditEvent(
                at=now,
                actor_id=actor_id,
                action="remind_preview",
                unit_id=ids[0] if ids is not None and len(ids) == 1 else None,
                details=details,
            ),
        )
        plan.out.round_id = event.id
    return plan.out


async def confirm_round(*, services: Services, actor_id: int, preview_id: int) -> RoundOut:
    """Queue the round a preview showed (at once: not held for hours or working days).

    The round's keys carry the preview's id, so pressing confirm twice sends nothing twice.
    """
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        preview = await tx.get(AuditEvent, preview_id)
        if (
            preview is None
            or preview.action != "remind_preview"
            or now - preview.at > PREVIEW_VALID
        ):
            raise StaleRound()
        chosen = (preview.details or {}).get("unit_ids")
        ids = [int(i) for i in chosen] if isinstance(chosen, list) else None
        plan = await _compose_round(tx, services, dry_run=False, unit_ids=ids)
        plan.out.round_id = preview_id
        plan.out.queued = await _enqueue_round(tx, services, plan, preview_id, now)
        plan.out.already = bool(plan.messages) and plan.out.queued == 0
        repo.audit(
            tx,
            now,
            actor_id,
            "remind_round",
            unit_id=preview.unit_id,
            round=preview_id,
            queued=plan.out.queued,
        )
    return plan.out


async def queue_round(
    *, services: Services, actor_id: int | None = None, dry_run: bool = False
) -> RoundOut:
    """A round now for every outstanding unit (`liaison-bot remind`); `dry_run` only lists it."""
    await roster.require_staff(services=services, actor_id=actor_id)
    now = services.now()
    async with services.db.uow() as tx:
        plan = await _compose_round(tx, services, dry_run=dry_run)
        if dry_run:
            return plan.out
        event = await repo.insert(
            tx,
            AuditEvent(
                at=now,
                actor_id=actor_id,
                action="remind_round",
                unit_id=None,
                details={"reminders": len(plan.out.reminders)},
            ),
        )
        plan.out.round_id = event.id
        plan.out.queued = await _enqueue_round(tx, services, plan, event.id, now)
        event.details = {**event.details, "queued": plan.out.queued}
    return plan.out


def _names(names: Sequence[str], lang: str, limit: int = 30) -> str:
    """市民政局、市卫健委 … 等45家 — a list of units that stays short."""
    shown = join(lang, names[:limit])
    if len(names) <= limit:
        return shown
    return t(lang, "reminders.more_units", units=shown, count=len(names))


def render_round(out: RoundOut, lang: str, *, limit: int = 40) -> str:
    """A round as staff read it: a summary, then who gets what (the first `limit` lines)."""
    if not out.reminders and not out.no_chat:
        return t(lang, "reminders.round.nothing")
    units = len({line.unit for line in out.reminders})
    lines = [t(lang, "reminders.round.heading")]
    lines.append(t(lang, "reminders.round.summary", count=len(out.reminders), units=units))
    for line in out.reminders[:limit]:
        parts = []
        if line.items:
            parts.append(t(lang, "reminders.summary_items", count=len(line.items)))
        parts += [t(lang, f"reminders.summary_{role}") for role in line.contacts_missing]
        lines.append(
            t(
                lang,
                "reminders.round.line",
                unit=line.unit,
                role=role_name(lang, line.role),
                name=line.name,
                owed=join(lang, parts),
            )
        )
    if len(out.reminders) > limit:
        lines.append(t(lang, "reminders.round.more", count=len(out.reminders) - limit))
    if out.no_chat:
        lines.append(
            t(
                lang,
                "reminders.round.no_chat",
                count=len(out.no_chat),
                units=_names(out.no_chat, lang),
            )
        )
    if out.paused:
        lines.append(t(lang, "reminders.round.paused", units=_names(out.paused, lang)))
    return "\n".join(lines)
