"""Backups that restore: one archive with the database, the collected materials and a manifest.

The archive (a gzipped tar) holds the database as of one moment — SQLite through its online
backup API, PostgreSQL through `pg_dump --format=custom` on an exported snapshot — then every
file in DATA_DIR (but DATA_DIR/exports, the files made to be sent in the chat, and `.part`
files half written), then `manifest.json`: the counts of units, people, submissions, files and
outbox rows in that same snapshot, and the size and SHA-256 of every member. The database is
copied before the files: a material's file is on disk before its row is committed, so every
row in the copy finds its file in the archive.

A restore refuses while a bot runs on the database (bot/ops/running.py), checks every
checksum before it touches anything, refuses to overwrite a database that holds data unless
forced, and checks the restored counts against the manifest; on PostgreSQL it replaces the
tables in one transaction, so a failure leaves the data as it was.

The daily backup that makes these archives on its own is bot/ops/daily_backup.py."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import DomainError
from bot.services import Services
from bot.staff.outputs import SENDING
from storage.db import Database
from storage.db import sqlite_file as sqlite_path
from storage.models import (
    OutboxMessage,
    Person,
    Submission,
    SubmissionFile,
    Unit,
)

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
DATA_PREFIX = "data/"
MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# What the manifest counts, by the name it prints: table.
COUNTED = {
    "units": Unit.__tablename__,
    "people": Person.__tablename__,
    "submissions": Submission.__tablename__,
    "files": SubmissionFile.__tablename__,
    "outbox": OutboxMessage.__tablename__,
}
# Where Debian keeps the PostgreSQL client programs when they are not on PATH.
PG_BIN_DIRS = Path("/usr/lib/postgresql")
# The files beside a SQLite database that belong to it, not to DATA_DIR: its journals, and
# the lock every `run` holds (bot/ops/running.py), which a restore must not write over, and
# the one held while a daily backup is made (bot/ops/daily_backup.py).
SQLITE_SIDES = ("-wal", "-shm", "-journal", ".lock", ".backup.lock")

Dialect = Literal["sqlite", "postgresql"]


class BackupError(DomainError):
    """A backup or restore that cannot go on; `key` says why and what to do."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(**values)
        self.key = key


class Counts(BaseModel):
    """Rows of the tables the office cares about."""

    units: int
    people: int
    submissions: int
    files: int
    outbox: int

    @property
    def total(self) -> int:
        return self.units + self.people + self.submissions + self.files + self.outbox


class ArchivedFile(BaseModel):
    """One member of the archive: its path there, size and SHA-256."""

    path: str
    size: int
    sha256: str


class Manifest(BaseModel):
    """What an archive holds, written as its last member."""

    format: int = FORMAT
    created_at: datetime
    dialect: Dialect
    revision: str | None
    counts: Counts
    database: ArchivedFile
    files: list[ArchivedFile]


class BackupOut(BaseModel):
    path: Path
    size: int
    manifest: Manifest
    # Collected files the database refers to that were not in DATA_DIR (as export --archive
    # names them: 单位/资料项/文件), so not in the archive either.
    missing: list[str] = []


class RestoreOut(BaseModel):
    manifest: Manifest
    data_dir: Path


def dialect_of(url: str) -> Dialect:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def sqlite_file(url: str) -> Path:
    """The database file of a SQLite URL (a database in memory cannot be backed up)."""
    path = sqlite_path(url)
    if path is None:
        raise BackupError("ops.memory_database")
    return path


