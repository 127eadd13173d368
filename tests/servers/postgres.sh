#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests: 127.0.0.1, a free port, a temporary data directory.
#
#   tests/servers/postgres.sh run CMD...   start it, run CMD with HONE_TEST_POSTGRES_URL set, stop it
#                                          (also when CMD fails or is interrupted); exits with CMD's status
#   eval "$(tests/servers/postgres.sh start)"   prints HONE_TEST_POSTGRES_URL and HONE_TEST_POSTGRES_DIR
#   tests/servers/postgres.sh stop [DIR]         stops that server and deletes its directory
#
# Without PostgreSQL binaries, `run` warns and runs CMD without the URL: the PostgreSQL tests then skip
# locally and fail under CI=true. The server refuses to run as root, so root runs it as `postgres`.
set -euo pipefail

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$found" ] && [ -x "$found/pg_ctl" ]; then echo "$found"; return; fi
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ] && { pg_config --bindir; return; }
  return 1
}

as_owner() {  # run a server binary as the owner of the data directory
  if [ "$(id -u)" = 0 ]; then "$(command -v runuser || echo /usr/sbin/runuser)" -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local bin dir port
  bin=$(bindir) || { echo "postgres.sh: no PostgreSQL binaries found" >&2; return 1; }
  dir=$(mktemp -d "${TMPDIR:-/tmp}/hone-postgres.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U hone --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; return 1; }
  # A test server: durability off (the directory is deleted anyway), only TCP on loopback.
  for _ in 1 2 3; do
    port=$(free_port)
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null; then
      echo "export HONE_TEST_POSTGRES_DIR=$dir"
      echo "export HONE_TEST_POSTGRES_URL=postgresql+psycopg://hone@127.0.0.1:$port/postgres"
      return 0
    fi
  done
  cat "$dir/server.log" >&2
  rm -rf "$dir"
  return 1
}

stop() {
  local dir=${1:-${HONE_TEST_POSTGRES_DIR:-}} bin
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  bin=$(bindir) || true
  if [ -f "$dir/data/postmaster.pid" ] && [ -n "$bin" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) shift; stop "$@" ;;
  run)
    shift
    if started=$(start); then
      eval "$started"
      trap 'stop "$HONE_TEST_POSTGRES_DIR"' EXIT  # bash runs it on Ctrl-C and kill (TERM) too
    else
      echo "postgres.sh: no PostgreSQL server for the tests; its tests skip (fail under CI=true)" >&2
    fi
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
  *) echo "usage: $0 start | stop [DIR] | run CMD..." >&2; exit 2 ;;
esac
