#!/usr/bin/env bash
# Desktop users are never system accounts, whatever the database says. An attacker who can
# write rows (a user 'root' inserted with SQL, past the model's rule, owning a VM) logs in
# through the real L7R with qvd-client: the node starts the VM, but the VMA in it refuses
# x_start with the reason and nothing runs as root. A normal user's session, through the
# same path, runs with the uid of the desktop range that follows its QVD user id.
. "$(dirname "$0")/../lib.sh"
t_init

B=$QVD_BUILD
ADMIN=$B/src/admin/qvd-admin HKD=$B/src/hkd/qvd-hkd L7R=$B/src/l7r/qvd-l7r
CLIENT=$B/src/client/qvd-client VMA=$B/src/vma/qvd-vma XCOLOUR=$B/tests/helpers/x-colour
DI=$B/test-di.tar conf=$T_DIR/node.conf
PORT=8443
for p in "$ADMIN" "$HKD" "$L7R" "$CLIENT" "$XCOLOUR"; do [ -x "$p" ] || { t_fail "$p is built"; exit 1; }; done
t_test_di "$VMA" || { t_fail "build the test DI"; exit 1; }
t_node_ns acct || { t_fail "create the test node's namespaces"; exit 1; }
chmod 755 "$T_DIR"
mkdir -p "$T_DIR/certs" "$T_DIR/home"
t_self_cert "$T_DIR/certs" localhost DNS:localhost,IP:127.0.0.1
t_db_init || { t_fail "create the test database"; exit 1; }
cat >"$conf" <<CONF
nodename = acct1
$T_DB_CONF
path.run = $T_DIR/run
path.log = $T_DIR/log
path.storage.root = $T_DIR/storage
path.vma.binary = $VMA
path.l7r.ssl.cert = $T_DIR/certs/cert.pem
path.l7r.ssl.key = $T_DIR/certs/key.pem
l7r.address = 127.0.0.1
l7r.port = $PORT
l7r.retry.x_start = 4
vma.x_session = /usr/local/bin/qvd-test-session
hkd.vm_command.poll = 1
hkd.vma.ping.interval = 1
hkd.vm.stop.timeout = 5
log.level = debug
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
sql() { t_sql "$1"; }
HKD_PID= L7R_PID= XVFB_PID= C1=
t_cleanup_add 'kill $C1 $L7R_PID $HKD_PID $XVFB_PID; sleep 0.5'
t_cleanup_add 'for c in $(t_in_node lxc-ls -P $T_DIR/run/lxc 2>/dev/null); do t_in_node lxc-stop -k -P $T_DIR/run/lxc -n $c; done'
is_host() { [ "$(sql "SELECT state FROM host_runtimes")" = "$1" ]; }
is_vm() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = "$2" ]; }
slot_connected() { [ "$(sql "SELECT user_state FROM vm_runtimes WHERE vm_id = $1")" = connected ]; }
l7r_up() { t_in_node bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }
in_vm() { local id=$1; shift; t_in_node lxc-attach -P "$T_DIR/run/lxc" -n "qvd-$id" -- "$@"; }
vma_log() { t_in_node cat "$T_DIR/log/vm/$1/vma.log" 2>/dev/null; }

admin user add --login alice --password pw >/dev/null
admin osf add --name desk --memory 300 >/dev/null
admin di add --osf desk --path "$DI" >/dev/null
admin vm add --name rootdesk --user alice --osf desk >/dev/null   # VM 1: given to 'root' below
admin vm add --name alicedesk --user alice --osf desk >/dev/null  # VM 2
t_check "the model refuses a user named root" eval '! admin user add --login root --password pw 2>/dev/null'
# The forged rows: a user 'root' (alice's password hash) and VM 1 made its, with plain SQL.
sql "INSERT INTO users (tenant_id, login, password, description, created_ts)
     SELECT tenant_id, 'root', password, 'forged', created_ts FROM users WHERE login = 'alice'"
sql "UPDATE vms SET user_id = (SELECT id FROM users WHERE login = 'root') WHERE name = 'rootdesk'"
t_check "the database now holds a user root owning VM 1" \
  eval '[ "$(sql "SELECT u.login FROM vms v JOIN users u ON u.id = v.user_id WHERE v.id = 1")" = root ]'

start_hkd() { t_node_spawn HKD_PID "$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1; }
start_hkd; t_wait 10 is_host running || { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }
t_node_spawn L7R_PID "$L7R" -c "$conf" >>"$T_DIR/l7r.log" 2>&1
t_wait 10 l7r_up || { t_fail "the L7R starts"; cat "$T_DIR/l7r.log"; exit 1; }

# --- the forged root: its VM starts, its session does not ---
out=$(QVDPASSWORD=pw HOME=$T_DIR/home t_in_node "$CLIENT" --host 127.0.0.1 --port $PORT \
  --user root --accept-cert once --vm-id 1 2>&1 >/dev/null); rc=$?
t_diag "client: $(tail -1 <<<"$out")"
t_check "qvd-client as the forged root fails with the VMA's reason" \
  eval '[ $rc -ne 0 ] && grep -q "never runs as root" <<<"$out"'
t_check "the L7R did start the VM (the refusal is the VMA's)" is_vm 1 running
t_check "the VMA logged the refusal" eval 'vma_log 1 | t_has "x_start: user name .root. is the system"'
t_check "no nxagent runs in the VM" eval '! in_vm 1 pgrep -x nxagent >/dev/null'
t_check "none was ever started: the session never left stopped" \
  eval '! vma_log 1 | t_has "nxagent started as\|state stopped -> "'
t_check "no X session runs in the VM" eval '! in_vm 1 pgrep -f qvd-test-session >/dev/null'
t_check "no connect hook ran and no home was made for root" \
  eval '! vma_log 1 | t_has "connect hook\|provisioning user"'

# --- a normal user through the same path: a uid of the range, from its QVD user id ---
ALICE=$(sql "SELECT id FROM users WHERE login = 'alice'")
DISP=:$((120 + RANDOM % 40))
t_node_spawn XVFB_PID Xvfb $DISP -screen 0 1024x768x24 -nolisten tcp -ac >"$T_DIR/xvfb.log" 2>&1
sleep 0.5
QVDPASSWORD=pw HOME=$T_DIR/home DISPLAY=$DISP t_node_spawn C1 "$CLIENT" --host 127.0.0.1 \
  --port $PORT --user alice --accept-cert once --link lan --vm-id 2 --geometry 800x600 2>"$T_DIR/c1.log"
t_check "alice's session connects" t_wait 90 slot_connected 2
want=$((10000 + ALICE))
ids=$(in_vm 2 getent passwd alice | cut -d: -f3,4)
t_check "alice was provisioned with uid and gid $want (10000 + QVD user id $ALICE)" [ "$ids" = "$want:$want" ]
uids=$(in_vm 2 ps -o uid= -C nxagent | tr -d ' ' | sort -u)
t_check "nxagent runs as uid $want (got: $uids)" [ "$uids" = "$want" ]
t_check "the X session runs as uid $want" \
  t_wait 30 eval '[ "$(in_vm 2 pgrep -u '"$want"' -f qvd-test-session)" != "" ] && ! in_vm 2 pgrep -u 0 -f qvd-test-session >/dev/null'
kill "$C1" 2>/dev/null; C1=

kill -TERM "$L7R_PID" "$HKD_PID"
exit 0
