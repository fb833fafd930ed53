"""Invite links: random, short, hashed, single use, expiring, revocable; the `invite` command."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import roster
from bot.clock import FrozenClock
from bot.conversations import current_step
from bot.demo.sample import UNREPORTED, seed_notice_situation
from bot.importing import SAMPLE_ROSTER_PATH
from bot.registration import flow, invites
from bot.registration.flow import Event
from bot.roster import import_units
from bot.services import Services
from storage.models import AuditEvent, Invite, InviteAttempt, Person, Setting
from tests.support import factories
from tests.support.cli import run_cli
from tests.support.messages import label, mentions, says

URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


async def remember_username(services: Services, username: str = "liaison_test_bot") -> None:
    async with services.db.uow() as tx:
        tx.add(Setting(key="bot_username", value=username))


async def roster_with_username(services: Services) -> None:
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    await remember_username(services)


async def invite_rows(services: Services) -> list[Invite]:
    async with services.db.sessions() as session:
        return list((await session.scalars(select(Invite).order_by(Invite.id))).all())


def test_tokens_are_random_url_safe_and_fit_a_deep_link() -> None:
    tokens = {invites.new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in tokens:
        assert URLSAFE.fullmatch(token)
        assert len(token) <= 64
        # 6 bits a character: at least 128 bits of randomness.
        assert len(token) * 6 >= 128
    assert invites.hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert invites.invite_link("x_bot", "T0k") == "https://t.me/x_bot?start=T0k"


async def test_only_the_hash_of_a_token_is_stored(services: Services) -> None:
    await roster_with_username(services)
    [made] = await invites.create_invites(services=services, units=["市文旅局"])
    assert made.link == f"https://t.me/liaison_test_bot?start={made.token}"
    assert made.role == "liaison"
    assert made.expires_at == services.now() + timedelta(days=14)
    [row] = await invite_rows(services)
    assert row.token_hash == hashlib.sha256(made.token.encode()).hexdigest()
    async with services.db.sessions() as session:
        events = (await session.scalars(select(AuditEvent))).all()
    created = [e for e in events if e.action == "invite_created"]
    assert len(created) == 1
    assert created[0].details["invite_id"] == row.id
    assert made.token not in json.dumps([e.details for e in events])


async def test_the_lifetime_is_a_setting(services: Services) -> None:
    await roster_with_username(services)
    services.settings.invite_ttl_days = 3
    [made] = await invites.create_invites(services=services, units=["市文旅局"], role="lead")
    assert made.expires_at == services.now() + timedelta(days=3)
    assert made.role == "lead"


async def complete(services: Services, user_id: int, token: str) -> flow.Outcome:
    """Open the link and go through the liaison's registration up to the confirmed summary."""
    outcome = await flow.start(services=services, user_id=user_id, token=token)
    for event in ("yes", "张伟", "办公室主任", "13912345678", "ok"):
        if outcome.step is None:
            return outcome
        if event in ("yes", "ok"):
            version = outcome.step.data["v"]
            sent = Event(kind="button", version=version, action=event)
        else:
            sent = Event(kind="text", text=event)
        outcome = await flow.advance(services=services, user_id=user_id, event=sent)
    return outcome


async def test_an_invite_is_used_once(services: Services) -> None:
    await roster_with_username(services)
    [made] = await invites.create_invites(services=services, units=["市文旅局"])
    done = await complete(services, 1, made.token)
    assert done.kind == "registered", done
    [row] = await invite_rows(services)
    assert row.used_by == 1
    assert row.used_at == services.now()
    other = await flow.start(services=services, user_id=2, token=made.token)
    assert (other.kind, other.reason) == ("refused", "registration.token_used")
    # The person who used it is told they are registered already, and sent to /contacts;
    # where they are (the lead's name is asked next) stays as it was.
    before = await current_step(services=services, user_id=1)
    again = await flow.start(services=services, user_id=1, token=made.token)
    assert (again.kind, again.reason) == ("refused", "registration.already_registered")
    assert again.values == {"unit": "市文旅局", "role": "liaison"}
    assert await current_step(services=services, user_id=1) == before


