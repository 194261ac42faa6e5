#!/usr/bin/env bash
# bench/cluster_failover.sh: how long a cluster takes to mend (issue 13), on the 4-node
# harness of tests/cluster_node.sh (nodes A-D, each in network and mount namespaces of its
# own with its qvd-hkd, qvd-l7r, bridge and storage root, real LXC containers of the test
# DI, shared homes), whose database is a pg_auto_failover formation in the hub namespace
# (a monitor, a primary and a standby on 192.168.77.254, the fast health checks of
# docs/cluster.md; every daemon names both servers, target_session_attrs=read-write), with
# the default hkd.cluster.node.timeout (10 s).
#
# 1. A node's death: COUNT VMs run on the victim (the other nodes blocked while they
#    start, then unblocked); the victim dies (tests/cluster_node.sh's kill_node: every
#    process of its namespace and its containers' inits with -9). From the kill, polled
#    about every 0.1-0.2 s: when a survivor declares it lost (host_runtimes.state), when
#    each VM's row says running on another node, and at the end whether any VM runs on two
#    nodes (every node's container list). Node B dies with the first count, C with the
#    second (each round uses VMs of its own; the survivors have the DI unpacked already).
# 2. The database primary's death: alice's VM runs on node A and she logs in there; the primary's keeper
#    and PostgreSQL are killed with -9. From the kill: when the monitor shows the standby
#    promoted, the first successful login (GET /qvd/list_of_vm answered 200 by node A's
#    L7R, tried every 0.5 s) and the first desktop (connect_to_vm answered 101 after the
#    VM's session started, bench/cluster_login.py).
#
#   bash bench/cluster_failover.sh [--vms "10 30"] [--no-node] [--no-db] [--quick]
#     --quick: --vms "3 6"
# (as root; build first). BENCH_KEEP=1 keeps the scratch folder (every daemon's log).
. "$(dirname "$0")/lib.sh"
COUNTS="10 30" DO_NODE=1 DO_DB=1
while [ $# -gt 0 ]; do
  case $1 in
  --vms) COUNTS=${2:-}; shift 2 ;;
  --no-node) DO_NODE=; shift ;;
  --no-db) DO_DB=; shift ;;
  --quick) COUNTS="3 6"; shift ;;
  -h | --help) sed -n '2,/^# (as root/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  *) echo "unknown option '$1'" >&2; exit 2 ;;
  esac
done
for c in $COUNTS; do [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "--vms takes counts of VMs, not '$c'" >&2; exit 2; }; done
read -r -a COUNT <<<"$COUNTS"
((${#COUNT[@]} >= 1 && ${#COUNT[@]} <= 2)) || { echo "--vms takes one or two counts" >&2; exit 2; }
[ -f "$QVD_TOP/tests/cluster_node.sh" ] ||
  { echo "tests/cluster_node.sh (the cluster harness) is missing: merge main" >&2; exit 1; }
command -v pg_autoctl >/dev/null || { echo "pg_autoctl is missing (scripts/install-deps.sh)" >&2; exit 1; }
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
b_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
. "$QVD_TOP/tests/cluster_node.sh"
# (not cut: tests/cluster_node.sh has a function of that name, which pulls a node's cable)
loadavg() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
LOAD0=$(loadavg)

# --- the database: the harness's pg_auto_failover formation in the hub (CL_PG=paf: monitor,
# primary n1, standby n2, with the fast health checks of docs/cluster.md)
CL_PG=paf
EXTRA=
cluster_init 4 "$EXTRA
log.level = info" || { echo "cannot set the cluster up" >&2; exit 1; }
admin db init >/dev/null || { echo "db init failed" >&2; exit 1; }
# Each node's row first, with an address of its own: an HKD that registers its node.address
# (the address plan) replaces it at start; one that does not would register the bridge's
# default address, the same on every node (hosts.address is unique)
for ((i = 1; i <= 4; i++)); do
  admin host add --name "$(cl_letter $i)" --address "10.0.0.$i" >/dev/null || exit 1
done
for x in A B C D; do start_node "$x" || exit 1; done
NEED=0
for c in "${COUNT[@]}"; do NEED=$((NEED + c)); done
admin user add --login alice --password pw >/dev/null &&
  admin user add --login bench --password pw >/dev/null &&
  admin osf add --name desk --memory 128 >/dev/null &&
  admin di add --osf desk --path "$DI" >/dev/null &&
  admin vm add --name desk --user alice --osf desk >/dev/null || exit 1
for ((i = 1; i <= NEED; i++)); do admin vm add --name "b$i" --user bench --osf desk >/dev/null || exit 1; done
ALICE_VM=$(sql "SELECT v.id FROM vms v JOIN users u ON u.id = v.user_id WHERE u.login = 'alice'")
BENCH_VMS=($(sql "SELECT v.id FROM vms v JOIN users u ON u.id = v.user_id WHERE u.login = 'bench' ORDER BY v.id"))

only_on() { # only_on X: every other node blocked, X not
  local y
  for y in "${CL_NODES[@]}"; do
    if [ "$y" = "$1" ]; then admin host unblock --name "$y" >/dev/null; else admin host block --name "$y" >/dev/null; fi
  done
}
unblock_all() { local y; for y in "${CL_NODES[@]}"; do admin host unblock --name "$y" >/dev/null; done; }
running_on() { # running_on HOST-ID VM...: how many of the VMs run there
  local h=$1 l
  shift
  l=$(IFS=,; echo "$*")
  sql "SELECT count(*) FROM vm_runtimes WHERE vm_state = 'running' AND host_id = $h AND vm_id IN ($l)"
}
all_on() { local h=$1; shift; [ "$(running_on "$h" "$@")" = "$#" ]; }
vm_running() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = running ]; }
vm_stopped() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1")" = stopped ]; }

