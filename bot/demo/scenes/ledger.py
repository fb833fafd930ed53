"""Demo scene: a liaison closes their unit's ledger in the chat and the office reviews it.

A sample member unit that still owes the activity records, the co-building agreement and the
defence-education records is chosen (its liaison has a Telegram account, is in no
conversation and has nothing waiting in the outbox); whatever else it owes is recorded as
submitted before the inspection, so it owes exactly those three. The liaison sends a photo,
a document and a text answer; staff accept two and send the photo back; the liaison
resubmits it; staff accept it; the report counts one unit fewer with materials missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.demo.sample import STAFF_USER_ID, accepted_before_inspection
from bot.demo.simulation import Person
from bot.ledger.report import build_report
from bot.ledger.status import load_obligations
from bot.sandbox.models import SentMessage
from messages import plain
from storage.models import ConversationStep, OutboxMessage
from storage.models import Person as Holder

if TYPE_CHECKING:
    from bot.demo.run import Stage

PDF = b"%PDF-1.4\n% demo: co-building agreement, signed and sealed\n%%EOF\n"
BLURRED = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(256)
SHARP = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02" + bytes(512)
OPEN = ("pending", "claimed", "sending")
# The items the scene fills, as the shipped checklist names them (photo, document, text).
WANTED = (
    "国防教育和双拥宣传教育活动记录",
    "与驻地部队签订的结对共建协议",
    "拥军共建活动开展记录（不限于“八一”前后）",
)


@dataclass
class Chosen:
    unit_id: int
    unit: str
    liaison_id: int
    liaison: str
    items: list[int]  # the three items it will owe
    titles: list[str]


async def _choose(stage: Stage) -> Chosen:
    """A unit owing the three wanted items (or at least three), none awaiting review, whose
    liaison is free."""
    async with stage.services.db.sessions() as session:
        liaisons = {
            p.unit_id: p
            for p in (
                await session.scalars(
                    select(Holder).where(
                        Holder.role == "liaison",
                        Holder.until.is_(None),
                        Holder.telegram_user_id.is_not(None),
                    )
                )
            ).all()
        }
        busy = set((await session.scalars(select(ConversationStep.user_id))).all())
        busy |= set(
            (
                await session.scalars(
                    select(OutboxMessage.chat_id).where(OutboxMessage.state.in_(OPEN))
                )
            ).all()
        )
        ledgers = await load_obligations(session, list(liaisons))
    free = [
        u
        for u in sorted(ledgers, key=lambda u: u.kind != "member")  # stable: the roster's order
        if len(u.open_items) >= 3
        and u.pending_review == 0
        and liaisons[u.unit_id].telegram_user_id not in busy
    ]
    fitting = [u for u in free if set(WANTED) <= {i.title for i in u.open_items}]
    if not free:
        raise RuntimeError("no sample unit owes three items with a free liaison")
    ledger = (fitting or free)[0]
    holder = liaisons[ledger.unit_id]
    assert holder.telegram_user_id is not None
    # Those three first (in the order /submit walks), the rest to be recorded as accepted.
    chosen = [i for i in ledger.open_items if i.title in WANTED] if fitting else []
    rest = [i for i in ledger.open_items if i not in chosen]
    ordered = chosen + rest
    return Chosen(
        unit_id=ledger.unit_id,
        unit=ledger.name,
        liaison_id=holder.telegram_user_id,
        liaison=holder.name,
        items=[i.item_id for i in ordered],
        titles=[i.title for i in ordered],
    )


async def _owe_exactly_three(stage: Stage, chosen: Chosen) -> None:
    """Record the unit's other open items as accepted before the inspection (sample data)."""
    now = stage.services.now()
    async with stage.services.db.uow() as tx:
        for item_id in chosen.items[3:]:
            tx.add(accepted_before_inspection(chosen.unit_id, item_id, now))
    chosen.items, chosen.titles = chosen.items[:3], chosen.titles[:3]


