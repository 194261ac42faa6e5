#!/usr/bin/env bash
# A node running real desktop VMs: qvd-hkd in a network namespace of its own (no default
# route) starts LXC containers from the test DI, with the node's qvd-vma as their init.
# Covers start, the VMA's secret, persistent home vs discarded overlay, the memory limit,
# a desktop through nxagent shown by nxproxy on an Xvfb screen, a hung VMA, kill -9 of the
# HKD with a session connected (the restarted HKD adopts the healthy VM and reaps a broken
# one) and the clean-up after it; privilege separation: the engine unprivileged, the root
# parent refusing malformed requests, kill -9 of either half with a session connected.
. "$(dirname "$0")/../lib.sh"
t_init

. "$QVD_TOP/tests/lxc_node.sh"
TUNNEL=$QVD_BUILD/tests/helpers/vma-tunnel
COLOUR=2e8b57

# the engine's own user (hkd.user's default), in the L7R's group as docs/hkd.md says
id qvd >/dev/null 2>&1 || useradd --system -g nogroup -M -d /nonexistent -s /usr/sbin/nologin qvd
lxc_node_init lxc1 || { t_fail "set up the test node"; exit 1; }
XVFB_PID= TUN_PID= NXP_PID=
t_cleanup_add 'kill $XVFB_PID $TUN_PID $NXP_PID'

admin user add --login alice --password pw >/dev/null
admin osf add --name desk --memory 300 --user-storage-size 100 >/dev/null
admin di add --osf desk --path "$DI" >/dev/null
admin vm add --name desk1 --user alice --osf desk >/dev/null
VM=1

start_hkd
t_wait 10 is_host running || { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }

# --- privilege separation: a root parent, an unprivileged engine ---
engine_pid() { pgrep -P "$HKD_PID" -x qvd-hkd; }
status_of() { awk -v k="$2:" '$1 == k {print $2; exit}' "/proc/$1/status"; }
ENG=$(engine_pid)
t_check "the parent qvd-hkd runs as root" [ "$(status_of "$HKD_PID" Uid)" = 0 ]
t_check "the engine runs as hkd.user (qvd)" [ "$(status_of "$ENG" Uid)" = "$(id -u qvd)" ]
t_check "the engine has no capabilities (CapEff 0)" [ "$(status_of "$ENG" CapEff)" = 0000000000000000 ]
# a compromised engine: requests sent on its own channel (no VM runs: it sends none itself)
for kind in long short type unterminated path absolute; do
  out=$("$QVD_BUILD/tests/helpers/priv-inject" "$ENG" "$HKD_PID" $kind 2>&1)
  t_check "the root parent refuses a malformed request ($kind): $out" [ $? = 0 ]
done
t_check "each refusal is logged" [ "$(grep -c 'refused a request of the engine' "$T_DIR/hkd.log")" = 6 ]
t_check "the parent and its engine keep running" kill -0 "$HKD_PID" "$ENG"

# --- start ---
admin vm start --id $VM >/dev/null
if t_wait 60 is_vm $VM running; then t_ok "qvd-admin vm start brings a container VM to running"
else t_fail "qvd-admin vm start brings a container VM to running"; tail -30 "$T_DIR/hkd.log"; fi
t_check "the container runs on the node" grep -qx "qvd-$VM" <<<"$(containers)"
out=$(vma_get $VM ping "$(secret $VM)")
t_check "its VMA answers a ping with the VM's secret" [ "${out##* }" = 200 ]
t_diag "start took: $(grep -o 'VM 1 running (started in [0-9]* ms)' "$T_DIR/hkd.log" | tail -1)"

# --- the VMA's secret ---
out=$(vma_get $VM ping)
t_check "a VMA call without the secret is refused (401)" [ "${out##* }" = 401 ]
out=$(vma_get $VM ping "not-the-secret")
t_check "a VMA call with a wrong secret is refused (401)" [ "${out##* }" = 401 ]
out=$(vma_get $VM x_start "not-the-secret")
t_check "x_start with a wrong secret is refused and starts nothing" \
  eval '[ "${out##* }" = 401 ] && ! in_vm $VM pgrep -x nxagent >/dev/null'

# --- resources ---
pid=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = $VM")
cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/$pid/cgroup 2>/dev/null)
limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null ||
        cat "/sys/fs/cgroup/unified$cg/memory.max" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max")
