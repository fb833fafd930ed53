"""`/stats`: completion by unit, a panel per kind of unit, and progress over time, as one PNG.

matplotlib draws with the Agg backend on a `Figure` of its own (no pyplot, so it is safe in
a worker thread). Chinese labels use Noto Sans CJK SC from the installed mplfonts wheel,
registered with matplotlib's font manager by path: no network, no empty boxes. matplotlib's
cache goes to a writable folder chosen before it is first imported."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import itertools
import os
import tempfile
import threading
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select

from bot import roster
from bot.clock import office_date
from bot.enums import UnitKind
from bot.ledger.report import Totals, differ, kind_deadlines, report_in, the_deadline
from bot.ledger.status import load_obligations
from bot.services import Services
from messages import format_short_date, format_time, kind_label, kind_name, plain
from storage.models import Submission

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONT_FILE = "NotoSansCJKsc-Regular.otf"
_lock = threading.Lock()


class FontMissing(RuntimeError):
    """The CJK font is not where the mplfonts package keeps it."""


class UnitProgress(BaseModel):
    name: str
    kind: str
    required: int
    accepted: int
    pending: int  # awaiting review (not yet counted as done, as in bot.reports)
    contacts_complete: bool

    @property
    def share(self) -> float:
        return 1.0 if self.required == 0 else self.accepted / self.required


class DayPoint(BaseModel):
    day: date
    contacts_complete: int  # units with a liaison and a lead on record by that day
    items_complete: int  # units with every item accepted by that day


class ChartData(BaseModel):
    generated_at: datetime
    deadline: date | None
    deadlines: dict[str, date | None] = {}  # each kind's, in UnitKind's order
    totals: Totals
    units: list[UnitProgress]
    timeline: list[DayPoint]


def cjk_font_path() -> Path:
    """Noto Sans CJK SC inside the installed mplfonts package (its code is not imported)."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise FontMissing("the mplfonts package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / FONT_FILE
    if not path.is_file():
        raise FontMissing(f"{FONT_FILE} is missing from mplfonts")
    return path


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


@cache
def cjk_font_name() -> str:
    """Prepare matplotlib once: a writable cache folder, Agg, the CJK font registered."""
    configured = os.environ.get("MPLCONFIGDIR")
    if not configured or not _writable(Path(configured)):
        fallback = Path(tempfile.gettempdir()) / f"liaison-bot-matplotlib-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = str(fallback)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())


async def chart_data(*, services: Services) -> ChartData:
    """Completion per unit (as the report counts it) and the days on which units completed."""
    tz = services.settings.tz
    async with services.db.snapshot() as tx:
        report = await report_in(tx, services)
        obligations = await load_obligations(tx)
        accepted = (
            await tx.execute(
                select(
                    Submission.unit_id,
                    Submission.item_id,
                    Submission.reviewed_at,
                    Submission.submitted_at,
                    Submission.created_at,
                ).where(Submission.state == "accepted")
            )
        ).all()
    accepted_on: dict[tuple[int, int], date] = {}
    for unit_id, item_id, reviewed_at, submitted_at, created_at in accepted:
        key = (unit_id, item_id)
        day = office_date(reviewed_at or submitted_at or created_at, tz)
        accepted_on[key] = min(day, accepted_on.get(key, day))
    progress: list[UnitProgress] = []
    contacts_days: list[date] = []
    items_days: list[date] = []
    for unit in obligations:
        created = unit.created_at or services.now()
        progress.append(
            UnitProgress(
                name=unit.name,
                kind=unit.kind,
                required=len(unit.items),
                accepted=unit.accepted,
                pending=unit.pending_review,
                contacts_complete=not unit.missing_contacts,
            )
        )
        if not unit.missing_contacts:
            held = [h.since or created for h in (unit.liaison, unit.lead) if h is not None]
            contacts_days.append(max(office_date(since, tz) for since in held))
        if not unit.missing_items:
            days = [
                accepted_on[(unit.unit_id, i.item_id)]
                for i in unit.items
                if (unit.unit_id, i.item_id) in accepted_on
            ]
            items_days.append(max(days) if days else office_date(created, tz))
    today = services.today()
    marks = sorted({*contacts_days, *items_days, today})
    timeline = [
        DayPoint(
            day=day,
            contacts_complete=sum(1 for d in contacts_days if d <= day),
            items_complete=sum(1 for d in items_days if d <= day),
        )
        for day in marks
    ]
    return ChartData(
        generated_at=report.generated_at,
        deadline=report.deadline,
        deadlines=kind_deadlines(report.units),
        totals=report.totals,
        units=progress,
        timeline=timeline,
    )


def _colour(share: float) -> str:
    if share >= 1.0:
        return "#2e7d32"
    if share > 0:
        return "#f9a825"
    return "#c62828"


def _num(day: date) -> float:
    """A day as matplotlib's date number."""
    from matplotlib.dates import date2num

    return float(date2num(datetime(day.year, day.month, day.day)))  # type: ignore[no-untyped-call]


def chart_style(font: str) -> Any:
    """matplotlib settings for the chart: every text in the CJK font, ASCII minus signs."""
    return {
        "font.family": [font],
        "font.sans-serif": [font],
        "axes.unicode_minus": False,
    }


