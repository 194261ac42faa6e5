# tests/cluster_node.sh: a QVD cluster on one machine (issue 13, docs/cluster.md): a hub
# network namespace for the LAN, one PostgreSQL, and nodes A, B, C... each with its own
# qvd-hkd, qvd-l7r, bridge, storage root and LXC path, running real containers of the test DI.
#
#   . tests/lib.sh; t_init; . tests/cluster_node.sh
#   cluster_init [N] [EXTRA CONFIG LINES]   # N nodes (default 3), none started yet
#   start_node A; start_node B; ...
#
# The address plan (docs/cluster.md):
#   hub    a network namespace with the bridge `qvdlan` at 192.168.77.254/24 (the LAN), where
#          PostgreSQL 15 listens over TCP (192.168.77.254:5432, trust for the LAN, fsync
#          off; its data in $T_DIR/pg, run as postgres and stopped at exit) and where the
#          clients and their X screens (Xvfb) run.
#   node i (A = 1, B = 2, ...): a network namespace and a persistent mount namespace
#          (t_node_ns), a veth `lan0` on the LAN at 192.168.77.i/24 (its peer `lanX` in the
#          hub's bridge), node.address 192.168.77.i, vm.network.subnet 10.i.0.0/16, the L7R
#          on 192.168.77.i:8443 (one self-signed certificate valid for every node's address),
#          path.run/log/storage.root in $T_DIR/node-X, the LXC path $T_DIR/node-X/run/lxc;
#          path.storage.homefs ($T_DIR/homes) and path.storage.images ($T_DIR/images, where
#          `qvd-admin di add` puts the DIs) are one folder for all (shared storage, NFS in
#          production).
#   No default route anywhere: nothing leaves the machine.
# CL_PG=paf (set before cluster_init): the database is a pg_auto_failover formation in the
#          hub instead (a monitor on 192.168.77.254 port $PAF_MON, the primary n1 on the
#          next port, its standby n2 on the one after, with the fast failover settings of docs/cluster.md); the
#          nodes' configs name both servers (database.host = a,b; target_session_attrs =
#          read-write). paf_state N (n1/n2: primary, secondary...), paf_kill N (its keeper
#          and its postgres with -9: a database server that died), paf_primary (n1 or n2).
# Each node's config is $T_DIR/node-X/node.conf (the fast timings of lxc_node.sh, plus the
# EXTRA CONFIG lines); its logs $T_DIR/node-X/hkd.log and l7r.log. The demo objects (users,
# OSFs, DIs, VMs) are up to each test (`admin ...`; the DI is $DI).
#
# Helpers (X is a node's letter):
#   on X CMD...          runs CMD in X's namespaces          hub CMD...   in the hub's
#   start_node X         starts X's HKD and L7R and waits until both are up
#   start_hkd X / start_l7r X    one of them (PIDs in HKD_PIDS[X], L7R_PIDS[X])
#   kill_node X          every process of X with -9 (its network namespace's, its
#                        containers' too): a node that died
#   stop_node X          its HKD and L7R with SIGTERM, waited for (a clean stop)
#   node_pids X          the PIDs of X's network namespace
#   cut X / uncut X      X's LAN cable pulled / put back (the hub side of its veth down/up:
#                        X keeps its address, and loses its carrier)
#   containers X         X's containers (defined)     running X   its running containers
#   vm_node VM           the nodes running container qvd-VM, one per line (more than one
#                        line: a VM on two nodes)
#   host_state X         X's host_runtimes.state         host_id X    its hosts.id
#   admin ...            qvd-admin with node A's config (in A's namespaces)
#   sql SQL              psql over TCP from the hub (rows as a|b|c)
#   xvfb_hub PIDVAR DISPVAR [SIZE]   an X screen in the hub
#   client VAR [options] qvd-client in the hub as $LOGIN (alice) / $PW (pw) with
#                        --host $CL_HOSTS (every node's L7R, A first), showing on $DISP
#   desktop_shown [SECONDS] [COLOUR]   the session's colour on $DISP (as session_node.sh)
#   in_vm X VM CMD...    CMD inside VM's container on node X
# Everything started here is stopped at exit (by PID), and the namespaces are deleted.
ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
L7R=$QVD_BUILD/src/l7r/qvd-l7r
VMA=$QVD_BUILD/src/vma/qvd-vma
CLIENT=$QVD_BUILD/src/client/qvd-client
XCOLOUR=$QVD_BUILD/tests/helpers/x-colour
DI=$QVD_BUILD/test-di.tar
COLOUR=2e8b57 # what the test DI's session paints (images/build-test-di.sh)
PORT=8443
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
LAN=192.168.77
HUB_NS=qvdt-hub-$$
CL_NODES=()
CL_HOSTS=
DISP=
declare -A NS_NET NS_MNT NODE_IP HKD_PIDS L7R_PIDS

