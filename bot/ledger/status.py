"""What each unit owes: who holds its roles, and the state of every item it must submit.

The one read model behind `/status`, `/submit`, review, the reminders, the staff console, the
report, the export and the chart, read for many units at once in a handful of set-based
queries. An item's state comes from its submissions (accepted wins over awaiting review,
which wins over sent back):

    accepted                a submission was accepted (通过)              done
    pending                 a submission awaits review (待审核)           awaits review
    not_applicable_pending  "not applicable" awaits review                awaits review
    returned                the latest decision sent it back (退回)       open, with the reason
    missing                 nothing submitted (a draft may be underway)   open
    exempt                  the office excused the unit, with a reason    not required

An accepted "not applicable" answer is accepted (done, counted as any accepted item), but it
is shown apart from accepted material: the office agreed the item does not apply, it reviewed
no material (`ItemStatus.shown_state`: not_applicable_accepted, 不适用（已同意）).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Select, String, and_, bindparam, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.enums import AWAITING_REVIEW, OPEN, ItemState, Role
from bot.ledger.checklist import deadline_for
from storage import repositories as repo
from storage.models import (
    UNIT_ORDER,
    Account,
    ChecklistItem,
    Deadline,
    Exemption,
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)

_EXEMPT, _ACCEPTED = ItemState.EXEMPT, ItemState.ACCEPTED
# How an accepted "not applicable" answer is shown (its state stays accepted).
NOT_APPLICABLE_ACCEPTED = "not_applicable_accepted"
_ROLES = {role.value: role for role in Role}
_MISSING, _RETURNED = ItemState.MISSING, ItemState.RETURNED
# Above this many units a query reads every unit and keeps those asked for, rather than
# binding one parameter per unit (PostgreSQL's driver takes at most 32,767).
_IN_LIMIT = 1000
# States of a submission that decide an item; drafts are only counted as progress.
_DECIDING = ("pending", "accepted", "returned")


def record_complete(name: str | None, post: str | None, phone: str | None) -> bool:
    """A person's record is complete when name, post and mobile are all on file."""
    return bool(name and post and phone)


@dataclass(frozen=True, slots=True)
class Holder:
    """A person holding a role in a unit now."""

    person_id: int
    role: Role
    name: str
    post: str
    phone: str
    user_id: int | None
    since: datetime | None  # None when read without detail
    unreachable_since: datetime | None = None
    unreachable_reason: str | None = None
    language: str | None = None
    unreachable_flag: bool = False  # read without detail: unreachable, since when unknown

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None and not self.unreachable_flag

    @property
    def chat(self) -> int | None:
        """The chat the bot can write to: linked and not known to be unreachable."""
        return self.user_id if self.user_id is not None and self.reachable else None

    @property
    def complete(self) -> bool:
        return record_complete(self.name, self.post, self.phone)


@dataclass(frozen=True, slots=True)
class ItemStatus:
    """One item a unit must submit (or is excused from), with its state."""

    item_id: int
    title: str
    description: str
    state: ItemState
    # The reviewer's reason (returned), the unit's reason (not applicable, awaiting review or
    # accepted) or the office's reason (exempt).
    reason: str | None = None
    submission_id: int | None = None  # the submission that decides the state
    submitted_at: datetime | None = None
    reviewed_at: datetime | None = None
    draft_files: int = 0  # a draft in progress: files received so far
    draft_chars: int = 0  # ... and the length of its text
    # A "not applicable" answer decides the item (accepted, or awaiting review).
    not_applicable: bool = False

    @property
    def shown_state(self) -> str:
        """The state as a person reads it: an accepted "not applicable" answer is not
        accepted material (the catalogues' `state_<shown_state>`)."""
        if self.not_applicable and self.state == _ACCEPTED:
            return NOT_APPLICABLE_ACCEPTED
        return self.state.value

    @property
    def is_open(self) -> bool:
        """Still to be submitted: missing or sent back."""
        return self.state in OPEN

    @property
    def awaiting_review(self) -> bool:
        return self.state in AWAITING_REVIEW

    @property
    def has_draft(self) -> bool:
        return self.is_open and (self.draft_files > 0 or self.draft_chars > 0)