t_check "the container's memory limit is the OSF's (300 MiB)" [ "$limit" = $((300 * 1024 * 1024)) ]
addr=$(in_vm $VM ip -o addr show eth0 2>&1); link=$(in_vm $VM ip -o link show eth0 2>&1)
if grep -q "inet $(vm_ip $VM)/16" <<<"$addr" && grep -q "$(sql "SELECT mac FROM vms WHERE id = $VM")" <<<"$link"; then
  t_ok "the VM has its fixed MAC and address on eth0"
else t_fail "the VM has its fixed MAC and address on eth0"; t_diag "$addr"; t_diag "$link"; fi
neigh=$(t_in_node ip neigh show "$(vm_ip $VM)" dev qvdnet0)
if grep -qi "lladdr $(sql "SELECT mac FROM vms WHERE id = $VM") PERMANENT" <<<"$neigh"; then
  t_ok "the node knows the VM's MAC without ARP (a permanent neighbour entry)"
else t_fail "the node knows the VM's MAC without ARP (got: $neigh)"; fi
# the bridge keeps a fixed address (else it takes its lowest port's, changing with the VMs)
br=$(t_in_node ip -o link show qvdnet0)
t_check "the bridge has the node's fixed MAC (54:52:00 + the node's 10.0.0.1)" grep -q "link/ether 54:52:00:00:00:01 " <<<"$br"

# --- VMs of the bridge reach the node, never each other ---
admin vm add --name other --user alice --osf desk >/dev/null   # VM 2
admin vm start --id 2 >/dev/null
if t_wait 60 is_vm 2 running; then
  tcp_to() { in_vm "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/3030" 2>/dev/null; }
  out=$(vma_get 2 ping "$(secret 2)")
  t_check "the node reaches the second VM's VMA" [ "${out##* }" = 200 ]
  t_check "a VM connects to its own VMA (the probe works)" tcp_to $VM 127.0.0.1
  t_check "a VM cannot open a connection to another VM (isolated bridge port)" \
    eval '! tcp_to $VM "$(vm_ip 2)" && ! tcp_to 2 "$(vm_ip $VM)"'
  t_check "the VMs' bridge ports are marked isolated" \
    eval '[ "$(t_in_node ip -d link show master qvdnet0 | grep -c "isolated on")" = 2 ]'
else
  t_fail "a second VM starts"; tail -20 "$T_DIR/hkd.log"
fi
admin vm stop --id 2 >/dev/null
t_wait 30 is_vm 2 stopped

# --- a desktop session through nxagent, shown by nxproxy on an Xvfb screen ---
S=$(secret $VM)
printf '%s' "$S" >"$T_DIR/secret"
out=$(vma_get $VM "x_start?qvd.vm.user.name=alice&qvd.client.geometry=800x600&qvd.client.link=lan" "$S")
t_check "x_start is accepted" [ "${out##* }" = 200 ]
listening() { vma_get $VM x_state "$S" | t_has '"listening"'; }
t_check "the session reaches listening" t_wait 30 listening
t_check "nxagent listens on the VM's loopback only" \
  eval 'in_vm $VM ss -Hltn | t_has "127.0.0.1:4100" && ! in_vm $VM ss -Hltn | t_has -E "(0.0.0.0|\*|\[::\]):4100"'
t_check "the session user was provisioned with a home" in_vm $VM test -d /home/alice
# inside, the home is alice's; outside, it belongs to alice's id in VM 1's range of host ids
inside=$(in_vm $VM stat -c %u /home/alice); outside=$(stat -c %u "$T_DIR/storage/homefs/$VM-fs/alice")
t_check "the home is owned by the user inside ($inside) and by the VM's mapped uid outside ($outside)" \
  eval '[ "$inside" = "$(in_vm $VM id -u alice)" ] && [ "$outside" = $((1000000000 + 65536 * VM + inside)) ]'
DISP=:$((60 + RANDOM % 30))
Xvfb $DISP -screen 0 1024x768x24 -nolisten tcp >"$T_DIR/xvfb.log" 2>&1 & XVFB_PID=$!
t_node_spawn TUN_PID "$TUNNEL" --listen 127.0.0.1:4041 --vma "$(vm_ip $VM):3030" \
  --secret-file "$T_DIR/secret" >"$T_DIR/tunnel.log" 2>&1