cl_letter() { printf "\\$(printf '%03o' $((64 + $1)))"; }
cl_conf() { echo "$T_DIR/node-$1/node.conf"; }

# cluster_init [N] [CONFIG]: the hub, PostgreSQL and N nodes' namespaces and configs.
cluster_init() {
  local n=${1:-3} extra=${2:-} i x b
  for b in "$ADMIN" "$HKD" "$L7R" "$VMA" "$CLIENT" "$XCOLOUR"; do
    [ -x "$b" ] || { echo "cluster_init: $b is not built" >&2; return 1; }
  done
  [ -x "$PG_BIN/pg_ctl" ] || { echo "cluster_init: $PG_BIN/pg_ctl missing" >&2; return 1; }
  t_test_di "$VMA" || return 1
  # a test stopped by a signal (tests/run.sh's timeout) still cleans up
  trap 'exit 143' TERM INT HUP
  cl_hub || return 1
  if [ "${CL_PG:-}" = paf ]; then cl_paf || return 1; else cl_pg || return 1; fi
  mkdir -p "$T_DIR/homes" "$T_DIR/images" "$T_DIR/home" "$T_DIR/certs"
  local san=DNS:localhost
  for ((i = 1; i <= n; i++)); do san="$san,IP:$LAN.$i"; done
  t_self_cert "$T_DIR/certs" qvd-cluster "$san" || return 1
  for ((i = 1; i <= n; i++)); do
    x=$(cl_letter "$i")
    cl_node "$x" "$i" "$extra" || { echo "cluster_init: node $x" >&2; return 1; }
    CL_NODES+=("$x")
    CL_HOSTS=${CL_HOSTS:+$CL_HOSTS,}$LAN.$i
  done
  # (cleanups run last-added first: this one before the namespaces are deleted)
  t_cleanup_add cluster_stop
}

cl_hub() {
  ip netns add "$HUB_NS" || return 1
  t_cleanup_add "ip netns del $HUB_NS"
  hub ip link set lo up &&
    hub ip link add qvdlan type bridge &&
    hub ip addr add "$LAN.254/24" dev qvdlan &&
    hub ip link set qvdlan up
}
hub() { nsenter --net="/run/netns/$HUB_NS" "$@"; }

# PostgreSQL in the hub: its own data folder and socket folder under $T_DIR
cl_pg() {
  PG_DIR=$T_DIR/pg
  mkdir -p "$PG_DIR" && chown postgres: "$PG_DIR" && chmod 755 "$PG_DIR" || return 1
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync \
    -E UTF8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  echo "host all all $LAN.0/24 trust" >>"$PG_DIR/data/pg_hba.conf"
  hub runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-c listen_addresses=$LAN.254 -k $PG_DIR -p 5432 -c fsync=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
  t_cleanup_add 'runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop'
  hub runuser -u postgres -- psql -X -q -h "$LAN.254" -U postgres -d postgres \
    -c "CREATE ROLE qvd LOGIN" -c "CREATE DATABASE qvd OWNER qvd" >/dev/null
}
sql() {
  hub psql -X -q -At -F '|' -v ON_ERROR_STOP=1 \
    "host=$CL_DB_HOST port=$CL_DB_PORT dbname=qvd user=qvd target_session_attrs=read-write connect_timeout=3" \
    -c "$1"
}
CL_DB_HOST=$LAN.254 CL_DB_PORT=5432