async def test_a_used_link_is_dead_for_its_former_holder_too(
    services: Services, clock: FrozenClock
) -> None:
    await roster_with_username(services)
    [old_link] = await invites.create_invites(services=services, units=["市文旅局"])
    assert (await complete(services, 1, old_link.token)).kind == "registered"
    [new_link] = await invites.create_invites(services=services, units=["市文旅局"])
    replaced = await complete(services, 2, new_link.token)  # a handover
    assert replaced.registered is not None
    assert replaced.registered.replaced_user_id == 1
    # Months later the replaced liaison opens their own old link: refused, nothing changes.
    clock.advance(timedelta(days=120))
    back = await complete(services, 1, old_link.token)
    assert (back.kind, back.reason) == ("refused", "registration.token_used")
    assert await current_step(services=services, user_id=1) is None
    async with services.db.uow() as tx:
        row = await invites.find(tx, old_link.token)
        assert row is not None
        assert invites.problem_of(row, now=services.now()) == "used"
        assert not await invites.redeem(tx, row, user_id=1, now=services.now())
    async with services.db.sessions() as session:
        current = (await session.scalars(select(Person).where(Person.until.is_(None)))).all()
    assert [(p.telegram_user_id, p.role) for p in current] == [(2, "liaison")]


async def test_an_invite_expires(services: Services, clock: FrozenClock) -> None:
    await roster_with_username(services)
    [made] = await invites.create_invites(services=services, units=["市文旅局"])
    clock.advance(timedelta(days=14))
    refused = await flow.start(services=services, user_id=1, token=made.token)
    assert (refused.kind, refused.reason) == ("refused", "registration.token_expired")
    [row] = await invite_rows(services)
    assert row.used_at is None


async def test_staff_revoke_a_units_invites(services: Services) -> None:
    await roster_with_username(services)
    made = await invites.create_invites(services=services, units=["市文旅局", "市文旅局"])
    await invites.create_invites(services=services, units=["市科技局"])
    [revoked] = await invites.revoke_invites(services=services, units=["市文旅局"])
    assert (revoked.unit, revoked.count) == ("市文旅局", 2)
    for invite in made:
        refused = await flow.start(services=services, user_id=1, token=invite.token)
        assert refused.reason == "registration.token_revoked"
    rows = await invite_rows(services)
    assert [r.revoked_at is not None for r in rows] == [True, True, False]
    async with services.db.sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert actions.count("invite_revoked") == 1


async def test_redeeming_one_invite_revokes_the_other_open_ones(services: Services) -> None:
    await roster_with_username(services)
    first, second = await invites.create_invites(services=services, units=["市文旅局"] * 2)
    [lead] = await invites.create_invites(services=services, units=["市文旅局"], role="lead")
    done = await complete(services, 1, second.token)
    assert done.kind == "registered", done
    rows = {r.id: r for r in await invite_rows(services)}
    assert rows[first.id].revoked_at == services.now()
    assert rows[second.id].used_by == 1
    assert rows[second.id].revoked_at is None
    assert rows[lead.id].revoked_at is None  # another role: untouched
    # Whoever opens the other link is told the true reason: the role was registered.
    refused = await flow.start(services=services, user_id=2, token=first.token)
    assert refused.reason == "registration.token_taken"
    assert refused.values == {
        "unit": "市文旅局", "role": "liaison", "name": "张伟", "at": services.now(),
    }  # fmt: skip


async def test_a_bad_token_changes_nothing_but_the_attempt_count(services: Services) -> None:
    await roster_with_username(services)
    await invites.create_invites(services=services, units=["市文旅局"])
    before = [(r.used_at, r.revoked_at) for r in await invite_rows(services)]
    for token in ("nonsense", "x" * 65, "有中文", ""):
        refused = await flow.start(services=services, user_id=5, token=token)
        assert (refused.kind, refused.reason) == ("refused", "registration.token_unknown")
    assert [(r.used_at, r.revoked_at) for r in await invite_rows(services)] == before
    async with services.db.sessions() as session:
        reasons = (await session.scalars(select(InviteAttempt.reason))).all()
    assert reasons == ["unknown"] * 4


