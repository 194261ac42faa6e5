#!/usr/bin/env bash
# The cluster's network (issue 13, item 1; docs/cluster.md): three nodes of
# tests/cluster_node.sh (each its own qvd-hkd, qvd-l7r, bridge and LXC containers of the
# test DI with QVD's nxagent, one PostgreSQL in the hub).
# - each node registers its node.address and vm.network.subnet, runs its bridge at its
#   subnet's .0.1, and keeps one route per other node's subnet via that node's address
#   (protocol 77), equal to the hosts table at every step: a host added, its subnet
#   changed, renamed, its address changed, removed (qvd-admin), and after an HKD restart
#   (a stale route of ours is removed, another protocol's route is left alone);
# - C's root parent refuses routes its plan forbids, asked on the engine's own channel;
# - a client in the hub logs in through node A's L7R and gets its desktop (its pixels)
#   from the VM placed on node C (A and B blocked while it starts), which runs at
#   10.3.0.x (vms.ip's host bits in C's subnet);
# - from inside that VM: the other nodes' addresses, a VM on node B, the database's port
#   and the hub cannot be reached through the routes; only the peers' addresses reach a
#   VM's VMA port routed in (the hub, on the same LAN, with a route to C's subnet, cannot);
#   with NAT out of C's LAN interface the VM reaches a server in the hub, and still none of
#   the other nodes, their VMs or the database.
# Runs on PostgreSQL only (its own server in the hub; tests/run.sh runs it once).
. "$(dirname "$0")/../lib.sh"
t_init
. "$(dirname "$0")/../cluster_node.sh"

cluster_init 3 || { t_fail "the cluster is set up"; exit 1; }
admin user add --login alice --password pw >/dev/null &&
  admin user add --login bob --password pw >/dev/null &&
  admin osf add --name desk --memory 300 >/dev/null &&
  admin di add --osf desk --path "$DI" >/dev/null &&
  admin vm add --name desk1 --user alice --osf desk >/dev/null &&
  admin vm add --name desk2 --user bob --osf desk >/dev/null ||
  { t_fail "the demo objects are made"; exit 1; }
for x in A B C; do
  start_node "$x" || { t_fail "node $x starts"; exit 1; }
done
t_ok "three nodes run"

t_check "each node registered its node.address and VM subnet" eval \
  '[ "$(sql "SELECT name || '"' '"' || address || '"' '"' || vm_subnet FROM hosts ORDER BY name" | tr "\n" ,)" = "A 192.168.77.1 10.1.0.0/16,B 192.168.77.2 10.2.0.0/16,C 192.168.77.3 10.3.0.0/16," ]'
t_check "each node's bridge is at its subnet's .0.1" eval \
  '[ "$(for x in A B C; do on $x ip -4 -o addr show qvdnet0 | awk "{print \$4}"; done | tr "\n" ,)" = "10.1.0.1/16,10.2.0.1/16,10.3.0.1/16," ]'

# routes_of X: X's routes of protocol 77, as "subnet via address" lines, sorted;
# routes_wanted X: what the hosts table says they must be
routes_of() { on "$1" ip -4 route show proto 77 | awk '{print $1, $2, $3}' | sort; }
routes_wanted() {
  sql "SELECT vm_subnet || ' via ' || address FROM hosts WHERE name != '$1' AND vm_subnet != ''" | sort
}
routes_match() { [ "$(routes_of "$1")" = "$(routes_wanted "$1")" ]; }
all_match() { routes_match A && routes_match B && routes_match C; }
show_routes() { local x; for x in A B C; do t_diag "$x: $(routes_of "$x" | tr '\n' ';') wanted: $(routes_wanted "$x" | tr '\n' ';')"; done; }
check_routes() { # check_routes NAME: every node's routes equal the hosts table (30 s)
  if t_wait 30 all_match; then t_ok "$1"; else t_fail "$1"; show_routes; fi
}
check_routes "every node routes to the two others' subnets via their addresses"
t_check "A routes 10.2.0.0/16 via B and 10.3.0.0/16 via C" eval \
  '[ "$(routes_of A | tr "\n" ,)" = "10.2.0.0/16 via 192.168.77.2,10.3.0.0/16 via 192.168.77.3," ]'

