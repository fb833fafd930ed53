#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 on 127.0.0.1 for the tests.
#   .ci/postgres.sh start DIR   → prints the URL to use as TEST_POSTGRES_URL
#   .ci/postgres.sh stop DIR
#   .ci/postgres.sh resume DIR  → starts a stopped one again on its port, prints the URL
# initdb and pg_ctl refuse to run as root, so as root they run as the postgres user.
set -euo pipefail
action=$1
dir=$2
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

serve() {
  "${as_pg[@]}" pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
  echo "postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
}

case "$action" in
start)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  "${as_pg[@]}" initdb -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || "${as_pg[@]}" initdb -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
  echo "$port" >"$dir/port"
  serve
  ;;
resume)
  port=$(cat "$dir/port")
  serve
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_pg[@]}" pg_ctl -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  ;;
*)
  echo "usage: $0 start|stop|resume DIR" >&2
  exit 2
  ;;
esac
