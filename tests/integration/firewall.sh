#!/usr/bin/env bash
# The VM network firewall (src/hkd/firewall.c), attacked from where a VM sits: two real
# container VMs on a node (qvd-hkd in a network namespace of its own, no default route)
# that offers services on its bridge address, on a second address and
# on all addresses, with an "outside" network namespace behind a veth pair for NAT.
# Covers the allow list, VM to VM (bridged and routed), IP/MAC/ARP spoofing by a VM root
# with every capability, NAT, per-VM entries, restart, orderly stop and failing closed.
. "$(dirname "$0")/../lib.sh"
t_init

. "$QVD_TOP/tests/lxc_node.sh"
BR_ADDR=10.0.0.1 OTHER_ADDR=192.168.50.1 NAT_ADDR=192.168.77.1 FAR_ADDR=192.168.77.2

# the bridge ports are not isolated: VMs are kept apart by the firewall alone
lxc_node_init fw "vm.network.allow = tcp:7001, udp:7005
vm.network.nat.iface = fwout
vm.network.isolated = 0" || { t_fail "set up the test node"; exit 1; }

# the node's second address (on a veth pair of its own: kernels without dummy interfaces),
# and an outside network behind fwout (its far end in a
# namespace of its own): nothing here leaves the test's namespaces
OUT_NS=qvdt-fwout-$$
ip netns add "$OUT_NS" || { t_fail "create the outside namespace"; exit 1; }
t_cleanup_add "ip netns del $OUT_NS"
t_in_node ip link add fwother type veth peer name fwother1 &&
  t_in_node ip addr add $OTHER_ADDR/24 dev fwother && t_in_node ip link set fwother up &&
  t_in_node ip link set fwother1 up &&
  ip -n "$OUT_NS" link add fwpeer type veth peer name fwout netns "$T_NS_NET" &&
  ip -n "$OUT_NS" addr add $FAR_ADDR/24 dev fwpeer && ip -n "$OUT_NS" link set fwpeer up &&
  t_in_node ip addr add $NAT_ADDR/24 dev fwout && t_in_node ip link set fwout up ||
  { t_fail "set up the node's other interfaces"; exit 1; }