# the hosts table changes under running nodes (qvd-admin; the VM subnet through SQL where
# this qvd-admin has no --vm-subnet yet)
set_subnet() { # set_subnet NAME SUBNET
  local id
  id=$(host_id "$1")
  admin host set --id "$id" --vm-subnet "$2" >/dev/null 2>&1 ||
    sql "UPDATE hosts SET vm_subnet = '$2' WHERE id = $id"
}
admin host add --name D --address 192.168.77.4 >/dev/null && set_subnet D 10.4.0.0/16
check_routes "a host added (D) is routed to by every node"
t_check "A routes 10.4.0.0/16 via 192.168.77.4" eval 'routes_of A | t_has -x "10.4.0.0/16 via 192.168.77.4"'
set_subnet D 10.5.0.0/16
check_routes "D's subnet changed: the old route goes, the new one comes"
t_check "no node routes the old subnet" eval \
  '! { routes_of A; routes_of B; routes_of C; } | t_has "^10.4.0.0/16"'
admin host set --id "$(host_id D)" --name D2 --address 192.168.77.5 >/dev/null
check_routes "D renamed and its address changed: its route follows"
t_check "A routes 10.5.0.0/16 via 192.168.77.5" eval 'routes_of A | t_has -x "10.5.0.0/16 via 192.168.77.5"'
admin host del --name D2 >/dev/null
check_routes "D removed: its route is gone from every node"
t_check "no node routes 10.5.0.0/16" eval '! { routes_of A; routes_of B; routes_of C; } | t_has "^10.5"'
# a bad row (hostile or mistaken) is not routed: not a subnet, host bits, another length,
# the node's own subnet, text after it, an address that is no address. Each time host F's
# subnet changes too: once every node routes F's new one, it has read E's row.
admin host add --name E --address 192.168.77.6 >/dev/null
admin host add --name F --address 192.168.77.7 >/dev/null
routed_everywhere() { routes_of A | t_has -x "$1" && routes_of B | t_has -x "$1" && routes_of C | t_has -x "$1"; }
n=70
for bad in "10.6.0.1/16" "10.6.0.0/24" "10.1.0.0/16" "10.6.0.0/16;x" "x" "10.6.0.0/16|bad-address"; do
  n=$((n + 1))
  case $bad in
    *"|"*) sql "UPDATE hosts SET vm_subnet = '${bad%|*}', address = '${bad#*|}' WHERE name = 'E'" ;;
    *) sql "UPDATE hosts SET vm_subnet = '$bad' WHERE name = 'E'" ;;
  esac || t_fail "host E's row takes '$bad'"
  set_subnet F "10.$n.0.0/16"
  t_wait 30 routed_everywhere "10.$n.0.0/16 via 192.168.77.7" || t_fail "F's subnet 10.$n.0.0/16 is routed"
  t_check "a host with VM subnet/address '$bad' is routed by no node" eval \
    '! { routes_of A; routes_of B; routes_of C; } | t_has -E "192.168.77.6|^10.6.0.0"'
done
admin host del --name E >/dev/null
admin host del --name F >/dev/null
check_routes "E and F removed: every node's routes equal the hosts table"

# an HKD restart: stale routes of ours go, another protocol's stay, the right ones stay
stop_node B
t_check "B's HKD and L7R are gone" eval '[ -z "$(node_pids B)" ]'
t_check "a stale route of ours and another protocol's are added on B" eval \
  'on B ip route add 10.9.0.0/16 via 192.168.77.1 proto 77 && on B ip route add 10.8.0.0/16 via 192.168.77.1'
