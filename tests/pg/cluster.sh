#!/usr/bin/env bash
# One throwaway PostgreSQL cluster for a whole test run (the database tests reuse it through
# CLOVE_TEST_PG_URL instead of starting one per test file).
#
#   bash tests/pg/cluster.sh start    # initdb + start; prints the URL
#   export CLOVE_TEST_PG_URL="$(bash tests/pg/cluster.sh url)"
#   ...
#   bash tests/pg/cluster.sh stop     # stop and delete everything
#   bash tests/pg/cluster.sh status   # exit 0 when it accepts connections
#
# The cluster lives in $CLOVE_TEST_PG_STATE (default ${TMPDIR:-/tmp}/clove-test-pg): data/, port,
# postgres.log and the unix socket. It listens on 127.0.0.1 only, trust authentication, user
# postgres, fsync off. As root, every Postgres binary runs as the `postgres` OS user (initdb and
# postgres refuse root). Server binaries: $CLOVE_TEST_PG_BIN or the newest /usr/lib/postgresql/*/bin.
set -euo pipefail

STATE="${CLOVE_TEST_PG_STATE:-${TMPDIR:-/tmp}/clove-test-pg}"
DATA="$STATE/data"
LOG="$STATE/postgres.log"

pg_bin() {
  if [[ -n "${CLOVE_TEST_PG_BIN:-}" ]]; then echo "$CLOVE_TEST_PG_BIN"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -z "$d" || ! -x "$d/initdb" ]]; then
    echo "cluster.sh: PostgreSQL server binaries not found (apt-get install postgresql or set CLOVE_TEST_PG_BIN)" >&2
    exit 1
  fi
  echo "$d"
}

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then (cd "$STATE" && runuser -u postgres -- "$@"); else (cd "$STATE" && "$@"); fi
}

free_port() {
  if command -v node >/dev/null; then
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  else
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
  fi
}

url() {
  [[ -f "$STATE/port" ]] || { echo "cluster.sh: no cluster in $STATE (run: cluster.sh start)" >&2; exit 1; }
  echo "postgres://postgres@127.0.0.1:$(cat "$STATE/port")/postgres"
}

ready() {
  [[ -f "$STATE/port" ]] || return 1
  "$(pg_bin)/pg_isready" -h 127.0.0.1 -p "$(cat "$STATE/port")" -U postgres -d postgres -t 2 >/dev/null 2>&1
}

server_opts() {
  echo "-c listen_addresses=127.0.0.1 -c port=$1 -c unix_socket_directories=$STATE -c fsync=off" \
       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB" \
       "-c log_min_messages=warning"
}

stop() {
  [[ -d "$STATE" ]] || return 0
  if [[ -f "$DATA/postmaster.pid" ]]; then
    local bin; bin=$(pg_bin)
    as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || as_pg "$bin/pg_ctl" -D "$DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    local pid
    pid=$(head -1 "$DATA/postmaster.pid" 2>/dev/null || true)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -rf "$STATE"
}

start() {
  if ready; then url; return 0; fi
  stop
  local bin; bin=$(pg_bin)
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$STATE"; fi
  if ! as_pg "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions >"$STATE/initdb.log" 2>&1; then
    cat "$STATE/initdb.log" >&2
    stop
    exit 1
  fi
  local port attempt ok=0
  for attempt in 1 2 3 4; do
    port=$(free_port)
    # shellcheck disable=SC2046
    if as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "$(server_opts "$port")" start >/dev/null 2>&1; then
      ok=1
      break
    fi
  done
  if ((ok == 0)); then
    echo "cluster.sh: postgres did not start; log:" >&2
    tail -30 "$LOG" >&2 || true
    stop
    exit 1
  fi
  echo "$port" >"$STATE/port"
  local i
  for i in $(seq 1 300); do
    if ready; then url; return 0; fi
    sleep 0.1
  done
  echo "cluster.sh: postgres not ready after 30 s; log:" >&2
  tail -30 "$LOG" >&2 || true
  stop
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  status) if ready; then url; else echo "cluster.sh: not running" >&2; exit 1; fi ;;
  *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