async def test_staff_only_in_chat(services: Services) -> None:
    await roster_with_username(services)
    from bot.errors import NotStaff

    with pytest.raises(NotStaff):
        await invites.create_invites(services=services, units=["市文旅局"], actor_id=12345)
    made = await invites.create_invites(services=services, units=["市文旅局"], actor_id=900)
    assert len(made) == 1
    with pytest.raises(NotStaff):
        await invites.revoke_unit_invites(services=services, unit_id=made[0].unit_id, actor_id=1)
    assert (await invite_rows(services))[0].revoked_at is None


async def test_no_username_means_no_link(services: Services) -> None:
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    with pytest.raises(invites.NoBotUsername):
        await invites.create_invites(services=services, units=["市文旅局"])
    assert await invite_rows(services) == []
    services.settings.bot_username = "from_env_bot"
    [made] = await invites.create_invites(services=services, units=["市文旅局"])
    assert made.link.startswith("https://t.me/from_env_bot?start=")


# ---- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")
    monkeypatch.delenv("BOT_USERNAME", raising=False)
    monkeypatch.delenv("STAFF_IDS", raising=False)


@pytest.mark.usefixtures("cli_env")
async def test_cli_json_lists_unit_role_token_link_and_expiry(services: Services) -> None:
    await roster_with_username(services)
    done = await run_cli("invite", "市文旅局", "市科技局", "--role", "lead", "--json")
    assert done.code == 0, done.err
    listed = json.loads(done.out)
    assert [(i["unit"], i["role"]) for i in listed] == [("市文旅局", "lead"), ("市科技局", "lead")]
    for item in listed:
        assert set(item) == {
            "unit",
            "role",
            "token",
            "link",
            "expires_at",
            "open_before",
            "replaces",
        }
        assert (item["open_before"], item["replaces"]) == (0, None)
        assert item["link"] == f"https://t.me/liaison_test_bot?start={item['token']}"
        assert item["expires_at"].endswith("+08:00")
    hashes = {r.token_hash for r in await invite_rows(services)}
    assert hashes == {invites.hash_token(i["token"]) for i in listed}


@pytest.mark.usefixtures("cli_env")
async def test_cli_all_missing_covers_the_13_units(services: Services) -> None:
    await seed_notice_situation(services=services)
    await remember_username(services)
    done = await run_cli("invite", "--all-missing", "--json")
    assert done.code == 0, done.err
    listed = json.loads(done.out)
    assert sorted(i["unit"] for i in listed) == sorted(UNREPORTED)
    assert {i["role"] for i in listed} == {"liaison"}
    # Every lead of the sample is on record but none has linked their chat.
    done = await run_cli("invite", "--all-missing", "--role", "lead", "--json")
    assert len(json.loads(done.out)) == 50
    text = await run_cli("invite", "市文旅局")
    assert text.code == 0
    role = label("common.role_liaison")
    assert f"市文旅局\t{role}\thttps://t.me/liaison_test_bot?start=" in text.out
    assert mentions(text.out, "invite_cli.line", unit="市文旅局", role=role)


@pytest.mark.usefixtures("cli_env")
async def test_cli_all_missing_asks_for_the_lead_once_the_liaison_is_in(
    services: Services,
) -> None:
    await roster_with_username(services)
    [made] = await invites.create_invites(services=services, units=["市文旅局"])
    await register_liaison(services, made.token, user_id=77)
    done = await run_cli("invite", "--all-missing", "--json")
    roles = {i["unit"]: i["role"] for i in json.loads(done.out)}
    assert roles["市文旅局"] == "lead"
    assert roles["市科技局"] == "liaison"


async def register_liaison(services: Services, token: str, *, user_id: int) -> None:
    """Through the whole liaison conversation, skipping the lead."""
    outcome = await flow.start(services=services, user_id=user_id, token=token)
    steps = [
        ("button", "yes"),
        ("text", "张伟"),
        ("text", "办公室主任"),
        ("text", "13912345678"),
        ("button", "ok"),
        ("button", "skip"),
    ]
    for kind, value in steps:
        assert outcome.step is not None, outcome
        event = (
            Event(kind="button", version=outcome.step.data["v"], action=value)
            if kind == "button"
            else Event(kind="text", text=value)
        )
        outcome = await flow.advance(services=services, user_id=user_id, event=event)
    assert outcome.kind == "lead_skipped", outcome