start_node B || t_fail "node B restarts"
check_routes "after B's restart its routes equal the hosts table again"
t_check "B removed its stale route (10.9.0.0/16, protocol 77)" eval '! on B ip -4 route show | t_has "^10.9.0.0/16"'
t_check "B left another protocol's route alone (10.8.0.0/16)" eval 'on B ip -4 route show | t_has "^10.8.0.0/16 via 192.168.77.1"'
on B ip -4 route show | sed 's/^/# B: /'

# A compromised engine of C (tests/helpers/priv-inject on its own channel to the root
# parent) asks for routes the node's plan forbids: all refused, C's routes unchanged
ENG_C=$(pgrep -P "${HKD_PIDS[C]}" -x qvd-hkd)
before=$(routes_of C)
for bad in "10.3.0.0/16 192.168.77.1 its own subnet" "10.9.0.0/24 192.168.77.1 another length" \
  "10.9.0.0/16 10.3.0.5 a next hop in its own subnet" "10.9.0.0/16 10.9.0.5 a next hop in the subnet" \
  "10.9.0.0/16 192.168.77.3 itself as next hop" "192.168.0.0/16 192.168.77.1 a subnet holding its address" \
  "10.9.0.0/16 127.0.0.1 loopback" "10.9.0.0/16 224.0.0.1 multicast"; do
  set -- $bad
  out=$("$QVD_BUILD/tests/helpers/priv-inject" "$ENG_C" "${HKD_PIDS[C]}" route "$1" "$2" 2>&1)
  t_check "C's root parent refuses a route to $1 via $2 (${*:3}): $out" [ $? = 0 ]
done
t_check "C's routes are unchanged and its daemons run" eval \
  '[ "$(routes_of C)" = "$before" ] && kill -0 "${HKD_PIDS[C]}" "$ENG_C"'

# The desktop through A's L7R from a VM on C
admin host block --name A >/dev/null && admin host block --name B >/dev/null
admin vm start --id 1 >/dev/null || t_fail "VM 1 is asked to start"
vm_running() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = running ]; }
t_check "VM 1 runs (A and B blocked)" t_wait 120 vm_running 1
t_check "VM 1 runs on node C only" eval '[ "$(vm_node 1 | tr "\n" ,)" = "C," ]'
t_check "VM 1 runs at 10.3.x.y (vm_address: its vms.ip's host bits in C's subnet)" eval \
  '[ -n "$(sql "SELECT ip FROM vms WHERE id = 1")" ] && [ "$(sql "SELECT vm_address FROM vm_runtimes WHERE vm_id = 1")" = "$(sql "SELECT ip FROM vms WHERE id = 1" | sed "s/^10\.0\./10.3./")" ]'
vm1_ip=$(sql "SELECT vm_address FROM vm_runtimes WHERE vm_id = 1")
t_check "the container's own address is $vm1_ip" eval 'in_vm C 1 ip -4 -o addr show eth0 | t_has " $vm1_ip/16 "'
admin host unblock --name A >/dev/null && admin host unblock --name B >/dev/null
xvfb_hub XPID DISP || t_fail "an X screen in the hub"
CL_HOSTS=192.168.77.1 client CPID
t_check "the client, logged in through A's L7R, shows the desktop of the VM on C" desktop_shown 120
t_check "the session's connection went through A's L7R" eval \
  '[ "$(sql "SELECT h.name FROM vm_runtimes r JOIN hosts h ON h.id = r.l7r_host_id WHERE r.vm_id = 1")" = A ]'

# bob's VM on B, for a VM-to-VM attempt across nodes
admin host block --name A >/dev/null && admin host block --name C >/dev/null
admin vm start --id 2 >/dev/null
t_check "VM 2 runs on node B" eval 't_wait 120 vm_running 2 && [ "$(vm_node 2 | tr "\n" ,)" = "B," ]'
admin host unblock --name A >/dev/null && admin host unblock --name C >/dev/null
vm2_ip=$(sql "SELECT vm_address FROM vm_runtimes WHERE vm_id = 2")

