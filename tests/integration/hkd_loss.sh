#!/usr/bin/env bash
# hkd_loss.sh: node loss seen from a surviving node, on one machine: a real qvd-hkd (the
# `nothing` hypervisor) and qvd-api on a real database (SQLite, or PostgreSQL with
# QVD_TEST_DB=pg), and a second host whose HKD "died": its row heartbeats no more. The
# live HKD declares it lost once (after its own heartbeats have run for
# hkd.cluster.node.timeout), releases the slot its L7R held, restarts its running VMs on
# itself, leaves its stopping VM stopped, and says so in its log, the audit log and
# qvd-api's live feed. A stopped host, however old its heartbeat, is never lost. (Three
# real nodes and a killed one: tests/integration/cluster_loss.sh.)
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
API=$QVD_BUILD/src/api/qvd-api
t_db_init || { t_fail "create the test database"; exit 1; }
t_self_cert "$T_DIR" localhost IP:127.0.0.1
conf=$T_DIR/node.conf
cat >"$conf" <<CONF
nodename = live
$T_DB_CONF
path.run = $T_DIR/run
path.storage.root = $T_DIR/storage
vm.hypervisor = nothing
hkd.vm_command.poll = 1
hkd.ticker.delay = 1
hkd.ticker.timeout = 3
hkd.cluster.node.timeout = 6
api.port = $((20000 + RANDOM % 20000))
api.socket = $T_DIR/run/api.sock
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
api.events.interval = 100
password.argon2.t_cost = 1
password.argon2.m_cost = 64
log.level = debug
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
sql() { t_sql "$1"; }
host_id() { sql "SELECT id FROM hosts WHERE name = '$1'"; }
host_state() { sql "SELECT r.state FROM host_runtimes r JOIN hosts h ON h.id = r.host_id WHERE h.name = '$1'"; }
is_host() { [ "$(host_state "$1")" = "$2" ]; }
vm_row() { sql "SELECT vm_state || '/' || coalesce(vm_cmd, '-') || '/' || coalesce(CAST(host_id AS TEXT), '-') FROM vm_runtimes WHERE vm_id = $1"; }
is_vm() { [ "$(vm_row "$1")" = "$2" ]; }

admin db init >/dev/null || { t_fail "db init"; exit 1; }
echo rootpw | admin admin add --name root --tenant '*' --role master --password-stdin >/dev/null
admin user add --login carol --password pw >/dev/null
mkdir -p "$T_DIR/di/sbin" && admin osf add --name loss >/dev/null &&
  admin di add --osf loss --path "$T_DIR/di" >/dev/null
for i in 1 2 3 4 5; do admin vm add --name "v$i" --user carol --osf loss >/dev/null; done

"$API" -c "$conf" >"$T_DIR/api.log" 2>&1 &
API_PID=$!
t_cleanup_add "kill $API_PID"
t_wait 10 test -S "$T_DIR/run/api.sock" || { t_fail "qvd-api starts"; cat "$T_DIR/api.log"; exit 1; }
TOKEN=$(curl -s --unix-socket "$T_DIR/run/api.sock" -H 'Content-Type: application/json' \
  --data-binary '{"login":"root","tenant":"*","password":"rootpw"}' http://localhost/api/v1/login |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
curl -s -N --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOKEN" \
  http://localhost/api/v1/events >"$T_DIR/feed" &
FEED=$!
t_cleanup_add "kill $FEED"

# the other node: its HKD ran (state running, fresh heartbeat) and then died; VMs 1, 2 and 4
# ran there, 3 was stopping, and carol was on VM 4 through its L7R
admin host add --name ghost --address 10.9.9.9 >/dev/null
admin host add --name parked --address 10.9.9.10 >/dev/null
GHOST=$(host_id ghost)
now=$(date +%s)
sql "UPDATE host_runtimes SET state = 'running', ok_ts = $now, usable_ram = 100000 WHERE host_id = $GHOST" >/dev/null
sql "UPDATE host_runtimes SET state = 'stopped', ok_ts = 1 WHERE host_id = $(host_id parked)" >/dev/null
sql "UPDATE vm_runtimes SET host_id = $GHOST, vm_state = 'running', vm_address = '10.0.255.1' WHERE vm_id IN (1, 2, 4)" >/dev/null
sql "UPDATE vm_runtimes SET host_id = $GHOST, vm_state = 'stopping' WHERE vm_id = 3" >/dev/null
sql "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = $GHOST, l7r_pid = 4242 WHERE vm_id = 4" >/dev/null

"$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1 &
HKD_PID=$!
t_cleanup_add 'kill $HKD_PID'
t_check "the live node's HKD reaches running" t_wait 20 is_host live running
LIVE=$(host_id live)

t_check "the dead node is declared lost" t_wait 40 is_host ghost lost
t_check "by the live node (lost_by), once (one host.lost entry in the audit log)" [ \
  "$(sql "SELECT lost_by || '/' || (SELECT count(*) FROM audit_log WHERE action = 'host.lost' AND object_id = $GHOST AND source = 'hkd') FROM host_runtimes WHERE host_id = $GHOST")" = "$LIVE/1" ]
t_check "the slot its L7R held is released" [ \
  "$(sql "SELECT user_state || '/' || coalesce(CAST(l7r_host_id AS TEXT), '-') FROM vm_runtimes WHERE vm_id = 4")" = "disconnected/-" ]
for v in 1 2 4; do
  t_check "its running VM $v runs again on the live node" t_wait 20 is_vm $v "running/-/$LIVE"
done
t_check "its stopping VM is left stopped and unassigned" is_vm 3 "stopped/-/-"
t_check "a stopped host, however old its heartbeat, is not lost" is_host parked stopped
t_check "the HKD's log says what it did" grep -q "cluster: node ghost lost (no heartbeat for" "$T_DIR/hkd.log"
t_check "... and where each VM went" grep -q "cluster: VM 4 (v4) of lost node ghost restarted on live" "$T_DIR/hkd.log"
B=$(curl -s --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOKEN" \
  'http://localhost/api/v1/log?filter=source=hkd')
n=$(python3 -c 'import sys, json; d = json.loads(sys.argv[1]); print(sum(1 for r in d["rows"] if r["action"] == "vm.restart" and r["administrator"] == "live"))' "$B")
t_check "the audit log has the three restarts, by the live node (source hkd)" [ "$n" = 3 ]
t_check "the live feed shows the node's loss" t_wait 5 grep -q '"message":"node ghost lost (no heartbeat for' "$T_DIR/feed"
t_check "... and each restart" t_wait 5 eval '[ "$(grep -c "event: cluster" "$T_DIR/feed")" = 4 ]'
grep -q '"action":"vm.restart".*"message":"VM 1 (v1) of lost node ghost restarted on live"' "$T_DIR/feed" ||
  grep -q '"message":"VM 1 (v1) of lost node ghost restarted on live"' "$T_DIR/feed" &&
  t_ok "... readable: VM 1 (v1) of lost node ghost restarted on live" ||
  t_fail "feed: $(cat "$T_DIR/feed")"

# a new VM start never goes to the lost host: every start lands on the live one
admin vm start --id 5 >/dev/null
t_check "a new start is placed on the live node, not the lost one" t_wait 10 is_vm 5 "running/-/$LIVE"

kill "$HKD_PID" 2>/dev/null
t_wait 20 eval '! kill -0 $HKD_PID 2>/dev/null'
exit 0