sleep 0.5
DISPLAY=$DISP HOME=$T_DIR t_node_spawn NXP_PID nxproxy -S localhost:41 >"$T_DIR/nxproxy.log" 2>&1
connected() { vma_get $VM x_state "$S" | t_has '"connected"'; }
t_check "with nxproxy attached the session is connected" t_wait 30 connected
# the centre of nxproxy's window, polled over one X connection (tests/helpers/x-colour.c)
if DISPLAY=$DISP "$QVD_BUILD/tests/helpers/x-colour" -t 30 "$COLOUR"; then t_ok "the Xvfb screen shows the session's desktop colour"
else t_fail "the Xvfb screen shows the session's desktop colour"; DISPLAY=$DISP xwd -root -silent | convert xwd:- "$T_DIR/screen.png"; fi
kill $NXP_PID; wait $NXP_PID 2>/dev/null; NXP_PID=
suspended() { vma_get $VM x_state "$S" | t_has '"suspended"'; }
t_check "closing nxproxy suspends the session" t_wait 30 suspended

# --- home survives a restart, the overlay does not ---
in_vm $VM sh -c 'echo kept > /home/marker; echo gone > /etc/overlay-marker'
admin vm stop --id $VM >/dev/null
t_check "qvd-admin vm stop brings the VM to stopped" t_wait 30 is_vm $VM stopped
t_check "the stopped VM left no container, overlay mount or veth" t_wait 10 node_clean
t_check "the runtime row is cleared" [ "$(sql "SELECT COALESCE(CAST(host_id AS TEXT),'-') || COALESCE(vm_address,'-') || COALESCE(vma_secret,'-') FROM vm_runtimes WHERE vm_id = $VM")" = "---" ]
# what LXC leaves after a container's run on cgroup v1 (its monitor cannot remove its own
# cgroup): empty folders of the container's name, which used up its suffixes after about a
# thousand runs; the next start removes them
CG=/sys/fs/cgroup; [ -d $CG/pids ] && CG=$CG/pids
mkdir -p $CG/lxc.monitor.qvd-$VM-987 $CG/lxc.payload.qvd-$VM-988/init.scope $CG/lxc.payload.qvd-${VM}0-989
# (older than a minute: a newer one may be another node's container being set up)
touch -d '-2 min' $CG/lxc.monitor.qvd-$VM-987 $CG/lxc.payload.qvd-$VM-988 $CG/lxc.payload.qvd-${VM}0-989
mkdir -p $CG/lxc.monitor.qvd-$VM-986
t_cleanup_add "rmdir $CG/lxc.payload.qvd-${VM}0-989 $CG/lxc.monitor.qvd-$VM-986"
admin vm start --id $VM >/dev/null
t_wait 60 is_vm $VM running
t_check "a start removes the empty cgroups earlier runs of its container left" \
  eval "[ ! -e $CG/lxc.monitor.qvd-$VM-987 ] && [ ! -e $CG/lxc.payload.qvd-$VM-988 ]"
t_check "... and none of another VM's name, nor one made in the last minute" \
  eval "[ -d $CG/lxc.payload.qvd-${VM}0-989 ] && [ -d $CG/lxc.monitor.qvd-$VM-986 ]"
t_check "the home written before the restart is still there" in_vm $VM grep -q kept /home/marker
t_check "the overlay written before the restart is gone" in_vm $VM test ! -e /etc/overlay-marker
t_check "each start has a new secret" [ "$(secret $VM)" != "$S" ]

# --- a hung VMA: the node stops the VM ---
vma_pid=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = $VM")
kill -STOP "$vma_pid"
t_check "a VM whose VMA stops answering is stopped" t_wait 40 is_vm $VM stopped
t_check "and cleaned up" t_wait 10 node_clean

# --- kill -9 of the HKD with a connected session: the restarted HKD adopts the VM ---
admin vm start --id $VM >/dev/null
admin vm start --id 2 >/dev/null
t_wait 60 is_vm $VM running && t_wait 60 is_vm 2 running
S=$(secret $VM); printf '%s' "$S" >"$T_DIR/secret"
pid1=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = $VM")
vma_get $VM "x_start?qvd.vm.user.name=alice&qvd.client.geometry=800x600&qvd.client.link=lan" "$S" >/dev/null
t_wait 30 listening
kill $TUN_PID; wait $TUN_PID 2>/dev/null
t_node_spawn TUN_PID "$TUNNEL" --listen 127.0.0.1:4041 --vma "$(vm_ip $VM):3030" \
  --secret-file "$T_DIR/secret" >>"$T_DIR/tunnel.log" 2>&1
