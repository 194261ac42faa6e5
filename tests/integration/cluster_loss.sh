#!/usr/bin/env bash
# cluster_loss.sh: placement and node loss on three real nodes (tests/cluster_node.sh: one
# PostgreSQL, each node its own namespaces, qvd-hkd, qvd-l7r and real containers; homes on
# a folder all nodes share). Twenty VM starts spread over the nodes within the balancer's
# weights, and a blocked node gets none; then node B dies (every process of it and its
# containers killed with -9): exactly one node declares it lost, B's user slots are
# released, every VM that ran on B runs again on A or C, alice's client (connected through
# B) reconnects by itself and shows her desktop, the file she saved in her home is still
# there, and at no moment does a VM run on two nodes (every node's container list, checked
# at each step and all along the takeover). docs/cluster.md.
# (its DI carries QVD's nxagent: t_test_di, in cluster_node.sh)
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/cluster_node.sh"
cluster_init 3 || { t_fail "the cluster's hub, database and nodes are made"; exit 1; }

admin user add --login alice --password pw >/dev/null &&
  admin user add --login bob --password pw >/dev/null &&
  admin osf add --name desk --memory 300 --user-storage-size 100 >/dev/null &&
  admin di add --osf desk --path "$DI" >/dev/null || { t_fail "the demo objects"; exit 1; }
admin vm add --name desk1 --user alice --osf desk >/dev/null
for i in $(seq 2 20); do admin vm add --name "v$i" --user bob --osf desk >/dev/null; done
t_ok "alice's VM 1 and bob's VMs 2-20"
# the hosts, each with its own address (until the HKD registers node.address, a new node
# would register the same default bridge address as the others)
for i in 1 2 3; do admin host add --name "$(cl_letter $i)" --address "10.0.0.$i" >/dev/null; done
for x in A B C; do start_node "$x" || { t_fail "node $x starts"; exit 1; }; done
t_ok "three nodes run (an HKD and an L7R each)"

declare -A HID
for x in A B C; do HID[$x]=$(host_id "$x"); done
vm_host() { sql "SELECT coalesce(CAST(host_id AS TEXT), '-') FROM vm_runtimes WHERE vm_id = $1"; }
vm_state() { sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1"; }
on_node() { sql "SELECT count(*) FROM vm_runtimes WHERE host_id = ${HID[$1]}"; }
n_running() { sql "SELECT count(*) FROM vm_runtimes WHERE vm_state = 'running' AND vm_id <= $1"; }
all_running() { [ "$(n_running 20)" = 20 ]; }
# every node's running containers: a name twice is a VM on two nodes
DOUBLE=$T_DIR/double
no_double() {
  local d
  d=$(for x in A B C; do running "$x" | tr -s ' \t' '\n' | grep .; done | sort | uniq -d)
  [ -z "$d" ] && return 0
  echo "$(date +%T) on two nodes: $d" >>"$DOUBLE"
  return 1
}
counts() { echo "A $(on_node A), B $(on_node B), C $(on_node C)"; }

# ---- placement: alice's VM on B (A and C blocked), then a blocked C gets none ----
admin host block --id "${HID[A]}" >/dev/null && admin host block --id "${HID[C]}" >/dev/null
admin vm start --id 1 >/dev/null
t_check "with A and C blocked, VM 1 goes to B" [ "$(vm_host 1)" = "${HID[B]}" ]
admin host unblock --id "${HID[A]}" >/dev/null
for i in $(seq 2 11); do admin vm start --id "$i" >/dev/null || t_fail "vm start $i"; done
t_diag "after 11 starts with C blocked: $(counts)"
t_check "a blocked node gets no VM" [ "$(on_node C)" = 0 ]
t_check "A and B share them by the weights (equal nodes: 5 or 6 each)" \
  eval '[ "$(on_node A)" -ge 5 ] && [ "$(on_node A)" -le 6 ] && [ "$(on_node B)" -ge 5 ] && [ "$(on_node B)" -le 6 ]'
admin host unblock --id "${HID[C]}" >/dev/null
for i in $(seq 12 20); do admin vm start --id "$i" >/dev/null || t_fail "vm start $i"; done
t_diag "after 20 starts: $(counts)"
t_check "twenty starts spread over three equal nodes within the weights (6 or 7 each)" \
  eval '(for x in A B C; do n=$(on_node $x); [ "$n" -ge 6 ] && [ "$n" -le 7 ] || exit 1; done)'
t_check "all twenty run (real containers)" t_wait 180 all_running
t_check "each runs on the node the database says, and on no other" eval '(
  for v in $(seq 1 20); do
    x=$(vm_node $v); [ -n "$x" ] && [ "$(echo "$x" | wc -l)" = 1 ] && [ "${HID[$x]}" = "$(vm_host $v)" ] || exit 1
  done)'