# the DI unpacked on every node first: a start right after a node's death then costs what a
# start costs on a node that ran the DI before
for x in "${CL_NODES[@]}"; do
  only_on "$x"
  admin vm start --id "$ALICE_VM" >/dev/null && t_wait 180 vm_running "$ALICE_VM" ||
    { echo "warm-up start on $x failed" >&2; tail -20 "$T_DIR/node-$x/hkd.log" >&2; exit 1; }
  admin vm stop --id "$ALICE_VM" >/dev/null && t_wait 60 vm_stopped "$ALICE_VM" ||
    { echo "warm-up stop on $x failed" >&2; exit 1; }
done
unblock_all

declare -A R
FIRST=0
node_round() { # node_round VICTIM COUNT
  local v=$1 n=$2 hid ids=() i t0 now out id line lost= seen=0 doubles=0 where
  declare -A at=()
  hid=$(host_id "$v")
  ids=("${BENCH_VMS[@]:FIRST:n}")
  FIRST=$((FIRST + n))
  echo "# node $v dies with $n VMs" >&2
  only_on "$v"
  for id in "${ids[@]}"; do admin vm start --id "$id" >/dev/null || return 1; done
  t_wait 600 all_on "$hid" "${ids[@]}" ||
    { echo "the $n VMs did not all start on $v" >&2; tail -20 "$T_DIR/node-$v/hkd.log" >&2; return 1; }
  unblock_all
  b_sleep 3 # every survivor's heartbeat fresh, the blocks gone
  t0=$(b_now)
  kill_node "$v"
  R[$v,kill]=$(awk -v u=$(($(b_now) - t0)) 'BEGIN { printf "%.1f", u / 1e6 }')
  local list
  list=$(IFS=,; echo "${ids[*]}")
  while ((seen < n)); do
    now=$(b_now)
    ((now - t0 > 180000000)) && break
    out=$(sql "SELECT 'h', state FROM host_runtimes WHERE host_id = $hid UNION ALL
               SELECT 'v', vm_id::text FROM vm_runtimes WHERE vm_id IN ($list)
               AND vm_state = 'running' AND host_id <> $hid" 2>/dev/null)
    now=$(b_now)
    while IFS='|' read -r k val; do
      case $k in
      h) [ -z "$lost" ] && [ "$val" = lost ] && lost=$now ;;
      v) [ -z "${at[$val]:-}" ] && at[$val]=$now && seen=$((seen + 1)) ;;
      esac
    done <<<"$out"
    b_sleep 0.1
  done
  for id in "${ids[@]}"; do
    where=$(vm_node "$id" | wc -l)
    ((where > 1)) && doubles=$((doubles + 1))
  done
  R[$v,n]=$n
  R[$v,lost]=$([ -n "$lost" ] && awk -v u=$((lost - t0)) 'BEGIN { printf "%.1f", u / 1e6 }' || echo "not seen")
  R[$v,back]="$seen of $n"
  R[$v,times]=$(for id in "${!at[@]}"; do echo $((at[$id] - t0)); done | sort -n |
    awk '{ v[NR] = $1 / 1e6 } END { if (!NR) { print "- / - / -"; exit }
      printf "%.1f / %.1f / %.1f", v[1], v[int((NR + 1) / 2)], v[NR] }')
  R[$v,where]=$(sql "SELECT h.name, count(*) FROM vm_runtimes r JOIN hosts h ON h.id = r.host_id
                     WHERE r.vm_id IN ($list) AND r.vm_state = 'running' GROUP BY h.name ORDER BY h.name" |
    tr '|\n' ': ' | sed 's/ $//')
  R[$v,doubles]=$doubles
}