@pytest.mark.usefixtures("cli_env")
async def test_cli_refuses_bad_input_with_one_line_and_changes_nothing(
    services: Services,
) -> None:
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    done = await run_cli("invite", "市文旅局")
    assert done.code == 2
    assert says(done.err, "invite.no_username")
    assert done.err.count("\n") == 1
    await remember_username(services)
    for args, wanted in (
        (("invite", "不存在的单位"), "cli.unit_not_found"),
        (("invite",), "invite_cli.need_units"),
        (("invite", "市文旅局", "--all-missing"), "invite_cli.units_or_all"),
        (("invite", "市文旅局", "--unregister"), "invite_cli.unregister_needs_role"),
    ):
        done = await run_cli(*args)
        assert done.code == 2, args
        assert says(done.err, wanted), (args, done.err)
    assert await invite_rows(services) == []


@pytest.mark.usefixtures("cli_env")
async def test_cli_bot_username_from_the_environment(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_units(services=services, path=SAMPLE_ROSTER_PATH)
    monkeypatch.setenv("BOT_USERNAME", "@office_bot")
    done = await run_cli("invite", "市文旅局", "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)[0]["link"].startswith("https://t.me/office_bot?start=")


@pytest.mark.usefixtures("cli_env")
async def test_cli_revoke_and_unregister(services: Services) -> None:
    await seed_notice_situation(services=services)
    await remember_username(services)
    await run_cli("invite", "市文旅局")
    await run_cli("invite", "市文旅局", "--role", "lead")
    done = await run_cli("invite", "市文旅局", "--revoke")
    assert done.code == 0, done.err
    assert says(done.out, "invite_cli.revoked", unit="市文旅局", count=2)
    done = await run_cli("invite", "市民政局", "--unregister", "--role", "liaison")
    assert done.code == 0, done.err
    assert "已解除市民政局联络员" in done.out
    report = json.loads((await run_cli("report", "--json")).out)
    unit = next(u for u in report["units"] if u["name"] == "市民政局")
    assert unit["liaison_registered"] is False
    done = await run_cli("invite", "市民政局", "--unregister", "--role", "liaison")
    assert done.code == 2
    assert says(
        done.err, "invite_cli.no_holder", unit="市民政局", role=label("common.role_liaison")
    )


@pytest.mark.usefixtures("cli_env")
async def test_cli_says_whom_a_link_for_a_held_role_replaces(services: Services) -> None:
    await roster_with_username(services)
    async with services.db.sessions() as session:
        unit = await roster.find_unit(session, "市文旅局")
    await factories.add_person(services, unit, "lead", name="唐强")
    done = await run_cli("invite", "市文旅局", "--role", "lead")
    assert done.code == 0
    assert len(done.out.splitlines()) == 1  # stdout: one line a link
    lead = label("common.role_lead")
    assert says(done.err.strip(), "invite.replaces", unit="市文旅局", role=lead, name="唐强")
    listed = json.loads((await run_cli("invite", "市文旅局", "--role", "lead", "--json")).out)
    assert [i["replaces"] for i in listed] == ["唐强"]
    assert (await run_cli("invite", "市文旅局")).err == ""  # the liaison's role is free


@pytest.mark.usefixtures("cli_env")
async def test_cli_says_when_a_unit_already_has_open_links_for_the_role(
    services: Services,
) -> None:
    await roster_with_username(services)
    first = await run_cli("invite", "市文旅局")
    assert (first.code, first.err) == (0, "")
    again = await run_cli("invite", "市文旅局")
    assert again.code == 0
    assert len(again.out.splitlines()) == 1  # stdout: one line a link, as before
    assert says(again.err.strip(), "invite_cli.open_before", unit="市文旅局", count=1)
    listed = json.loads((await run_cli("invite", "市文旅局", "--role", "lead", "--json")).out)
    assert [i["open_before"] for i in listed] == [0]  # the lead's links are counted apart
    listed = json.loads((await run_cli("invite", "市文旅局", "--json")).out)
    assert [i["open_before"] for i in listed] == [2]
    await run_cli("invite", "市文旅局", "--revoke")
    after = await run_cli("invite", "市文旅局")
    assert after.err == ""  # revoked links are not open
