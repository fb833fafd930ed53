"""Registration (登记): each unit's liaison (联络员) and lead (分管领导), through invite links.

Two conversations share one flow, "registration", whose step and data live in the
ConversationStep row and change in the same transaction as the facts they lead to:

    liaison: confirm_unit → name → post → phone → summary ⇒ registered
             → lead_offer (a lead is on record: keep or re-enter) | lead_name (may skip)
             → lead_post → lead_phone → lead_summary ⇒ lead saved, lead invite offered
    lead:    confirm_unit → summary (prefilled from the liaison's entry) | name → … ⇒ linked

`/contacts` reuses the same steps: "self" mode corrects one's own details from the summary,
"lead" mode re-enters the lead. Every button carries the step's version, so a press on an
old message is recognised as such and never acts on a newer step.

A mobile number that is the unit's other role holder's (the lead's entered as the liaison's,
usually the liaison's own typed by mistake) is held, not taken: the person is asked once to
send it again if it is right (`HELD_PHONE` in the step's data); another number replaces it.

Until the invite is redeemed, every step locks the unit's row and checks the link again, so a
link revoked or made void meanwhile stops the person at their next input, with the reason."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot import conversations, roster
from bot.conversations import StepOut
from bot.errors import DomainError
from bot.registration import invites, throttle
from bot.registration.handover import handed_over
from bot.registration.invites import InviteOut, Problem, Role
from bot.registration.notices import tell_staff
from bot.registration.validation import (
    InvalidInput,
    clean_name,
    clean_phone,
    clean_post,
    format_phone,
)
from bot.services import Services
from storage import repositories as repo
from storage.models import Invite, Person, Unit

log = logging.getLogger(__name__)

FLOW = "registration"

CONFIRM_UNIT = "confirm_unit"
NAME, POST, PHONE = "name", "post", "phone"
SUMMARY = "summary"
LEAD_OFFER = "lead_offer"
LEAD_NAME, LEAD_POST, LEAD_PHONE = "lead_name", "lead_post", "lead_phone"
LEAD_SUMMARY = "lead_summary"
STEPS = (
    CONFIRM_UNIT, NAME, POST, PHONE, SUMMARY,
    LEAD_OFFER, LEAD_NAME, LEAD_POST, LEAD_PHONE, LEAD_SUMMARY,
)  # fmt: skip
# Steps that take typed input, and the next step after each.
FIELD_STEPS = {NAME: POST, POST: PHONE, PHONE: SUMMARY}
LEAD_FIELD_STEPS = {LEAD_NAME: LEAD_POST, LEAD_POST: LEAD_PHONE, LEAD_PHONE: LEAD_SUMMARY}
TEXT_STEPS = {**FIELD_STEPS, **LEAD_FIELD_STEPS}
# Where a step's data keeps a person's name, post and phone.
DETAILS = (NAME, POST, PHONE)
LEAD_DETAILS = (LEAD_NAME, LEAD_POST, LEAD_PHONE)
# Correction buttons of the two summaries.
EDITS = {"e-name": NAME, "e-post": POST, "e-phone": PHONE}
LEAD_EDITS = {"e-lname": LEAD_NAME, "e-lpost": LEAD_POST, "e-lphone": LEAD_PHONE}
# Steps of an invite that is not redeemed yet (the link is checked again at each).
BEFORE_REDEEMING = (CONFIRM_UNIT, NAME, POST, PHONE, SUMMARY)
# A step's data: a number that is the other role holder's, until it is sent again.
HELD_PHONE = "held_phone"


class Event(BaseModel):
    """One thing the person did in a step: typed text, shared a contact, pressed a button."""

    kind: Literal["text", "contact", "button"]
    text: str = ""
    phone: str = ""
    own_contact: bool = False
    version: int | None = None
    action: str = ""


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    role: str
    name: str
    post: str
    phone: str
    linked: bool
    since: datetime
    until: datetime | None


class RegisteredOut(BaseModel):
    unit_id: int
    unit: str
    role: str
    person: PersonOut
    replaced: PersonOut | None = None  # the previous holder, now ended (a handover)
    replaced_user_id: int | None = None


Kind = Literal[
    "none",  # the person is in no registration step
    "step",  # moved to `step` (ask its question)
    "invalid",  # input refused: `reason`; same step
    "confirm",  # input held until it is sent again: `reason` asks; same step
    "reask",  # input of the wrong sort for the step; same step
    "stale",  # a button of an earlier step; same step
    "declined",  # "not my unit": left the flow
    "refused",  # cannot go on: `reason`; left the flow
    "throttled",  # too many bad tokens: `values["until"]`
    "throttled_again",  # tried again while held: told until when again, not recorded or logged
    "registered",  # own registration done (`registered`); `step` if the lead comes next
    "lead_saved",  # the liaison entered the lead (`lead`, `lead_invite`)
    "lead_kept",
    "lead_skipped",
    "updated",  # own details corrected
]


class Outcome(BaseModel):
    kind: Kind
    step: StepOut | None = None
    reason: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    registered: RegisteredOut | None = None
    lead: PersonOut | None = None
    lead_invite: InviteOut | None = None
    replaced_user_id: int | None = None


class ContactsOut(BaseModel):
    unit_id: int
    unit: str
    kind: str
    liaison: PersonOut | None
    lead: PersonOut | None
    my_role: str | None = None
    history: list[PersonOut] = Field(default_factory=list)


class UnregisteredOut(BaseModel):
    unit: str
    person: PersonOut


class NotRegistered(DomainError):
    key = "contacts.not_registered"


class NotLiaison(DomainError):
    key = "contacts.liaison_only"


class LeadAlreadyLinked(DomainError):
    key = "contacts.lead_already_linked"


class NoHolder(DomainError):
    key = "invite_cli.no_holder"


def _person_out(person: Person) -> PersonOut:
    return PersonOut.model_validate(person)


def details_of(person: Person, keys: tuple[str, str, str] = DETAILS) -> dict[str, str]:
    """A person's name, post and phone as a step's data keeps them."""
    return dict(zip(keys, (person.name, person.post, person.phone), strict=True))


def _details_entered(data: dict[str, Any], keys: tuple[str, str, str]) -> tuple[str, str, str]:
    """The name, post and phone entered in a step's data."""
    name, post, phone = keys
    return str(data[name]), str(data[post]), str(data[phone])


