"""Throwaway PostgreSQL databases for the tests (TEST_POSTGRES_URL names the server)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import asyncpg

PG_URL = os.environ.get("TEST_POSTGRES_URL", "")


def require_postgres() -> str:
    assert PG_URL, "postgres tests carry the postgres mark"
    return PG_URL


async def fresh_pg_database() -> tuple[str, str]:
    base = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return base.rsplit("/", 1)[0] + f"/{name}", name


async def drop_pg_database(name: str) -> None:
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def set_up_sqlite(template: Path, path: Path) -> str:
    """A copy of the migrated template at `path`, as a set-up command leaves the database
    (`run` makes none); its URL."""
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"
