"""`/stats`: the chart is drawn with Chinese labels in the CJK font, with no missing glyph."""

from __future__ import annotations

import logging
import re
import warnings
from datetime import date
from pathlib import Path

import pytest
from matplotlib import font_manager
from matplotlib.text import Text

from bot.demo.sample import UNREPORTED, seed_notice_situation
from bot.errors import NotStaff
from bot.ledger.checklist import set_deadline
from bot.ledger.report import build_report
from bot.services import Services
from bot.staff.charts import (
    build_figure,
    chart_data,
    cjk_font_name,
    cjk_font_path,
    figure_png,
    stats_chart,
)
from messages import format_time, kind_name
from tests.support.messages import label, says

CJK = re.compile(r"[\u4e00-\u9fff]")


def _real(path: str | Path) -> Path:
    """The file a path names, however the environment is linked (.venv may be a symlink)."""
    return Path(path).resolve()


async def test_chart_data_counts_as_the_report_does(services: Services) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    data = await chart_data(services=services)
    report = await build_report(services=services)
    assert data.totals == report.totals
    assert len(data.units) == 50
    assert sum(1 for u in data.units if u.share < 1.0) == report.totals.missing_items == 25
    assert {u.name for u in data.units if not u.contacts_complete} == set(UNREPORTED)
    today = data.timeline[-1]
    assert today.day == date(2026, 11, 30)
    assert today.contacts_complete == 50 - 13
    assert today.items_complete == 50 - 25
    assert [p.day for p in data.timeline] == sorted(p.day for p in data.timeline)


async def test_chinese_labels_use_the_cjk_font(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    data = await chart_data(services=services)
    assert cjk_font_name() == "Noto Sans CJK SC"
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        figure = build_figure(data, "zh")
        png = figure_png(figure)
    assert png.startswith(b"\x89PNG")
    assert [str(w.message) for w in caught] == []
    assert not [r for r in caplog.records if "findfont" in r.getMessage()]

    texts = [t for t in figure.findobj(Text) if CJK.search(t.get_text())]
    shown = {t.get_text() for t in texts}
    assert "市民政局" in shown
    assert "泾源县" in shown
    assert any(says(text, "stats.title") for text in shown)
    assert label("stats.over_time") in shown
    expected = _real(cjk_font_path())
    for text in texts:
        used = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert _real(used) == expected, (text.get_text(), used)


async def test_the_chart_marks_each_kinds_deadline_and_writes_days_as_the_office_does(
    services: Services,
) -> None:
    await seed_notice_situation(services=services, deadline=date(2026, 12, 31))
    await set_deadline(services=services, due=date(2026, 12, 20), kind="county")
    data = await chart_data(services=services)
    figure = build_figure(data, "zh")
    figure_png(figure)
    shown = {t.get_text() for t in figure.findobj(Text)}
    for kind in ("county", "member"):
        assert label("stats.line_deadline_kind", kind=kind_name("zh", kind, plural=True)) in shown
    timeline = figure.axes[-1]
    days = [t.get_text() for t in timeline.get_xticklabels() if t.get_text()]
    assert days
    for day in days:
        assert says(day, "formats.month_day"), day
    title = figure.get_suptitle()  # its moment too: it read 截至2026-09-28 09:00
    assert says(title, "stats.title", date=format_time(data.generated_at, "zh")), title


async def test_english_chart_keeps_chinese_unit_names(services: Services) -> None:
    await seed_notice_situation(services=services)
    data = await chart_data(services=services)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = build_figure(data, "en")
        figure_png(figure)
    assert [str(w.message) for w in caught] == []
    labels = {t.get_text() for t in figure.findobj(Text)}
    assert "Progress over time" in labels
    assert "市民政局" in labels


async def test_only_staff_get_the_chart(services: Services) -> None:
    with pytest.raises(NotStaff):
        await stats_chart(services=services, actor_id=4242)
    chart = await stats_chart(services=services, actor_id=900)
    assert chart.png.startswith(b"\x89PNG")
    assert chart.totals.units == 0