@dataclass(slots=True)
class UnitObligations:
    """One unit: its role holders and every item that applies to it, in checklist order."""

    unit_id: int
    name: str
    kind: str
    created_at: datetime | None  # None when read without detail
    deadline: date | None
    paused_until: date | None
    pause_reason: str | None
    liaison: Holder | None
    lead: Holder | None
    every_item: list[ItemStatus]  # required and exempt, in checklist order
    reminders_sent: int = 0  # reminders delivered to the unit's people
    # Derived from every_item in one pass when the unit is made:
    items: list[ItemStatus] = field(init=False)  # those it must submit (not excused)
    missing_items: list[str] = field(init=False)  # titles not yet accepted (incl. in review)
    pending_review: int = field(init=False)  # items awaiting review
    open_items: list[ItemStatus] = field(init=False)  # missing or sent back: to submit
    accepted: int = field(init=False)

    def __post_init__(self) -> None:
        items: list[ItemStatus] = []
        missing: list[str] = []
        opened: list[ItemStatus] = []
        pending = 0
        for item in self.every_item:
            state = item.state
            if state == _EXEMPT:
                continue
            items.append(item)
            if state == _ACCEPTED:
                continue
            missing.append(item.title)
            if state in (_MISSING, _RETURNED):
                opened.append(item)
            else:
                pending += 1
        self.items, self.missing_items, self.open_items = items, missing, opened
        self.pending_review = pending
        self.accepted = len(items) - len(missing)

    @property
    def liaison_registered(self) -> bool:
        return self.liaison is not None

    @property
    def lead_registered(self) -> bool:
        """The lead's name, post and mobile are on record (entered by anyone)."""
        return self.lead is not None and self.lead.complete

    @property
    def lead_linked(self) -> bool:
        return self.lead is not None and self.lead.user_id is not None

    @property
    def missing_contacts(self) -> bool:
        return not (self.liaison_registered and self.lead_registered)

    @property
    def unregistered(self) -> bool:
        return self.liaison is None and self.lead is None

    @property
    def unreachable(self) -> bool:
        """One of the unit's linked people can no longer be written to."""
        liaison, lead = self.liaison, self.lead
        return (liaison is not None and not liaison.reachable) or (
            lead is not None and not lead.reachable
        )

    @property
    def owes(self) -> bool:
        """The unit itself has something to do: register someone, or submit an item."""
        return bool(self.open_items) or self.missing_contacts

    @property
    def outstanding(self) -> bool:
        """The report counts the unit: a role or an accepted item is still missing."""
        return self.missing_contacts or bool(self.missing_items)

    def holder(self, role: str) -> Holder | None:
        return self.lead if role == Role.LEAD else self.liaison

    def paused_on(self, day: date) -> bool:
        return self.paused_until is not None and day <= self.paused_until

    def item(self, item_id: int) -> ItemStatus | None:
        return next((i for i in self.every_item if i.item_id == item_id), None)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while many objects that form no cycles are made.

    It would otherwise walk the growing heap again and again: for a country's report that
    is as long as the work itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def checklist(session: AsyncSession) -> list[ChecklistItem]:
    """The active checklist, read once per transaction (the dispatcher checks many rows)."""
    cached = session.info.get("ledger.checklist")
    if cached is None:
        cached = list(await repo.checklist(session))
        session.info["ledger.checklist"] = cached
    return list(cached)


async def deadlines(session: AsyncSession) -> dict[str, Deadline]:
    """The deadlines by scope, read once per transaction."""
    cached = session.info.get("ledger.deadlines")
    if cached is None:
        cached = await repo.deadlines(session)
        session.info["ledger.deadlines"] = cached
    return dict(cached)


_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


def _for_units(query: _Query, column: Any, ids: list[int] | None) -> _Query:
    if ids is None or len(ids) > _IN_LIMIT:
        return query
    return query.where(column.in_(ids))


def _filtered(ids: list[int] | None) -> bool:
    """Whether a query names its units (up to 1,000) rather than reading every unit."""
    return ids is not None and len(ids) <= _IN_LIMIT


def _of_units(query: _Query, column: Any, filtered: bool) -> _Query:
    """The query for the units bound as `unit_ids` when it runs (built once, run often)."""
    return query.where(column.in_(bindparam("unit_ids", expanding=True))) if filtered else query


def _unit_ids(ids: list[int] | None) -> dict[str, Any]:
    return {"unit_ids": ids} if _filtered(ids) else {}


