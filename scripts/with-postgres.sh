#!/usr/bin/env bash
# Run a command with TEST_POSTGRES_URL pointing at a throwaway PostgreSQL on 127.0.0.1.
# Uses the server given in TEST_POSTGRES_URL if there is one; else starts one with initdb and
# pg_ctl when they are installed (and stops it by its process id afterwards); else runs the
# command without, and the PostgreSQL tests are reported as skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  exec "$@"
fi
if ! command -v initdb >/dev/null 2>&1 && [ -d /usr/lib/postgresql ]; then
  PATH="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):$PATH"
  export PATH
fi
if ! command -v initdb >/dev/null 2>&1; then
  echo "with-postgres: initdb not found; PostgreSQL tests will be skipped" >&2
  exec "$@"
fi
dir=$(mktemp -d /tmp/liaison-pg.XXXXXX)
chmod 755 "$dir"
cleanup() { "$here/.ci/postgres.sh" stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
TEST_POSTGRES_URL=$("$here/.ci/postgres.sh" start "$dir")
export TEST_POSTGRES_URL
echo "with-postgres: PostgreSQL at ${TEST_POSTGRES_URL} (pid $(head -n 1 "$dir/data/postmaster.pid"))" >&2
"$@"