db_round() {
  local t0 now k p code promoted= login= desk= lt out
  echo "# the database primary dies" >&2
  # alice's VM on node A, whose L7R she logs in through
  only_on A
  admin vm start --id "$ALICE_VM" >/dev/null && t_wait 180 vm_running "$ALICE_VM" || { echo "alice's VM did not start" >&2; return 1; }
  unblock_all
  desk_try() { # one connect_to_vm until 101, through node A's L7R; "ok" or why not
    QVD_BENCH_ADDR=${NODE_IP[A]} QVD_BENCH_UNTIL=101 QVD_BENCH_USER=alice hub timeout 60 \
      python3 "$QVD_TOP/bench/cluster_login.py" 1 0 pw alice $PORT 2>&1 | awk '{ print $3 }'
  }
  out=$(desk_try)
  [ "$out" = ok ] || { echo "alice's first login failed: $out" >&2; return 1; }
  t0=$(b_now)
  paf_kill n1
  while :; do
    now=$(b_now)
    ((now - t0 > 300000000)) && break
    if [ -z "$login" ]; then
      code=$(hub curl -sk -m 3 -o /dev/null -w '%{http_code}' -u alice:pw "https://${NODE_IP[A]}:$PORT/qvd/list_of_vm")
      [ "$code" = 200 ] && login=$(b_now)
      R[db,codes]+=" $code"
    fi
    [ -z "$promoted" ] && paf_is n2 "wait_primary primary" && promoted=$(b_now)
    [ -n "$login" ] && [ -n "$promoted" ] && break
    b_sleep 0.5
  done
  if [ -n "$login" ]; then
    while (($(b_now) - t0 < 300000000)); do
      out=$(desk_try)
      [ "$out" = ok ] && { desk=$(b_now); break; }
      R[db,desk_fail]+=" $out"
      b_sleep 0.5
    done
  fi
  R[db,nodes]=$(sql "SELECT string_agg(h.name || ' ' || r.state, ', ' ORDER BY h.name) FROM hosts h
                     JOIN host_runtimes r ON r.host_id = h.id")
  for k in promoted login desk; do
    R[db,$k]=$([ -n "${!k}" ] && awk -v u=$((${!k} - t0)) 'BEGIN { printf "%.1f", u / 1e6 }' || echo "not within 300 s")
  done
  R[db,codes]=$(tr ' ' '\n' <<<"${R[db,codes]}" | grep . | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')
}

VICTIMS=(B C)
if [ -n "$DO_NODE" ]; then
  for ((r = 0; r < ${#COUNT[@]}; r++)); do node_round "${VICTIMS[$r]}" "${COUNT[$r]}" || exit 1; done
fi
[ -n "$DO_DB" ] && { db_round || exit 1; }

echo
echo "Cluster failover, 4 nodes (tests/cluster_node.sh), real LXC VMs of the test DI, pg_auto_failover" \
  "($(nproc) cores, $(date +%F), load average at the start $LOAD0 and at the end $(loadavg))"
if [ -n "$DO_NODE" ]; then
  echo "| node killed (-9, its containers too), hkd.cluster.node.timeout $(admin config get hkd.cluster.node.timeout) s | VMs on it | kill took (s) | declared lost after (s) | VMs running elsewhere | first / median / **last** VM running elsewhere (s) | where they run | VMs on two nodes |"
  echo "|---|---|---|---|---|---|---|---|"
  for ((r = 0; r < ${#COUNT[@]}; r++)); do
    v=${VICTIMS[$r]}
    echo "| $v | ${R[$v,n]:-} | ${R[$v,kill]:-} | ${R[$v,lost]:-} | ${R[$v,back]:-} | ${R[$v,times]:-} | ${R[$v,where]:-} | ${R[$v,doubles]:-} |"
  done
  echo "(times from the kill; the rows polled about every 0.1-0.2 s through psql)"
fi
if [ -n "$DO_DB" ]; then
  echo
  echo "| the primary killed (-9: keeper and PostgreSQL) | seconds |"
  echo "|---|---|"
  echo "| the monitor shows the standby promoted | ${R[db,promoted]} |"
  echo "| **first successful login** (list_of_vm 200 through node A's L7R) | ${R[db,login]} |"
  echo "| first desktop (connect_to_vm -> 101) | ${R[db,desk]} |"
  echo "(login answers meanwhile: ${R[db,codes]:-}; desktop tries that failed:${R[db,desk_fail]:- none};" \
    "the nodes at the end: ${R[db,nodes]:-?})"
fi