# pg_auto_failover in the hub (CL_PG=paf): a monitor, a primary n1 and its standby n2. The
# monitor's health checks and the promotion's waits are the fast ones of docs/cluster.md
# (the keepers' network_partition_timeout stays under primary_demote_timeout: a primary cut
# off stops itself before its standby is promoted).
# (ports of its own: the servers' Unix sockets share /var/run/postgresql with other tests')
PAF=$T_DIR/paf PAF_MON=$((20000 + RANDOM % 20000))
paf() {
  hub runuser -u postgres -- env PATH="$PG_BIN:$PATH" XDG_CONFIG_HOME="$PAF/cfg" \
    XDG_DATA_HOME="$PAF/data" pg_autoctl "$@"
}
# each keeper in a session of its own: one kill of the session takes it and its postgres
paf_keeper() {
  hub runuser -u postgres -- env PATH="$PG_BIN:$PATH" XDG_CONFIG_HOME="$PAF/cfg" \
    XDG_DATA_HOME="$PAF/data" setsid pg_autoctl run --pgdata "$PAF/$1" >>"$PAF/$1-run.log" 2>&1 &
}
paf_keeper_pid() { pgrep -f "^pg_autoctl run --pgdata $PAF/$1\$"; }
paf_state() {
  paf show state --pgdata "$PAF/mon" 2>/dev/null | awk -F'|' -v n="$1" \
    'NF > 3 { gsub(/ /, "", $1); gsub(/ /, "", $(NF - 1)); if ($1 == n) print $(NF - 1) }'
}
paf_is() { local s; s=$(paf_state "$1"); [[ " $2 " == *" $s "* ]]; }
paf_primary() { local n; for n in n1 n2; do paf_is "$n" "primary wait_primary single" && echo "$n"; done; return 0; }
paf_kill() {
  local p
  p=$(paf_keeper_pid "$1") && kill -KILL -- "-$p" 2>/dev/null
  [ -f "$PAF/$1/postmaster.pid" ] && kill -KILL "$(head -1 "$PAF/$1/postmaster.pid")" 2>/dev/null
  return 0
}
paf_stop() {
  local n p
  for n in n1 n2 mon; do p=$(paf_keeper_pid "$n") && kill -TERM -- "-$p" 2>/dev/null; done
  sleep 2
  for n in n1 n2 mon; do
    [ -f "$PAF/$n/postmaster.pid" ] &&
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PAF/$n" -m immediate stop >/dev/null 2>&1
  done
  return 0
}
cl_paf() {
  local i
  command -v pg_autoctl >/dev/null || { echo "cluster_init: pg_autoctl is missing" >&2; return 1; }
  mkdir -p "$PAF" && chown postgres: "$PAF" && chmod 755 "$PAF" || return 1
  t_cleanup_add paf_stop
  paf create monitor --pgdata "$PAF/mon" --pgport $PAF_MON --hostname "$LAN.254" \
    --listen "$LAN.254" --auth trust --no-ssl >"$PAF/mon.log" 2>&1 || { cat "$PAF/mon.log" >&2; return 1; }
  cat >>"$PAF/mon/postgresql.conf" <<PGCONF
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 1000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 500
pgautofailover.node_considered_unhealthy_timeout = 3000
pgautofailover.primary_demote_timeout = 5000
PGCONF
  paf_keeper mon
  t_wait 30 hub runuser -u postgres -- "$PG_BIN/pg_isready" -q -h "$LAN.254" -p $PAF_MON || return 1
  for i in 1 2; do
    paf create postgres --pgdata "$PAF/n$i" --pgport $((PAF_MON + i)) --hostname "$LAN.254" \
      --listen "$LAN.254" --name "n$i" --auth trust --no-ssl --dbname qvd \
      --monitor "postgres://autoctl_node@$LAN.254:$PAF_MON/pg_auto_failover?sslmode=disable" \
      >"$PAF/n$i.log" 2>&1 || { cat "$PAF/n$i.log" >&2; return 1; }
    paf config set --pgdata "$PAF/n$i" timeout.network_partition_timeout 3 >/dev/null || return 1
    paf_keeper "n$i"
    t_wait 90 paf_is n1 "single primary" || { echo "n1 is not the primary" >&2; return 1; }
  done
  t_wait 120 eval 'paf_is n2 secondary && paf_is n1 primary' ||
    { echo "n2 did not become n1's standby" >&2; return 1; }
  for i in 1 2; do
    # the nodes reach the servers from the LAN (pg_autoctl allowed its own hosts only)
    echo "host all all $LAN.0/24 trust" >>"$PAF/n$i/pg_hba.conf"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PAF/n$i" reload >/dev/null || return 1
  done
  hub runuser -u postgres -- psql -X -q -h "$LAN.254" -p $((PAF_MON + 1)) -d qvd -c "CREATE ROLE qvd LOGIN" \
    -c "ALTER DATABASE qvd OWNER TO qvd" -c "ALTER SCHEMA public OWNER TO qvd" >/dev/null || return 1
  CL_DB_HOST=$LAN.254,$LAN.254 CL_DB_PORT=$((PAF_MON + 1)),$((PAF_MON + 2))
}

