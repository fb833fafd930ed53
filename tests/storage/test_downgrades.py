"""Prove every migration's downgrade on SQLite and PostgreSQL."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.dialects.postgresql.base import PGInspector

from storage.db import Database, alembic_config

BASE = "base"
ALEMBIC = "alembic_version"
OUTSIDE = "(outside the tables)"

Schema = dict[str, dict[str, list[str]]]


def plain(value: Any) -> Any:
    """Turn a reflected value into one that compares and sorts the same on every run."""
    if isinstance(value, dict):
        return tuple(sorted((str(key), plain(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(plain(item) for item in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # a column's type, a partial index's WHERE clause


def rows(reflected: Any) -> list[str]:
    """Sort reflected columns, indexes or constraints, keeping each one's own column order."""
    found = reflected if isinstance(reflected, list) else [reflected]
    return sorted(repr(plain(item)) for item in found)


def schema(connection: Connection) -> Schema:
    """Describe the application's tables, and the views, sequences and enum types beside them."""
    inspector = inspect(connection)
    described = {
        table: {
            "columns": rows(inspector.get_columns(table)),
            "primary key": rows(inspector.get_pk_constraint(table)),
            "indexes": rows(inspector.get_indexes(table)),
            "unique constraints": rows(inspector.get_unique_constraints(table)),
            "foreign keys": rows(inspector.get_foreign_keys(table)),
            "check constraints": rows(inspector.get_check_constraints(table)),
        }
        for table in inspector.get_table_names()
        if table != ALEMBIC
    }
    outside: dict[str, list[str]] = {"views": sorted(inspector.get_view_names())}
    if connection.dialect.supports_sequences:
        outside["sequences"] = sorted(inspector.get_sequence_names())
    if isinstance(inspector, PGInspector):
        outside["enum types"] = sorted(enum["name"] for enum in inspector.get_enums())
    described[OUTSIDE] = outside
    return described


def differences(step: str, expected: Schema, found: Schema) -> list[str]:
    """List what a step left different from the schema the upgrades built, table by table."""
    lines = []
    for table in sorted(expected.keys() | found.keys()):
        if table not in found:
            lines.append(f"{step}: table {table} is missing")
        elif table not in expected:
            lines.append(f"{step}: table {table} is left behind")
        else:
            for part, wanted in expected[table].items():
                got = found[table][part]
                for row in sorted(set(wanted) - set(got)):
                    lines.append(f"{step}: {table} {part}: lost {row}")
                for row in sorted(set(got) - set(wanted)):
                    lines.append(f"{step}: {table} {part}: extra {row}")
    return lines


def revisions(config: Config) -> list[str]:
    """List the revisions from the first to the newest."""
    newest_first = ScriptDirectory.from_config(config).walk_revisions()
    return [script.revision for script in reversed(list(newest_first))]


def step_down_and_up(connection: Connection) -> list[str]:
    """Upgrade one revision at a time, then undo and redo each one from the newest down."""
    config = alembic_config(connection)
    chain = [BASE, *revisions(config)]
    built = {BASE: schema(connection)}
    for revision in chain[1:]:
        command.upgrade(config, revision)
        built[revision] = schema(connection)
    for below, revision in reversed(list(pairwise(chain))):
        command.downgrade(config, below)
        problems = differences(f"{revision} down to {below}", built[below], schema(connection))
        if not problems:
            command.upgrade(config, revision)
            problems = differences(f"{revision} down and up", built[revision], schema(connection))
        if problems:
            return problems  # the steps below would start from a schema gone astray
        command.downgrade(config, below)
    return []


async def test_each_downgrade_gives_back_the_schema_its_upgrade_found(db_url: str) -> None:
    """Downgrade every revision one step and upgrade it again, comparing schemas each time."""
    db = Database(db_url)
    try:
        async with db.engine.begin() as connection:
            problems = await connection.run_sync(step_down_and_up)
        assert not problems, "\n".join(problems)
    finally:
        await db.dispose()


async def test_downgrade_from_the_newest_to_base_leaves_nothing(db_url: str) -> None:
    """Upgrade to the newest revision and downgrade to base in one command each."""
    db = Database(db_url)
    try:
        async with db.engine.begin() as connection:

            def head_to_base(sync: Connection) -> list[str]:
                config = alembic_config(sync)
                empty = schema(sync)
                command.upgrade(config, "head")
                assert schema(sync).keys() > empty.keys(), "the upgrade created no tables"
                command.downgrade(config, BASE)
                return differences("head down to base", empty, schema(sync))

            problems = await connection.run_sync(head_to_base)
        assert not problems, "\n".join(problems)
    finally:
        await db.dispose()
