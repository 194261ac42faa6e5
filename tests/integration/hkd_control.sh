#!/usr/bin/env bash
# qvd-hkd's control plane with the `nothing` hypervisor: host registration and heartbeat,
# start/stop commands through qvd-admin, throttled starts, zombie reaping after a crash,
# and an orderly shutdown. A real database (SQLite, or PostgreSQL with QVD_TEST_DB=pg and
# tests/pg.sh's server), a real daemon; VMs exist only as rows.
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
t_db_init || { t_fail "create the test database"; exit 1; }
conf=$T_DIR/node.conf
cat >"$conf" <<CONF
nodename = ctl1
$T_DB_CONF
path.run = $T_DIR/run
path.storage.root = $T_DIR/storage
vm.hypervisor = nothing
hkd.vm_command.poll = 1
hkd.ticker.delay = 1
hkd.max_heavy = 2
log.level = debug
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
sql() { t_sql "$1"; }
HKD_PID=
start_hkd() { "$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1 & HKD_PID=$!; }
t_cleanup_add 'kill $HKD_PID'
is_host() { [ "$(sql "SELECT r.state FROM host_runtimes r JOIN hosts h ON h.id = r.host_id WHERE h.name = 'ctl1'")" = "$1" ]; }
vm_state() { sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1"; }
is_vm() { [ "$(vm_state "$1")" = "$2" ]; }

# objects: one user with five VMs
admin user add --login carol --password pw >/dev/null
mkdir -p "$T_DIR/di/sbin" && admin osf add --name ctl >/dev/null &&
  admin di add --osf ctl --path "$T_DIR/di" >/dev/null
for i in 1 2 3 4 5; do admin vm add --name "v$i" --user carol --osf ctl >/dev/null; done

start_hkd
if t_wait 10 is_host running; then t_ok "the HKD registers its host and reaches running"
else t_fail "the HKD registers its host and reaches running"; cat "$T_DIR/hkd.log"; fi

ts1=$(sql "SELECT ok_ts FROM host_runtimes")
sleep 2.2
ts2=$(sql "SELECT ok_ts FROM host_runtimes")
t_check "the heartbeat refreshes ok_ts every hkd.ticker.delay" [ "$ts2" -gt "$ts1" ]

t_check "qvd-admin vm start is accepted" admin vm start --id 1
t_check "a started VM reaches running" t_wait 10 is_vm 1 running
t_check "its counters record the attempt and the success" \
  [ "$(sql "SELECT run_attempts || '/' || run_ok FROM vm_counters WHERE vm_id = 1")" = "1/1" ]

for i in 2 3 4 5; do admin vm start --id $i >/dev/null; done
all_running() { [ "$(sql "SELECT COUNT(*) FROM vm_runtimes WHERE vm_state = 'running'")" = 5 ]; }
t_check "five VMs started with hkd.max_heavy=2 all reach running" t_wait 15 all_running

t_check "qvd-admin vm stop is accepted" admin vm stop --id 2
t_check "a stopped VM is stopped and unassigned" t_wait 10 eval \
  '[ "$(sql "SELECT vm_state || '"','"' || COALESCE(CAST(host_id AS TEXT), '"'none'"') FROM vm_runtimes WHERE vm_id = 2")" = "stopped,none" ]'

# a crash: the rows of running VMs stay behind, and the next run must reap them
kill -9 "$HKD_PID"; wait "$HKD_PID" 2>/dev/null
sql "UPDATE vm_runtimes SET vm_state = 'starting' WHERE vm_id = 3"
# the slot's L7R: a process that has just ended (a fixed pid may be anyone's live process)
sh -c 'exit 0' & gone=$!; wait "$gone"
sql "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = 1, l7r_pid = $gone WHERE vm_id = 4"
left=$(sql "SELECT COUNT(*) FROM vm_runtimes WHERE vm_state != 'stopped'")
t_check "after kill -9 the rows of its VMs are still active" [ "$left" = 4 ]
start_hkd
t_wait 10 is_host running
reaped() { [ "$(sql "SELECT COUNT(*) FROM vm_runtimes WHERE vm_state != 'stopped' OR host_id IS NOT NULL")" = 0 ]; }
t_check "the next run reaps every zombie VM to stopped and unassigned" t_wait 10 reaped
t_check "user slots held through this node are released at start-up" \
  [ "$(sql "SELECT user_state || COALESCE(CAST(l7r_host_id AS TEXT), '') || COALESCE(CAST(l7r_pid AS TEXT), '') FROM vm_runtimes WHERE vm_id = 4")" = disconnected ]

admin vm start --id 1 >/dev/null
t_check "a VM starts again after the reaping" t_wait 10 is_vm 1 running

# an L7R killed with -9 cannot free its user slot: the HKD frees slots of dead L7R pids
true & gone=$!; wait $gone
sleep 30 & alive=$!; t_cleanup_add "kill $alive"
sql "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = 1, l7r_pid = $gone WHERE vm_id = 1"
sql "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = 1, l7r_pid = $alive WHERE vm_id = 5"
slot_free() { [ "$(sql "SELECT user_state || COALESCE(CAST(l7r_pid AS TEXT), '') FROM vm_runtimes WHERE vm_id = 1")" = disconnected ]; }
t_check "the slot of a dead L7R process is released by the heartbeat" t_wait 5 slot_free
t_check "the slot of a live L7R process is kept" \
  [ "$(sql "SELECT user_state || l7r_pid FROM vm_runtimes WHERE vm_id = 5")" = "connected$alive" ]
sql "UPDATE vm_runtimes SET user_state = 'disconnected', l7r_host_id = NULL, l7r_pid = NULL WHERE vm_id = 5"

kill -TERM "$HKD_PID"
stopped_ok() { ! kill -0 "$HKD_PID" 2>/dev/null; }
t_check "SIGTERM makes the HKD exit" t_wait 15 stopped_ok
t_check "its VMs are stopped by the shutdown" is_vm 1 stopped
t_check "the host row says stopped" is_host stopped

start_hkd
t_wait 10 is_host running
sql "UPDATE host_runtimes SET cmd = 'stop'"
t_check "a host 'stop' command stops the HKD" t_wait 15 stopped_ok
t_check "the command is consumed" [ -z "$(sql 'SELECT cmd FROM host_runtimes')" ]

start_hkd
t_wait 10 is_host running
"$HKD" -c "$conf" >"$T_DIR/second.log" 2>&1; rc=$?
t_check "a second HKD on the same path.run refuses to start" [ "$rc" -ne 0 ]
t_check "and says why" grep -q "another qvd-hkd" "$T_DIR/second.log"

exit 0
