"""Demo scene: one of the 13 unreported units registers its liaison and lead over the emulator."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from bot.demo.sample import FIRST_USER_ID, STAFF_USER_ID, UNREPORTED
from bot.demo.simulation import Person
from bot.registration.invites import create_invites
from messages import plain

if TYPE_CHECKING:
    from bot.demo.run import Stage

LINK_TOKEN = re.compile(r"\?start=([A-Za-z0-9_-]+)")
UNIT = UNREPORTED[0]  # 市文旅局
LIAISON_ID = FIRST_USER_ID + 1_000
LEAD_ID = FIRST_USER_ID + 1_001
# A person needs a moment for each answer; without it the simulated liaison would answer
# faster than Telegram lets a bot write to one chat (about one message a second).
THINK = 1.0


async def scene_registration(stage: Stage) -> None:
    """The office posts a link; the liaison registers and enters the lead; the lead links."""
    lang = stage.lang

    def label(key: str) -> str:
        return plain(lang, f"registration.{key}")

    stage.say("demo_registration.intro", unit=UNIT)
    staff = Person(stage.sandbox, STAFF_USER_ID, plain(lang, "demo.staff_name"))
    staff.narrate = stage.narrate
    staff.seen = len(await stage.sandbox.messages(STAFF_USER_ID))
    [invite] = await create_invites(services=stage.services, units=[UNIT])
    stage.say("demo_registration.invite", unit=UNIT, link=invite.link)

    liaison = await stage.person(
        LIAISON_ID, plain(lang, "demo_registration.liaison_name", unit=UNIT)
    )
    await liaison.start(invite.token)
    await asyncio.sleep(THINK)
    await liaison.press(label("button_confirm"))
    await asyncio.sleep(THINK)
    await liaison.say("张伟" if lang == "zh" else "Zhang Wei")
    await asyncio.sleep(THINK)
    await liaison.say("办公室主任" if lang == "zh" else "office director")
    await asyncio.sleep(THINK)
    stage.narrate(liaison.name, "says", f"[{label('button_share')}]")
    await stage.sandbox.share_contact(LIAISON_ID, "8613995400101")
    await liaison.wait(2)
    await asyncio.sleep(THINK)
    await liaison.press(label("button_ok"))
    await staff.wait()
    for answer in (
        "王强" if lang == "zh" else "Wang Qiang",
        "副局长" if lang == "zh" else "deputy director",
        "13995400102",
    ):
        await asyncio.sleep(THINK)
        await liaison.say(answer)
    await asyncio.sleep(THINK)
    [saved] = await liaison.press(label("button_ok"))
    await staff.wait()

    found = LINK_TOKEN.search(saved.text or "")
    if found is None:
        raise RuntimeError("the liaison got no lead link")
    lead = await stage.person(LEAD_ID, plain(lang, "demo_registration.lead_name", unit=UNIT))
    await lead.start(found[1])
    await lead.press(label("button_confirm"))
    await lead.press(label("button_ok"))
    await staff.wait()
