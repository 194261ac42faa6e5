# tests/lxc_node.sh: a test node that runs real LXC VMs from the test DI: qvd-hkd in a network
# namespace of its own (no default route), a database, and helpers to reach its VMs.
# Source after tests/lib.sh and t_init; then `lxc_node_init NAME [EXTRA CONFIG LINES]`.
ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
VMA=$QVD_BUILD/src/vma/qvd-vma
DI=$QVD_BUILD/test-di.tar
conf=$T_DIR/node.conf
HKD_PID=

# lxc_node_init NAME [CONFIG]: builds the test DI, makes the node's namespaces and database
# and writes its config (CONFIG: more lines); every VM left is stopped at exit.
lxc_node_init() {
  t_test_di "$VMA" || return 1
  t_node_ns "$1" || return 1
  t_db_init || return 1
  cat >"$conf" <<CONF
nodename = $1
$T_DB_CONF
path.run = $T_DIR/run
path.log = $T_DIR/log
path.storage.root = $T_DIR/storage
path.vma.binary = $VMA
vma.x_session = /usr/local/bin/qvd-test-session
hkd.vm_command.poll = 1
hkd.vma.ping.interval = 1
hkd.vma.failed.max_count = 3
hkd.vm.stop.timeout = 5
log.level = debug
${2:-}
CONF
  t_cleanup_add 'kill $HKD_PID; sleep 0.5'
  t_cleanup_add 'for c in $(containers); do t_in_node lxc-stop -k -P $T_DIR/run/lxc -n $c; done'
}
admin() { "$ADMIN" -c "$conf" "$@"; }
sql() { t_sql "$1"; }
start_hkd() { t_node_spawn HKD_PID "$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1; }
is_host() { [ "$(sql "SELECT state FROM host_runtimes")" = "$1" ]; }
vm_state() { sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1"; }
is_vm() { [ "$(vm_state "$1")" = "$2" ]; }
secret() { sql "SELECT vma_secret FROM vm_runtimes WHERE vm_id = $1"; }
vm_ip() { sql "SELECT ip FROM vms WHERE id = $1"; }
vm_pid() { sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = $1"; }
vma_get() { # vma_get VM PATH [AUTH]: HTTP status and body of a VMA call, from the node
  t_in_node curl -s -m 5 -w ' %{http_code}' ${3:+-H "Authorization: Bearer $3"} "http://$(vm_ip "$1"):3030/vma/$2"
}
in_vm() { local id=$1; shift; t_in_node lxc-attach -P "$T_DIR/run/lxc" -n "qvd-$id" -- "$@"; }
containers() { t_in_node lxc-ls -P "$T_DIR/run/lxc" 2>/dev/null; }
# the VMs' root file systems mounted on the node; storage_mounts: anything mounted in its
# storage (homes under the root file systems, lower layers of a start that died half-way)
rootfs_mounts() { t_in_node awk -v r="$T_DIR/storage/rootfs/" 'index($2, r) == 1 && $2 ~ /\/[0-9]+-fs$/' /proc/self/mounts | wc -l; }
storage_mounts() { t_in_node grep -c " $T_DIR/storage/" /proc/self/mounts; }
veths() { t_in_node ip -o link show 2>/dev/null | grep -c ' qvd[0-9]'; }
node_clean() { [ -z "$(containers)" ] && [ "$(storage_mounts)" = 0 ] && [ "$(veths)" = 0 ]; }
