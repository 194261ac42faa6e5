#!/usr/bin/env bash
# Root in a VM is not root on the node. From inside a running VM, as the container's root (as
# an attacker who owns the VM would), with a static probe of its own (tests/helpers/
# vm-escape.c): the user namespace maps root to the VM's own range of host ids; handles,
# mounts, procfs sysctls, device nodes, raw sockets, new namespaces, modules, kexec, bpf,
# perf, keys and userfaultfd are refused; the network cannot be reconfigured; only the VM's
# own files are visible; a fork bomb stops at the pids limit while the node and the other VM
# go on. The desktop session inside such a VM is tested by hkd_lxc.sh and session.sh.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/lxc_node.sh"
PROBE=$QVD_BUILD/tests/helpers/vm-escape
PIDS_MAX=150
BASE=1000000000 SIZE=65536

lxc_node_init box "vm.lxc.pids.max = $PIDS_MAX" || { t_fail "set up the test node"; exit 1; }
admin user add --login alice --password pw >/dev/null
admin osf add --name desk --memory 300 --user-storage-size 100 >/dev/null
admin di add --osf desk --path "$DI" >/dev/null
admin vm add --name one --user alice --osf desk >/dev/null   # VM 1
admin vm add --name two --user alice --osf desk >/dev/null   # VM 2
start_hkd
t_wait 10 is_host running || { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }
admin vm start --id 1 >/dev/null
admin vm start --id 2 >/dev/null
if t_wait 60 is_vm 1 running && t_wait 60 is_vm 2 running; then t_ok "two sandboxed VMs run"
else t_fail "two sandboxed VMs run"; tail -20 "$T_DIR/hkd.log"; exit 1; fi

# --- the user namespace ---
map=$(in_vm 1 cat /proc/self/uid_map | tr -s ' ')
t_check "VM 1's root is host uid $((BASE + SIZE)), one range of $SIZE ids of its own (uid_map: $map)" \
  [ "$map" = " 0 $((BASE + SIZE)) $SIZE" ]
map2=$(in_vm 2 cat /proc/self/gid_map | tr -s ' ')
t_check "VM 2's gid range is the next one (gid_map: $map2)" [ "$map2" = " 0 $((BASE + 2 * SIZE)) $SIZE" ]
host_uid=$(awk '/^Uid:/ {print $2}' "/proc/$(vm_pid 1)/status")
t_check "the VMA (VM 1's init) runs as host uid $host_uid, not root" [ "$host_uid" = $((BASE + SIZE)) ]
status=$(cat "/proc/$(vm_pid 1)/status")
# chown dac_override fowner fsetid kill setgid setuid = bits 0 1 3 4 5 6 7
t_check "the VMA's bounding set holds only chown, dac_override, fowner, fsetid, kill, setgid, setuid" \
  grep -q '^CapBnd:[[:space:]]*00000000000000fb$' <<<"$status"
t_check "the VMA runs under seccomp with no_new_privs" \
  eval 'grep -q "^Seccomp:[[:space:]]*2" <<<"$status" && grep -q "^NoNewPrivs:[[:space:]]*1" <<<"$status"'

# --- escapes tried by root inside VM 1 ---
in_vm 1 sh -c 'cat >/tmp/vm-escape && chmod 700 /tmp/vm-escape' <"$PROBE"
out=$(in_vm 1 /tmp/vm-escape /etc/qvd 2>&1)
t_diag "$(tr '\n' ';' <<<"$out")"
for probe in open_by_handle_at mount_proc mount_sysfs mount_tmpfs mount_cgroup write_core_pattern \
  mknod_block mknod_char_mem open_dev_mem raw_socket packet_socket unshare_userns unshare_mountns \
  init_module finit_module kexec_load bpf perf_event_open keyctl userfaultfd setns chroot; do
  t_check "root in a VM is refused: $probe" grep -q "^$probe refused" <<<"$out"
done
t_check "root in a VM cannot add an address to its interface" \
  eval '! in_vm 1 ip addr add 10.0.9.9/16 dev eth0 2>/dev/null && ! in_vm 1 ip -o addr show eth0 | t_has 10.0.9.9'
t_check "root in a VM cannot change its MAC" \
  eval '! in_vm 1 ip link set dev eth0 address 54:52:00:00:09:09 2>/dev/null'
t_check "the device allow list still lets the desktop use null, zero and urandom" \
  in_vm 1 sh -c 'echo x >/dev/null && head -c1 /dev/zero | od >/dev/null && head -c1 /dev/urandom >/dev/null'

# --- what the node shows a VM ---
t_check "the VM's /etc/qvd holds its own config and secret only" \
  [ "$(in_vm 1 ls /etc/qvd | tr '\n' ' ')" = "vma.conf vma.secret " ]
t_check "and the secret there is VM 1's, not VM 2's" \
  [ "$(in_vm 1 cat /etc/qvd/vma.secret)" = "$(secret 1)" ]