def pg_tool(name: str) -> str:
    """The path of pg_dump or pg_restore: on PATH, else in Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.parent.name.split(".") if p.isdigit())

    candidates = sorted(PG_BIN_DIRS.glob(f"*/bin/{name}"), key=version)
    if candidates:
        return str(candidates[-1])
    raise BackupError("ops.no_pg_tool", tool=name)


def libpq_env(url: str) -> dict[str, str]:
    """The environment that points pg_dump and pg_restore at DATABASE_URL (no password in argv)."""
    parsed = make_url(url)
    env = dict(os.environ)
    query_host = parsed.query.get("host")
    values = {
        "PGHOST": parsed.host or (query_host if isinstance(query_host, str) else None),
        "PGPORT": parsed.port,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password,
        "PGDATABASE": parsed.database,
    }
    for variable, value in values.items():
        if value:
            env[variable] = str(value)
    ssl = parsed.query.get("ssl") or parsed.query.get("sslmode")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = ssl if ssl in {"disable", "allow", "prefer", "require"} else "require"
    return env


# ---- counting -------------------------------------------------------------------------------


def _count_with(connection: Connection) -> Counts | None:
    tables = set(inspect(connection).get_table_names())
    if not set(COUNTED.values()) <= tables:
        return None
    values = {}
    for name, table in COUNTED.items():
        query = select(func.count()).select_from(
            text(connection.dialect.identifier_preparer.quote(table))
        )
        values[name] = int(connection.execute(query).scalar_one())
    return Counts(**values)


async def count_rows(db: Database) -> Counts | None:
    """The counted rows of a database; None when it does not hold the bot's tables."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_count_with)


def _revision_with(connection: Connection) -> str | None:
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(found) if found is not None else None


# ---- backup ---------------------------------------------------------------------------------