def buttons_of(step: StepOut) -> tuple[str, ...]:
    """The actions the step's message offers (the only presses it accepts)."""
    data = step.data
    if step.step == CONFIRM_UNIT:
        return ("yes", "no")
    if step.step == SUMMARY:
        return ("ok", *EDITS)
    if step.step == LEAD_OFFER:
        return ("keep", "redo")
    if step.step == LEAD_NAME and data.get("mode") == "invite" and not data.get("back"):
        return ("skip",)
    if step.step == LEAD_SUMMARY:
        return ("ok", *LEAD_EDITS)
    return ()


def link_still_works(step: StepOut) -> bool:
    """Whether leaving this step leaves its invite link usable: an invite is used only when
    the registration is saved."""
    return step.flow == FLOW and "invite_id" in step.data and step.step in BEFORE_REDEEMING


async def start(
    *, services: Services, user_id: int, token: str, language_code: str | None = None
) -> Outcome:
    """Open an invite: check the token (slowing down guessers) and ask to confirm the unit."""
    now = services.now()
    async with services.db.uow() as tx:
        await roster.seen(tx, user_id, now, language_code)
        until = await throttle.held_until(tx, user_id, now)
        if until is not None:
            first = await throttle.refuse(tx, user_id, now, until)
            return Outcome(
                kind="throttled" if first else "throttled_again", values={"until": until}
            )
        invite = await invites.find(tx, token)
        problem = invites.problem_of(invite, now=now)
        if invite is not None and problem == "used" and await _holds_through(tx, invite, user_id):
            unit = await tx.get(Unit, invite.unit_id)
            return Outcome(
                kind="refused",
                reason="registration.already_registered",
                values={"unit": unit.name if unit else "", "role": invite.role},
            )
        if problem is not None or invite is None:
            await throttle.count_failure(tx, user_id, now, problem or "unknown")
            return await _refusal(tx, invite, problem or "unknown")
        unit = await tx.get(Unit, invite.unit_id)
        if unit is None:
            return Outcome(kind="refused", reason="registration.token_unknown")
        conflict = await _conflict(tx, user_id, unit.id, invite.role)
        if conflict is not None:
            return conflict
        data = {
            "mode": "invite",
            "invite_id": invite.id,
            "unit_id": unit.id,
            "unit": unit.name,
            "role": invite.role,
        }
        step = await _begin(tx, services, user_id, CONFIRM_UNIT, data)
        return Outcome(kind="step", step=step)