def _decide(subs: list[Any]) -> tuple[ItemState, Any]:
    """One item's state from its deciding submissions (oldest first), with the one that
    decides it: accepted material before an accepted "not applicable" (as the lean model
    ranks them), the latest of each."""
    accepted = pending = returned = None
    for s in subs:
        if s.state == "accepted" and (
            accepted is None
            or s.answer_kind != "not_applicable"
            or accepted.answer_kind == "not_applicable"
        ):
            accepted = s
        elif s.state == "pending" and pending is None:
            pending = s
        elif s.state == "returned":
            returned = s
    if accepted is not None:
        return ItemState.ACCEPTED, accepted
    if pending is not None:
        if pending.answer_kind == "not_applicable":
            return ItemState.NOT_APPLICABLE_PENDING, pending
        return ItemState.PENDING, pending
    if returned is not None:
        return ItemState.RETURNED, returned
    return ItemState.MISSING, None


_Listed = tuple[int, str, str]  # an item's id, title and description


def _items_by_owner(
    items: list[ChecklistItem],
) -> tuple[dict[str, list[_Listed]], dict[int, list[_Listed]]]:
    """The items of each kind, and each unit's own additions, in checklist order: a unit's
    items are its kind's followed by its own."""
    of_kind: dict[str, list[_Listed]] = defaultdict(list)
    of_unit: dict[int, list[_Listed]] = defaultdict(list)
    for item in items:
        listed = (item.id, item.title, item.description)
        if item.unit_id is not None:
            of_unit[item.unit_id].append(listed)
        elif item.kind is not None:
            of_kind[item.kind].append(listed)
    return of_kind, of_unit


async def load_obligations(
    session: AsyncSession,
    unit_ids: Collection[int] | None = None,
    *,
    detail: bool = True,
    reminders: bool = False,
) -> list[UnitObligations]:
    """What every unit (or the units given) owes, in the roster's order (UNIT_ORDER).

    With `detail` (the default) each item carries the submission that decides it, its dates,
    its reason and any draft in progress, and each holder the date they took the role;
    without, only the states (one row per unit, units in the same position sharing their
    item lists: what the report, the planner and the roll call need, fast for a whole
    country). `reminders` also counts the reminders
    delivered to each unit.
    """
    ids = sorted(set(unit_ids)) if unit_ids is not None else None
    if ids is not None and not ids:
        return []
    wanted = set(ids) if ids is not None else None
    db = await session.connection()
    if not detail:
        with gc_paused():
            return await _load_lean(session, db, ids, wanted, reminders=reminders)
    rows = await db.execute(_units_query(_filtered(ids)), _unit_ids(ids))
    units = [u for u in rows.all() if not wanted or u.id in wanted]
    if not units:
        return []
    items = await checklist(session)
    scoped = await deadlines(session)

    exempt = await _exemptions(db, ids)
    holders = await _holders(db, ids, detail=True)
    deciding: dict[tuple[int, int], list[Any]] = defaultdict(list)
    drafts: dict[tuple[int, int], Any] = {}
    for row in (await db.execute(_submissions_query(_filtered(ids)), _unit_ids(ids))).all():
        if row.state == "draft":
            drafts[(row.unit_id, row.item_id)] = row
        else:
            deciding[(row.unit_id, row.item_id)].append(row)
    draft_files = await _draft_files(session, ids) if drafts else {}
    sent = await _reminders_sent(session, ids) if reminders else {}

    of_kind, of_unit = _items_by_owner(items)
    missing = ItemState.MISSING
    result = []
    for unit in units:
        entries = []
        excused = exempt.get(unit.id)
        own = of_unit.get(unit.id)
        applicable = of_kind.get(unit.kind, []) + own if own else of_kind.get(unit.kind, [])
        for item_id, title, description in applicable:
            if excused and item_id in excused:
                entries.append(
                    ItemStatus(item_id, title, description, ItemState.EXEMPT, excused[item_id])
                )
                continue
            key = (unit.id, item_id)
            found = deciding.get(key)
            state, decided = _decide(found) if found else (missing, None)
            draft = drafts.get(key) if state in OPEN else None
            reason, not_applicable = None, False
            if decided is not None and state == ItemState.RETURNED:
                reason = decided.review_note
            elif decided is not None and decided.answer_kind == "not_applicable":
                reason, not_applicable = decided.reason, True
            entries.append(
                ItemStatus(
                    item_id,
                    title,
                    description,
                    state,
                    reason=reason,
                    submission_id=decided.id if decided else None,
                    submitted_at=decided.submitted_at if decided else None,
                    reviewed_at=decided.reviewed_at if decided else None,
                    draft_files=draft_files.get(draft.id, 0) if draft else 0,
                    draft_chars=int(draft.chars) if draft else 0,
                    not_applicable=not_applicable,
                )
            )
        result.append(
            UnitObligations(
                unit_id=unit.id,
                name=unit.name,
                kind=unit.kind,
                created_at=unit.created_at,
                deadline=deadline_for(unit.kind, scoped),
                paused_until=unit.paused_until,
                pause_reason=unit.pause_reason,
                liaison=holders.get((unit.id, Role.LIAISON)),
                lead=holders.get((unit.id, Role.LEAD)),
                every_item=entries,
                reminders_sent=sent.get(unit.id, 0),
            )
        )
    return result