# cl_node X I CONFIG: X's namespaces, its LAN link, folders and config
cl_node() {
  local x=$1 i=$2 d=$T_DIR/node-$1
  t_node_ns "$x" || return 1
  NS_NET[$x]=$T_NS_NET NS_MNT[$x]=$T_NS_MNT NODE_IP[$x]=$LAN.$i
  hub ip link add "lan$x" type veth peer name lan0 netns "$T_NS_NET" &&
    hub ip link set "lan$x" master qvdlan up &&
    on "$x" ip addr add "$LAN.$i/24" dev lan0 &&
    on "$x" ip link set lan0 up || return 1
  mkdir -p "$d" && chmod 755 "$d"
  cat >"$d/node.conf" <<CONF
nodename = $x
database.type = pg
database.host = $CL_DB_HOST
database.port = $CL_DB_PORT
database.target_session_attrs = read-write
database.user = qvd
database.name = qvd
node.address = $LAN.$i
vm.network.subnet = 10.$i.0.0/16
path.run = $d/run
path.log = $d/log
path.storage.root = $d/storage
path.storage.homefs = $T_DIR/homes
path.storage.images = $T_DIR/images
path.vma.binary = $VMA
vma.x_session = /usr/local/bin/qvd-test-session
path.l7r.ssl.cert = $T_DIR/certs/cert.pem
path.l7r.ssl.key = $T_DIR/certs/key.pem
l7r.address = $LAN.$i
l7r.port = $PORT
l7r.user = nobody
hkd.vm_command.poll = 1
hkd.vma.ping.interval = 1
hkd.vma.failed.max_count = 3
hkd.vm.stop.timeout = 5
log.level = debug
$3
CONF
}

on() { local x=$1; shift; nsenter --mount="${NS_MNT[$x]}" --net="/run/netns/${NS_NET[$x]}" "$@"; }
# (a background job starts nsenter itself, which execs the program: $! is the program's PID,
# ready for kill; `on ... &` would give the PID of a subshell running the function)
admin() { on A "$ADMIN" -c "$(cl_conf A)" "$@"; }

start_hkd() {
  nsenter --mount="${NS_MNT[$1]}" --net="/run/netns/${NS_NET[$1]}" "$HKD" -c "$(cl_conf "$1")" \
    >>"$T_DIR/node-$1/hkd.log" 2>&1 &
  HKD_PIDS[$1]=$!
}
start_l7r() {
  nsenter --mount="${NS_MNT[$1]}" --net="/run/netns/${NS_NET[$1]}" "$L7R" -c "$(cl_conf "$1")" \
    >>"$T_DIR/node-$1/l7r.log" 2>&1 &
  L7R_PIDS[$1]=$!
}
host_id() { sql "SELECT id FROM hosts WHERE name = '$1'"; }
host_state() { sql "SELECT r.state FROM host_runtimes r JOIN hosts h ON h.id = r.host_id WHERE h.name = '$1'"; }
is_host() { [ "$(host_state "$1")" = "$2" ]; }
l7r_up() { hub bash -c "exec 3<>/dev/tcp/${NODE_IP[$1]}/$PORT" 2>/dev/null; }
start_node() {
  local x=$1
  start_hkd "$x"
  # (and still alive then: a stale `running` is not this HKD's)
  t_wait 60 is_host "$x" running && ! cl_dead "${HKD_PIDS[$x]}" ||
    { echo "node $x: the HKD did not start:" >&2; tail -20 "$T_DIR/node-$x/hkd.log" >&2; return 1; }
  start_l7r "$x"
  t_wait 30 l7r_up "$x" ||
    { echo "node $x: the L7R did not start:" >&2; tail -20 "$T_DIR/node-$x/l7r.log" >&2; return 1; }
}
# stop_node X: a clean stop (the HKD stops its VMs), waited for up to 60 s, until no
# process is left in X's namespace (the HKD's engine outlives its parent by a moment, and
# holds the lock a new HKD needs)
stop_node() {
  local x=$1 p
  for p in ${L7R_PIDS[$x]:-} ${HKD_PIDS[$x]:-}; do kill "$p" 2>/dev/null; done
  for p in ${L7R_PIDS[$x]:-} ${HKD_PIDS[$x]:-}; do t_wait 60 cl_dead "$p"; done
  t_wait 30 eval '[ -z "$(node_pids '"$x"')" ]'
  L7R_PIDS[$x]= HKD_PIDS[$x]=
}
cl_dead() { ! kill -0 "$1" 2>/dev/null; }