async def _holds_through(tx: AsyncSession, invite: Invite, user_id: int) -> bool:
    """Whether the person used this invite and still holds its role (they need no link)."""
    if invite.used_by != user_id:
        return False
    holder = await repo.current_holder(tx, unit_id=invite.unit_id, role=invite.role)
    return holder is not None and holder.telegram_user_id == user_id


async def _refusal(tx: AsyncSession, invite: Invite | None, problem: Problem) -> Outcome:
    """The refusal of an unusable link, with its true reason."""
    if invite is None or problem not in ("taken", "lead_replaced", "creator_ended"):
        return Outcome(kind="refused", reason=f"registration.token_{problem}")
    unit = await tx.get(Unit, invite.unit_id)
    values: dict[str, Any] = {"unit": unit.name if unit else "", "role": invite.role}
    if problem == "taken":
        holder = await repo.current_holder(tx, unit_id=invite.unit_id, role=invite.role)
        if holder is None:  # registered through another link, and given up since
            return Outcome(kind="refused", reason="registration.token_superseded", values=values)
        values.update(name=holder.name, at=holder.since)
    return Outcome(kind="refused", reason=f"registration.token_{problem}", values=values)


async def _conflict(tx: AsyncSession, user_id: int, unit_id: int, role: str) -> Outcome | None:
    """A refusal if the person holds another unit's role, or the other role of this unit."""
    for person in await repo.roles_of_user(tx, user_id):
        unit = await tx.get(Unit, person.unit_id)
        name = unit.name if unit else ""
        if person.unit_id != unit_id:
            return Outcome(
                kind="refused",
                reason="registration.other_unit",
                values={"unit": name, "held_role": person.role},
            )
        if person.role != role:
            return Outcome(
                kind="refused",
                reason="registration.other_role",
                values={"unit": name, "held_role": person.role, "wanted_role": role},
            )
    return None


async def _begin(
    tx: AsyncSession, services: Services, user_id: int, step: str, data: dict[str, Any]
) -> StepOut:
    """Enter the flow afresh; the version starts at random so old buttons never match."""
    version = secrets.randbelow(900_000) + 100_000
    return await conversations.save_step(
        tx, user_id=user_id, flow=FLOW, step=step, data={**data, "v": version}, now=services.now()
    )


async def _move(
    tx: AsyncSession, services: Services, current: StepOut, step: str, **changes: Any
) -> StepOut:
    """Go to another step with some data changed (the version moves on)."""
    data = {**current.data, **changes, "v": int(current.data.get("v", 0)) + 1}
    return await conversations.save_step(
        tx, user_id=current.user_id, flow=FLOW, step=step, data=data, now=services.now()
    )