async def _person(stage: Stage, user_id: int, name: str) -> Person:
    """A simulated person, added to the emulator unless an earlier scene already did."""
    if user_id not in {u.id for u in await stage.sandbox.users()}:
        return await stage.person(user_id, name)
    person = Person(stage.sandbox, user_id, name, narrate=stage.narrate)
    person.seen = len(await stage.sandbox.messages(user_id))
    return person


async def _read(person: Person, *wanted: str) -> None:
    """Read the new messages until each wanted phrase has been seen."""
    missing = list(wanted)
    for _ in range(50):
        if not missing:
            return
        for message in await person.wait(1):
            text = message.text or message.caption or ""
            missing = [w for w in missing if w not in text]
    raise RuntimeError(f"{person.name} never received {missing!r}")


async def _answered(stage: Stage, staff: Person, got: list[SentMessage]) -> list[SentMessage]:
    """Wait until the bot has finished answering staff: the next card, or "nothing"."""
    accept = plain(stage.lang, "review.button_accept")
    ends = (plain(stage.lang, "review.nothing"), plain(stage.lang, "review.nothing_of_unit"))
    for _ in range(20):
        if any(accept in m.button_texts() or (m.text or "") in ends for m in got):
            return got
        got = got + await staff.wait(1)
    raise RuntimeError("staff got no answer")


async def scene_ledger(stage: Stage) -> None:
    """Three items submitted in the chat, reviewed, one sent back and resubmitted."""
    lang = stage.lang

    def label(key: str, /, **values: object) -> str:
        return plain(lang, key, **values)

    chosen = await _choose(stage)
    await _owe_exactly_three(stage, chosen)
    before = (await build_report(services=stage.services)).totals.missing_items
    stage.say("demo_ledger.intro", unit=chosen.unit, name=chosen.liaison)
    stage.say("demo_ledger.before", count=before)

    liaison = await _person(stage, chosen.liaison_id, chosen.liaison)
    staff = await _person(stage, STAFF_USER_ID, label("demo.staff_name"))
    staff.timeout = liaison.timeout = 60.0
    done = label("ledger.button_done")

    # The liaison: a photo, a document and a text answer, one item after the other.
    await liaison.say("/status")
    await liaison.press(label("ledger.button_submit"))
    await stage.sandbox.send_photo(
        chosen.liaison_id, data=BLURRED, caption=label("demo_ledger.photo_caption")
    )
    await liaison.wait(1)
    await liaison.press(done)
    await stage.sandbox.send_document(
        chosen.liaison_id, file_name=label("demo_ledger.document_name"), data=PDF
    )
    await liaison.wait(1)
    await liaison.press(done)
    await liaison.say(label("demo_ledger.text_answer"))
    await liaison.press(done)

    # Staff review the unit's submissions: the photo goes back, the other two pass.
    await _answered(stage, staff, await staff.say(f"/review {chosen.unit}"))
    await staff.press(label("review.button_return"))
    await _answered(stage, staff, await staff.say(label("demo_ledger.return_reason")))
    await _answered(stage, staff, await staff.press(label("review.button_accept")))
    await _answered(stage, staff, await staff.press(label("review.button_accept")))

    # The unit is told of each decision through the outbox; the liaison resubmits the photo.
    await stage.delivered(OutboxMessage.chat_id == chosen.liaison_id)
    await _read(liaison, label("demo_ledger.return_reason"), chosen.titles[1], chosen.titles[2])
    await liaison.press(label("review.button_resubmit"))
    await stage.sandbox.send_photo(
        chosen.liaison_id, data=SHARP, caption=label("demo_ledger.photo_caption")
    )
    await liaison.wait(1)
    await liaison.press(done)
    await _answered(stage, staff, await staff.say(f"/review {chosen.unit}"))
    await _answered(stage, staff, await staff.press(label("review.button_accept")))
    await stage.delivered(OutboxMessage.chat_id == chosen.liaison_id)
    await _read(liaison, chosen.titles[0])
    await liaison.say("/status")

    after = (await build_report(services=stage.services)).totals.missing_items
    stage.say("demo_ledger.after", count=after, fewer=before - after)
    if after != before - 1:
        raise RuntimeError(f"expected {before - 1} units with materials missing, found {after}")