def build_figure(data: ChartData, lang: str) -> Figure:
    """The figure: each kind's completion by unit, and progress over time."""
    font = cjk_font_name()
    import matplotlib
    from matplotlib.dates import num2date
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    def say(key: str, /, **values: object) -> str:
        return plain(lang, f"stats.{key}", **values)

    # One panel per kind of unit (the most numerous first); bars are drawn bottom up, so the
    # units furthest behind come out on top.
    groups = sorted(
        (
            sorted((u for u in data.units if u.kind == kind), key=lambda u: -u.share)
            for kind in UnitKind
        ),
        key=len,
        reverse=True,
    )
    panels = [(group, kind_label(lang, group[0].kind)) for group in groups if group]
    with matplotlib.rc_context(chart_style(font)):
        bars_height = sum(0.27 * len(group) for group, _ in panels)
        height = 4.0 + bars_height + 3.5
        figure = Figure(figsize=(10, height), dpi=100, layout="constrained")
        ratios = [len(group) * 0.27 + 0.8 for group, _ in panels] + [3.2]
        grid = figure.add_gridspec(len(ratios), 1, height_ratios=ratios)
        local = data.generated_at
        figure.suptitle(
            say("title", date=format_time(local, lang)),
            fontsize=15,
        )
        for row, (group, label) in enumerate(panels):
            axes = figure.add_subplot(grid[row])
            names = [u.name for u in group]
            shares = [u.share * 100 for u in group]
            axes.barh(names, [100.0] * len(group), color="#eeeeee")
            bars = axes.barh(names, shares, color=[_colour(u.share) for u in group])
            waiting = [100 * u.pending / u.required if u.required else 0.0 for u in group]
            axes.barh(names, waiting, left=shares, color="#90caf9")
            for bar, unit, extra in zip(bars, group, waiting, strict=True):
                label_text = f"{unit.accepted}/{unit.required}"
                if unit.pending:
                    label_text += say("pending", count=unit.pending)
                axes.text(
                    min(bar.get_width() + extra + 1, 101),
                    bar.get_y() + bar.get_height() / 2,
                    label_text,
                    va="center",
                    fontsize=8,
                )
            complete = sum(1 for u in group if u.share >= 1.0)
            axes.set_title(say("by_unit", group=label, complete=complete, count=len(group)))
            axes.set_xlim(0, 110)
            axes.set_xlabel(say("share_axis"))
            axes.tick_params(axis="y", labelsize=9)
            axes.grid(axis="x", alpha=0.3)
        axes = figure.add_subplot(grid[len(panels)])
        days = [_num(p.day) for p in data.timeline]
        contacts = [p.contacts_complete for p in data.timeline]
        items = [p.items_complete for p in data.timeline]
        for counts, marker, line in ((contacts, "o", "line_contacts"), (items, "s", "line_items")):
            axes.step(days, counts, where="post", marker=marker, label=say(line))
        axes.axhline(data.totals.units, color="#555555", linestyle=":", label=say("line_all"))
        if differ(data.deadlines):  # a line for each kind's, named
            marked = [
                (say("line_deadline_kind", kind=kind_name(lang, kind, plural=True)), due)
                for kind, due in data.deadlines.items()
            ]
        else:
            marked = [(say("line_deadline"), the_deadline(data.deadlines, data.deadline))]
        for (name, due), style in zip(marked, itertools.cycle(("--", "-.", ":")), strict=False):
            if due is not None:
                axes.axvline(_num(due), color="#c62828", linestyle=style, label=name)
        axes.set_ylim(0, data.totals.units * 1.1 + 1)
        axes.set_title(say("over_time"))
        axes.set_ylabel(say("units_axis"))
        today = data.generated_at.date()

        def day_of(x: float, _: object) -> str:
            """Write an axis day as the catalogue writes a day near today."""
            moment = num2date(x)  # type: ignore[no-untyped-call]
            return format_short_date(moment.date(), today, lang)

        axes.xaxis.set_major_formatter(FuncFormatter(day_of))
        axes.legend(loc="upper left", fontsize=9)
        axes.grid(alpha=0.3)
    return figure


def figure_png(figure: Figure) -> bytes:
    """Draw a figure of `build_figure` to PNG bytes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with matplotlib.rc_context(chart_style(cjk_font_name())):
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_png(data: ChartData, lang: str) -> bytes:
    """The chart as PNG bytes (runs in a worker thread)."""
    with _lock:  # the font manager and rc settings are shared by the whole process
        return figure_png(build_figure(data, lang))


class StatsOut(BaseModel):
    png: bytes
    totals: Totals


async def stats_chart(
    *, services: Services, actor_id: int | None, lang: str | None = None
) -> StatsOut:
    """The progress chart for staff, as PNG, with the totals it shows."""
    if actor_id is not None:
        await roster.require_staff(services=services, actor_id=actor_id)
    data = await chart_data(services=services)
    png = await asyncio.to_thread(render_png, data, lang or services.settings.language)
    return StatsOut(png=png, totals=data.totals)