lxcpath() { echo "$T_DIR/node-$1/run/lxc"; }
containers() { on "$1" lxc-ls -P "$(lxcpath "$1")" 2>/dev/null; }
running() { on "$1" lxc-ls --running -P "$(lxcpath "$1")" 2>/dev/null; }
in_vm() { local x=$1 id=$2; shift 2; on "$x" lxc-attach -P "$(lxcpath "$x")" -n "qvd-$id" -- "$@"; }
vm_node() {
  local x
  for x in "${CL_NODES[@]}"; do
    running "$x" | tr -s ' \t' '\n' | t_has -x "qvd-$1" && echo "$x"
  done
  return 0
}
node_pids() { ip netns pids "${NS_NET[$1]}" 2>/dev/null; }
# the init processes of X's running containers (in network namespaces of their own)
cl_vm_inits() {
  local c
  for c in $(running "$1"); do on "$1" lxc-info -P "$(lxcpath "$1")" -n "$c" -p -H 2>/dev/null; done
}
# kill_node X: the node dies at once: every process in its network namespace (the HKD, its
# engine, the L7R, LXC's monitors) and every container's init (which takes the container's
# processes with it) with SIGKILL. Its containers' configuration, mounts and veths stay, as
# a crashed node's would.
kill_node() {
  local x=$1 pids
  pids="$(cl_vm_inits "$x") $(node_pids "$x")"
  # shellcheck disable=SC2086
  [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null
  t_wait 30 eval '[ -z "$(node_pids '"$x"')" ] && [ -z "$(running '"$x"')" ]'
  local p
  for p in $(cl_vm_inits "$x"); do kill -9 "$p" 2>/dev/null; done
  HKD_PIDS[$x]= L7R_PIDS[$x]=
}
cut() { hub ip link set "lan$1" down; }
uncut() { hub ip link set "lan$1" up; }

# xvfb_hub PIDVAR DISPVAR [SIZE]: an X screen (1024x768) in the hub, stopped at exit
xvfb_hub() {
  local size=${3:-1024x768} __d __p
  __d=:$((100 + RANDOM % 400))
  while [ -e "/tmp/.X${__d#:}-lock" ]; do __d=:$((100 + RANDOM % 400)); done
  nsenter --net="/run/netns/$HUB_NS" Xvfb "$__d" -screen 0 "${size}x24" -nolisten tcp -ac \
    >>"$T_DIR/xvfb.log" 2>&1 &
  __p=$!
  t_cleanup_add "kill $__p"
  printf -v "$1" '%s' "$__p"
  printf -v "$2" '%s' "$__d"
  t_wait 10 hub env DISPLAY="$__d" xdpyinfo >/dev/null 2>&1 </dev/null ||
    { echo "Xvfb $__d did not start" >&2; return 1; }
}
# client VAR [options]: qvd-client in the hub (HOME $T_DIR/home), its PID in VAR
client() {
  local __v=$1 __p; shift
  QVDPASSWORD=${PW:-pw} HOME=$T_DIR/home DISPLAY=$DISP nsenter --net="/run/netns/$HUB_NS" \
    "$CLIENT" --host "$CL_HOSTS" \
    --port $PORT --user "${LOGIN:-alice}" --accept-cert once --link "${LINK:-lan}" "$@" &
  __p=$!
  t_cleanup_add "kill $__p"
  printf -v "$__v" '%s' "$__p"
}
desktop_shown() { DISPLAY=$DISP hub "$XCOLOUR" -t "${1:-60}" "${2:-$COLOUR}"; }

# At exit (after the clients and X screens, before PostgreSQL and the namespaces): each
# node's daemons with SIGTERM, then what is left of its containers and its namespace's
# processes.
cluster_stop() {
  local x p c
  for x in "${CL_NODES[@]}"; do
    for p in ${L7R_PIDS[$x]:-} ${HKD_PIDS[$x]:-}; do kill "$p" 2>/dev/null; done
  done
  for x in "${CL_NODES[@]}"; do
    for p in ${L7R_PIDS[$x]:-} ${HKD_PIDS[$x]:-}; do t_wait 20 cl_dead "$p"; done
  done
  for x in "${CL_NODES[@]}"; do
    for c in $(containers "$x"); do on "$x" lxc-stop -k -P "$(lxcpath "$x")" -n "$c"; done
    p=$(node_pids "$x")
    # shellcheck disable=SC2086
    [ -n "$p" ] && kill -9 $p
  done
  return 0
}
