"""`make bench-scale`: a country's roster (1,000 to 100,000 units) on SQLite and PostgreSQL.

    python -m bench.scale --units 1000 10000 100000 [--postgres URL | --no-postgres]

Each roster is written once by `bench.scale_data.populate` and kept in `bench/cache/`, keyed
by the number of units and the schema's revision (an older revision's file is upgraded, not
written again); PostgreSQL keeps its rosters as databases `bench_scale_<units>_<revision>` on
the server given (`--postgres` or BENCH_POSTGRES_URL) or on one the benchmark starts itself
with initdb and pg_ctl on 127.0.0.1, whose data folder is kept in `bench/cache/` too.

Every figure is measured in a fresh process, so that its peak resident memory (`os.wait4`'s
`ru_maxrss` of that process) is its own; a measurement that writes gets its own copy of the
roster. The table shows each figure beside its target, then how each grows with the roster;
the figures go to `bench/results/scale.json` and the plot to `bench/results/scale.png`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.services import Services

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
RESULTS = ROOT / "bench" / "results"
STAFF = 900
DEADLINE = date(2026, 12, 31)
# Monday 7 December 2026, 09:30 in Shanghai: a working day at the reminder hour.
ROUND_TIME = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
MB = 1024 * 1024


@dataclass(frozen=True)
class Measure:
    """One figure: what it is, its target at 100,000 units, and whether it writes."""

    name: str
    label: str
    seconds: float | None  # target at 100,000 units
    megabytes: float | None
    writes: bool


MEASURES = [
    Measure("planner", "planner: one day's tick (plan_tick)", 2.0, None, True),
    Measure("report", "report --json, in process", 2.0, 300, False),
    Measure("report_cli", "report --json, whole CLI with start", 3.0, 300, False),
    Measure("outstanding_first", "/outstanding, first page", None, None, False),
    Measure("outstanding_last", "/outstanding, last page", None, None, False),
    Measure("unit", "/unit NAME (unit_card)", 0.2, None, False),
    Measure("export", "Excel export (export_workbook)", 30.0, 300, True),
    Measure("archive", "files archive (build_archive)", None, None, True),
    Measure("broadcast", "broadcast to 2 people a unit (confirm)", None, None, True),
    Measure("remind_dry_run", "remind --dry-run, whole CLI", None, None, False),
]
BY_NAME = {m.name: m for m in MEASURES}


# -- the rosters ---------------------------------------------------------------------------


def schema_revision() -> str:
    """The newest migration's revision id (the cache key besides the number of units)."""
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _services(url: str, data_dir: Path) -> AbstractAsyncContextManager[Services]:
    """Open Services on `url` with STAFF as staff, at ROUND_TIME (see bench.support)."""
    from bench.support import services_for
    from bot.clock import FrozenClock

    return services_for(url, staff=(STAFF,), data_dir=data_dir, clock=FrozenClock(ROUND_TIME))


async def _prepare(url: str, units: int, data_dir: Path) -> None:
    """Migrate, load the checklist, write the roster (when empty) and set the deadline."""
    from sqlalchemy import func, select

    from bench.scale_data import populate
    from bot.ledger.checklist import prepare_database, set_deadline
    from storage.models import Deadline, Unit

    async with _services(url, data_dir) as svc:
        await prepare_database(svc)
        async with svc.db.sessions() as session:
            have = int(await session.scalar(select(func.count()).select_from(Unit)) or 0)
            deadline = await session.get(Deadline, "all")
        if have == 0:
            started = time.perf_counter()
            counts = await populate(svc, units)
            print(f"  wrote {counts} in {time.perf_counter() - started:.0f} s", flush=True)
        elif have != units:
            raise SystemExit(f"{url} holds {have} units, not {units}: remove it")
        if deadline is None:
            await set_deadline(services=svc, due=DEADLINE)


