#!/usr/bin/env bash
# qvd-hkd while its database stalls (SQLite: another process holds BEGIN EXCLUSIVE;
# PostgreSQL: LOCK TABLE ... IN ACCESS EXCLUSIVE MODE in an open transaction), with the
# `nothing` hypervisor. Its database calls run on a worker (src/hkd/dbq.c), so its event
# loop keeps answering what needs no database (here: SIGTERM, forwarded by the root
# parent, is handled while the lock is held), and once the lock goes the queued work
# completes with nothing half-done: a start asked for during the stall ends running, and a
# shutdown begun during the stall ends with every VM stopped and unassigned.
# The lock is held until the test sees what it waits for (or gives up): no timed assertion.
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
t_db_init || { t_fail "create the test database"; exit 1; }
conf=$T_DIR/node.conf
# a SQLite call waits for the lock as long as the stall lasts (PostgreSQL's always do)
cat >"$conf" <<CONF
nodename = stall1
$T_DB_CONF
database.busy_timeout = 600000
path.run = $T_DIR/run
path.storage.root = $T_DIR/storage
vm.hypervisor = nothing
hkd.vm_command.poll = 1
hkd.ticker.delay = 1
hkd.vma.ping.interval = 1
log.level = debug
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
sql() { t_sql "$1"; }
HKD_PID= LOCK_PID=
t_cleanup_add 'kill $HKD_PID'
t_cleanup_add 'touch $T_DIR/release; kill $LOCK_PID'
is_host() { [ "$(sql "SELECT r.state FROM host_runtimes r JOIN hosts h ON h.id = r.host_id WHERE h.name = 'stall1'")" = "$1" ]; }
is_vm() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = "$2" ]; }

# lock_db: takes the lock in another process and holds it until unlock_db
lock_db() {
  rm -f "$T_DIR/locked" "$T_DIR/release"
  if [ -n "${T_PG_DB:-}" ]; then
    psql -X -q -v ON_ERROR_STOP=1 -h "$QVD_TEST_PG_HOST" -p "$QVD_TEST_PG_PORT" \
      -U "$QVD_TEST_PG_USER" -d "$T_PG_DB" >>"$T_DIR/lock.log" 2>&1 <<SQL &
BEGIN;
LOCK TABLE host_runtimes, vm_runtimes IN ACCESS EXCLUSIVE MODE;
\! touch $T_DIR/locked
\! while [ ! -e $T_DIR/release ]; do sleep 0.1; done
COMMIT;
SQL
  else
    python3 - "$T_DB" "$T_DIR" >>"$T_DIR/lock.log" 2>&1 <<'PY' &
import os, sqlite3, sys, time
db, d = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, isolation_level=None, timeout=60)
c.execute("BEGIN EXCLUSIVE")
open(d + "/locked", "w").close()
while not os.path.exists(d + "/release"):
    time.sleep(0.1)
c.execute("COMMIT")
PY
  fi
  LOCK_PID=$!
  t_wait 60 test -e "$T_DIR/locked"
}
unlock_db() { touch "$T_DIR/release"; wait "$LOCK_PID"; }

admin user add --login dora --password pw >/dev/null
mkdir -p "$T_DIR/di/sbin" && admin osf add --name st >/dev/null &&
  admin di add --osf st --path "$T_DIR/di" >/dev/null
for i in 1 2 3; do admin vm add --name "s$i" --user dora --osf st >/dev/null; done

"$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1 & HKD_PID=$!
t_check "the HKD reaches running" t_wait 30 is_host running
admin vm start --id 1 >/dev/null
t_check "a VM started before the stall runs" t_wait 30 is_vm 1 running

# stall 1: a start asked for while the database is locked
t_check "another process locks the database" lock_db
admin vm start --id 2 >"$T_DIR/start2.log" 2>&1 & start2=$!
sleep 3 # the HKD's heartbeat and command polls meet the lock meanwhile (not an assertion)
# a running VM's timer asks the root parent whether its container runs (the parent logs
# each request at debug level): the engine's loop goes on while its database calls wait
checks() { grep -c "request is_running VM 1\$" "$T_DIR/hkd.log"; }
before=$(checks)
more_checks() { [ "$(checks)" -gt $((before + 1)) ]; }
if t_wait 60 more_checks; then t_ok "during the stall the engine's timers keep asking the root parent"
else t_fail "during the stall the engine's timers keep asking the root parent (its loop waits on the database)"; fi
t_check "the lock is still held" eval '[ ! -e "$T_DIR/release" ] && kill -0 "$LOCK_PID"'
t_check "the HKD is still there during the stall" kill -0 "$HKD_PID"
unlock_db
t_check "the start asked for during the stall is accepted once the lock goes" wait "$start2"
t_check "the VM started during the stall ends running" t_wait 60 is_vm 2 running
t_check "the VM that ran before the stall still runs" is_vm 1 running
t_check "no heartbeat was missed long enough to fence the node" \
  eval '! grep -q "no heartbeat for too long" "$T_DIR/hkd.log"'

# stall 2: the loop answers a signal while its database calls wait, then shuts down cleanly
t_check "another process locks the database again" lock_db
sleep 3 # the heartbeat meets the lock
before=$(grep -c "signal 15: stopping" "$T_DIR/hkd.log")
kill -TERM "$HKD_PID"
handled() { [ "$(grep -c "signal 15: stopping" "$T_DIR/hkd.log")" -gt "$before" ]; }
if t_wait 60 handled; then t_ok "during the stall the HKD's loop handles SIGTERM"
else t_fail "during the stall the HKD's loop handles SIGTERM (its loop waits on the database)"; fi
t_check "the lock was held throughout" eval '[ ! -e "$T_DIR/release" ] && kill -0 "$LOCK_PID"'
t_check "the HKD waits for its database calls before it exits" kill -0 "$HKD_PID"
unlock_db
stopped_ok() { ! kill -0 "$HKD_PID" 2>/dev/null; }
t_check "once the lock goes the HKD finishes its shutdown and exits" t_wait 60 stopped_ok
wait "$HKD_PID"; rc=$?
t_check "it exits with status 0" [ "$rc" = 0 ]
t_check "nothing is half-done: every VM is stopped and unassigned" \
  [ "$(sql "SELECT COUNT(*) FROM vm_runtimes WHERE vm_state != 'stopped' OR host_id IS NOT NULL OR vm_cmd IS NOT NULL")" = 0 ]
t_check "the host row says stopped" is_host stopped
t_diag "the end of hkd.log:"
tail -25 "$T_DIR/hkd.log" | sed 's/^/# /'
exit 0
