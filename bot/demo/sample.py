"""The notice's situation, as sample data for the demo and the tests (not real people).

37 units have a liaison and a lead on record, 13 have neither (仍有13家单位未报送); 25 units
have ledger items missing (25个单位未按要求报送资料台账), the other 25 have everything accepted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot import roster
from bot.importing import SAMPLE_ROSTER_PATH
from bot.ledger.checklist import applies_to
from bot.services import Services
from storage import repositories as repo
from storage.models import Person, Submission, Unit

# Units without a lead and liaison on record: not among those the notice praises for having them.
UNREPORTED = (
    "市文旅局",
    "市科技局",
    "市司法局",
    "市人防办",
    "市市场监管局",
    "市自然资源局",
    "市住建局",
    "市水务局",
    "市商务局",
    "市审计局",
    "市统计局",
    "市林草局",
    "泾源县",
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
    "许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = tuple("伟芳娜敏静磊强军洋勇艳杰涛明超霞")

# Simulated Telegram accounts of the sample people start here.
FIRST_USER_ID = 700_000_001
STAFF_USER_ID = 600_000_001


@dataclass(frozen=True)
class SampleUnit:
    name: str
    kind: str
    liaison_user_id: int | None
    complete: bool


def sample_name(index: int, offset: int) -> str:
    return SURNAMES[(index * 7 + offset) % len(SURNAMES)] + GIVEN[(index + offset) % len(GIVEN)]


async def seed_notice_situation(
    *, services: Services, deadline: date | None = None
) -> list[SampleUnit]:
    """Import the sample roster and write the notice's starting state straight to the database."""
    await roster.import_units(services=services, path=SAMPLE_ROSTER_PATH, actor="sample")
    now = services.now()
    since = now - timedelta(days=200)
    result: list[SampleUnit] = []
    async with services.db.uow() as tx:
        # The sample's states are dealt out in code-point order of kind and name, not in the
        # order units are listed in (the roster's): the same units owe whatever the roster's
        # order (not the ones the notice praises, which it lists first), and the demo tells
        # the same story as before lists followed the roster.
        units = sorted(await repo.units(tx), key=lambda u: (u.kind, u.name))
        items = list(await repo.checklist(tx))
        reported = [u for u in units if u.name not in UNREPORTED]
        # The 25 with ledger items missing: the 13 that never reported, and 12 that did.
        owing = {u.name for u in units if u.name in UNREPORTED}
        owing |= {u.name for u in reported[: 25 - len(owing)]}
        for index, unit in enumerate(units):
            liaison_id = None
            if unit.name not in UNREPORTED:
                liaison_id = FIRST_USER_ID + index
                for role, offset, post in (("liaison", 0, "科员"), ("lead", 3, "副局长")):
                    tx.add(
                        Person(
                            unit_id=unit.id,
                            role=role,
                            name=sample_name(index, offset),
                            post=post
                            if unit.kind == "member"
                            else "副县长"
                            if role == "lead"
                            else "双拥办主任",
                            phone=f"1390954{index:04d}"
                            if role == "liaison"
                            else f"1380954{index:04d}",
                            telegram_user_id=liaison_id if role == "liaison" else None,
                            since=since,
                            until=None,
                            entered_by=liaison_id,
                        )
                    )
            complete = unit.name not in owing
            owed = [i for i in items if applies_to(i, unit.id, unit.kind)]
            # Those that reported their contacts have sent part of their ledger already.
            done = len(owed) if complete else 0 if liaison_id is None else index % (len(owed) - 1)
            for item in owed[:done]:
                tx.add(accepted_before_inspection(unit.id, item.id, now))
            result.append(SampleUnit(unit.name, unit.kind, liaison_id, complete))
        repo.audit(tx, now, None, "sample_seed", units=len(units))
    if deadline is not None:
        from bot.ledger.checklist import set_deadline

        await set_deadline(services=services, due=deadline)
    return result


def accepted_before_inspection(unit_id: int, item_id: int, now: datetime) -> Submission:
    """A sample submission recorded as sent and accepted before the inspection."""
    return Submission(
        unit_id=unit_id,
        item_id=item_id,
        state="accepted",
        answer_kind="text",
        text="（示例数据）已于督查前报送",
        submitted_by=0,
        created_at=now,
        submitted_at=now,
        reviewed_by=STAFF_USER_ID,
        reviewed_at=now,
    )


async def unit_id_by_name(*, services: Services, name: str) -> int:
    async with services.db.sessions() as session:
        found = await session.scalar(select(Unit.id).where(Unit.name == name))
    if found is None:
        raise LookupError(name)
    return found