async def advance(
    *, services: Services, user_id: int, event: Event, username: str | None = None
) -> Outcome:
    """Apply what the person did at their current step, in one transaction."""
    async with services.db.uow() as tx:
        row = await conversations.load_step(tx, user_id)
        if row is None or row.flow != FLOW or row.step not in STEPS:
            return Outcome(kind="none")
        step = StepOut(user_id=user_id, flow=row.flow, step=row.step, data=dict(row.data))
        if step.data.get("mode") == "invite" and step.step in BEFORE_REDEEMING:
            await invites.lock_unit(tx, int(step.data["unit_id"]))
            refusal = await _check_invite(tx, services, step)
            if refusal is not None:
                return refusal
        if event.kind == "button":
            if event.version != step.data.get("v") or event.action not in buttons_of(step):
                return Outcome(kind="stale", step=step)
            return await _pressed(tx, services, step, event.action, username)
        if step.step not in TEXT_STEPS:
            return Outcome(kind="reask", step=step)
        return await _entered(tx, services, step, event)


async def _entered(tx: AsyncSession, services: Services, step: StepOut, event: Event) -> Outcome:
    """Typed (or shared) input for a field."""
    field = step.step
    try:
        if field in (PHONE, LEAD_PHONE):
            if event.kind == "contact":
                if field == PHONE and not event.own_contact:
                    raise InvalidInput("registration.phone_not_own")
                value = clean_phone(event.phone, shared=True)
            elif event.kind == "text":
                value = clean_phone(event.text)
            else:
                return Outcome(kind="reask", step=step)
        elif event.kind != "text":
            return Outcome(kind="reask", step=step)
        elif field in (NAME, LEAD_NAME):
            value = clean_name(event.text)
        else:
            value = clean_post(event.text)
    except InvalidInput as exc:
        return Outcome(kind="invalid", step=step, reason=exc.key, values=exc.values)
    changes: dict[str, Any] = {field: value, "back": False}
    if field in (PHONE, LEAD_PHONE):
        if step.data.get(HELD_PHONE) != value:
            ask = await _others_phone(tx, step, value)
            if ask is not None:
                held = await _move(tx, services, step, field, **{HELD_PHONE: value})
                return Outcome(kind="confirm", step=held, reason=ask)
        if HELD_PHONE in step.data:
            changes[HELD_PHONE] = None
    if step.data.get("back"):
        following = SUMMARY if field in FIELD_STEPS else LEAD_SUMMARY
    else:
        following = TEXT_STEPS[field]
    moved = await _move(tx, services, step, following, **changes)
    return Outcome(kind="step", step=moved)


async def _others_phone(tx: AsyncSession, step: StepOut, phone: str) -> str | None:
    """Find the question to ask when a phone number is the unit's other role holder's."""
    data = step.data
    if step.step == LEAD_PHONE:  # the liaison entering the lead
        other, ask = "liaison", "registration.lead_phone_same_as_liaison"
    elif data.get("role") == "lead":
        other, ask = "liaison", "registration.phone_same_as_liaison"
    else:
        other, ask = "lead", "registration.phone_same_as_lead"
    holder = await repo.current_holder(tx, unit_id=int(data["unit_id"]), role=other)
    if holder is None or holder.phone != phone:
        return None
    return ask


async def _pressed(
    tx: AsyncSession, services: Services, step: StepOut, action: str, username: str | None
) -> Outcome:
    """A button of the current step."""
    data = step.data
    if step.step == CONFIRM_UNIT:
        if action == "no":
            await conversations.end_step(tx, step.user_id)
            return Outcome(kind="declined", values={"unit": data["unit"], "role": data["role"]})
        return await _confirm_unit(tx, services, step)
    if action in EDITS:
        # A lead correcting the liaison's entry: the summary is theirs from now on.
        moved = await _move(tx, services, step, EDITS[action], back=True, prefilled=False)
        return Outcome(kind="step", step=moved)
    if action in LEAD_EDITS:
        moved = await _move(tx, services, step, LEAD_EDITS[action], back=True)
        return Outcome(kind="step", step=moved)
    if step.step == SUMMARY:
        if data.get("mode") == "self":
            return await _update_own(tx, services, step)
        return await _complete(tx, services, step)
    if step.step == LEAD_OFFER:
        if action == "keep":
            await conversations.end_step(tx, step.user_id)
            return Outcome(kind="lead_kept", values={"unit": data["unit"]})
        cleared = dict.fromkeys(LEAD_DETAILS)
        return Outcome(kind="step", step=await _move(tx, services, step, LEAD_NAME, **cleared))
    if step.step == LEAD_NAME:  # "skip"
        await conversations.end_step(tx, step.user_id)
        return Outcome(kind="lead_skipped", values={"unit": data["unit"]})
    return await _save_lead(tx, services, step, username)  # LEAD_SUMMARY "ok"


