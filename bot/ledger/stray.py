"""A file sent outside /submit: guess its item, hold it, and place it on confirmation."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from bot.conversations import end_step, load_step, save_step
from bot.ledger import files
from bot.ledger.errors import HeldFilesChanged, NoHeldFiles, NotAMember, NothingOwed
from bot.ledger.files import Fetch, FileRefused, IncomingFile
from bot.ledger.permissions import member_units, require_member
from bot.ledger.status import load_obligations
from bot.ledger.submitting import (
    FLOW_STRAY,
    MAX_HELD_FILES,
    STEP_CHOOSE,
    DraftOut,
    Received,
    SubmitStep,
    _known_file,
    _open_item,
    _record,
    _walk,
)
from bot.services import Services


class Candidate(BaseModel):
    unit_id: int
    unit_name: str
    item_id: int
    title: str


class KnownFile(BaseModel):
    unit_name: str
    title: str
    # draft | pending | accepted, or a "not applicable" answer's: not_applicable_pending |
    # not_applicable_accepted (as ItemStatus.shown_state names them)
    state: str


class StrayOut(BaseModel):
    """Files held until the person says which item they belong to."""

    files: list[str]
    guess: Candidate | None
    candidates: list[Candidate]
    known: KnownFile | None = None
    asked: int = 0  # which question this is: each file held asks anew


_CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]+|[a-z]{3,}")
# Words of file formats and cameras say nothing about which item a file is.
# fmt: off
_NOT_A_HINT = frozenset({
    "pdf", "doc", "docx", "xls", "xlsx", "wps", "ofd", "jpg", "jpeg", "png", "heic", "heif",
    "webp", "bmp", "tif", "tiff", "img", "dsc", "scan", "word", "excel", "file", "copy",
    "photo", "image", "final",
})
# fmt: on


def _terms(text: str) -> set[str]:
    """Chinese character pairs and Latin words of a text (what a file name and a title share)."""
    terms: set[str] = set()
    for run in _CJK_OR_WORD.findall(text.lower()):
        if run.isascii():
            if run not in _NOT_A_HINT:
                terms.add(run)
        else:
            terms.update(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def guess_item(candidates: Sequence[tuple[str, str]], text: str) -> int | None:
    """The index of the (title, description) a file most likely belongs to, from its name and
    caption (协议 → …共建协议), or None when nothing or several match equally well.

    Character pairs shared with the title count fully, with the description a third; a pair
    found in many candidates (双拥, 记录) counts less than one found in a single one.
    """
    query = _terms(text)
    if not query or not candidates:
        return None
    titles = [_terms(title) for title, _ in candidates]
    descriptions = [_terms(description) for _, description in candidates]
    n = len(candidates)

    def weight(term: str) -> float:
        df = sum(1 for a, b in zip(titles, descriptions, strict=True) if term in a or term in b)
        return math.log(1 + n / df) if df else 0.0

    scores = [
        sum(weight(term) for term in query & title)
        + sum(weight(term) for term in (query & description) - title) / 3
        for title, description in zip(titles, descriptions, strict=True)
    ]
    best = max(scores)
    if best <= 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


async def hold_stray_file(
    *, services: Services, actor_id: int, incoming: IncomingFile
) -> StrayOut:
    """A file sent outside /submit: kept in hand (not downloaded) with the item it most
    likely belongs to, until the person confirms or chooses another."""
    async with services.db.uow() as tx:
        units = await member_units(tx, actor_id)
        if not units:
            raise NotAMember()
        files.check_incoming(incoming)
        unit_ids = [u.id for u in units]
        known = await _known_file(
            tx, unit_ids=unit_ids, item_id=None, file_unique_id=incoming.file_unique_id
        )
        if known is not None:
            ledger = (await load_obligations(tx, [known[1].unit_id]))[0]
            title = next((i.title for i in ledger.items if i.item_id == known[1].item_id), "")
            state = known[1].state
            if known[1].answer_kind == "not_applicable" and state != "draft":
                state = f"not_applicable_{state}"
            return StrayOut(
                files=[incoming.display_name],
                guess=None,
                candidates=[],
                known=KnownFile(unit_name=ledger.name, title=title, state=state),
            )
        ledgers = await load_obligations(tx, unit_ids)
        candidates = [
            Candidate(
                unit_id=ledger.unit_id,
                unit_name=ledger.name,
                item_id=item.item_id,
                title=item.title,
            )
            for ledger in ledgers
            for item in ledger.open_items
        ]
        if not candidates:
            raise NothingOwed()
        descriptions = {
            (ledger.unit_id, i.item_id): i.description for ledger in ledgers for i in ledger.items
        }
        step = await load_step(tx, actor_id)
        data: dict[str, Any] = (
            dict(step.data) if step is not None and step.flow == FLOW_STRAY else {}
        )
        held = [f for f in data.get("files", []) if f["file_unique_id"] != incoming.file_unique_id]
        held = [*held, incoming.model_dump()][-MAX_HELD_FILES:]
        asked = int(data.get("asked", 0)) + 1
        await save_step(
            tx,
            user_id=actor_id,
            flow=FLOW_STRAY,
            step=STEP_CHOOSE,
            data={"files": held, "asked": asked},
            now=services.now(),
        )
    hint = " ".join(f"{f.get('file_name') or ''} {f.get('caption') or ''}" for f in held)
    index = guess_item(
        [(c.title, descriptions.get((c.unit_id, c.item_id), "")) for c in candidates], hint
    )
    return StrayOut(
        files=[IncomingFile.model_validate(f).display_name for f in held],
        guess=candidates[index] if index is not None else None,
        candidates=candidates,
        asked=asked,
    )


class Refusal(BaseModel):
    """Why a file was not kept: a message key and its values."""

    key: str
    values: dict[str, str]


class Placed(BaseModel):
    """Files outside /submit put into the item the person chose."""

    draft: DraftOut
    added: int  # files recorded (not refused, not received before)
    refused: list[Refusal]  # files that could not be kept after all
    step: SubmitStep


def _held(data: dict[str, Any]) -> list[IncomingFile]:
    return [IncomingFile.model_validate(f) for f in data.get("files", [])]


async def place_held_files(
    *,
    services: Services,
    actor_id: int,
    unit_id: int,
    item_id: int,
    fetch: Fetch,
    asked: int | None = None,
) -> Placed:
    """The person chose the item for the files in hand: download them into its draft and
    continue with /submit at that item. `asked`: which question was answered; only the latest
    names every file in hand, so an older one files nothing."""
    async with services.db.sessions() as session:
        step = await load_step(session, actor_id)
        if step is None or step.flow != FLOW_STRAY:
            raise NoHeldFiles()
        held = _held(step.data)
        if asked is not None and asked != int(step.data.get("asked", 0)):
            raise HeldFilesChanged()
        await require_member(session, actor_id, unit_id)
        await _open_item(session, unit_id, item_id)
    data_dir = services.settings.data_dir
    received: list[Received] = []
    refused: list[Refusal] = []
    try:
        for incoming in held:
            try:
                stored = await files.download(
                    fetch=fetch,
                    data_dir=data_dir,
                    unit_id=unit_id,
                    item_id=item_id,
                    incoming=incoming,
                )
            except FileRefused as refusal:
                values = {k: str(v) for k, v in refusal.values.items()}
                refused.append(Refusal(key=refusal.key, values=values))
                continue
            received.append(Received(incoming=incoming, stored=stored))
        async with services.db.uow() as tx:
            unit = await require_member(tx, actor_id, unit_id)
            item = await _open_item(tx, unit_id, item_id)
            draft, unwanted = await _record(
                tx, services, actor_id=actor_id, unit_id=unit_id, item=item, received=received
            )
            walk = await _walk(
                tx, services, actor_id=actor_id, unit=unit, skipped=[], prefer=item_id
            )
    except BaseException:
        for file in received:
            await files.remove(data_dir, file.stored.path)
        raise
    for path in unwanted:
        await files.remove(data_dir, path)
    added = len(received) - len(unwanted)
    return Placed(draft=draft, added=added, refused=refused, step=walk)


async def drop_held_files(*, services: Services, actor_id: int) -> int:
    """The person does not want the files in hand kept; tell how many were dropped."""
    async with services.db.uow() as tx:
        step = await load_step(tx, actor_id)
        if step is None or step.flow != FLOW_STRAY:
            return 0
        count = len(step.data.get("files", []))
        await end_step(tx, actor_id)
        return count
