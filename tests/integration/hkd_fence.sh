#!/usr/bin/env bash
# qvd-hkd's self-fence on one node, with the `nothing` hypervisor (docs/cluster.md, "A node
# cut from the database"). A node that cannot write its heartbeat for hkd.ticker.timeout s
# kills its VMs, but only when it is part of a cluster (PostgreSQL, and another backend host
# in `hosts`): a node alone keeps its desktops when its database stalls. Then it rejoins:
# host row running again (a loss forgotten), the rows another node took left alone, its own
# rows cleared, a row active here that no VM stands for reaped, new VMs taken; the same
# process throughout, its wake-up connection made again. At start-up a fence time that does
# not end before hkd.cluster.node.timeout is refused.
# SQLite: the database stalls (another process holds BEGIN EXCLUSIVE). PostgreSQL: the node
# is cut off (CONNECT revoked, its connections ended), and while it is cut the test does
# what a surviving node's takeover does to the rows.
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
t_db_init || { t_fail "create the test database"; exit 1; }
conf=$T_DIR/node.conf
cat >"$conf" <<CONF
nodename = fence1
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
host_id() { sql "SELECT id FROM hosts WHERE name = 'fence1'"; }
is_host() { [ "$(sql "SELECT r.state FROM host_runtimes r JOIN hosts h ON h.id = r.host_id WHERE h.name = 'fence1'")" = "$1" ]; }
is_vm() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = "$2" ]; }
logged() { grep -c -- "$1" "$T_DIR/hkd.log"; }

admin user add --login erin --password pw >/dev/null
mkdir -p "$T_DIR/di/sbin" && admin osf add --name fc >/dev/null &&
  admin di add --osf fc --path "$T_DIR/di" >/dev/null
for i in 1 2 3 4 5; do admin vm add --name "f$i" --user erin --osf fc >/dev/null; done

# --- start-up: the fence must end before another node may declare this one lost
sed 's/^nodename = .*/nodename = fence0/' "$conf" >"$T_DIR/slow.conf"
echo "hkd.ticker.timeout = 8" >>"$T_DIR/slow.conf"
timeout 60 "$HKD" -c "$T_DIR/slow.conf" >"$T_DIR/refused.log" 2>&1; rc=$?
t_check "a fence time not under hkd.cluster.node.timeout is refused at start-up" eval '[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]'
t_check "and the HKD says why" grep -q "must be shorter than hkd.cluster.node.timeout" "$T_DIR/refused.log"

"$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1 & HKD_PID=$!
t_check "the HKD reaches running" t_wait 30 is_host running
HOST=$(host_id)
admin vm start --id 1 >/dev/null && admin vm start --id 2 >/dev/null
both_running() { is_vm 1 running && is_vm 2 running; }
t_check "two VMs run on the node" t_wait 30 both_running

# lock_db / unlock_db: SQLite's database held by another process (a stall)
lock_db() {
  rm -f "$T_DIR/locked" "$T_DIR/release"
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
  LOCK_PID=$!
  t_wait 60 test -e "$T_DIR/locked"
}
unlock_db() { touch "$T_DIR/release"; wait "$LOCK_PID"; }
# cut_db / restore_db: PostgreSQL refuses the node's connections and ends those it has
su_sql() {
  runuser -u postgres -- psql -X -q -At -F '|' -v ON_ERROR_STOP=1 -h "$QVD_TEST_PG_HOST" \
    -p "$QVD_TEST_PG_PORT" -U postgres -d "${2:-$T_PG_DB}" -c "$1"
}
cut_db() {
  su_sql "REVOKE CONNECT ON DATABASE $T_PG_DB FROM PUBLIC, $QVD_TEST_PG_USER" postgres &&
    su_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$T_PG_DB' AND pid != pg_backend_pid()" postgres >/dev/null
}
restore_db() { su_sql "GRANT CONNECT ON DATABASE $T_PG_DB TO PUBLIC, $QVD_TEST_PG_USER" postgres; }

if [ -z "${T_PG_DB:-}" ]; then
  # a second backend host in the table: SQLite is one node all the same
  sql "INSERT INTO hosts (name, address) VALUES ('peer', '10.99.0.1')"
  sleep 2 # a heartbeat reads the hosts table (not an assertion)
  alone=$(logged "this node is alone")
  t_check "the database stalls (another process holds it)" lock_db
  more_alone() { [ "$(logged "this node is alone")" -gt "$alone" ]; }
  t_check "past hkd.ticker.timeout without a heartbeat the node says it is alone" t_wait 60 more_alone
  t_check "and kills nothing" eval '[ "$(logged "fencing this node")" = 0 ]'
  unlock_db
  t_check "the HKD is the same process" kill -0 "$HKD_PID"
  t_check "its VMs still run after the stall" both_running
  admin vm start --id 3 >/dev/null
  t_check "it takes new VMs" t_wait 30 is_vm 3 running
  kill -TERM "$HKD_PID"; t_wait 30 eval '! kill -0 $HKD_PID 2>/dev/null'
  exit 0
