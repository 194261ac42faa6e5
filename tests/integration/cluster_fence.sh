#!/usr/bin/env bash
# A cluster (tests/cluster_node.sh, with its database a pg_auto_failover formation: CL_PG=paf)
# whose node is cut from the database, then whose database primary dies (issue 13, items 3
# and 5; docs/cluster.md).
# 1. Node B's LAN link goes down: B kills its own VMs (its container list empty) before the
#    others may declare it lost; the others restart them; at no moment does a VM run on two
#    nodes (a watcher reads every node's container list all along); when the link comes
#    back B rejoins clean (no stale containers, veths, mounts or rows) and takes new VMs.
# 2. The primary's keeper and postgres are killed with -9 under the running cluster with a
#    connected session: the standby is promoted, every daemon carries on (same PIDs), a new
#    login works, and no row is left half-changed (no VM starting, no slot held by a dead
#    L7R, every VM's host the node whose container list has it).
# (cluster_init builds the test DI with t_test_di: tests/run.sh runs this test once QVD's
# nxagent is built)
. "$(dirname "$0")/../lib.sh"
t_init
. "$(dirname "$0")/../cluster_node.sh"

CL_PG=paf
cluster_init 3 || { t_fail "the cluster is set up (pg_auto_failover in the hub)"; exit 1; }
admin db init >/dev/null || { t_fail "the schema is made"; exit 1; }
# each node's row with an address of its own (hosts.address is unique)
for x in A B C; do admin host add --name "$x" --address "10.0.9.$(printf '%d' "'$x")" >/dev/null; done
admin user add --login alice --password pw >/dev/null &&
  admin user add --login bob --password pw >/dev/null &&
  admin user add --login carl --password pw >/dev/null &&
  admin osf add --name desk --memory 128 >/dev/null &&
  admin di add --osf desk --path "$DI" >/dev/null || { t_fail "the demo objects are made"; exit 1; }
for u in alice bob carl; do admin vm add --name "d-$u" --user "$u" --osf desk >/dev/null; done
for i in 1 2 3 4; do admin vm add --name "b$i" --user carl --osf desk >/dev/null; done
for x in A B C; do start_node "$x" || { t_fail "node $x starts"; exit 1; }; done
t_ok "three nodes run against a pg_auto_failover formation"
declare -A PIDS0
for x in A B C; do PIDS0[$x]="${HKD_PIDS[$x]} ${L7R_PIDS[$x]}"; done

vm_id() { sql "SELECT id FROM vms WHERE name = '$1'"; }
vm_host() { sql "SELECT h.name FROM vm_runtimes r JOIN hosts h ON h.id = r.host_id WHERE r.vm_id = $1"; }
is_vm() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = "$2" ]; }
only_on() { # only_on X: placement may pick X alone
  local y
  for y in A B C; do
    if [ "$y" = "$1" ]; then admin host unblock --name "$y" >/dev/null; else admin host block --name "$y" >/dev/null; fi
  done
}
unblock_all() { local y; for y in A B C; do admin host unblock --name "$y" >/dev/null; done; }
start_on() { # start_on X ID...: each VM started on node X
  local x=$1 id; shift
  only_on "$x"
  for id in "$@"; do admin vm start --id "$id" >/dev/null; done
  for id in "$@"; do t_wait 120 is_vm "$id" running || return 1; done
  unblock_all
}
B1=$(vm_id b1) B2=$(vm_id b2) B3=$(vm_id b3) B4=$(vm_id b4) DA=$(vm_id d-alice)
t_check "two VMs run on B, one on A, one on C" eval 'start_on B $B1 $B2 && start_on A $B3 && start_on C $DA'
t_check "and B's container list has B's two" eval '[ "$(running B | tr -s " \t" "\n" | grep -c .)" = 2 ]'

# the watcher: every node's running containers, read again and again; a VM on two nodes
# at any moment is written down
watch_double() {
  local x c
  while [ ! -e "$T_DIR/watch.stop" ]; do
    for x in A B C; do running "$x" | tr -s ' \t' '\n' | grep . | sed "s/\$/ $x/"; done >"$T_DIR/watch.now"
    awk '{n[$1]++; at[$1] = at[$1] " " $2} END {for (c in n) if (n[c] > 1) print c " on" at[c]}' \
      "$T_DIR/watch.now" | sed "s/\$/ at $(date +%T.%N)/" >>"$T_DIR/double"
    echo . >>"$T_DIR/watch.rounds"
  done
}
watch_double & WATCH=$!
t_cleanup_add "touch $T_DIR/watch.stop; kill $WATCH"
t_wait 30 test -s "$T_DIR/watch.rounds"