t_check "the node's database, run folder and storage are not in the VM" \
  in_vm 1 sh -c "test ! -e '$T_DIR' && test ! -e /var/lib/qvd"
# every writable mount of the VM is its own: root, home, log folder, and the kernel's
# per-VM file systems (its /dev, /dev/pts, /dev/shm, /proc, /run ...)
rw=$(in_vm 1 awk '$6 ~ /(^|,)rw(,|$)/ {print $5 " " $9}' /proc/self/mountinfo | sort -u | tr '\n' ';')
t_diag "writable mounts in the VM: $rw"
bad=$(tr ';' '\n' <<<"$rw" | grep -vE '^(/ overlay|/home ext4|/var/log/qvd ext4|/dev tmpfs|/dev/pts devpts|/dev/shm tmpfs|/dev/mqueue mqueue|/proc proc|/run tmpfs|/tmp tmpfs|/sys/fs/cgroup/.* cgroup2?|/sys/fs/cgroup tmpfs|/proc/sys/net proc|/dev/(null|zero|full|random|urandom|tty) devtmpfs|/dev/console devpts|/dev/ptmx devpts|/proc/sysrq-trigger proc|)$' || true)
t_check "nothing of the node is mounted writable in the VM${bad:+ (found: $bad)}" [ -z "$bad" ]

# --- a fork bomb stays in its VM ---
in_vm 1 bash -c 'for i in $(seq 400); do sleep 120 & done 2>/dev/null; exit 0' >/dev/null 2>&1 &
bomb=$!
# the VM's pids cgroup (v1 or v2), read from the node
cg=$(awk -F: '$2 ~ /(^|,)pids(,|$)/ || $2 == "" {print $3; exit}' "/proc/$(vm_pid 1)/cgroup")
pids_file=/sys/fs/cgroup/pids$cg/pids.current
[ -f "$pids_file" ] || pids_file=/sys/fs/cgroup$cg/pids.current
pids() { cat "$pids_file" 2>/dev/null || echo 0; }
t_check "the bomb fills VM 1 up to its pids limit" t_wait 30 eval '[ "$(pids)" -ge $((PIDS_MAX - 5)) ]'
sleep 1
t_check "and VM 1 never holds more than its $PIDS_MAX processes (pids.current $(pids))" [ "$(pids)" -le "$PIDS_MAX" ]
out=$(vma_get 2 ping "$(secret 2)")
t_check "meanwhile VM 2's VMA answers" [ "${out##* }" = 200 ]
t_check "and the node starts processes" bash -c 'for i in 1 2 3 4 5; do /bin/true || exit 1; done'
# the bomb's processes, by pid (other nodes on this machine may run a VM 1 in the same range)
procs=$(cat "$(dirname "$pids_file")/cgroup.procs" 2>/dev/null)
admin vm stop --id 1 >/dev/null
t_check "the VM with the bomb stops" t_wait 30 is_vm 1 stopped
kill "$bomb" 2>/dev/null; wait "$bomb" 2>/dev/null
alive() { local p n=0; for p in $procs; do
  [ "$(awk '/^Uid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" -ge $((BASE + SIZE)) ] 2>/dev/null && n=$((n + 1)); done; echo $n; }
t_check "none of the bomb's $(wc -w <<<"$procs") processes is left on the node" t_wait 10 eval '[ "$(alive)" = 0 ] && [ -n "$procs" ]'
admin vm stop --id 2 >/dev/null
t_wait 30 is_vm 2 stopped
t_check "both VMs stopped and the node is clean" t_wait 10 node_clean

# --- a home shared by the user's VMs (vm.lxc.home.per.user): two ranges use it at once ---
kill -TERM "$HKD_PID"; wait "$HKD_PID" 2>/dev/null
echo "vm.lxc.home.per.user = 1" >>"$conf"
start_hkd
t_wait 10 is_host running
admin vm start --id 1 >/dev/null; admin vm start --id 2 >/dev/null
if t_wait 60 is_vm 1 running && t_wait 60 is_vm 2 running; then
  in_vm 1 sh -c 'mkdir -p /home/shared && echo from-one >/home/shared/f && chown -R 4242:4242 /home/shared'
  t_check "a file written in VM 1's shared home is read in VM 2, with its owner" \
    eval '[ "$(in_vm 2 cat /home/shared/f)" = from-one ] && [ "$(in_vm 2 stat -c %u /home/shared/f)" = 4242 ]'
  t_check "VM 2's root may change it (the ids are mapped in its namespace too)" in_vm 2 chown 4343 /home/shared/f
  t_check "on the node the shared home keeps the ids seen inside" \
    [ "$(stat -c %u "$T_DIR/storage/homefs/alice/shared/f")" = 4343 ]
else t_fail "two VMs with a shared home run"; tail -20 "$T_DIR/hkd.log"; fi
admin vm stop --id 1 >/dev/null; admin vm stop --id 2 >/dev/null
t_wait 30 is_vm 1 stopped; t_wait 30 is_vm 2 stopped
t_check "and the node is clean afterwards" t_wait 10 node_clean
exit 0
