"""What the documents say: the report's numbers and, per unit, exactly what it still owes.

The counting is the report's (`bot/ledger/report.py`), the per-item states and the reasons for
sending an item back the read model's (`bot/ledger/status.py`), so the 通报 quotes the numbers
of `report --json`, /outstanding and the workbook.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot.enums import AWAITING_REVIEW, ItemState, UnitKind
from bot.ledger.report import Report, Totals, kind_deadlines
from bot.ledger.status import UnitObligations, load_obligations
from bot.settings import Settings


class OwedItem(BaseModel):
    """A required item not yet accepted."""

    title: str
    state: Literal["missing", "returned", "pending"]
    reason: str | None = None  # the reviewer's, when it was sent back


class UnitOwing(BaseModel):
    """One unit and everything it still owes."""

    unit_id: int
    name: str
    kind: str
    liaison_missing: bool
    lead_missing: bool
    items: list[OwedItem]
    required: int = 0  # items the unit must report in all
    deadline: date | None = None

    @property
    def missing_roles(self) -> list[str]:
        return [
            role
            for role, missing in (("liaison", self.liaison_missing), ("lead", self.lead_missing))
            if missing
        ]

    @property
    def to_submit(self) -> list[OwedItem]:
        """List what the unit has to send: items missing or sent back."""
        return [i for i in self.items if i.state != "pending"]

    @property
    def owes_everything(self) -> bool:
        """Tell whether not one of several items has been sent yet."""
        return (
            self.required > 1
            and len(self.items) == self.required
            and all(i.state == "missing" for i in self.items)
        )

    @property
    def pending(self) -> int:
        return sum(1 for i in self.items if i.state == "pending")

    @property
    def owes(self) -> bool:
        return bool(self.items) or self.liaison_missing or self.lead_missing


class Letterhead(BaseModel):
    """Who writes, to whom, signed by whom (the NOTICE_* settings) and the document number."""

    office: str
    number: str
    signature: str
    main_to: str
    copy_to: str
    issuer: str
    contact: str

    @classmethod
    def of(cls, settings: Settings, number: str) -> Letterhead:
        return cls(
            office=settings.notice_office,
            number=number,
            signature=settings.notice_signature,
            main_to=settings.notice_main_to,
            copy_to=settings.notice_copy_to,
            issuer=settings.notice_issuer,
            contact=settings.notice_contact,
        )


class KindGroup(BaseModel):
    """The units of one kind: how many, and those that still owe, in roster order."""

    kind: str
    units: int
    owing: list[UnitOwing]


class BulletinData(BaseModel):
    """The 通报: the numbers as of a day, and the units that still owe, by group."""

    head: Letterhead
    as_of: date
    signed: date
    deadline: date | None
    deadlines: dict[str, date | None] = {}  # each kind's, in UnitKind's order
    totals: Totals
    unreachable: int
    complete: int
    groups: list[KindGroup]  # a kind of unit each (those the roster has), in UnitKind's order


class UrgeData(BaseModel):
    """A 催办通知 to one unit."""

    head: Letterhead
    as_of: date
    signed: date
    deadline: date | None
    unit: UnitOwing
    bot_username: str | None = None
    invite_link: str | None = None
    invite_expires: date | None = None


def owed_items(ledger: UnitObligations | None) -> list[OwedItem]:
    """List the items of a unit's ledger not yet accepted, in checklist order."""
    if ledger is None:
        return []
    owed = []
    for item in ledger.items:
        if item.state == ItemState.ACCEPTED:
            continue
        if item.state in AWAITING_REVIEW:
            owed.append(OwedItem(title=item.title, state="pending"))
        elif item.state == ItemState.RETURNED:
            # The sentence around the reason brings its own full stop.
            reason = (item.reason or "").strip().rstrip("。．.；;，, ") or None
            owed.append(OwedItem(title=item.title, state="returned", reason=reason))
        else:
            owed.append(OwedItem(title=item.title, state="missing"))
    return owed


async def bulletin_from(
    session: AsyncSession, report: Report, *, head: Letterhead, as_of: date, signed: date
) -> BulletinData:
    """Gather the 通报: the report's numbers, each owing unit's items from its ledger."""
    ledgers = {ledger.name: ledger for ledger in await load_obligations(session)}
    owing: list[UnitOwing] = []
    for status in report.units:
        if not (status.missing_contacts or status.missing_items):
            continue
        ledger = ledgers.get(status.name)
        items = owed_items(ledger)
        if not items and status.missing_items:  # a unit added since the report was read
            items = [OwedItem(title=title, state="missing") for title in status.missing_items]
        owing.append(
            UnitOwing(
                unit_id=ledger.unit_id if ledger else 0,
                name=status.name,
                kind=status.kind,
                liaison_missing=not status.liaison_registered,
                lead_missing=not status.lead_registered,
                items=items,
                required=len(ledger.items) if ledger else len(items),
                deadline=status.deadline,
            )
        )
    kinds = [s.kind for s in report.units]
    groups = [
        KindGroup(kind=kind, units=kinds.count(kind), owing=[u for u in owing if u.kind == kind])
        for kind in UnitKind
        if kind in kinds
    ]
    return BulletinData(
        head=head,
        as_of=as_of,
        signed=signed,
        deadline=report.deadline,
        deadlines=kind_deadlines(report.units),
        totals=report.totals,
        unreachable=sum(1 for s in report.units if s.unreachable),
        complete=len(report.units) - len(owing),
        groups=groups,
    )


async def units_owing(session: AsyncSession, unit_ids: Sequence[int]) -> list[UnitOwing]:
    """Tell what each of the given units owes (contacts and items), in roster order."""
    return [
        UnitOwing(
            unit_id=ledger.unit_id,
            name=ledger.name,
            kind=ledger.kind,
            liaison_missing=not ledger.liaison_registered,
            lead_missing=not ledger.lead_registered,
            items=owed_items(ledger),
            required=len(ledger.items),
            deadline=ledger.deadline,
        )
        for ledger in await load_obligations(session, unit_ids)
    ]