sleep 0.5
DISPLAY=$DISP HOME=$T_DIR t_node_spawn NXP_PID nxproxy -S localhost:41 >"$T_DIR/nxproxy.log" 2>&1
t_check "a session is connected before the HKD dies" t_wait 30 connected
# the user slot as an L7R holds it (the tunnel stands in for a live L7R process)
sql "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = (SELECT host_id FROM host_runtimes), l7r_pid = $TUN_PID WHERE vm_id = $VM"
ENG=$(engine_pid)
kill -9 "$HKD_PID"; wait "$HKD_PID" 2>/dev/null
t_check "kill -9 of the root parent ends the engine too" t_wait 10 eval '! kill -0 $ENG 2>/dev/null'
t_check "after kill -9 of the HKD the container is still there" grep -qx "qvd-$VM" <<<"$(containers)"
# VM 2 breaks while no HKD watches it: its VMA hangs
kill -STOP "$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 2")"
start_hkd
t_wait 10 is_host running
adopted() { grep -q "VM $VM (desk1 of alice) adopted" "$T_DIR/hkd.log"; }
t_check "the restarted HKD adopts the healthy VM" t_wait 15 adopted
t_check "the adopted VM is still running with the same init pid and secret" \
  [ "$(sql "SELECT vm_state || ' ' || vm_pid || ' ' || vma_secret FROM vm_runtimes WHERE vm_id = $VM")" = "running $pid1 $S" ]
t_check "the session stays connected through the restart" connected
if DISPLAY=$DISP "$QVD_BUILD/tests/helpers/x-colour" -t 10 "$COLOUR"; then t_ok "the desktop is still on the screen"
else t_fail "the desktop is still on the screen"; fi
t_check "the user slot of a live L7R is kept" \
  [ "$(sql "SELECT user_state || l7r_pid FROM vm_runtimes WHERE vm_id = $VM")" = "connected$TUN_PID" ]
vm2_gone() {
  is_vm 2 stopped && ! grep -qx qvd-2 <<<"$(containers)" &&
    ! t_in_node grep -q " $T_DIR/storage/rootfs/2-fs" /proc/self/mounts &&
    ! t_in_node ip link show qvd2 >/dev/null 2>&1
}
t_check "the VM whose VMA hung meanwhile is reaped: no container, mount or veth" t_wait 30 vm2_gone
t_check "its row is cleared" [ "$(sql "SELECT COALESCE(CAST(host_id AS TEXT),'-') || COALESCE(vma_secret,'-') FROM vm_runtimes WHERE vm_id = 2")" = "--" ]
sleep 3
t_check "the adopted VM is pinged like any other (vma_ok_ts moves)" \
  [ "$(sql "SELECT vma_ok_ts FROM vm_runtimes WHERE vm_id = $VM")" -ge $(($(date +%s) - 3)) ]
# the other half: kill -9 of the engine
ENG=$(engine_pid)
kill -9 "$ENG"
t_check "kill -9 of the engine ends the root parent too" t_wait 10 eval '! kill -0 $HKD_PID 2>/dev/null'
wait "$HKD_PID" 2>/dev/null
start_hkd
t_wait 10 is_host running
adopted_twice() { [ "$(grep -c "VM $VM (desk1 of alice) adopted" "$T_DIR/hkd.log")" = 2 ]; }
t_check "the HKD restarted after kill -9 of its engine adopts the VM again" t_wait 15 adopted_twice
t_check "the VM kept its init pid and secret" \
  [ "$(sql "SELECT vm_state || ' ' || vm_pid || ' ' || vma_secret FROM vm_runtimes WHERE vm_id = $VM")" = "running $pid1 $S" ]
t_check "the session is still connected" connected
if DISPLAY=$DISP "$QVD_BUILD/tests/helpers/x-colour" -t 10 "$COLOUR"; then t_ok "the desktop is still on the screen after kill -9 of the engine"
else t_fail "the desktop is still on the screen after kill -9 of the engine"; fi
t_check "no container, mount or veth but the adopted VM's" \
  eval '[ "$(containers)" = "qvd-$VM" ] && [ "$(rootfs_mounts)" = 1 ] && [ "$(veths)" = 1 ]'
kill $NXP_PID; wait $NXP_PID 2>/dev/null; NXP_PID=
sql "UPDATE vm_runtimes SET user_state = 'disconnected', l7r_host_id = NULL, l7r_pid = NULL WHERE vm_id = $VM"
admin vm stop --id $VM >/dev/null
t_check "the adopted VM stops like one this run started" t_wait 30 is_vm $VM stopped
t_check "and leaves no container, mount or veth" t_wait 10 node_clean
admin vm start --id $VM >/dev/null
t_check "the VM starts again afterwards" t_wait 60 is_vm $VM running
kill -TERM "$HKD_PID"
t_check "stopping the HKD stops its VMs and cleans up" t_wait 30 node_clean

exit 0