async def _check_invite(tx: AsyncSession, services: Services, step: StepOut) -> Outcome | None:
    """None if the person may still use the step's invite; else the refusal (flow ended).

    Called with the unit locked, and the invite read afresh: what another registration
    committed a moment ago counts.
    """
    invite = await tx.get(Invite, int(step.data.get("invite_id") or 0), populate_existing=True)
    problem = invites.problem_of(invite, now=services.now())
    if problem is None:
        conflict = await _conflict(
            tx, step.user_id, int(step.data["unit_id"]), str(step.data["role"])
        )
        if conflict is not None:
            await conversations.end_step(tx, step.user_id)
        return conflict
    await conversations.end_step(tx, step.user_id)
    if invite is not None and (
        problem == "taken" or (problem == "used" and invite.used_by != step.user_id)
    ):
        return await _role_taken(tx, services, step, invite)
    return await _refusal(tx, invite, problem)


async def _role_taken(
    tx: AsyncSession, services: Services, step: StepOut, invite: Invite
) -> Outcome:
    """Someone else registered for the role while this person was registering: tell them who,
    and tell staff of the second attempt."""
    holder = await repo.current_holder(tx, unit_id=invite.unit_id, role=invite.role)
    if holder is None:
        return await _refusal(tx, invite, "taken")
    unit_name = str(step.data.get("unit", ""))
    entered = step.data.get(NAME)
    await tell_staff(
        tx,
        services,
        event_key=f"taken:{invite.id}:{step.user_id}",
        unit_id=invite.unit_id,
        message="registration.staff_taken" if entered else "registration.staff_taken_early",
        values={
            "unit": unit_name,
            "role": invite.role,
            "holder": holder.name,
            "name": str(entered or ""),
            "post": str(step.data.get(POST) or ""),
            "phone": format_phone(str(step.data.get(PHONE) or "")),
            "user": str(step.user_id),
        },
    )
    log.info(
        "user %s lost the race for %s of unit %s to person %s",
        step.user_id, invite.role, invite.unit_id, holder.id,
    )  # fmt: skip
    return Outcome(
        kind="refused",
        reason="registration.role_taken",
        values={"unit": unit_name, "role": invite.role, "name": holder.name, "at": holder.since},
    )


async def _step_invite(tx: AsyncSession, step: StepOut) -> Invite:
    """The invite of a step `advance` has just checked (from the session, no query)."""
    invite = await tx.get(Invite, int(step.data["invite_id"]))
    assert invite is not None
    return invite


async def _confirm_unit(tx: AsyncSession, services: Services, step: StepOut) -> Outcome:
    """ "Yes, this is my unit": ask for the details (`advance` checked the invite).

    The invite is not redeemed here but when the summary is confirmed (`_complete`): someone
    who presses and then goes away must not use up the link meant for the real liaison.
    """
    invite = await _step_invite(tx, step)
    holder = await repo.current_holder(tx, unit_id=invite.unit_id, role=invite.role)
    # The lead as the liaison entered them (or one's own earlier entry): confirm or correct.
    if holder is not None and (
        holder.telegram_user_id == step.user_id
        or (holder.telegram_user_id is None and invite.role == "lead")
    ):
        prefilled = {**details_of(holder), "prefilled": True, "prefilled_person": holder.id}
        moved = await _move(tx, services, step, SUMMARY, **prefilled)
        return Outcome(kind="step", step=moved)
    return Outcome(kind="step", step=await _move(tx, services, step, NAME))