async def _exemptions(db: AsyncConnection, ids: list[int] | None) -> dict[int, dict[int, str]]:
    """Unit id → item id → why the unit is excused from it."""
    exempt: dict[int, dict[int, str]] = defaultdict(dict)
    query = _exemptions_query(_filtered(ids))
    for unit_id, item_id, why in (await db.execute(query, _unit_ids(ids))).all():
        exempt[unit_id][item_id] = why
    return exempt


async def _holders(
    db: AsyncConnection, ids: list[int] | None, *, detail: bool
) -> dict[tuple[int, str], Holder]:
    """The current holder of each unit's roles, with what the bot knows of their account."""
    query = _holders_query(_filtered(ids), detail)
    holders: dict[tuple[int, str], Holder] = {}
    if not detail:  # a country's people: positional, a part at a time
        roles = _ROLES
        # Posts, names and languages repeat: one string each, not one per row.
        same: dict[str, str] = {}
        one = same.setdefault
        async for row in _rows(db, query, _unit_ids(ids)):
            person_id, unit_id, role, name, post, phone, user_id, language, flag = row
            holders[(unit_id, role)] = Holder(
                person_id, roles[role], one(name, name), one(post, post), phone, user_id,
                None, None, None, language and one(language, language), bool(flag),
            )  # fmt: skip
        return holders
    for p in (await db.execute(query, _unit_ids(ids))).all():
        holders[(p.unit_id, p.role)] = Holder(
            person_id=p.id,
            role=_ROLES[p.role],
            name=p.name,
            post=p.post,
            phone=p.phone,
            user_id=p.telegram_user_id,
            since=p.since,
            unreachable_since=p.unreachable_since,
            unreachable_reason=p.unreachable_reason,
            language=p.language,
        )
    return holders


@cache
def _units_query(filtered: bool) -> Select[*tuple[Any, ...]]:
    columns = (
        Unit.id,
        Unit.name,
        Unit.kind,
        Unit.paused_until,
        Unit.pause_reason,
        Unit.created_at,
    )
    return _of_units(select(*columns).order_by(*UNIT_ORDER), Unit.id, filtered)


@cache
def _exemptions_query(filtered: bool) -> Select[*tuple[Any, ...]]:
    query = select(Exemption.unit_id, Exemption.item_id, Exemption.reason)
    return _of_units(query, Exemption.unit_id, filtered)


@cache
def _holders_query(filtered: bool, detail: bool) -> Select[*tuple[Any, ...]]:
    columns: list[Any] = [
        Person.id,
        Person.unit_id,
        Person.role,
        Person.name,
        Person.post,
        Person.phone,
        Person.telegram_user_id,
        Account.language,
    ]
    if detail:
        columns += [Person.since, Account.unreachable_since, Account.unreachable_reason]
    else:  # whether, not since when: no date to read
        columns.append(Account.unreachable_since.is_not(None).label("unreachable"))
    return _of_units(
        select(*columns)
        .outerjoin(Account, Account.user_id == Person.telegram_user_id)
        .where(Person.until.is_(None)),
        Person.unit_id,
        filtered,
    )


@cache
def _submissions_query(filtered: bool) -> Select[*tuple[Any, ...]]:
    return _of_units(
        select(
            Submission.id,
            Submission.unit_id,
            Submission.item_id,
            Submission.state,
            Submission.answer_kind,
            case((Submission.answer_kind == "not_applicable", Submission.text)).label("reason"),
            case(
                (Submission.state == "draft", func.coalesce(func.length(Submission.text), 0)),
                else_=0,
            ).label("chars"),
            Submission.review_note,
            Submission.submitted_at,
            Submission.reviewed_at,
        )
        .where(Submission.state.in_((*_DECIDING, "draft")))
        .order_by(Submission.id),
        Submission.unit_id,
        filtered,
    )


