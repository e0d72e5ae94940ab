#!/usr/bin/env bash
# Start/stop a throw-away PostgreSQL on 127.0.0.1 for the test suite (Debian packages).
#   source scripts/pg.sh; pg_start; ...; pg_stop
# The port and directory are read when pg_start/pg_stop run (RECOMPRA_PG_PORT may be set
# after sourcing), so several suites can each run their own server.
# fsync is off by default: a throw-away server for tests, where a crash of the machine
# loses nothing of value. RECOMPRA_PG_FSYNC=on starts it durable (WAL flushed at each
# commit), as production runs: benchmarks that quote PostgreSQL throughput say which.
pg_settings() {
  PG_PORT=${RECOMPRA_PG_PORT:-55432}
  PG_DIR=${RECOMPRA_PG_DIR:-/tmp/recompra-pg-$PG_PORT}
  PG_FSYNC=${RECOMPRA_PG_FSYNC:-off}
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" ]] && echo "$dir"
}

as_pg() {
  # initdb refuses to run as root; run the server as the postgres user then.
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  local bin
  pg_settings
  bin=$(pg_bin) || return 1
  [[ -n "$bin" ]] || return 1
  pg_stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  [[ $(id -u) == 0 ]] && chown postgres "$PG_DIR"
  as_pg "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 >/dev/null
  as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c fsync=$PG_FSYNC -c max_connections=200" \
    start >/dev/null
  export RECOMPRA_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
}

pg_stop() {
  local bin
  pg_settings
  bin=$(pg_bin) || return 0
  [[ -d "$PG_DIR/data" ]] && as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1
  rm -rf "$PG_DIR"
}