fi

# --- PostgreSQL, a node alone: cut from its database, it keeps its VMs
alone=$(logged "this node is alone")
t_check "the node is cut from its database (alone)" cut_db
more_alone() { [ "$(logged "this node is alone")" -gt "$alone" ]; }
t_check "past hkd.ticker.timeout the node alone says so" t_wait 60 more_alone
t_check "and kills nothing" eval '[ "$(logged "fencing this node")" = 0 ]'
restore_db
beat() { [ "$(sql "SELECT ok_ts >= $(date +%s) FROM host_runtimes WHERE host_id = $HOST")" = t ]; }
t_check "its heartbeat comes back" t_wait 60 beat
t_check "its VMs still run" both_running

# --- in a cluster: another backend host in the table
sql "INSERT INTO hosts (name, address) VALUES ('peer', '10.99.0.1')"
PEER=$(sql "SELECT id FROM hosts WHERE name = 'peer'")
sleep 2 # a heartbeat reads the hosts table (not an assertion)
relisten=$(logged "listening again for wake-ups")
t_check "the node is cut from its database (in a cluster)" cut_db
killed() { [ "$(logged "VM $1 killed (fence)")" -gt 0 ]; }
both_killed() { killed 1 && killed 2; }
t_check "past hkd.ticker.timeout it kills its VMs while still cut off" t_wait 60 both_killed
t_check "it says it fences itself" grep -q "no heartbeat for 6 s (hkd.ticker.timeout): fencing" "$T_DIR/hkd.log"
# a survivor's takeover meanwhile: the node declared lost, VM 1 restarted on the peer; VM 2
# left to it; VM 4 'starting' here as if a start's answer had been lost with a connection
su_sql "UPDATE host_runtimes SET state = 'lost', lost_ts = $(date +%s), lost_by = $PEER WHERE host_id = $HOST"
su_sql "UPDATE vm_runtimes SET host_id = $PEER WHERE vm_id = 1"
su_sql "UPDATE vm_runtimes SET vm_state = 'starting', host_id = $HOST WHERE vm_id = 4"
t_check "the HKD lives on while fenced" kill -0 "$HKD_PID"
restore_db

rejoined() { [ "$(sql "SELECT state || COALESCE(lost_ts, -1) || COALESCE(lost_by, -1) FROM host_runtimes WHERE host_id = $HOST")" = running-1-1 ]; }
t_check "once the database answers the node rejoins: running, its loss forgotten" t_wait 60 rejoined
t_check "it says so" t_wait 30 grep -q "rejoined the cluster (it had been declared lost" "$T_DIR/hkd.log"
t_check "the VM another node took is left alone" \
  [ "$(sql "SELECT vm_state || host_id FROM vm_runtimes WHERE vm_id = 1")" = "running$PEER" ]
own_cleared() { [ "$(sql "SELECT vm_state || COALESCE(host_id, -1) FROM vm_runtimes WHERE vm_id = 2")" = stopped-1 ]; }
t_check "its own VM's row is cleared to stopped" t_wait 30 own_cleared
orphan_reaped() { [ "$(sql "SELECT vm_state || COALESCE(host_id, -1) FROM vm_runtimes WHERE vm_id = 4")" = stopped-1 ]; }
t_check "a row 'starting' here that no VM stands for is reaped" t_wait 30 orphan_reaped
more_relisten() { [ "$(logged "listening again for wake-ups")" -gt "$relisten" ]; }
t_check "its wake-up connection is made again" t_wait 30 more_relisten
t_check "the HKD is the same process" kill -0 "$HKD_PID"
admin vm start --id 3 >/dev/null
t_check "it takes new VMs again" t_wait 30 is_vm 3 running
t_check "on this node" [ "$(sql "SELECT host_id FROM vm_runtimes WHERE vm_id = 3")" = "$HOST" ]

# --- declared lost while it can write (a heartbeat late past hkd.cluster.node.timeout on a
# loaded machine): it fences at once, then rejoins
sql "UPDATE host_runtimes SET state = 'lost', lost_ts = $(date +%s), lost_by = $PEER WHERE host_id = $HOST"
t_check "a node declared lost kills its VMs at once" t_wait 60 killed 3
t_check "and rejoins" t_wait 60 rejoined
t_check "its VM's row is cleared" t_wait 30 is_vm 3 stopped
none_starting() { [ "$(sql "SELECT count(*) FROM vm_runtimes WHERE vm_state IN ('starting', 'stopping', 'zombie')")" = 0 ]; }
t_check "no row is left half-changed" t_wait 30 none_starting

kill -TERM "$HKD_PID"
t_check "SIGTERM still ends it" t_wait 30 eval '! kill -0 $HKD_PID 2>/dev/null'
t_check "the host row says stopped" is_host stopped
exit 0