async def load_unit(session: AsyncSession, unit_id: int, **options: bool) -> UnitObligations:
    """One unit's obligations (the unit must exist)."""
    (found,) = await load_obligations(session, [unit_id], **options)
    return found


async def _draft_files(session: AsyncSession, ids: list[int] | None) -> dict[int, int]:
    query = _of_units(
        select(SubmissionFile.submission_id, func.count())
        .join(Submission, Submission.id == SubmissionFile.submission_id)
        .where(Submission.state == "draft")
        .group_by(SubmissionFile.submission_id),
        Submission.unit_id,
        _filtered(ids),
    )
    rows = (await (await session.connection()).execute(query, _unit_ids(ids))).all()
    return {submission_id: n for submission_id, n in rows}  # noqa: C416


async def _reminders_sent(session: AsyncSession, ids: list[int] | None) -> dict[int, int]:
    query = _of_units(
        select(OutboxMessage.unit_id, func.count())
        .where(OutboxMessage.purpose == "reminder", OutboxMessage.state == "sent")
        .group_by(OutboxMessage.unit_id),
        OutboxMessage.unit_id,
        _filtered(ids),
    )
    return {
        unit_id: n
        for unit_id, n in (await (await session.connection()).execute(query, _unit_ids(ids))).all()
        if unit_id
    }


# -- The lean read model (detail=False): one row per unit, patterns shared --------------------

# A deciding submission's state as a code, the best of an item's submissions winning:
# accepted 7 ("not applicable" accepted 6), pending 4 ("not applicable" pending 5),
# returned 2; with whether a "not applicable" answer decides the item.
_CODES = {
    7: (ItemState.ACCEPTED, False),
    6: (ItemState.ACCEPTED, True),
    5: (ItemState.NOT_APPLICABLE_PENDING, True),
    4: (ItemState.PENDING, False),
    2: (ItemState.RETURNED, False),
}


def _concat(dialect: str, value: Any) -> Any:
    """Join a column's values of a group with commas (SQLite and PostgreSQL spell it apart)."""
    if dialect == "postgresql":
        return func.string_agg(value, ",")
    return func.group_concat(value, ",")


def _states_per_unit(dialect: str, ids: list[int] | None) -> Any:
    """Each unit's items with a deciding submission, as one text `item:code,item:code…`."""
    not_applicable = Submission.answer_kind == "not_applicable"
    code = func.max(
        case(
            (and_(Submission.state == "accepted", not_applicable), 6),
            (Submission.state == "accepted", 7),
            (and_(Submission.state == "pending", not_applicable), 5),
            (Submission.state == "pending", 4),
            else_=2,
        )
    )
    per_item = _for_units(
        select(Submission.unit_id, Submission.item_id, code.label("code"))
        .where(Submission.state.in_(_DECIDING))
        .group_by(Submission.unit_id, Submission.item_id),
        Submission.unit_id,
        ids,
    ).subquery()
    pair = cast(per_item.c.item_id, String) + ":" + cast(per_item.c.code, String)
    return (
        select(per_item.c.unit_id, _concat(dialect, pair).label("states"))
        .group_by(per_item.c.unit_id)
        .subquery()
    )


_PART = 10_000


async def _rows(
    db: AsyncConnection, query: Any, params: dict[str, Any] | None = None
) -> AsyncIterator[Any]:
    """A query's rows, one by one, fetched _PART at a time."""
    async for part in repo.in_parts(db, query, _PART, params):
        for row in part:
            yield row


@dataclass(frozen=True, slots=True)
class _Derived:
    """A unit's items and what follows from them, shared by units in the same position."""

    every_item: list[ItemStatus]
    items: list[ItemStatus]
    missing_items: list[str]
    open_items: list[ItemStatus]
    pending_review: int
    accepted: int


def _derive(every_item: list[ItemStatus]) -> _Derived:
    probe = UnitObligations(0, "", "", None, None, None, None, None, None, every_item)
    return _Derived(
        every_item,
        probe.items,
        probe.missing_items,
        probe.open_items,
        probe.pending_review,
        probe.accepted,
    )