# --- 1. B cut from the database
cut B
B_empty() { [ -z "$(running B)" ]; }
if t_wait 60 B_empty; then t_ok "B, cut off, kills its own VMs (its container list empty)"
else t_fail "B, cut off, kills its own VMs (its container list empty)"; running B; fi
t_check "B says it fences itself" grep -q "fencing this node" "$T_DIR/node-B/hkd.log"
t_check "B's HKD and L7R live on" kill -0 ${PIDS0[B]}
lost() { [ "$(host_state B)" = lost ]; }
t_check "a survivor declares B lost" t_wait 60 lost
# B's first kill (its log, UTC) against when a survivor declared it lost (the database's
# whole seconds; both from the machine's one clock; no duration is asserted)
lost_ts=$(sql "SELECT lost_ts FROM host_runtimes WHERE host_id = $(host_id B)")
# (its first kill's line; `cut` is the harness's cable cutter, not coreutils')
killed=$(grep -a -m1 "killed (fence)" "$T_DIR/node-B/hkd.log")
killed=${killed:0:19}
lost_iso=$(date -u -d "@${lost_ts:-0}" +%Y-%m-%dT%H:%M:%S)
t_diag "B killed its first VM at ${killed:-(never)}; it was declared lost at $lost_iso"
t_check "B's VMs were gone before B was declared lost" eval '[ -n "$killed" ] && [[ "$killed" < "$lost_iso" ]]'
elsewhere() { local id x; for id in $B1 $B2; do x=$(vm_node "$id"); [ "$x" = A ] || [ "$x" = C ] || return 1; done; }
t_check "the others restart B's VMs" t_wait 180 elsewhere
t_check "their rows say where they run" eval \
  '[ "$(vm_host $B1)" = "$(vm_node $B1)" ] && [ "$(vm_host $B2)" = "$(vm_node $B2)" ]'

uncut B
rejoined() { [ "$(host_state B)" = running ]; }
t_check "B rejoins once its link is back (host running)" t_wait 120 rejoined
t_check "B says so" t_wait 30 grep -q "rejoined the cluster" "$T_DIR/node-B/hkd.log"
t_check "no container is left on B" t_wait 60 eval '[ -z "$(containers B)" ]'
t_check "no VM row says B" t_wait 30 eval \
  '[ "$(sql "SELECT count(*) FROM vm_runtimes WHERE host_id = $(host_id B)")" = 0 ]'
t_check "no VM veth is left on B" eval '! on B ip -o link show | t_has "qvd[0-9]"'
t_check "no VM root is left mounted on B" eval '! on B findmnt -rn -o TARGET | t_has "$T_DIR/node-B/storage/rootfs"'
t_check "B's daemons are the same processes" kill -0 ${PIDS0[B]}
t_check "B takes new VMs" start_on B "$B4"

# --- 2. the database's primary dies under the running cluster, with a session connected
xvfb_hub XP DISP || { t_fail "an X screen in the hub"; exit 1; }
# (straight to the VM's node: an L7R reaching a VM on another node is the address plan's
# part, tests/integration/cluster_net.sh)
CL_HOSTS=${NODE_IP[C]} LOGIN=alice client CL1
t_check "alice's session shows her desktop" desktop_shown 120
old=$(paf_primary)
t0=$(date +%s.%N)
paf_kill "$old"
new() { local p; p=$(paf_primary); [ -n "$p" ] && [ "$p" != "$old" ]; }
t_check "pg_auto_failover promotes the standby" t_wait 180 new
t_diag "the standby was promoted $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after the primary died (not an assertion)"
t_check "every daemon carries on (same PIDs)" eval 'for x in A B C; do kill -0 ${PIDS0[$x]} ${HKD_PIDS[$x]} || exit 1; done'
beats() { [ "$(sql "SELECT count(*) FROM host_runtimes WHERE state = 'running' AND ok_ts >= $(date +%s) - 3")" = 3 ]; }
t_check "every node's heartbeat reaches the new primary" t_wait 60 beats
fenced_now=$(grep -c "fencing this node" "$T_DIR"/node-[AC]/hkd.log | awk -F: '{s += $2} END {print s}')
t_diag "fences of A and C during the failover: $fenced_now (docs/cluster.md: a failover longer than hkd.ticker.timeout fences every node)"
xvfb_hub XP2 DISP || { t_fail "a second X screen"; exit 1; }
only_on A
CL_HOSTS=${NODE_IP[A]} LOGIN=bob client CL2
t_check "a new login after the failover shows its desktop" desktop_shown 180
unblock_all
half() {
  sql "SELECT count(*) FROM vm_runtimes WHERE vm_state IN ('starting', 'stopping', 'zombie')"
}
t_check "no VM is left starting, stopping or zombie" t_wait 60 eval '[ "$(half)" = 0 ]'
slots_ok() { # every held slot's L7R process is alive on its node
  local row h p
  for row in $(sql "SELECT h.name || ':' || r.l7r_pid FROM vm_runtimes r JOIN hosts h ON h.id = r.l7r_host_id WHERE r.l7r_pid IS NOT NULL"); do
    h=${row%%:*} p=${row#*:}
    node_pids "$h" | t_has -x "$p" || return 1
  done
}
t_check "no user slot is held by a dead L7R" slots_ok
rows_match() { # every running VM's row names the one node whose container list has it
  local id
  for id in $(sql "SELECT vm_id FROM vm_runtimes WHERE vm_state = 'running'"); do
    [ "$(vm_node "$id")" = "$(vm_host "$id")" ] || return 1
  done
  for x in A B C; do
    for c in $(running "$x"); do [ "$(vm_host "${c#qvd-}")" = "$x" ] || return 1; done
  done
}
t_check "every VM's host is the node whose container list has it" t_wait 60 rows_match

touch "$T_DIR/watch.stop"; wait "$WATCH"
t_diag "the watcher read every node's container list $(grep -c . "$T_DIR/watch.rounds") times"
if [ ! -s "$T_DIR/double" ]; then t_ok "at no moment did a VM run on two nodes"
else t_fail "at no moment did a VM run on two nodes"; cat "$T_DIR/double"; fi
exit 0
