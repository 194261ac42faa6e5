# bench/lib.sh: helpers shared by the benchmarks. A node is set up as the integration test
# tests/integration/hkd_lxc.sh does it: qvd-hkd in a network namespace of its own (no
# default route: nothing leaves the machine) with a persistent mount namespace, real LXC
# containers from a DI. Source it, then call b_init.
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib.sh"

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
VMA=$QVD_BUILD/src/vma/qvd-vma
TEST_DI=$QVD_BUILD/test-di.tar
DEMO_DI_CACHE=${QVD_DEMO_DI:-/var/tmp/qvd-di/qvd-debian-bookworm.tar.gz}
B_NODE_UP=
HKD_PID=
SQ_PID=

b_init() {
  t_init
  [ -x "$ADMIN" ] && [ -x "$HKD" ] && [ -x "$VMA" ] ||
    { echo "build first: ninja -C $QVD_BUILD" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "the benchmarks run containers: run them as root" >&2; exit 1; }
  # a fifo nobody writes to: `read -t` on it is a sleep that forks nothing
  mkfifo "$T_DIR/.sleep" && exec {B_SLEEP_FD}<>"$T_DIR/.sleep"
}
b_sleep() { read -r -t "$1" -u "$B_SLEEP_FD" _ 2>/dev/null || true; }

# b_now: microseconds since the epoch, without a fork
b_now() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

# b_test_di: the test DI (see t_test_di), with a word on stderr when it has to be built
b_test_di() {
  [ -f "$TEST_DI" ] || echo "# building the test DI ($TEST_DI)..." >&2
  t_test_di "$VMA"
}

# b_demo_di: the demo DI (debootstrap, about 70 s), cached under /var/tmp/qvd-di
b_demo_di() {
  [ -f "$DEMO_DI_CACHE" ] && return 0
  echo "# building the demo DI ($DEMO_DI_CACHE, about 70 s)..." >&2
  mkdir -p "$(dirname "$DEMO_DI_CACHE")"
  bash "$QVD_TOP/images/build-debian-di.sh" --check-elf "$VMA" "$DEMO_DI_CACHE" \
    >"$T_DIR/demo-di-build.log" 2>&1 || { tail -20 "$T_DIR/demo-di-build.log" >&2; return 1; }
}

# b_node DIR HYPERVISOR [CONF LINE]...: a node whose files are under DIR (database, run,
# storage, log); the HKD runs in the test node's namespaces (made on the first call).
# Sets CONF, DB, HKD_LOG; admin and sql then talk to that node.
b_node() {
  local dir=$1 hv=$2 line
  shift 2
  if [ -z "$B_NODE_UP" ]; then
    t_node_ns bench || { echo "cannot create the node's namespaces" >&2; return 1; }
    B_NODE_UP=1
    t_cleanup_add b_teardown
  fi
  mkdir -p "$dir"
  CONF=$dir/node.conf DB=$dir/qvd.db HKD_LOG=$dir/hkd.log
  {
    echo "nodename = bench-$hv"
    echo "database.path = $DB"
    echo "path.run = $dir/run"
    echo "path.log = $dir/log"
    echo "path.storage.root = $dir/storage"
    echo "path.vma.binary = $VMA"
    echo "vm.hypervisor = $hv"
    echo "log.level = debug"
    for line in "$@"; do echo "$line"; done
  } >"$CONF"
}
admin() { "$ADMIN" -c "$CONF" "$@"; }
sql() { sqlite3 -cmd '.timeout 5000' "$DB" "$@"; }

# b_start_hkd: starts the HKD of the current node and waits for it to register
b_start_hkd() {
  nsenter --mount="$T_NS_MNT" --net="/run/netns/$T_NS_NET" "$HKD" -c "$CONF" >>"$HKD_LOG" 2>&1 &
  HKD_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(sql "SELECT state FROM host_runtimes" 2>/dev/null)" = running ] && return 0
    sleep 0.1
  done
  echo "the HKD did not start:" >&2; tail -20 "$HKD_LOG" >&2
  return 1
}

# b_stop_hkd: SIGTERM (the HKD stops its VMs and cleans up), then force what is left
b_stop_hkd() {
  local i
  [ -n "$HKD_PID" ] || return 0
  kill -TERM "$HKD_PID" 2>/dev/null
  for ((i = 0; i < 600 && $(kill -0 "$HKD_PID" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
  kill -9 "$HKD_PID" 2>/dev/null
  wait "$HKD_PID" 2>/dev/null
  HKD_PID=
}

# everything the benchmark may leave: HKD, containers of every node dir, the SQL coprocess
b_teardown() {
  local d c
  [ -n "$SQ_PID" ] && kill "$SQ_PID" 2>/dev/null
  b_stop_hkd
  for d in "$T_DIR"/*/run/lxc; do
    [ -d "$d" ] || continue
    for c in $(t_in_node lxc-ls -P "$d" 2>/dev/null); do t_in_node lxc-stop -k -P "$d" -n "$c"; done
  done
  # overlay mounts live in the node's mount namespace, which goes with the last umount
  t_in_node sh -c "grep -o \" $T_DIR/[^ ]*/storage/[^ ]*\" /proc/self/mounts | sort -r | xargs -r -n1 umount -l" 2>/dev/null
  return 0
}

# A long-lived sqlite3 for polling: a query costs ~0.05 ms instead of a 2 ms fork.
b_sq_open() {
  coproc SQ { exec sqlite3 -cmd '.timeout 5000' "$DB"; }
}
b_sq_use() { printf '.open %s\n.timeout 5000\n' "$DB" >&"${SQ[1]}"; }
b_sq() { echo "$1" >&"${SQ[1]}"; read -r -t 10 -u "${SQ[0]}" B_SQ_OUT; }

# b_wait_vm ID STATE SECONDS: polls vm_state every ~1 ms; B_POLLS = number of polls.
b_wait_vm() {
  local id=$1 want=$2 limit=$(($3 * 1000000)) t0
  t0=$(b_now)
  B_POLLS=0
  while :; do
    b_sq "SELECT vm_state FROM vm_runtimes WHERE vm_id = $id;"
    B_POLLS=$((B_POLLS + 1))
    [ "$B_SQ_OUT" = "$want" ] && return 0
    (($(b_now) - t0 > limit)) && return 1
    b_sleep 0.001
  done
}

# b_stats: min median max of the numbers on stdin (one a line), "-" if none
b_stats() {
  sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) { print "-", "-", "-"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%g %g %g\n", v[1], m, v[NR] }'
}