async def _load_lean(
    session: AsyncSession,
    db: AsyncConnection,
    ids: list[int] | None,
    wanted: set[int] | None,
    *,
    reminders: bool,
) -> list[UnitObligations]:
    """Every unit's states without detail: one row per unit, with the states of its items
    joined into one text, so that units in the same position share their item lists."""
    dialect = db.dialect.name
    states = _states_per_unit(dialect, ids)
    columns: list[Any] = [
        Unit.id,
        Unit.name,
        Unit.kind,
        Unit.paused_until,
        Unit.pause_reason,
        states.c.states,
    ]
    query = select(*columns).outerjoin(states, states.c.unit_id == Unit.id)
    if reminders:
        sent = _for_units(
            select(OutboxMessage.unit_id, func.count().label("sent"))
            .where(OutboxMessage.purpose == "reminder", OutboxMessage.state == "sent")
            .group_by(OutboxMessage.unit_id),
            OutboxMessage.unit_id,
            ids,
        ).subquery()
        query = query.add_columns(sent.c.sent).outerjoin(sent, sent.c.unit_id == Unit.id)
    else:
        query = query.add_columns(literal(None).label("sent"))
    query = _for_units(query.order_by(*UNIT_ORDER), Unit.id, ids)
    items = await checklist(session)
    scoped = await deadlines(session)
    exempt = await _exemptions(db, ids)
    holders = await _holders(db, ids, detail=False)

    of_kind, of_unit = _items_by_owner(items)
    interned: dict[tuple[int, ItemState, bool], ItemStatus] = {}
    undecided = (ItemState.MISSING, False)

    def status(
        item_id: int, title: str, description: str, decided: tuple[ItemState, bool]
    ) -> ItemStatus:
        found = interned.get((item_id, *decided))
        if found is None:
            state, not_applicable = decided
            found = interned[(item_id, *decided)] = ItemStatus(
                item_id, title, description, state, not_applicable=not_applicable
            )
        return found

    def derive(unit: Any) -> _Derived:
        decided: dict[int, tuple[ItemState, bool]] = {}
        if unit.states:
            for pair in unit.states.split(","):
                item_id, _, code = pair.partition(":")
                decided[int(item_id)] = _CODES[int(code)]
        excused = exempt.get(unit.id, {})
        own = of_unit.get(unit.id, [])
        entries = []
        for item_id, title, description in of_kind.get(unit.kind, []) + own:
            if item_id in excused:
                entries.append(
                    ItemStatus(item_id, title, description, ItemState.EXEMPT, excused[item_id])
                )
            else:
                entries.append(
                    status(item_id, title, description, decided.get(item_id, undecided))
                )
        return _derive(entries)

    deadline_of: dict[str, date | None] = {}
    shared: dict[tuple[str, str | None], _Derived] = {}
    special = exempt.keys() | of_unit.keys()
    liaison_role, lead_role = Role.LIAISON, Role.LEAD
    new = object.__new__
    result = []
    # Read a part at a time, so a country's rows are never all held at once besides the units.
    async for row in _rows(db, query):
        unit_id, name, kind, paused_until, pause_reason, states, sent = row
        if wanted and unit_id not in wanted:
            continue
        if unit_id in special:
            derived = derive(row)
        else:
            found = shared.get((kind, states))
            derived = (
                found if found is not None else shared.setdefault((kind, states), derive(row))
            )
        if kind not in deadline_of:
            deadline_of[kind] = deadline_for(kind, scoped)
        # Made without __init__: the derived lists are shared, not worked out again.
        unit = new(UnitObligations)
        unit.unit_id, unit.name, unit.kind, unit.created_at = unit_id, name, kind, None
        unit.deadline, unit.paused_until, unit.pause_reason = (
            deadline_of[kind],
            paused_until,
            pause_reason,
        )
        unit.liaison = holders.get((unit_id, liaison_role))
        unit.lead = holders.get((unit_id, lead_role))
        unit.every_item, unit.items, unit.missing_items = (
            derived.every_item,
            derived.items,
            derived.missing_items,
        )
        unit.open_items, unit.pending_review, unit.accepted = (
            derived.open_items,
            derived.pending_review,
            derived.accepted,
        )
        unit.reminders_sent = sent or 0
        result.append(unit)
    return result