def sqlite_roster(units: int, revision: str) -> Path:
    """The cached SQLite file of `units` units at this revision (made or upgraded now)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"scale-{units}-{revision}.db"
    if path.exists():
        return path
    older = sorted(CACHE.glob(f"scale-{units}-*.db"), key=lambda p: p.stat().st_mtime)
    work = path.with_suffix(".partial")
    if older:
        print(f"  upgrading {older[-1].name} to revision {revision}", flush=True)
        _copy_sqlite(older[-1], work)
    else:
        print(f"  writing {units:,} units to {path.name} (once)", flush=True)
        work.unlink(missing_ok=True)
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{work}", units, CACHE / "data"))
    _checkpoint(work)
    work.rename(path)
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL folded in)."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def postgres_roster(server: str, units: int, revision: str) -> str:
    """The URL of the PostgreSQL database of `units` units at this revision (made now if new)."""
    from bench.support import pg_exec, with_database

    name = f"bench_scale_{units}_{revision}"
    (found,) = asyncio.run(pg_exec(server, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))
    url = with_database(server, name)
    if not found:
        print(f"  writing {units:,} units to PostgreSQL database {name} (once)", flush=True)
        partial = f"{name}_partial"
        asyncio.run(
            pg_exec(
                server,
                f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)',
                f'CREATE DATABASE "{partial}"',
            )
        )
        asyncio.run(_prepare(with_database(server, partial), units, CACHE / "data"))
        asyncio.run(
            pg_exec(
                with_database(server, "postgres"),
                f'ALTER DATABASE "{partial}" RENAME TO "{name}"',
            )
        )
        asyncio.run(pg_exec(url, "VACUUM ANALYZE"))
    return url


@contextlib.contextmanager
def local_postgres() -> Iterator[str | None]:
    """A PostgreSQL on 127.0.0.1 whose data folder is kept in bench/cache (None: no initdb)."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        yield None
        return
    folder = CACHE / "postgres"
    data = folder / "data"
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder.mkdir(parents=True, exist_ok=True)
    if as_pg:
        shutil.chown(folder, "postgres")
    if not data.exists():
        subprocess.run(
            [*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
         "-w", "-t", "60", "-o", options, "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- one measurement, in its own process ---------------------------------------------------


@contextlib.asynccontextmanager
async def _copy_for_writing(url: str, work: Path) -> AsyncIterator[str]:
    """Yield the URL of a copy of the roster that this measurement may change; drop the copy
    after."""
    if url.startswith("sqlite"):
        target = work / "roster.db"
        _copy_sqlite(Path(url.split("///", 1)[1]), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    from bench.support import temporary_database, with_database

    # Made from the "postgres" database: PostgreSQL copies a database no one is connected to.
    roster = url.rsplit("/", 1)[1]
    async with temporary_database(with_database(url, "postgres"), template=roster) as copy:
        yield copy


async def _link_everyone(url: str, work: Path) -> None:
    """Give every unit a liaison and a lead with a chat of their own (2 recipients a unit)."""
    from sqlalchemy import func, insert, select, update

    from storage.models import Account, Person, Unit

    async with _services(url, work / "data") as svc, svc.db.uow() as tx:
        first = int(await tx.scalar(select(func.max(Person.telegram_user_id))) or 0) + 1
        units = list((await tx.execute(select(Unit.id))).scalars())
        held = {
            (u, r) for u, r in (await tx.execute(select(Person.unit_id, Person.role).where(
                Person.until.is_(None)))).all()
        }  # fmt: skip
        now = ROUND_TIME
        rows = [
            {"unit_id": u, "role": role, "name": "王芳", "post": "科员", "phone": "13900000000",
             "telegram_user_id": None, "since": now, "until": None, "entered_by": None}
            for u in units
            for role in ("liaison", "lead")
            if (u, role) not in held
        ]  # fmt: skip
        for start in range(0, len(rows), 2000):
            await tx.execute(insert(Person), rows[start : start + 2000])
        unlinked = list(
            (
                await tx.execute(
                    select(Person.id).where(
                        Person.until.is_(None), Person.telegram_user_id.is_(None)
                    )
                )
            ).scalars()
        )
        accounts = [
            {"user_id": first + offset, "language": "zh", "first_seen": now, "last_seen": now,
             "unreachable_since": None, "unreachable_reason": None}
            for offset in range(len(unlinked))
        ]  # fmt: skip
        if unlinked:
            await tx.execute(
                update(Person),
                [
                    {"id": person_id, "telegram_user_id": first + offset}
                    for offset, person_id in enumerate(unlinked)
                ],
            )
        for start in range(0, len(accounts), 2000):
            await tx.execute(insert(Account), accounts[start : start + 2000])


class _Sink(io.TextIOBase):
    """Where the report's JSON goes (written and forgotten, as to a pipe)."""

    def write(self, text: str) -> int:
        return len(text)


async def _measure(name: str, url: str, units: int, work: Path) -> dict[str, Any]:
    """Set up (untimed), then time the one operation; return the figures."""
    if not BY_NAME[name].writes:
        return await _timed(name, url, units, work)
    async with _copy_for_writing(url, work) as copy:
        return await _timed(name, copy, units, work)


async def _timed(name: str, url: str, units: int, work: Path) -> dict[str, Any]:
    from bot.ledger.report import build_report, write_report_json
    from bot.reminders.planner import plan_tick
    from bot.staff import broadcasts, console
    from bot.staff.archive import build_archive
    from bot.staff.export import export_workbook

    data = work / "data"
    out: dict[str, Any] = {}
    if name == "broadcast":
        await _link_everyone(url, work)
    async with _services(url, data) as svc:
        if name == "unit":
            async with svc.db.sessions() as session:
                from sqlalchemy import select

                from storage.models import Unit

                chosen = await session.scalar(
                    select(Unit.name).order_by(Unit.id).offset(units // 2).limit(1)
                )
            assert chosen is not None
        if name == "broadcast":
            await broadcasts.begin(services=svc, actor_id=STAFF)
            await broadcasts.set_content(
                services=svc, actor_id=STAFF, summary="通知", text="请于12月31日前报送资料台账。"
            )
            preview = await broadcasts.set_audience(
                services=svc, actor_id=STAFF, audience="registered"
            )
            assert preview is not None
            out["recipients"] = preview.recipients
        started = time.perf_counter()
        if name == "planner":
            tick = await plan_tick(services=svc)
            out["reminders"] = tick.reminders
            out["digests"] = tick.digests
        elif name == "report":
            report = await build_report(services=svc)
            write_report_json(report, _Sink())
            out["units"] = report.totals.units
        elif name in ("outstanding_first", "outstanding_last"):
            page = 0 if name == "outstanding_first" else 10**9
            view = await console.outstanding(services=svc, actor_id=STAFF, page=page)
            out["page"] = f"{view.page + 1}/{view.pages}"
        elif name == "unit":
            card = await console.unit_card(services=svc, actor_id=STAFF, name=chosen)
            out["unit"] = card.name
        elif name == "export":
            done = await export_workbook(services=svc, actor_id=None, path=work / "status.xlsx")
            out["bytes"] = done.path.stat().st_size
        elif name == "archive":
            archive = await build_archive(services=svc, actor_id=None, out_dir=work / "zip")
            out["files"] = archive.files
            out["missing"] = len(archive.missing)
        elif name == "broadcast":
            progress = await broadcasts.confirm(
                services=svc, actor_id=STAFF, progress_chat_id=STAFF, progress_message_id=1
            )
            out["queued"] = progress.total
        out["seconds"] = time.perf_counter() - started
    return out


# -- the parent: run each measurement as a process ----------------------------------------


# Runs one process and reports its time and peak memory. A process started from this one
# would count this one's memory as its own peak (Linux keeps the peak across fork and exec),
# so a small interpreter without site-packages starts each one instead.
LAUNCHER = """
import json, os, sys, time
args, out = json.loads(sys.argv[1]), os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.execvp(args[0], args)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - started, "maxrss": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def _run_child(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str, int]:
    """Run a process; its wall time, peak resident memory (bytes), output and status."""
    output = cwd / "output.txt"
    launched = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, json.dumps(args), str(output)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(launched.stdout)
    text = output.read_text(encoding="utf-8", errors="replace")
    return figures["seconds"], int(figures["maxrss"]) * 1024, text, int(figures["code"])


def measure(name: str, url: str, units: int) -> dict[str, Any]:
    """One figure from a fresh process."""
    from bench.support import TOKEN, USERNAME

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        work = Path(folder)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "BOT_TOKEN": TOKEN,
            "BOT_USERNAME": USERNAME,
            "STAFF_IDS": str(STAFF),
            "DATA_DIR": str(work / "data"),
        }
        cli = [sys.executable, "-m", "bot"]
        if name == "report_cli":
            elapsed, peak, text, code = _run_child([*cli, "report", "--json"], env, work)
            result: dict[str, Any] = {"seconds": elapsed, "bytes_out": len(text.encode())}
        elif name == "remind_dry_run":
            elapsed, peak, text, code = _run_child([*cli, "remind", "--dry-run"], env, work)
            result = {"seconds": elapsed, "lines_out": text.count("\n")}
        else:
            args = [sys.executable, "-m", "bench.scale", "--child", name, "--url", url,
                    "--units", str(units), "--work", str(work)]  # fmt: skip
            _, peak, text, code = _run_child(args, env, work)
            if code == 0:
                result = json.loads(text.strip().splitlines()[-1])
        if code != 0:
            return {"error": text.strip().splitlines()[-1] if text.strip() else f"exit {code}"}
        result["peak_mb"] = peak / MB
        return result


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def print_table(results: dict[str, dict[int, dict[str, dict[str, Any]]]], biggest: int) -> None:
    """The figures at the biggest roster beside their targets, per database."""
    for engine, by_units in results.items():
        figures = by_units.get(biggest, {})
        print(f"\n{engine}, {biggest:,} units")
        print(f"  {'measure':<44} {'time':>10} {'target':>8} {'peak':>8} {'target':>8}  note")
        for m in MEASURES:
            r = figures.get(m.name)
            if r is None:
                continue
            if "error" in r:
                print(f"  {m.label:<44} failed: {r['error']}")
                continue
            seconds, peak = float(r["seconds"]), float(r["peak_mb"])
            time_ok = "" if m.seconds is None else ("ok" if seconds <= m.seconds else "MISSED")
            mem_ok = "" if m.megabytes is None else ("ok" if peak <= m.megabytes else "MISSED")
            notes = ", ".join(
                f"{k}={v}" for k, v in r.items() if k not in ("seconds", "peak_mb", "error")
            )
            verdict = " ".join(v for v in (time_ok, mem_ok) if v)
            print(
                f"  {m.label:<44} {_fmt_seconds(seconds):>10} "
                f"{_fmt_seconds(m.seconds) if m.seconds else '':>8} {peak:>6.0f} MB "
                f"{f'{m.megabytes:.0f} MB' if m.megabytes else '':>8}  {verdict} {notes}"
            )


def print_growth(results: dict[str, dict[int, dict[str, dict[str, Any]]]]) -> None:
    """How each figure grows with the roster (time, and the factor per tenfold)."""
    for engine, by_units in results.items():
        sizes = sorted(by_units)
        if len(sizes) < 2:
            continue
        print(f"\n{engine}: growth with the roster (time; peak memory)")
        header = "".join(f"{n:>18,}" for n in sizes)
        print(f"  {'measure':<44}{header}  ×per tenfold")
        for m in MEASURES:
            cells, times = [], []
            for n in sizes:
                r = by_units[n].get(m.name, {})
                if "seconds" in r:
                    times.append((n, r["seconds"]))
                    cells.append(f"{_fmt_seconds(r['seconds'])}; {r['peak_mb']:.0f} MB")
                else:
                    cells.append("—")
            factor = ""
            if len(times) >= 2:
                (n0, t0), (n1, t1) = times[-2], times[-1]
                factor = f"{(t1 / t0) ** (1 / max(1e-9, _log10(n1 / n0))):.1f}"
            print(f"  {m.label:<44}" + "".join(f"{c:>18}" for c in cells) + f"  {factor}")


def _log10(x: float) -> float:
    import math

    return math.log10(x)


def plot(results: dict[str, dict[int, dict[str, dict[str, Any]]]], path: Path) -> None:
    """Time against units, log-log, one line per measure and database."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5), dpi=100)
    for engine, by_units in results.items():
        style = "-" if engine == "SQLite" else "--"
        for m in MEASURES:
            points = [
                (n, by_units[n][m.name]["seconds"])
                for n in sorted(by_units)
                if "seconds" in by_units[n].get(m.name, {})
            ]
            if len(points) >= 2:
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, style, marker="o", label=f"{m.name} ({engine})")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("units")
    axis.set_ylabel("seconds")
    axis.set_title("liaison-bot at scale: time per operation")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--units", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", ""),
        help="a PostgreSQL server URL (else one is started when initdb is found)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--only", nargs="+", choices=list(BY_NAME), default=None)
    parser.add_argument("--child", choices=list(BY_NAME), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = asyncio.run(_measure(args.child, args.url, args.units[0], args.work))
        print(json.dumps(figures, ensure_ascii=False))
        return
    revision = schema_revision()
    chosen = [m for m in MEASURES if args.only is None or m.name in args.only]
    results: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
    print(f"Scale benchmark: {machine()}; schema revision {revision}", flush=True)
    with contextlib.ExitStack() as stack:
        engines: list[tuple[str, Callable[[int], str]]] = [
            ("SQLite", lambda n: f"sqlite+aiosqlite:///{sqlite_roster(n, revision)}")
        ]
        if not args.no_postgres:
            server = args.postgres or stack.enter_context(local_postgres())
            if server:
                engines.append(("PostgreSQL", lambda n: postgres_roster(server, n, revision)))
            else:
                print("no PostgreSQL (no --postgres, BENCH_POSTGRES_URL or initdb): SQLite only")
        for engine, roster in engines:
            for units in sorted(args.units):
                print(f"{engine}, {units:,} units:", flush=True)
                url = roster(units)
                figures = results.setdefault(engine, {}).setdefault(units, {})
                for m in chosen:
                    figures[m.name] = r = measure(m.name, url, units)
                    shown = _fmt_seconds(r.get("seconds")) if "error" not in r else r["error"]
                    print(f"  {m.label:<44} {shown}", flush=True)
    print(f"\nRun of {machine()}")
    print_table(results, max(args.units))
    print_growth(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(
        json.dumps({"machine": machine(), "revision": revision, "results": results}, indent=2)
    )
    if len(args.units) > 1:
        plot(results, RESULTS / "scale.png")
        print(f"\nplot: {RESULTS / 'scale.png'}")


if __name__ == "__main__":
    main()