# ---- alice on B: her desktop, and a file in her home ----
xvfb_hub XVFB_PID DISP || { t_fail "Xvfb starts"; exit 1; }
LOG=$T_DIR/alice.log
CL_HOSTS=$LAN.2,$LAN.1,$LAN.3 client C1 --vm-id 1 --geometry 800x600 2>"$LOG"
t_check "alice's desktop shows (through B's L7R, her VM on B)" desktop_shown 120
slot_on() { [ "$(sql "SELECT coalesce(CAST(l7r_host_id AS TEXT), '-') || '/' || user_state FROM vm_runtimes WHERE vm_id = 1")" = "$1" ]; }
t_check "B's L7R holds her slot" t_wait 30 slot_on "${HID[B]}/connected"
in_vm B 1 su alice -s /bin/sh -c 'echo still-here > /home/alice/saved.txt' 2>/dev/null ||
  in_vm B 1 sh -c 'echo still-here > /home/alice/saved.txt'
t_check "she saved a file in her home" in_vm B 1 grep -qx still-here /home/alice/saved.txt
ON_B=$(sql "SELECT vm_id FROM vm_runtimes WHERE host_id = ${HID[B]} ORDER BY vm_id" | tr '\n' ' ')
t_diag "VMs on B: $ON_B"
t_check "no VM runs on two nodes (before B dies)" no_double

# ---- B dies ----
t0=$(date +%s%N)
kill_node B
t_check "node B is dead: no process, no running container" eval '[ -z "$(node_pids B)" ] && [ -z "$(running B)" ]'
lost() { [ "$(host_state B)" = lost ]; }
t_check "B is declared lost" t_wait 60 lost
t_lost=$(date +%s%N)
BY=$(sql "SELECT lost_by FROM host_runtimes WHERE host_id = ${HID[B]}")
t_check "by A or C (lost_by)" eval '[ "$BY" = "${HID[A]}" ] || [ "$BY" = "${HID[C]}" ]'
t_check "exactly once: one host.lost entry in the audit log, by the node lost_by names" [ \
  "$(sql "SELECT count(*) || '/' || min(administrator) FROM audit_log WHERE action = 'host.lost' AND object_id = ${HID[B]} AND source = 'hkd'")" = \
  "1/$(sql "SELECT name FROM hosts WHERE id = $BY")" ]
t_check "B's user slots are released" \
  [ "$(sql "SELECT count(*) FROM vm_runtimes WHERE l7r_host_id = ${HID[B]}")" = 0 ]
# all of B's VMs back on A or C; a VM on two nodes at any moment is recorded
b_back() {
  no_double
  local v h
  for v in $ON_B; do
    h=$(vm_host "$v")
    [ "$(vm_state "$v")" = running ] && { [ "$h" = "${HID[A]}" ] || [ "$h" = "${HID[C]}" ]; } || return 1
  done
}
t_check "every VM that ran on B runs again on A or C" t_wait 180 b_back
t_diag "B killed -> declared lost: $(((t_lost - t0) / 1000000)) ms; -> all of its VMs running again: $((($(date +%s%N) - t0) / 1000000)) ms (hkd.cluster.node.timeout 10 s)"
t_diag "now: $(counts)"
t_check "their containers run where the database says" eval '(
  for v in $ON_B; do x=$(vm_node $v); [ -n "$x" ] && [ "${HID[$x]}" = "$(vm_host $v)" ] || exit 1; done)'
t_check "the audit log has a restart for each (source hkd)" [ \
  "$(sql "SELECT count(*) FROM audit_log WHERE action = 'vm.restart' AND status = 200 AND source = 'hkd'")" = "$(echo $ON_B | wc -w)" ]
t_check "the deciding node's log says it" eval 'grep -q "cluster: node B lost (no heartbeat for" "$T_DIR/node-A/hkd.log" "$T_DIR/node-C/hkd.log"'

# ---- alice rides it out ----
X1=$(vm_node 1)
t_check "alice's client reconnects by itself" t_wait 180 grep -q "qvd-client: Reconnected to" "$LOG"
t_check "and shows her desktop again (from node $X1)" desktop_shown 120
t_check "her file is still in her home (shared storage)" in_vm "$X1" 1 grep -qx still-here /home/alice/saved.txt
t_check "at no moment did a VM run on two nodes" eval '[ ! -s "$DOUBLE" ] && no_double'
[ -s "$DOUBLE" ] && t_diag "$(cat "$DOUBLE")"
t_diag "$(grep -c Reconnecting "$LOG") reconnect line(s): $(grep Reconnecting "$LOG" | tail -1)"
exit 0