async def _complete(tx: AsyncSession, services: Services, step: StepOut) -> Outcome:
    """The summary confirmed: the person holds the role (a handover if someone else did).

    `advance` locked the unit and checked the invite, so no other registration of this unit
    can come between the check and the redemption.
    """
    invite = await _step_invite(tx, step)
    data, now, user_id = step.data, services.now(), step.user_id
    unit = await tx.get(Unit, invite.unit_id)
    if unit is None:
        await conversations.end_step(tx, user_id)
        return Outcome(kind="refused", reason="registration.token_unknown")
    # Redeemed now, before anything is saved: of two people registering for one role the
    # first to complete wins; the other is told who did, and nothing of theirs is kept.
    if not await invites.redeem(tx, invite, user_id=user_id, now=now):
        await conversations.end_step(tx, user_id)
        return await _role_taken(tx, services, step, invite)
    role: Role = invite.role  # type: ignore[assignment]
    details = _details_entered(data, DETAILS)
    name, post, phone = details
    holder = await repo.current_holder(tx, unit_id=unit.id, role=role)
    replaced: Person | None = None
    event_key: str | None = None  # a new holder's, by default
    message: str | None = None
    # The same person: their own record, or the lead's record as the liaison entered it and
    # this lead confirmed or corrected (a corrected name is not a handover).
    if holder is not None and (
        holder.telegram_user_id == user_id
        or (
            holder.telegram_user_id is None
            and (holder.name == name or data.get("prefilled_person") == holder.id)
        )
    ):
        newly_linked = holder.telegram_user_id is None
        message = "registration.staff_linked" if newly_linked else "registration.staff_registered"
        holder.name, holder.post, holder.phone = name, post, phone
        holder.telegram_user_id, holder.entered_by = user_id, user_id
        person = holder
        event_key = f"registration:{person.id}:{'linked' if newly_linked else invite.id}"
    else:
        if holder is not None:
            replaced = holder
            await _end_term(tx, holder, now)
        person = await _succeed(tx, unit, role, details, user_id, entered_by=user_id, now=now)
    audited = {"role": role, "person_id": person.id, "invite_id": invite.id}
    await _record_successor(
        tx,
        services,
        unit,
        person,
        replaced,
        actor_id=user_id,
        now=now,
        action="registered",
        details=audited,
        event_key=event_key,
        message=message,
    )
    registered = RegisteredOut(
        unit_id=unit.id,
        unit=unit.name,
        role=role,
        person=_person_out(person),
        replaced=_person_out(replaced) if replaced else None,
        replaced_user_id=replaced.telegram_user_id if replaced else None,
    )
    if role == "lead":
        await conversations.end_step(tx, user_id)
        return Outcome(kind="registered", registered=registered)
    lead = await repo.current_holder(tx, unit_id=unit.id, role="lead")
    if lead is not None:
        offer = {**details_of(lead, LEAD_DETAILS), "lead_linked": lead.linked}
        moved = await _move(tx, services, step, LEAD_OFFER, **offer)
    else:
        moved = await _move(tx, services, step, LEAD_NAME)
    return Outcome(kind="registered", registered=registered, step=moved)


async def _end_term(tx: AsyncSession, holder: Person, now: datetime) -> None:
    """End a holder's term now, written before a successor's row may exist."""
    holder.until = now
    await tx.flush()


async def _succeed(
    tx: AsyncSession,
    unit: Unit,
    role: str,
    details: tuple[str, str, str],
    user_id: int | None,
    *,
    entered_by: int,
    now: datetime,
) -> Person:
    """Add the new holder of a role (name, post, phone); the one before has ended their term."""
    name, post, phone = details
    return await repo.insert(
        tx,
        Person(
            unit_id=unit.id,
            role=role,
            name=name,
            post=post,
            phone=phone,
            telegram_user_id=user_id,
            since=now,
            until=None,
            entered_by=entered_by,
        ),
    )


