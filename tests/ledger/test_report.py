"""`report --json`: the counts the office quotes, computed from the database."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bot.demo.sample import UNREPORTED, seed_notice_situation
from bot.importing import SAMPLE_ROSTER_PATH
from bot.ledger.checklist import deadline_for, overall_deadline, set_deadline, show_deadlines
from bot.ledger.report import build_report, render_report
from bot.services import Services
from messages import format_date, join_clauses, kind_name
from tests.support.checklist import titles
from tests.support.cli import run_cli
from tests.support.messages import label, mentions


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LANGUAGE", "zh")


@pytest.mark.usefixtures("cli_env")
async def test_after_importing_the_roster_every_unit_owes_everything() -> None:
    assert (await run_cli("units", "import", str(SAMPLE_ROSTER_PATH))).code == 0
    done = await run_cli("report", "--json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert set(report) >= {"generated_at", "deadline", "totals", "units"}
    assert report["totals"] == {
        "units": 50, "missing_contacts": 50, "missing_items": 50, "pending_review": 0,
    }  # fmt: skip
    unit = next(u for u in report["units"] if u["name"] == "市民政局")
    assert unit["kind"] == "member"
    assert unit["liaison_registered"] is False
    assert unit["lead_registered"] is False
    assert unit["lead_linked"] is False
    assert unit["missing_items"][0] == "年度工作计划（含双拥工作内容）"
    assert unit["missing_items"] == titles("member")
    assert unit["reminders_sent"] == 0
    assert unit["unreachable"] is False
    county = next(u for u in report["units"] if u["name"] == "西吉县")
    assert county["missing_items"] == titles("county")
    assert report["generated_at"].endswith("+08:00")


async def test_notice_situation_counts_13_and_25(services: Services) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    report = await build_report(services=services)
    assert report.totals.units == 50
    assert report.totals.missing_contacts == 13
    assert report.totals.missing_items == 25
    assert {u.name for u in report.units if u.missing_contacts} == set(UNREPORTED)
    assert report.deadline == date(2026, 12, 31)
    text = render_report(report, "zh")
    # Golden text: the report says the notice's numbers in the notice's own words.
    assert "13家单位未报送分管领导和联络员" in text
    assert "25家单位资料台账未报齐" in text
    assert "· 泾源县（缺联络员、分管领导）" in text
    english = render_report(report, "en")
    assert mentions(english, "report.totals", "en", missing_contacts=13, missing_items=25)


@pytest.mark.usefixtures("cli_env")
async def test_report_text_on_the_command_line_has_no_html() -> None:
    assert (await run_cli("units", "import", str(SAMPLE_ROSTER_PATH))).code == 0
    done = await run_cli("report")
    assert done.code == 0
    assert mentions(done.out, "report.totals", missing_contacts=50)
    assert "<" not in done.out


@pytest.mark.usefixtures("cli_env")
async def test_report_json_after_the_demo_setup_shows_13_and_25(services: Services) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    done = await run_cli("report", "--json")
    assert done.code == 0, done.err
    totals = json.loads(done.out)["totals"]
    assert (totals["missing_contacts"], totals["missing_items"]) == (13, 25)


async def test_the_collections_deadline_is_the_one_for_all_else_the_latest_kinds(
    services: Services,
) -> None:
    """The report's deadline, and the same rule over what /deadline's use-case returns."""
    assert (await build_report(services=services)).deadline is None
    await set_deadline(services=services, due=date(2026, 12, 20), kind="member")
    await set_deadline(services=services, due=date(2026, 12, 25), kind="county")
    assert (await build_report(services=services)).deadline == date(2026, 12, 25)
    shown = {d.scope: d for d in await show_deadlines(services=services)}
    assert overall_deadline(shown) == date(2026, 12, 25)
    assert deadline_for("member", shown) == date(2026, 12, 20)
    await set_deadline(services=services, due=date(2026, 12, 18))
    shown = {d.scope: d for d in await show_deadlines(services=services)}
    assert overall_deadline(shown) == (await build_report(services=services)).deadline
    assert overall_deadline(shown) == date(2026, 12, 18)
    assert deadline_for("county", shown) == date(2026, 12, 18)  # all units' replaced the kinds'


async def test_the_report_states_each_kinds_deadline_where_they_differ(
    services: Services,
) -> None:
    """Counties due on 20 December, member units on 31 December: the heading says both."""
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    text = render_report(await build_report(services=services), "zh")
    assert mentions(text, "report.deadline", date=format_date(date(2026, 12, 31), "zh"))
    await set_deadline(services=services, due=date(2026, 12, 20), kind="county")
    text = render_report(await build_report(services=services), "zh")
    dates = join_clauses(
        "zh",
        [
            label("formats.kind_date", kind=kind_name("zh", kind, plural=True), date=day)
            for kind, day in (("county", "2026年12月20日"), ("member", "2026年12月31日"))
        ],
    )
    assert mentions(text, "report.deadlines", dates=dates)
    assert not mentions(text, "report.deadline", date=format_date(date(2026, 12, 31), "zh"))