LISTENERS=()
t_cleanup_add 'kill ${LISTENERS[@]}'
vma_ping() { local out; out=$(vma_get "$1" ping "$(secret "$1")"); [ "${out##* }" = 200 ]; }
# a root with every capability in VM N's network namespace (not the container's own root)
vm_net_root() { local id=$1; shift; nsenter --net="/proc/$(vm_pid "$id")/ns/net" "$@"; }
ruleset() { t_in_node nft -s list ruleset; }
# (grep reads captured output: grep -q on a pipe may stop nft early, failing the pipeline)
has_tables() { grep -qx "table $1 qvd" <<<"$(t_in_node nft list tables)"; }
ports_map() { t_in_node nft list map bridge qvd ports 2>/dev/null; }
# listen NAME ADDR:PORT [udp]: a listener in the node logging each peer (or datagram)
listen() {
  local name=$1 addr=${2%:*} port=${2##*:}
  if [ "${3:-}" = udp ]; then
    t_node_spawn pid socat -u UDP-RECV:$port,bind=$addr,reuseaddr OPEN:"$T_DIR/$name.log",creat,append
  else
    t_node_spawn pid socat TCP-LISTEN:$port,bind=$addr,fork,reuseaddr \
      SYSTEM:"echo \$SOCAT_PEERADDR >>$T_DIR/$name.log"
  fi
  LISTENERS+=("$pid")
}
# scan N TARGET...: the ADDR:PORT targets VM N can open a TCP connection to
scan() {
  local id=$1; shift
  in_vm "$id" bash -c 'for t in "$@"; do
      timeout 1 bash -c "exec 3<>/dev/tcp/${t%:*}/${t##*:}" 2>/dev/null && echo "$t"; done; true' \
    scan "$@" | tr '\n' ' '
}


admin user add --login alice --password pw >/dev/null
admin osf add --name desk --memory 300 >/dev/null
admin di add --osf desk --path "$QVD_BUILD/test-di.tar" >/dev/null
admin vm add --name vm1 --user alice --osf desk >/dev/null
admin vm add --name vm2 --user alice --osf desk >/dev/null
IP1=$(vm_ip 1) IP2=$(vm_ip 2)

start_hkd
t_wait 10 is_host running || { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }
# the services of the node (on the bridge address: once the HKD has made the bridge)
listen br7000 $BR_ADDR:7000; listen br7001 $BR_ADDR:7001; listen br7002 $BR_ADDR:7002
listen other7000 $OTHER_ADDR:7000; listen other7001 $OTHER_ADDR:7001
listen any7003 0.0.0.0:7003
listen udp7005 $BR_ADDR:7005 udp; listen udp7006 $BR_ADDR:7006 udp
t_node_spawn pid nsenter --net="/run/netns/$OUT_NS" socat TCP-LISTEN:7100,bind=$FAR_ADDR,fork,reuseaddr \
  SYSTEM:"echo \$SOCAT_PEERADDR >>$T_DIR/far.log"
LISTENERS+=("$pid")
t_check "the HKD sets up its tables bridge qvd and inet qvd" eval 'has_tables bridge && has_tables inet'
R0=$(ruleset)

admin vm start --id 1 >/dev/null; admin vm start --id 2 >/dev/null
if t_wait 60 is_vm 1 running && t_wait 60 is_vm 2 running; then t_ok "two VMs run behind the firewall"
else t_fail "two VMs run behind the firewall"; tail -30 "$T_DIR/hkd.log"; exit 1; fi
t_check "the node still reaches both VMAs (pings answered)" eval 'vma_ping 1 && vma_ping 2'
t_check "each VM has its entry in the ports map" \
  eval 'grep -q "\"qvd1\" : goto vm-qvd1" <<<"$(ports_map)" &&
        grep -q "\"qvd2\" : goto vm-qvd2" <<<"$(ports_map)"'

# --- what a VM reaches on the node ---
TARGETS=($BR_ADDR:7000 $BR_ADDR:7001 $BR_ADDR:7002 $BR_ADDR:7003 $BR_ADDR:22
  $OTHER_ADDR:7000 $OTHER_ADDR:7001 $OTHER_ADDR:7003 $NAT_ADDR:7003 $IP2:3030)
node_open=$(t_in_node bash -c 'for t in "$@"; do
    timeout 1 bash -c "exec 3<>/dev/tcp/${t%:*}/${t##*:}" 2>/dev/null && echo "$t"; done; true' \
  scan "${TARGETS[@]}" | tr '\n' ' ')
t_check "from the node itself every listener of the scan answers (the probe works)" \
  [ "$node_open" = "$BR_ADDR:7000 $BR_ADDR:7001 $BR_ADDR:7002 $BR_ADDR:7003 $OTHER_ADDR:7000 $OTHER_ADDR:7001 $OTHER_ADDR:7003 $NAT_ADDR:7003 $IP2:3030 " ]
vm_open=$(scan 1 "${TARGETS[@]}")
t_check "a port scan from VM 1 finds only the allowed tcp:7001 on the bridge address (found: $vm_open)" \
  [ "$vm_open" = "$BR_ADDR:7001 " ]
in_vm 1 bash -c "echo from-vm >/dev/udp/$BR_ADDR/7005; echo from-vm >/dev/udp/$BR_ADDR/7006"
t_check "an allowed UDP port receives VM 1's datagram" t_wait 3 grep -q from-vm "$T_DIR/udp7005.log"
t_check "a UDP port not allowed receives nothing" [ ! -s "$T_DIR/udp7006.log" ]

# --- VM to VM: bridged directly, then routed through the node ---
# as on a node without br_netfilter: bridged frames skip the inet table, only the bridge
# table stands between the VMs
t_in_node sysctl -qw net.bridge.bridge-nf-call-iptables=0
syn_from_vm1() { grep -q "$IP1" <<<"$(vm_net_root 2 ss -Htn state syn-recv)"; }
vm_net_root 1 ip neigh replace "$IP2" lladdr "$(sql "SELECT mac FROM vms WHERE id = 2")" dev eth0 nud permanent
t_check "VM 1 cannot open a connection to VM 2 on the bridge (no isolated ports)" \
  eval '! in_vm 1 timeout 2 bash -c "exec 3<>/dev/tcp/$IP2/3030" 2>/dev/null && ! syn_from_vm1'
vm_net_root 1 ip route add "$IP2/32" via $BR_ADDR
t_check "nor through the node's routing (forwarding is on for NAT)" \
  eval '! in_vm 1 timeout 2 bash -c "exec 3<>/dev/tcp/$IP2/3030" 2>/dev/null && ! syn_from_vm1'
vm_net_root 1 ip route del "$IP2/32"

# --- NAT out of fwout ---
in_vm 1 timeout 3 bash -c "echo nat >/dev/tcp/$FAR_ADDR/7100" 2>/dev/null
t_wait 3 test -s "$T_DIR/far.log"
t_check "VM traffic out of the NAT interface arrives from the node's address there (got: $(cat "$T_DIR/far.log" 2>/dev/null))" \
  [ "$(sort -u "$T_DIR/far.log" 2>/dev/null)" = "$NAT_ADDR" ]

# --- spoofing, by a root with every capability in VM 1's network namespace ---
sent_by() { vm_net_root 1 socat -u - "UDP:$BR_ADDR:7005,bind=$1" <<<"$2"; }
# the node's MAC is pinned, so that only the packet itself (not ARP) can be refused
vm_net_root 1 ip neigh replace $BR_ADDR lladdr 54:52:00:00:00:01 dev eth0 nud permanent
sent_by "$IP1" own-ip
t_check "the spoofing probe works: a datagram with VM 1's own address arrives" \
  t_wait 3 grep -q own-ip "$T_DIR/udp7005.log"
vm_net_root 1 ip addr add "$IP2/32" dev eth0
sent_by "$IP2" spoofed-ip; sleep 1
t_check "a datagram with VM 2's address as source, sent from VM 1, never arrives" \
  eval '! grep -q spoofed-ip "$T_DIR/udp7005.log"'
vm_net_root 1 ip addr del "$IP2/32" dev eth0
MAC1=$(sql "SELECT mac FROM vms WHERE id = 1")
vm_net_root 1 ip link set eth0 down; vm_net_root 1 ip link set eth0 address 54:52:00:aa:bb:cc
vm_net_root 1 ip link set eth0 up
vm_net_root 1 ip neigh replace $BR_ADDR lladdr 54:52:00:00:00:01 dev eth0 nud permanent
sent_by "$IP1" spoofed-mac; sleep 1
t_check "a datagram from VM 1 with another MAC never arrives" \
  eval '! grep -q spoofed-mac "$T_DIR/udp7005.log"'
vm_net_root 1 ip link set eth0 down; vm_net_root 1 ip link set eth0 address "$MAC1"
vm_net_root 1 ip link set eth0 up
# an ARP request claiming an address that is not VM 1's would teach the node that address:
# a raw frame (the VM's own ARP cache is kept warm by the node's pings, so the kernel would
# not ask) asking for the node's MAC in the name of 10.0.0.250
mac_bytes() { printf '\\x%s' ${1//:/ }; }
ip_bytes() { local IFS=.; printf '\\x%02x' $1; }
printf "\xff\xff\xff\xff\xff\xff$(mac_bytes "$MAC1")\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01$(mac_bytes "$MAC1")$(ip_bytes 10.0.0.250)\x00\x00\x00\x00\x00\x00$(ip_bytes $BR_ADDR)" >"$T_DIR/arp.bin"
vm_net_root 1 socat -u OPEN:"$T_DIR/arp.bin" INTERFACE:eth0; sleep 0.5
t_check "an ARP request from VM 1 claiming another address teaches the node nothing" \
  [ -z "$(t_in_node ip neigh show 10.0.0.250 dev qvdnet0)" ]
t_diag "frames dropped from VM 1's port: $(t_in_node nft list chain bridge qvd vm-qvd1 | grep -o 'counter packets [0-9]*' | tr '\n' ' ')"

# --- per-VM entries come and go with the VM ---
admin vm stop --id 2 >/dev/null
t_wait 30 is_vm 2 stopped
t_check "a stopped VM's chain and map entry are removed" \
  eval '! t_in_node nft list chain bridge qvd vm-qvd2 >/dev/null 2>&1 &&
        ! grep -q qvd2 <<<"$(ports_map)"'

# --- restart: rebuilt from scratch, the adopted VM's entries put back ---
R1=$(ruleset)
kill -9 "$HKD_PID"; wait "$HKD_PID" 2>/dev/null
t_check "after kill -9 of the HKD its tables are still there (VM 1 stays filtered)" \
  eval 'grep -q qvd1 <<<"$(ports_map)"'
# the engine follows its parent out; only then is the node's lock free
t_wait 10 eval '! pgrep -f "qvd-hkd -c $conf" >/dev/null'
start_hkd
t_wait 10 is_host running
t_check "the restarted HKD adopts VM 1" t_wait 30 grep -q "VM 1 (.*) adopted" "$T_DIR/hkd.log"
t_check "and rebuilds the same ruleset: VM 1's entries back, no duplicate rule, no stale VM entry" \
  [ "$(ruleset)" = "$R1" ]
t_check "the adopted VM is still reached through the firewall" vma_ping 1
admin vm stop --id 1 >/dev/null
t_wait 30 is_vm 1 stopped
t_check "with no VM left the ruleset is the fresh one" [ "$(ruleset)" = "$R0" ]

# --- fails closed: a VM whose entries cannot be added does not run ---
t_in_node nft delete table bridge qvd
admin vm start --id 1 >/dev/null
t_check "a VM whose firewall entries cannot be added fails to start" \
  t_wait 60 grep -q "VM 1: starting the container failed: the firewall entries of VM 1" "$T_DIR/hkd.log"
t_check "and is cleaned up: stopped, no container left" \
  eval 't_wait 30 is_vm 1 stopped && [ -z "$(t_in_node lxc-ls -P $T_DIR/run/lxc 2>/dev/null)" ]'

# --- orderly stop ---
kill -TERM "$HKD_PID"; wait "$HKD_PID" 2>/dev/null
t_check "after an orderly stop both tables are gone" eval '! has_tables inet && ! has_tables bridge'
start_hkd
t_wait 10 is_host running
t_check "the next start builds them again" [ "$(ruleset)" = "$R0" ]
kill -TERM "$HKD_PID"; wait "$HKD_PID" 2>/dev/null; HKD_PID=

# --- a bad allow list: the HKD refuses to start ---
sed 's/^vm.network.allow = .*/vm.network.allow = tcp:7001, tcp:99999/' "$conf" >"$T_DIR/bad.conf"
out=$(t_in_node "$HKD" -c "$T_DIR/bad.conf" 2>&1); rc=$?
if [ $rc -ne 0 ] && grep -q "vm.network.allow: 'tcp:99999' is not" <<<"$out" && ! has_tables inet; then
  t_ok "an HKD whose allow list is wrong refuses to start, saying which item is wrong"
else t_fail "an HKD whose allow list is wrong refuses to start (rc $rc)"; t_diag "$out"; fi

sed 's/^vm.network.nat.iface = .*/vm.network.nat.iface = nosuch0/' "$conf" >"$T_DIR/bad.conf"
out=$(t_in_node "$HKD" -c "$T_DIR/bad.conf" 2>&1); rc=$?
t_check "an HKD whose NAT interface does not exist refuses to start, saying so" \
  eval '[ $rc -ne 0 ] && grep -q "vm.network.nat.iface nosuch0: no such interface" <<<"$out" && ! has_tables inet'

# --- the rest of the allow syntax: ranges, ICMP, spaces ---
sed 's/^vm.network.allow = .*/vm.network.allow = tcp:8000-8010 icmp,udp:53/' "$conf" >"$T_DIR/more.conf"
t_node_spawn HKD_PID "$HKD" -c "$T_DIR/more.conf" >>"$T_DIR/hkd.log" 2>&1
t_wait 10 is_host running
from_vm=$(t_in_node nft list chain inet qvd from_vm)
t_check "ranges, icmp and udp of vm.network.allow open what they say on the bridge address" \
  eval 'grep -q "ip daddr $BR_ADDR tcp dport 8000-8010 accept" <<<"$from_vm" &&
        grep -q "ip daddr $BR_ADDR udp dport 53 accept" <<<"$from_vm" &&
        grep -q "ip daddr $BR_ADDR icmp type echo-request accept" <<<"$from_vm"'
kill -TERM "$HKD_PID"; wait "$HKD_PID" 2>/dev/null; HKD_PID=

exit 0