async def _record_successor(
    tx: AsyncSession,
    services: Services,
    unit: Unit,
    person: Person,
    replaced: Person | None,
    *,
    actor_id: int,
    now: datetime,
    action: str,
    details: dict[str, Any],
    event_key: str | None = None,
    message: str | None = None,
) -> None:
    """Audit who holds the role now, hand it over from the one replaced,
    and tell staff (by default: of a new holder, or of a handover)."""
    replaced_id = replaced.id if replaced else None
    repo.audit(
        tx, now, actor_id, action, unit_id=unit.id, **details, replaced_person_id=replaced_id
    )
    if replaced is not None:
        await handed_over(tx, services, unit, replaced, person, actor_id=actor_id)
    if message is None:
        message = "registration.staff_handover" if replaced else "registration.staff_registered"
    await tell_staff(
        tx,
        services,
        event_key=event_key or f"registration:{person.id}",
        unit_id=unit.id,
        message=message,
        values={
            "unit": unit.name,
            "role": person.role,
            "name": person.name,
            "post": person.post,
            "phone": format_phone(person.phone),
            "old": replaced.name if replaced else "",
        },
    )


async def _save_lead(
    tx: AsyncSession, services: Services, step: StepOut, username: str | None
) -> Outcome:
    """The liaison confirmed the lead's details: record them and offer a lead invite."""
    data, now, user_id = step.data, services.now(), step.user_id
    await invites.lock_unit(tx, int(data["unit_id"]))
    unit = await tx.get(Unit, int(data["unit_id"]))
    liaison = await repo.current_holder(tx, unit_id=unit.id, role="liaison") if unit else None
    if unit is None or liaison is None or liaison.telegram_user_id != user_id:
        await conversations.end_step(tx, user_id)
        return Outcome(kind="refused", reason="registration.not_liaison")
    details = _details_entered(data, LEAD_DETAILS)
    name, post, phone = details
    lead = await repo.current_holder(tx, unit_id=unit.id, role="lead")
    replaced: Person | None = None
    if lead is not None and lead.name == name:
        lead.post, lead.phone, lead.entered_by = post, phone, user_id
        repo.audit(tx, now, user_id, "lead_updated", unit_id=unit.id, person_id=lead.id)
    else:
        if lead is not None:
            replaced = lead
            await _end_term(tx, lead, now)
            await invites.revoke_open(
                tx,
                unit_id=unit.id,
                role="lead",
                now=now,
                actor_id=user_id,
                why=invites.LEAD_REPLACED,
            )
        lead = await _succeed(tx, unit, "lead", details, None, entered_by=user_id, now=now)
        audited = {"person_id": lead.id}
        await _record_successor(
            tx,
            services,
            unit,
            lead,
            replaced,
            actor_id=user_id,
            now=now,
            action="lead_registered",
            details=audited,
        )
    invite = None
    if lead.telegram_user_id is None:
        try:
            invite = await invites.issue(
                tx, services=services, unit=unit, role="lead", actor_id=user_id, username=username
            )
        except invites.NoBotUsername:
            log.warning("no bot username known: the lead invite of %s was not made", unit.name)
    await conversations.end_step(tx, user_id)
    return Outcome(
        kind="lead_saved",
        lead=_person_out(lead),
        lead_invite=invite,
        replaced_user_id=replaced.telegram_user_id if replaced else None,
        values={"unit": unit.name},
    )


async def _update_own(tx: AsyncSession, services: Services, step: StepOut) -> Outcome:
    """`/contacts` → correct my details: the holder's row changes in place."""
    data, user_id = step.data, step.user_id
    holder = await repo.current_holder(tx, unit_id=int(data["unit_id"]), role=str(data["role"]))
    if holder is None or holder.telegram_user_id != user_id:
        await conversations.end_step(tx, user_id)
        return Outcome(kind="refused", reason="registration.no_longer_holder")
    before = {"name": holder.name, "post": holder.post, "phone": holder.phone}
    holder.name, holder.post, holder.phone = _details_entered(data, DETAILS)
    repo.audit(
        tx,
        services.now(),
        user_id,
        "contacts_updated",
        unit_id=holder.unit_id,
        person_id=holder.id,
        before=before,
    )
    await conversations.end_step(tx, user_id)
    return Outcome(kind="updated", lead=_person_out(holder))