def _sqlite_snapshot(source: Path, target: Path) -> tuple[Counts, str | None]:
    """Copy a live SQLite database with the online backup API; count what the copy holds."""
    if not source.is_file():
        raise BackupError("ops.no_database", path=source)
    # mode=rw: never create an empty database where none was.
    _sqlite_copy(sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True), target)
    copy = sqlite3.connect(target)
    try:
        tables = {
            row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not set(COUNTED.values()) <= tables:
            raise BackupError("ops.no_tables")
        values = {
            name: int(copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for name, table in COUNTED.items()
        }
        revision = None
        if "alembic_version" in tables:
            row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = str(row[0]) if row else None
    finally:
        copy.close()
    return Counts(**values), revision


async def _pg_snapshot(
    services: Services, target: Path, folder: Path
) -> tuple[Counts, str | None]:
    """pg_dump of one exported snapshot, counted inside that same snapshot; a failure to write
    it is said of `folder` (the backup's), as a SQLite copy's is."""
    tool = pg_tool("pg_dump")
    async with services.db.engine.connect() as plain:
        connection: AsyncConnection = await plain.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with connection.begin():
            snapshot = await connection.scalar(text("SELECT pg_export_snapshot()"))
            counts = await connection.run_sync(_count_with)
            if counts is None:
                raise BackupError("ops.no_tables")
            revision = await connection.run_sync(_revision_with)
            # The transaction stays open until pg_dump is done: it reads the same snapshot.
            process = await asyncio.create_subprocess_exec(
                tool, "--format=custom", f"--snapshot={snapshot}", f"--file={target}",
                # In C: its reasons are matched below (the server's locale may be zh_CN).
                env=libpq_env(services.db.url) | {"LC_ALL": "C"},
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, errors = await process.communicate()
    if process.returncode != 0:
        raise _pg_dump_failed(errors.decode(errors="replace"), folder, process.returncode)
    return counts, revision


# pg_dump's words for its own output file, and the errno text after them (strerror, in C).
_PG_OUTPUT = re.compile(r"could not (?:open|write to|close) output file\b.*: (?P<reason>[^:]+)$")
_PG_DISK_FULL = ("No space left on device", "Disk quota exceeded")
_PG_NOT_WRITABLE = (
    "Permission denied", "Operation not permitted", "Read-only file system",
    "No such file or directory", "Not a directory", "Is a directory", "File exists",
)  # fmt: skip


def _pg_dump_failed(errors: str, folder: Path, status: int | None) -> BackupError:
    """Why pg_dump failed, as a SQLite backup says it: the backup folder's disk full or not
    writable, else pg_dump's first line (its "pg_dump: error: " left out)."""
    lines = [line.strip() for line in errors.strip().splitlines() if line.strip()]
    for line in lines:
        found = _PG_OUTPUT.search(line)
        if found is None:
            continue
        reason = found["reason"].strip()
        if reason in _PG_DISK_FULL:
            return BackupError("ops.disk_full", folder=folder)
        if reason in _PG_NOT_WRITABLE:
            return BackupError("ops.folder_not_writable", folder=folder)
        return BackupError("ops.cannot_write", folder=folder, reason=reason)
    first = re.sub(r"^pg_dump: (?:error: )?", "", lines[0]) if lines else f"exit status {status}"
    return BackupError("ops.pg_failed", tool="pg_dump", reason=first)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _data_files(data_dir: Path, excluded: list[Path]) -> list[Path]:
    """Every regular file in DATA_DIR, but unfinished writes and what is `excluded`."""
    if not data_dir.is_dir():
        return []
    excluded = [e.resolve() for e in excluded]
    found = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name.endswith(".part"):
            continue
        resolved = path.resolve()
        if any(resolved == e or resolved.is_relative_to(e) for e in excluded):
            continue
        found.append(path)
    return found


@dataclass
class _Snapshot:
    created_at: datetime
    dialect: Dialect
    revision: str | None
    counts: Counts
    dump: Path


def _write_archive(
    target: Path, snapshot: _Snapshot, data_dir: Path, excluded: list[Path]
) -> tuple[Manifest, int]:
    """Write the archive beside `target` and move it into place once complete."""
    partial = target.with_name(target.name + ".part")
    member = MEMBERS[snapshot.dialect]
    files: list[ArchivedFile] = []
    try:
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            database = ArchivedFile(
                path=member, size=snapshot.dump.stat().st_size, sha256=_sha256(snapshot.dump)
            )
            tar.add(snapshot.dump, arcname=member, recursive=False)
            for path in _data_files(data_dir, excluded):
                name = DATA_PREFIX + path.relative_to(data_dir).as_posix()
                try:
                    entry = ArchivedFile(path=name, size=path.stat().st_size, sha256=_sha256(path))
                    tar.add(path, arcname=name, recursive=False)
                except FileNotFoundError:  # a duplicate removed while we walked
                    continue
                files.append(entry)
            manifest = Manifest(
                created_at=snapshot.created_at,
                dialect=snapshot.dialect,
                revision=snapshot.revision,
                counts=snapshot.counts,
                database=database,
                files=files,
            )
            body = manifest.model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            info.mtime = int(snapshot.created_at.timestamp())
            tar.addfile(info, io.BytesIO(body))
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest, target.stat().st_size


# errno values that mean "this place cannot be written", as opposed to "the disk is full".
_NOT_WRITABLE = {
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST
}  # fmt: skip
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_CANTOPEN = 13, 8, 14
WRITING_FAILURES = ("ops.disk_full", "ops.folder_not_writable", "ops.cannot_write")
# Not begun: the disk of the backup folder has too little room for it (bot/ops/daily_backup.py).
NO_ROOM = "ops.no_room"
# Failures whose notice to staff says their short cause (`<key>_cause`).
WITH_CAUSE = (*WRITING_FAILURES, NO_ROOM, "ops.cannot_read")


def writing_failed(
    exc: BaseException, folder: Path, database: Path | None = None
) -> BackupError | None:
    """The office's reason for a failure to write an archive into `folder`, or to read a file
    it holds (a file of DATA_DIR, the SQLite `database`); None if not one."""
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code == _SQLITE_FULL:
            return BackupError("ops.disk_full", folder=folder)
        if code == _SQLITE_READONLY:  # the copy is the one written
            return BackupError("ops.folder_not_writable", folder=folder)
        if code == _SQLITE_CANTOPEN and database is not None:  # the copy's folder was made
            return BackupError("ops.cannot_read", path=database, reason=exc)
        return None
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    if exc.errno in _DISK_FULL:  # only the archive is written
        return BackupError("ops.disk_full", folder=folder)
    name = os.fsdecode(exc.filename) if exc.filename is not None else None
    if name is not None and not (_inside(name, folder) or _inside(folder, name)):
        return BackupError("ops.cannot_read", path=name, reason=exc.strerror or exc.errno)
    if exc.errno in _NOT_WRITABLE:
        return BackupError("ops.folder_not_writable", folder=folder)
    return BackupError("ops.cannot_write", folder=folder, reason=exc.strerror or exc.errno)


def _inside(path: str | Path, folder: str | Path) -> bool:
    """Whether a path is `folder` or in it, both taken as absolute."""
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def _work_folder(target: Path) -> Path:
    """Refuse an existing target; a scratch folder beside it for the database copy."""
    if target.exists():
        raise BackupError("ops.backup_exists", path=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=".liaison-backup-"))


def _excluded(services: Services, source: Path | None, extra: list[Path]) -> list[Path]:
    """What a backup leaves out of DATA_DIR: the backups, the files made to be sent in the
    chat (bot/staff/outputs.py), and a SQLite database kept there (archived once, as the
    database)."""
    settings = services.settings
    excluded = [*extra, settings.data_dir / SENDING]
    backups = settings.backup_dir
    if backups is not None:
        data_dir = settings.data_dir.resolve()
        if data_dir.is_relative_to(backups.resolve()):
            # BACKUP_DIR is DATA_DIR or a folder above it: leaving it all out would leave out
            # every collected file; only the daily archives (and their leftovers) are left out.
            excluded += _daily_archives(backups)
        else:
            excluded.append(backups)
    if source is not None:
        excluded += [source.with_name(source.name + end) for end in ("", *SQLITE_SIDES)]
    return excluded


# The daily archives' own names (bot/ops/daily_backup.py): anything else in BACKUP_DIR is
# never pruned or counted. What a daily backup killed half way leaves: its archive half
# written, and its work folder (tempfile.mkdtemp's name, as _work_folder makes it).
SCHEDULED_PATTERN = re.compile(r"liaison-bot-\d{8}-\d{6}\.tar\.gz")
PARTIAL_PATTERN = re.compile(r"liaison-bot-\d{8}-\d{6}\.tar\.gz\.part")
WORK_PATTERN = re.compile(r"\.liaison-backup-[a-z0-9_]{8}")


def _daily_archives(folder: Path) -> list[Path]:
    """The daily backups' own files in `folder`: archives, unfinished ones, work folders."""
    if not folder.is_dir():
        return []
    patterns = (SCHEDULED_PATTERN, PARTIAL_PATTERN, WORK_PATTERN)
    return [p for p in folder.iterdir() if any(n.fullmatch(p.name) for n in patterns)]


# What a tar adds to each file at most: its header and the padding of its last block.
_TAR_OVERHEAD = 1024


def _sqlite_size(source: Path) -> int:
    """The bytes of a SQLite database and its write-ahead log."""
    wal = source.with_name(source.name + "-wal")
    return sum(p.stat().st_size for p in (source, wal) if p.is_file())


def _data_size(data_dir: Path, excluded: list[Path]) -> int:
    total = 0
    for path in _data_files(data_dir, excluded):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size + _TAR_OVERHEAD
    return total


async def backup_size(services: Services, dump: int | None = None) -> int:
    """At most how many bytes a backup writes in its folder, counted before it begins: the
    copy of the database in its work folder, then the archive (the database again and every
    file of DATA_DIR it takes, as they are: scans and photos hardly compress). On PostgreSQL
    `dump` is the size of the last daily backup's dump, when there was one: the database on
    the server (indexes, free space) is far larger than its dump."""
    dialect = dialect_of(services.db.url)
    if dialect == "sqlite":
        source: Path | None = sqlite_file(services.db.url)
        database = await asyncio.to_thread(_sqlite_size, sqlite_file(services.db.url))
    elif dump is not None:
        source, database = None, dump
    else:  # the dump is smaller than the database on disk (no indexes, compressed)
        source = None
        async with services.db.engine.connect() as connection:
            query = text("SELECT pg_database_size(current_database())")
            database = int(await connection.scalar(query) or 0)
    excluded = _excluded(services, source, [])
    data = await asyncio.to_thread(_data_size, services.settings.data_dir, excluded)
    return 2 * database + data


async def create_backup(*, services: Services, target: Path) -> BackupOut:
    """Archive the database and DATA_DIR into `target` while the bot runs."""
    settings = services.settings
    dialect = dialect_of(services.db.url)
    source = sqlite_file(services.db.url) if dialect == "sqlite" else None
    if dialect == "postgresql":
        pg_tool("pg_dump")  # before any work: say at once what is missing
    folder = target.parent
    try:
        work = await asyncio.to_thread(_work_folder, target)
    except OSError as exc:
        raise (writing_failed(exc, folder) or exc) from exc
    created_at = services.now()
    try:
        dump = work / MEMBERS[dialect]
        if source is not None:
            counts, revision = await asyncio.to_thread(_sqlite_snapshot, source, dump)
        else:
            counts, revision = await _pg_snapshot(services, dump, folder)
        excluded = _excluded(services, source, [target, work])
        snapshot = _Snapshot(created_at, dialect, revision, counts, dump)
        manifest, size = await asyncio.to_thread(
            _write_archive, target, snapshot, settings.data_dir, excluded
        )
    except (OSError, sqlite3.Error) as exc:
        raise (writing_failed(exc, folder, source) or exc) from exc
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    from bot.staff.archive import missing_files  # (its workbook libraries are not needed above)

    try:
        missing = await missing_files(services)
    except Exception:  # the archive is made: a failed look for missing files does not undo it
        log.exception("backup: could not look for collected files missing from DATA_DIR")
        missing = []
    return BackupOut(path=target, size=size, manifest=manifest, missing=missing)


# ---- restore --------------------------------------------------------------------------------


def _member_path(name: str) -> PurePosixPath:
    """A member's name, refused if it could land outside the staging folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError("ops.not_an_archive", path=name)
    return path


def _unreadable(source: Path, first: str | None) -> BackupError:
    """An archive that began as one of ours is damaged or cut short; else it is not ours."""
    if first in MEMBERS.values():
        return BackupError("ops.archive_damaged", path=source)
    return BackupError("ops.not_an_archive", path=source)


def _unpack(source: Path, staging: Path) -> Manifest:
    """Unpack into `staging`, checking every member against the manifest."""
    seen: dict[str, ArchivedFile] = {}
    manifest_body: bytes | None = None
    first: str | None = None  # the first member's name: the database's, in an archive of ours
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                first = first or member.name
                if member.name == MANIFEST and member.isfile():
                    extracted = tar.extractfile(member)
                    manifest_body = extracted.read() if extracted else None
                    continue
                path = _member_path(member.name)
                if not member.isfile():
                    raise BackupError("ops.unexpected_member", member=member.name)
                stream = tar.extractfile(member)
                if stream is None:
                    raise BackupError("ops.unexpected_member", member=member.name)
                destination = staging.joinpath(*path.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                size = 0
                with destination.open("wb") as out:
                    while chunk := stream.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                seen[member.name] = ArchivedFile(
                    path=member.name, size=size, sha256=digest.hexdigest()
                )
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise _unreadable(source, first) from None
    if manifest_body is None:
        raise _unreadable(source, first)
    try:
        manifest = Manifest.model_validate_json(manifest_body)
    except ValidationError:
        raise _unreadable(source, first) from None
    expected = {f.path: f for f in [manifest.database, *manifest.files]}
    for name, entry in expected.items():
        got = seen.get(name)
        if got is None:
            raise BackupError("ops.missing_member", member=name)
        if got.sha256 != entry.sha256 or got.size != entry.size:
            raise BackupError("ops.checksum_mismatch", member=name)
    extra = sorted(set(seen) - set(expected))
    if extra:
        raise BackupError("ops.unexpected_member", member=extra[0])
    return manifest


def _sqlite_restore(dump: Path, target: Path) -> None:
    """Write the copy over the target database through SQLite (its WAL included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_copy(sqlite3.connect(dump), target)


def _sqlite_copy(src: sqlite3.Connection, target: Path) -> None:
    """Copy a database page by page with SQLite's online backup API, then close both."""
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _drop_statements(connection: Connection) -> list[str]:
    quote = connection.dialect.identifier_preparer.quote
    return [
        f"DROP TABLE IF EXISTS {quote(name)} CASCADE;"
        for name in inspect(connection).get_table_names()
    ]


def _counts_check(counts: Counts) -> str:
    """SQL that fails the restore's transaction unless the restored rows match the manifest."""
    wrong = " OR ".join(
        f'(SELECT count(*) FROM "{table}") <> {getattr(counts, name)}'
        for name, table in COUNTED.items()
    )
    return (
        "RESET search_path;\n"  # the dump's script empties it
        f"DO $$ BEGIN IF {wrong} THEN RAISE EXCEPTION 'counts differ'; END IF; END $$;\n"
    )


async def _run_pg(tool: str, *args: str, env: dict[str, str]) -> str | None:
    """Run a PostgreSQL client program; None when it succeeded, else the gist of its error."""
    process = await asyncio.create_subprocess_exec(
        tool, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    if process.returncode == 0:
        return None
    lines = errors.decode(errors="replace").strip().splitlines()
    reason = next(
        (line for line in reversed(lines) if "ERROR:" in line), lines[-1] if lines else ""
    )
    return reason.split("ERROR:", 1)[-1].strip() or f"exit status {process.returncode}"


async def _pg_restore(services: Services, dump: Path, counts: Counts) -> None:
    """Replace every table of the database with those of the dump, in one transaction.

    The dump is read and turned into SQL before anything changes; the old tables are dropped
    and the dump's applied by psql in one transaction, ended by a check of the counts: any
    failure rolls all of it back, leaving the database as it was."""
    pg_restore, psql = pg_tool("pg_restore"), pg_tool("psql")
    env = libpq_env(services.db.url)
    if failed := await _run_pg(pg_restore, "--list", str(dump), env=env):
        raise BackupError("ops.pg_dump_unreadable", reason=failed)
    script = dump.with_name("restore.sql")
    if failed := await _run_pg(
        pg_restore, "--no-owner", "--no-privileges", f"--file={script}", str(dump), env=env
    ):
        raise BackupError("ops.pg_dump_unreadable", reason=failed)
    async with services.db.engine.connect() as connection:
        drops = await connection.run_sync(_drop_statements)
    before, after = dump.with_name("drop.sql"), dump.with_name("check.sql")
    before.write_text("\n".join(drops) + "\n")
    after.write_text(_counts_check(counts))
    await services.db.dispose()
    if failed := await _run_pg(
        psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
        f"--dbname={env.get('PGDATABASE', '')}",
        f"--file={before}", f"--file={script}", f"--file={after}",
        env=env,
    ):  # fmt: skip
        if "counts differ" in failed:
            raise BackupError("ops.counts_differ_unchanged")
        raise BackupError("ops.pg_restore_rolled_back", reason=failed)


def _move_files(source: Path, data_dir: Path) -> int:
    moved = 0
    if not source.is_dir():
        return moved
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        destination = data_dir / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, destination)
        moved += 1
    return moved


def _known_revision(revision: str | None) -> bool:
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    if revision is None:
        return True
    scripts = ScriptDirectory.from_config(alembic_config())
    return any(s.revision == revision for s in scripts.walk_revisions())


def _staging_folder(source: Path, data_dir: Path) -> Path:
    """Check the archive is there; a scratch folder beside DATA_DIR to unpack it into."""
    if not source.is_file():
        raise BackupError("ops.no_archive", path=source)
    data_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=data_dir.resolve().parent, prefix=".liaison-restore-"))


async def restore_backup(*, services: Services, source: Path, force: bool = False) -> RestoreOut:
    """Put an archive's database and files back; refuse to overwrite data unless forced."""
    from bot.ops.running import no_bot_running

    async with no_bot_running(services.db):
        return await _restore(services, source, force)


async def _restore(services: Services, source: Path, force: bool) -> RestoreOut:
    dialect = dialect_of(services.db.url)
    data_dir = services.settings.data_dir
    staging = await asyncio.to_thread(_staging_folder, source, data_dir)
    try:
        manifest = await asyncio.to_thread(_unpack, source, staging)
        if manifest.dialect != dialect:
            raise BackupError("ops.wrong_dialect", source=manifest.dialect, target=dialect)
        if not _known_revision(manifest.revision):
            raise BackupError("ops.newer_schema", revision=manifest.revision)
        existing = await count_rows(services.db)
        if existing is not None and existing.total and not force:
            raise BackupError(
                "ops.has_data", units=existing.units, submissions=existing.submissions
            )
        dump = staging / manifest.database.path
        if dialect == "sqlite":
            await services.db.dispose()
            await asyncio.to_thread(_sqlite_restore, dump, sqlite_file(services.db.url))
        else:
            await _pg_restore(services, dump, manifest.counts)
        await services.db.dispose()
        restored = await count_rows(services.db)
        if restored != manifest.counts:
            raise BackupError("ops.counts_differ")
        try:
            await asyncio.to_thread(_move_files, staging / DATA_PREFIX.rstrip("/"), data_dir)
        except OSError as exc:  # the database is restored by now: say so, and how to finish
            raise BackupError(
                "ops.files_not_restored", data_dir=data_dir, reason=exc.strerror or exc
            ) from exc
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    return RestoreOut(manifest=manifest, data_dir=data_dir)