# From inside VM 1 (as its root): nothing of the other nodes through the routes.
# reach X PORT from VM 1: a TCP connection within 3 s
reach() { in_vm C 1 timeout 4 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
unreachable() { ! reach "$1" "$2"; }
t_check "VM 1 reaches its own VMA (the probe itself works)" reach 127.0.0.1 3030
for target in "192.168.77.1 8443 node A's L7R" "192.168.77.2 8443 node B's L7R" \
  "192.168.77.3 8443 its own node's L7R" "192.168.77.254 5432 the database" \
  "$vm2_ip 3030 VM 2's VMA on node B" "10.1.0.1 22 node A's bridge" "10.2.0.1 3030 node B's bridge"; do
  set -- $target
  t_check "VM 1 cannot reach ${*:3} ($1:$2)" unreachable "$1" "$2"
done
# routed in: a peer's address reaches a VMA, the hub (not a peer) does not
vma_from() { "$@" timeout 4 bash -c "exec 3<>/dev/tcp/$vm1_ip/3030" 2>/dev/null; }
t_check "node A reaches VM 1's VMA on C through its route" vma_from on A
hub ip route add 10.3.0.0/16 via 192.168.77.3
t_check "the hub, with a route to C's subnet, cannot reach VM 1's VMA" eval '! vma_from hub'
t_check "nor any other port of VM 1 from node A" eval '! on A timeout 4 bash -c "exec 3<>/dev/tcp/$vm1_ip/22" 2>/dev/null'
hub ip route del 10.3.0.0/16 via 192.168.77.3
t_check "forwarding is on for lan0 and the bridge only on C (not node-wide)" eval \
  '[ "$(on C cat /proc/sys/net/ipv4/conf/lan0/forwarding /proc/sys/net/ipv4/conf/qvdnet0/forwarding /proc/sys/net/ipv4/conf/lo/forwarding /proc/sys/net/ipv4/conf/all/forwarding | tr "\n" ,)" = "1,1,0,0," ]'

# With NAT out of C's LAN interface (vm.network.nat.iface = lan0), VM 1 reaches a server in
# the hub, and still none of the above
stop_node C
echo "vm.network.nat.iface = lan0" >>"$T_DIR/node-C/node.conf"
start_node C || t_fail "node C restarts with NAT"
admin host block --name A >/dev/null && admin host block --name B >/dev/null
admin vm start --id 1 >/dev/null
t_check "VM 1 runs on node C again" eval 't_wait 120 vm_running 1 && [ "$(vm_node 1 | tr "\n" ,)" = "C," ]'
admin host unblock --name A >/dev/null && admin host unblock --name B >/dev/null
# (on an address of its own: the database server's are closed to VMs whatever the port;
# one server on each address)
hub ip addr add 192.168.77.253/24 dev qvdlan
for a in 192.168.77.253 192.168.77.254; do
  nsenter --net="/run/netns/$HUB_NS" python3 -m http.server --bind $a 8000 >/dev/null 2>&1 &
  t_cleanup_add "kill $!"
  t_wait 10 hub bash -c "exec 3<>/dev/tcp/$a/8000" 2>/dev/null || t_fail "a server on $a:8000"
done
t_check "with NAT, VM 1 reaches a server in the hub (192.168.77.253:8000)" reach 192.168.77.253 8000
t_check "with NAT, VM 1 still cannot reach the database server's other ports (192.168.77.254:8000)" \
  eval '! reach 192.168.77.254 8000'
for target in "192.168.77.254 5432 the database" "192.168.77.1 8443 node A's L7R" \
  "$vm2_ip 3030 VM 2's VMA on node B" "10.2.0.1 3030 node B's bridge"; do
  set -- $target
  t_check "with NAT, VM 1 still cannot reach ${*:3} ($1:$2)" unreachable "$1" "$2"
done

grep -h " warn\| err" "$T_DIR"/node-*/hkd.log | grep -v "heartbeat" | head -20 | sed 's/^/# /'
