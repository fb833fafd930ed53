"""handlers/staff.py through updates: /outstanding, /unit and its buttons, /audit, /export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot import roster
from bot.services import Services
from handlers.staff import audit_details, back_to_unit
from messages import LANGUAGES, kind_name, plain
from storage.models import AuditEvent, ChecklistItem, Exemption, Invite, Unit
from tests.support import factories, rows
from tests.support.application import BotHarness
from tests.support.checklist import item_count
from tests.support.messages import label
from tests.support.request import Sent
from tests.support.settings import STAFF

LIAISON, STRANGER = 1001, 3001
GROUP = -100_555


@dataclass
class Office:
    unit: Unit  # 市民政局: a liaison, no lead; one item accepted
    county: Unit  # 西吉县: nobody registered
    items: list[ChecklistItem]  # the member checklist


@pytest.fixture
async def office(services: Services) -> Office:
    unit = await factories.add_unit(services, "市民政局")
    county = await factories.add_unit(services, "西吉县", kind="county")
    await factories.add_person(services, unit, "liaison", user_id=LIAISON)
    items = await factories.items_for(services, unit)
    await factories.add_submission(services, unit, items[0], "accepted")
    return Office(unit, county, items)


async def unit_card(bot: BotHarness) -> Sent:
    card = (await bot.command(STAFF, "/unit 民政局")).one()
    assert card.mentions("unitcard.title", name="市民政局", kind=label("common.kind_member"))
    return card


async def test_outstanding_counts_the_units_and_pages_through_the_lists(
    bot: BotHarness, office: Office
) -> None:
    view = (await bot.command(STAFF, "/outstanding")).one()
    assert view.mentions("outstanding.totals", units=2, missing_contacts=2, missing_items=2)
    assert view.mentions("outstanding.list_heading", list=label("outstanding.list_all"), count=2)
    assert view.mentions("outstanding.line", name="西吉县")
    assert "st:o:c:any:0" in view.button_data()

    shown = await bot.press(STAFF, label("outstanding.button_review"), on=view)
    assert shown.edited == [view]
    assert view.mentions(
        "outstanding.list_heading", list=label("outstanding.list_review"), count=0
    )
    assert view.mentions("report.none")


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_kind_filter_counts_that_kind_and_names_it_as_several(
    bot: BotHarness, office: Office, services: Services, lang: str
) -> None:
    await roster.set_language(services=services, user_id=STAFF, language=lang)
    view = (await bot.command(STAFF, "/outstanding")).one()
    await bot.press(STAFF, label("common.kind_label_member", lang), on=view)
    members = kind_name(lang, "member", plural=True)
    assert view.mentions("outstanding.scope_totals", lang, kind=members, units=1), view.text
    assert view.mentions("outstanding.list_heading", lang, count=1)


async def test_outstanding_asked_in_a_group_is_sent_privately(
    bot: BotHarness, office: Office
) -> None:
    bot.request.fail("sendChatAction", 403, chat_id=STAFF)
    refused = await bot.command(STAFF, "/outstanding", chat_id=GROUP)
    assert refused.one().says("console.open_private_first")
    note, view = (await bot.command(STAFF, "/outstanding", chat_id=GROUP)).messages
    assert (note.chat_id, view.chat_id) == (GROUP, STAFF)
    assert note.says("console.sent_privately")
    assert view.mentions("outstanding.totals", units=2)


async def test_unit_shows_the_units_file_with_its_actions(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await factories.add_outbox(
        services, LIAISON, purpose="reminder", state="sent", unit=office.unit
    )
    card = await unit_card(bot)
    owed = item_count("member")
    assert card.mentions(
        "unitcard.items_heading", required=owed, accepted=1, missing=owed - 1, pending=0
    )
    assert card.mentions("unitcard.contact_missing", role=label("common.role_lead"))
    assert card.mentions("unitcard.reminders", count=1)
    assert card.mentions("unitcard.reminder", state=label("export.state_sent"))
    unit_id = office.unit.id
    assert card.button_data() == [
        f"st:x:{unit_id}",
        f"st:n:{unit_id}",
        f"st:i:{unit_id}:l",
        f"st:i:{unit_id}:d",
        f"st:m:{unit_id}",
        f"nt:u:{unit_id}",
        f"st:p:{unit_id}:7",
        f"st:p:{unit_id}:14",
        f"st:u:{unit_id}",
    ]
    assert (await bot.command(STAFF, "/unit")).one().says("unitcard.usage")
    assert (
        (await bot.command(STAFF, "/unit 火星局"))
        .one()
        .says("common.unit_not_found", name="火星局")
    )


async def test_unit_by_a_former_name_shows_the_unit_under_its_name_now(
    bot: BotHarness, services: Services, office: Office
) -> None:
    renamed = services.settings.data_dir.parent / "更名.csv"
    renamed.write_text(
        "单位名称,类型,原单位名称\n市民政与社会保障局,成员单位,市民政局\n", encoding="utf-8"
    )
    await roster.import_units(services=services, path=renamed, actor="test")

    card = (await bot.command(STAFF, "/unit 市民政局")).one()

    assert card.mentions(
        "unitcard.title_former",
        name="市民政与社会保障局",
        former="市民政局",
        kind=label("common.kind_member"),
    )
    assert f"st:u:{office.unit.id}" in card.button_data()
    again = (await bot.command(STAFF, "/unit 市民政与社会保障局")).one()
    assert again.mentions("unitcard.title", name="市民政与社会保障局")


async def test_a_name_that_fits_several_units_names_them_and_how_many(
    bot: BotHarness, services: Services, office: Office
) -> None:
    await factories.add_unit(services, "市文旅局")
    two = (await bot.command(STAFF, "/unit 市")).one()
    assert two.says(
        "common.unit_ambiguous",
        name="市",
        count=2,
        matches="、".join(["市民政局", "市文旅局"]),  # in the roster's order: added last
    )
    for n in range(8):
        await factories.add_unit(services, f"市第{n}局")
    many = (await bot.command(STAFF, "/unit 市")).one()
    shown = "、".join(["市民政局", "市文旅局", *(f"市第{n}局" for n in range(8))][:8])
    assert many.says("common.unit_ambiguous_more", name="市", count=10, matches=shown)


async def test_a_button_of_a_unit_removed_since_says_so(
    bot: BotHarness, services: Services, office: Office
) -> None:
    async with services.db.uow() as tx:
        await tx.delete(await tx.get(Unit, office.county.id))
    pressed = await bot.press(STAFF, data=f"st:u:{office.county.id}")
    assert pressed.answer["text"] == label("common.unit_gone")


async def test_excuse_a_unit_from_an_item_with_a_reason(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = await unit_card(bot)
    choose = await bot.press(STAFF, label("unitcard.button_exempt"), on=card)
    assert choose.edited == [card]
    assert card.says("unitcard.exempt_choose", unit="市民政局")
    policy = office.items[-1]
    asked = await bot.press(STAFF, policy.title, on=card)
    assert asked.one().says("unitcard.exempt_reason", unit="市民政局", title=policy.title)
    assert (await bot.command(STAFF, "/help")).one().mentions("help.heading_staff")
    done = (await bot.say(STAFF, "本单位无优抚对象管理职能")).one()
    assert done.says("unitcard.exempted", title=policy.title, reason="本单位无优抚对象管理职能")
    [exemption] = await rows.all_of(services, Exemption)
    assert (exemption.unit_id, exemption.item_id) == (office.unit.id, policy.id)


async def test_add_an_item_for_one_unit(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = await unit_card(bot)
    asked = await bot.press(STAFF, label("unitcard.button_add_item"), on=card)
    assert asked.one().says("unitcard.add_item_title", unit="市民政局")
    assert (await bot.command(STAFF, "/outstanding")).one().says("unitcard.add_item_waiting")
    done = (await bot.say(STAFF, "防汛预案")).one()
    assert done.says("unitcard.item_added", unit="市民政局", title="防汛预案")
    [own] = await rows.all_of(services, ChecklistItem, ChecklistItem.unit_id == office.unit.id)
    assert own.title == "防汛预案"


async def test_pause_and_resume_a_units_reminders(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = await unit_card(bot)
    paused = await bot.press(STAFF, label("unitcard.button_pause_week"), on=card)
    assert paused.answer["show_alert"] is True
    until = services.today() + timedelta(days=7)
    unit = await rows.get(services, Unit, office.unit.id)
    assert unit is not None
    assert unit.paused_until == until
    assert card.mentions("unitcard.paused")

    resumed = await bot.press(STAFF, label("unitcard.button_resume"), on=card)
    assert resumed.answer["text"] == label("unitcard.resumed_now", unit="市民政局")
    unit = await rows.get(services, Unit, office.unit.id)
    assert unit is not None
    assert unit.paused_until is None


async def test_a_new_invite_link_from_the_units_file(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = await unit_card(bot)
    made = await bot.press(STAFF, label("unitcard.button_invite_lead"), on=card)
    assert made.one().mentions("unitcard.invite", unit="市民政局", role=label("common.role_lead"))
    [invite] = await rows.all_of(services, Invite)
    assert (invite.unit_id, invite.role, invite.created_by) == (office.unit.id, "lead", STAFF)


async def test_remind_now_previews_a_round_for_the_unit(bot: BotHarness, office: Office) -> None:
    card = await unit_card(bot)
    await bot.press(STAFF, label("unitcard.button_remind"), on=card)
    assert card.mentions("reminders.round.confirm")
    assert card.button_data()[0].startswith("remind:ok:")


async def test_audit_lists_what_staff_did(
    bot: BotHarness, services: Services, office: Office
) -> None:
    card = await unit_card(bot)
    await bot.press(STAFF, label("unitcard.button_pause_week"), on=card)
    log = (await bot.command(STAFF, "/audit")).one()
    assert log.mentions("audit.title")
    assert log.mentions("audit.action_reminders_paused")
    assert log.mentions("audit.actor_staff_named", name="测试")  # the name Telegram shows
    assert await rows.all_of(services, AuditEvent, AuditEvent.action == "reminders_paused")


async def test_export_sends_the_workbook(bot: BotHarness, office: Office) -> None:
    reply = await bot.command(STAFF, "/export")
    note, workbook = reply.messages
    assert note.says("export.done")  # "working…" edited once the file is there
    assert workbook.method == "sendDocument"
    assert workbook.file is not None
    assert workbook.file.endswith(".xlsx")
    assert workbook.says("export.caption", units=2, missing_contacts=2, missing_items=2)
    assert workbook.button_data() == ["exp:files"]


def kept_files(services: Services) -> list[str]:
    """The files under DATA_DIR, as paths there."""
    data_dir = services.settings.data_dir
    if not data_dir.is_dir():
        return []
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())


async def test_files_made_to_send_in_the_chat_are_not_kept_once_sent(
    bot: BotHarness, services: Services, office: Office
) -> None:
    """Every /export, press of 「资料」, /notice and 催办通知 left its file in DATA_DIR for good,
    and each daily backup took them all again (an archive of materials: every material twice)."""
    before = kept_files(services)
    reply = await bot.command(STAFF, "/export")
    workbook = reply.messages[1]
    assert workbook.file is not None
    assert workbook.file.endswith(".xlsx")
    parts = await bot.press(STAFF, label("export.button_files"), on=workbook)
    assert any(m.method == "sendDocument" for m in parts.messages)
    await bot.command(STAFF, "/notice")
    await bot.press(STAFF, data=f"nt:u:{office.unit.id}")
    assert kept_files(services) == before


async def test_a_file_that_could_not_be_sent_is_not_kept_either(
    bot: BotHarness, services: Services, office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.export

    async def refused(*args: object, **kwargs: object) -> None:
        raise OSError("the upload broke off")

    monkeypatch.setattr(handlers.export, "send_file", refused)
    with pytest.raises(OSError, match="broke off"):
        await bot.command(STAFF, "/export")
    assert kept_files(services) == []


async def test_stats_sends_the_chart(bot: BotHarness, office: Office) -> None:
    [chart] = (await bot.command(STAFF, "/stats")).messages
    assert (chart.method, chart.file) == ("sendPhoto", "stats.png")
    assert chart.says("stats.caption")


@pytest.mark.parametrize(
    "command", ["/outstanding", "/unit 民政局", "/audit", "/export", "/stats"]
)
async def test_the_console_is_refused_to_anyone_but_staff(
    bot: BotHarness, office: Office, command: str
) -> None:
    assert (await bot.command(LIAISON, command)).one().says("common.staff_only")


async def test_a_forged_console_button_changes_nothing(
    bot: BotHarness, services: Services, office: Office
) -> None:
    refused = await bot.press(LIAISON, data=f"st:p:{office.unit.id}:60")
    assert refused.answer["text"] == label("common.staff_only")
    unit = await rows.get(services, Unit, office.unit.id)
    assert unit is not None
    assert unit.paused_until is None
    for data in ("st:zz:1", "st:p:x", "st:o:q:a:0"):
        stale = await bot.press(STAFF, data=data)
        assert stale.answer["text"] == label("common.stale_button"), data
        assert stale.messages == []


@pytest.mark.parametrize(
    ("lang", "scope", "shown"),
    [
        ("zh", "all", "范围：全部单位"),
        ("zh", "county", "范围：县（区）"),
        ("en", "member", "for: member units"),
        ("en", "county", "for: counties"),
    ],
)
def test_an_audit_entry_names_the_kinds_a_deadline_was_set_for(
    lang: str, scope: str, shown: str
) -> None:
    assert audit_details({"scope": scope}, lang) == [shown]


def test_the_way_back_to_a_unit_names_it_as_written() -> None:
    """A button label is not HTML: a unit with & or < in its name reads as it is written."""
    [[button]] = back_to_unit("zh", "R&D<中心>", 7).inline_keyboard
    assert button.text == plain("zh", "unitcard.button_back_to_unit", unit="R&D<中心>")
