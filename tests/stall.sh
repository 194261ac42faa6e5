# tests/stall.sh: a database stall for the L7R's tests and bench (source after
# tests/session_node.sh). SQLite: another process holds the write lock (BEGIN EXCLUSIVE); in
# WAL mode readers go on, every writer waits. PostgreSQL: another session holds ACCESS
# EXCLUSIVE locks on the tables the L7R reads and writes: every query on them waits.
STALL_TABLES="hosts, host_runtimes, host_counters, vm_runtimes, vms, osfs, users, tenants, user_tokens, session_ends"
STALL_PID=

# stall_start CAP: takes the lock in a background process that holds it until stall_end, or
# CAP seconds at most (then a stalled L7R cannot hang the test); returns once it holds.
# $T_DIR/stall.released appears when the release is asked for.
stall_start() {
  local cap=$1 fifo=$T_DIR/stall.fifo
  rm -f "$fifo" "$T_DIR/stall.released"; mkfifo "$fifo"
  if [ -n "${T_PG_DB:-}" ]; then
    {
      echo "BEGIN; LOCK TABLE $STALL_TABLES IN ACCESS EXCLUSIVE MODE;"
      read -r -t "$cap" _ <>"$fifo"
      touch "$T_DIR/stall.released"; echo "COMMIT;"
    } | psql -X -q -v ON_ERROR_STOP=1 -h "$QVD_TEST_PG_HOST" -p "$QVD_TEST_PG_PORT" \
      -U "$QVD_TEST_PG_USER" -d "$T_PG_DB" >>"$T_DIR/stall.log" 2>&1 &
  else
    {
      echo ".timeout 20000"; echo "BEGIN EXCLUSIVE; UPDATE host_counters SET http_requests = http_requests;"
      read -r -t "$cap" _ <>"$fifo"
      touch "$T_DIR/stall.released"; echo "COMMIT;"
    } | sqlite3 "$T_DB" >>"$T_DIR/stall.log" 2>&1 &
  fi
  STALL_PID=$!
  t_cleanup_add 'stall_end'
  t_wait 20 stalled
}
# stalled: the lock is held (a probe gives up at once instead of waiting)
stalled() {
  if [ -n "${T_PG_DB:-}" ]; then
    ! psql -X -q -At -h "$QVD_TEST_PG_HOST" -p "$QVD_TEST_PG_PORT" -U "$QVD_TEST_PG_USER" \
      -d "$T_PG_DB" -c "SET lock_timeout = '100ms'; SELECT count(*) FROM host_counters" >/dev/null 2>&1
  else
    ! sqlite3 -cmd '.timeout 100' "$T_DB" "UPDATE host_counters SET http_requests = http_requests" >/dev/null 2>&1
  fi
}
# stall_end: releases the lock and waits for the holder to end
stall_end() {
  [ -n "$STALL_PID" ] || return 0
  echo go >"$T_DIR/stall.fifo" 2>/dev/null &
  wait "$STALL_PID" 2>/dev/null
  STALL_PID=
}
