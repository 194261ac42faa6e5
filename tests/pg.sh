#!/usr/bin/env bash
# tests/pg.sh: a throwaway PostgreSQL 15 server for the tests, on a Unix socket only.
#
#   source tests/pg.sh; pg_start; ...tests...; pg_stop
#   bash tests/pg.sh CMD ARGS...   # runs CMD with the server up, then removes it
#
# pg_start exports QVD_TEST_PG_HOST (the socket directory), QVD_TEST_PG_PORT,
# QVD_TEST_PG_USER and QVD_TEST_PG_NAME, which the unit tests read to run on PostgreSQL.
# The server runs as the `postgres` user (it refuses root) in a fresh temporary directory.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=

pg_start() {
  local port=${QVD_TEST_PG_PORT:-5432}
  [ -x "$PG_BIN/pg_ctl" ] || { echo "pg.sh: $PG_BIN/pg_ctl missing (apt-get install postgresql)" >&2; return 1; }
  PG_DIR=$(mktemp -d /tmp/qvd-pg.XXXXXX) || return 1
  chmod 755 "$PG_DIR"
  chown postgres: "$PG_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres \
    --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; return 1; }
  # fsync off: a test server's data is worth nothing after a crash
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-c listen_addresses='' -k $PG_DIR -p $port -c fsync=off -c full_page_writes=off" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  runuser -u postgres -- psql -q -h "$PG_DIR" -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE qvd LOGIN" -c "CREATE DATABASE qvdtest OWNER qvd" >/dev/null || return 1
  export QVD_TEST_PG_HOST=$PG_DIR QVD_TEST_PG_PORT=$port QVD_TEST_PG_USER=qvd
  export QVD_TEST_PG_NAME=qvdtest
}

pg_stop() {
  [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ] || return 0
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PG_DIR"
  PG_DIR=
  unset QVD_TEST_PG_HOST QVD_TEST_PG_PORT QVD_TEST_PG_USER QVD_TEST_PG_NAME
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  [ $# -gt 0 ] || { echo "usage: bash tests/pg.sh CMD [ARGS...]" >&2; exit 2; }
  pg_start || { pg_stop; exit 1; }
  trap pg_stop EXIT
  "$@"
fi
