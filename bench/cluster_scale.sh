#!/usr/bin/env bash
# bench/cluster_scale.sh: a simulated cluster under a login storm. HKDS qvd-hkd processes
# (nodenames sim01.., each with its own path.run, path.log and storage, hypervisor
# `nothing`: VMs that exist only as rows) and as many qvd-l7r (one per node, on 127.0.0.1,
# ports in a row) share one PostgreSQL (a throwaway server like tests/pg.sh's, Unix socket
# only, with pg_stat_statements loaded). VMS users with one VM each; the VMs of the users
# who will not log in are started first (the cluster runs them); then LOGINS users log in
# within WINDOW seconds, evenly spread, as QVD's Perl client does (bench/cluster_login.py:
# TLS, /qvd/list_of_vm with Basic authentication, /qvd/connect_to_vm on the same
# connection) and wait until the L7R says "Starting session" (102): the VM is placed by
# the load balancer, started by its node's HKD and its row says running. That is the
# login-to-running time; the database's statements and transactions per second are read
# from pg_stat_statements and pg_stat_database over the storm. The same runs again with
# every count divided by --small (4), so that the growth with the cluster shows.
#
#   bash bench/cluster_scale.sh [options]     (as root; build first)
#     --hkds N (20)  --vms N (10000)  --logins N (2000)  --window S (60)
#     --l7rs N       L7Rs (default: one per HKD; logins take them in turn)
#     --prestart N   VMs started before the storm (default: all but the logins' VMs)
#     --small F      also a run with every count divided by F (default 4; 0: none)
#     --quick        4 HKDs, 400 VMs, 100 logins in 15 s (and a run divided by 2)
#     --perf         perf record -a during the storm: the CPU's share per program and library
# The users and VMs are inserted by SQL, as the model (qvd-admin user add / vm add) inserts
# them: a first user and VM are made by qvd-admin, the others copy their rows (same
# password hash; IP and MAC the next free ones down from the top of the VM network, as
# qvd_model_vm_add picks them). Set BENCH_KEEP=1 to keep the scratch folder (logs).
. "$(dirname "$0")/lib.sh"
L7R=$QVD_BUILD/src/l7r/qvd-l7r
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
HKDS=20 VMS=10000 LOGINS=2000 WINDOW=60 L7RS= PRESTART= SMALL=4 PERF=
usage() { sed -n '2,/^# qvd_model/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
num() { [[ $2 =~ ^[0-9]+$ ]] || { echo "$1 needs a number, not '$2'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case $1 in
  --hkds) num "$1" "${2:-}"; HKDS=$2; shift 2 ;;
  --vms) num "$1" "${2:-}"; VMS=$2; shift 2 ;;
  --logins) num "$1" "${2:-}"; LOGINS=$2; shift 2 ;;
  --window) num "$1" "${2:-}"; WINDOW=$2; shift 2 ;;
  --l7rs) num "$1" "${2:-}"; L7RS=$2; shift 2 ;;
  --prestart) num "$1" "${2:-}"; PRESTART=$2; shift 2 ;;
  --small) num "$1" "${2:-}"; SMALL=$2; shift 2 ;;
  --quick) HKDS=4 VMS=400 LOGINS=100 WINDOW=15 SMALL=2; shift ;;
  --perf) PERF=1; shift ;;
  -h | --help) usage ;;
  *) echo "unknown option '$1'" >&2; usage ;;
  esac
done
((HKDS >= 1 && HKDS <= 99 && LOGINS >= 1 && VMS >= LOGINS && WINDOW >= 1)) ||
  { echo "need 1..99 HKDs, at least 1 login, at least as many VMs as logins, a window of 1 s or more" >&2; exit 2; }
[ -x "$L7R" ] || { echo "build first: $L7R" >&2; exit 1; }
[ -x "$PG_BIN/pg_ctl" ] || { echo "$PG_BIN/pg_ctl missing (apt-get install postgresql)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/cluster_scale.sh needs python3" >&2; exit 1; }
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
b_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
t_node_ns cluster || { echo "cannot create the namespaces" >&2; exit 1; }
t_self_cert "$T_DIR" localhost || exit 1
touch "$T_DIR/empty.tar" # the DI: simulated VMs never open it
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
TICK=$(getconf CLK_TCK)

# --- the PostgreSQL server: Unix socket only, fsync off, pg_stat_statements loaded ---
PG_DIR=$T_DIR/pg PG_PORT=$((25000 + RANDOM % 5000))
pg_up() {
  mkdir -p "$PG_DIR" && chown postgres: "$PG_DIR" || return 1
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync \
    -E UTF8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  t_cleanup_add "runuser -u postgres -- $PG_BIN/pg_ctl -D $PG_DIR/data -m immediate -w stop"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-c listen_addresses='' -k $PG_DIR -p $PG_PORT -c fsync=off -c full_page_writes=off $(
    )-c synchronous_commit=off -c max_connections=$((HKDS * 8 + 100)) $(
    )-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
  psql_su postgres "CREATE ROLE qvd LOGIN" >/dev/null
}
psql_su() { runuser -u postgres -- psql -X -q -At -F ' ' -h "$PG_DIR" -p "$PG_PORT" -d "$1" -c "$2"; }
pg_up || { echo "cannot start PostgreSQL" >&2; exit 1; }

# --- one run's cluster ---
PIDS_HKD=() PIDS_L7R=() LOADER_PID=
t_cleanup_add stop_cluster
node_conf() { # node_conf RUN-DIR N: the config of node simNN
  local d=$1/sim$2
  mkdir -p "$d"
  cat >"$d/node.conf" <<CONF
nodename = sim$2
database.type = pg
database.host = $PG_DIR
database.port = $PG_PORT
database.user = qvd
database.name = $DBNAME
path.run = $d/run
path.log = $d/log
path.storage.root = $d/storage
vm.hypervisor = nothing
log.level = warn
l7r.address = 127.0.0.1
l7r.port = $((PORT0 + 10#$2))
l7r.user = nobody
l7r.shutdown.grace = 0
l7r.auth.throttle.failures = 1000000
path.l7r.ssl.cert = $T_DIR/cert.pem
path.l7r.ssl.key = $T_DIR/key.pem
CONF
}
hosts_running() { [ "$(csql "SELECT count(*) FROM host_runtimes WHERE state = 'running'")" = "$1" ]; }
vms_running() { [ "$(csql "SELECT count(*) FROM vm_runtimes WHERE vm_state = 'running'")" -ge "$1" ]; }
cadmin() { "$ADMIN" -c "$RUN/sim01/node.conf" "$@"; }
csql() { psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U qvd -d "$DBNAME" -c "$1"; }
# every process of ours: the HKDs' root parents and their engines, the L7Rs
kids() { local p; for p in "$@"; do echo "$p"; ps -o pid= --ppid "$p" 2>/dev/null; done; }
stop_cluster() {
  local p
  [ -n "$LOADER_PID" ] && kill "$LOADER_PID" 2>/dev/null
  # simulated VMs leave nothing on a node: -9 spares the stop of thousands of rows that
  # the run's database, dropped next, does not need
  for p in $(kids "${PIDS_HKD[@]}" "${PIDS_L7R[@]}"); do kill -9 "$p" 2>/dev/null; done
  for p in "${PIDS_HKD[@]}" "${PIDS_L7R[@]}"; do wait "$p" 2>/dev/null; done
  PIDS_HKD=() PIDS_L7R=() LOADER_PID=
}
# cpu_s PID...: CPU seconds (user + system) used so far by the processes named
cpu_s() {
  local p sum=0 f
  for p in "$@"; do
    f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    sum=$((sum + ${12} + ${13}))
  done
  awk -v t="$sum" -v k="$TICK" 'BEGIN { printf "%.2f", t / k }'
}
pg_pids() { echo "$PG_PID"; ps -o pid= --ppid "$PG_PID"; }
# db_counters: statements (pg_stat_statements calls), transactions, rows read, rows written
db_counters() {
  echo "$(psql_su "$DBNAME" "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
                              WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")" \
    "$(psql_su "$DBNAME" "SELECT pg_stat_force_next_flush(); SELECT xact_commit + xact_rollback,
       tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted
       FROM pg_stat_database WHERE datname = current_database()" | tail -1)"
}
# pct P: the P-th percentile (nearest rank) of the numbers on stdin
pct() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
  r = int(NR * p / 100); if (r < NR * p / 100) r++; if (r < 1) r = 1; printf "%.0f\n", v[r] }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

declare -A R # R[run,figure]
RUNS=()
run_scale() { # run_scale LABEL HKDS VMS LOGINS WINDOW L7RS PRESTART
  local lab=$1 h=$2 v=$3 n=$4 w=$5 nl=$6 pre=$7 i t0 t1 c0 c1 s0 s1 cpu0 cpu1 ports= hkdp l7rp
  RUN=$T_DIR/$lab DBNAME=qvd_$lab PORT0=$((18000 + RANDOM % 1000 * 10))
  RUNS+=("$lab")
  R[$lab,shape]="$h HKDs, $nl L7Rs, $v VMs, $n logins in $w s"
  echo "# $lab: ${R[$lab,shape]}" >&2
  mkdir -p "$RUN"
  psql_su postgres "CREATE DATABASE $DBNAME OWNER qvd" >/dev/null &&
    psql_su "$DBNAME" "CREATE EXTENSION pg_stat_statements" >/dev/null || return 1
  for ((i = 1; i <= h; i++)); do node_conf "$RUN" "$(printf %02d $i)"; done
  cadmin db init >/dev/null || { echo "$lab: db init failed" >&2; return 1; }
  for ((i = 1; i <= h; i++)); do
    cadmin host add --name "$(printf sim%02d $i)" --address "127.0.0.$((i + 1))" >/dev/null || return 1
  done
  # the model makes the first user and VM; SQL copies them, as qvd_model_user_add and
  # qvd_model_vm_add would insert the others (IP/MAC: the next free ones)
  cadmin user add --login u0 --password pw >/dev/null &&
    cadmin osf add --name desk --memory 256 >/dev/null &&
    cadmin di add --osf desk --path "$T_DIR/empty.tar" >/dev/null &&
    cadmin vm add --name vm0 --user u0 --osf desk >/dev/null || { echo "$lab: cannot add the first VM" >&2; return 1; }
  t0=$(b_now)
  csql "INSERT INTO users (tenant_id, login, password, description, created_ts)
          SELECT u.tenant_id, 'u' || i, u.password, '', u.created_ts FROM users u, generate_series(1, $v - 1) i
          WHERE u.login = 'u0';
        INSERT INTO vms (name, user_id, osf_id, di_tag, ip, mac, description, created_ts)
          SELECT 'vm' || i, n.id, v.osf_id, v.di_tag,
                 '10.0.' || ((65534 - i) / 256) || '.' || ((65534 - i) % 256),
                 '54:52:00:00:' || lpad(to_hex((65534 - i) / 256), 2, '0') || ':' || lpad(to_hex((65534 - i) % 256), 2, '0'),
                 '', v.created_ts
          FROM vms v, generate_series(1, $v - 1) i JOIN users n ON n.login = 'u' || i WHERE v.name = 'vm0';
        INSERT INTO vm_runtimes (vm_id, vm_state_ts, user_state_ts)
          SELECT id, created_ts, created_ts FROM vms WHERE name <> 'vm0';
        INSERT INTO vm_counters (vm_id) SELECT id FROM vms WHERE name <> 'vm0';
        ANALYZE users; ANALYZE vms; ANALYZE vm_runtimes; ANALYZE vm_counters" >/dev/null || { echo "$lab: cannot insert the VMs" >&2; return 1; }
  [ "$(csql "SELECT ip || ' ' || mac FROM vms WHERE name = 'vm0'")" = "10.0.255.254 54:52:00:00:ff:fe" ] ||
    { echo "$lab: the model's first VM is not where the SQL copies assume it: $(csql "SELECT ip, mac FROM vms")" >&2; return 1; }
  t1=$(b_now)
  R[$lab,load]=$(awk -v u=$((t1 - t0)) 'BEGIN { printf "%.1f", u / 1e6 }')

  for ((i = 1; i <= h; i++)); do
    t_node_spawn hkdp "$HKD" -c "$RUN/sim$(printf %02d $i)/node.conf" >>"$RUN/hkd$i.log" 2>&1
    PIDS_HKD+=("$hkdp")
  done
  t_wait 60 hosts_running "$h" ||
    { echo "$lab: the HKDs did not all start:" >&2; tail -5 "$RUN"/hkd*.log >&2; return 1; }
  for ((i = 1; i <= nl; i++)); do
    t_node_spawn l7rp "$L7R" -c "$RUN/sim$(printf %02d $i)/node.conf" >>"$RUN/l7r$i.log" 2>&1
    PIDS_L7R+=("$l7rp")
    ports+=${ports:+,}$((PORT0 + i))
  done
  for ((i = 1; i <= nl; i++)); do
    t_wait 30 t_in_node bash -c "exec 3<>/dev/tcp/127.0.0.1/$((PORT0 + i))" 2>/dev/null ||
      { echo "$lab: L7R $i did not start:" >&2; tail -5 "$RUN/l7r$i.log" >&2; return 1; }
  done

  # the VMs of the users who do not log in: started as qvd_model_vm_start does (vm_cmd
  # 'start' on a host, then the host's wake-up), spread over the nodes in turn (where the
  # balancer's weights, equal nodes, lead), and waited for
  t0=$(b_now)
  csql "UPDATE vm_runtimes r SET vm_cmd = 'start', host_id = h.id FROM vms v, hosts h
          WHERE v.id = r.vm_id AND h.name = 'sim' || lpad((1 + (v.id % $h))::text, 2, '0')
          AND v.user_id IN (SELECT id FROM users WHERE login ~ '^u[0-9]+$'
                            AND substr(login, 2)::int >= $n AND substr(login, 2)::int < $((n + pre)))" >/dev/null
  for ((i = 1; i <= h; i++)); do csql "NOTIFY qvd_cmd_for_vm_on_host$i" >/dev/null; done
  t_wait $((pre / 20 + 120)) vms_running "$pre" ||
    echo "$lab: only $(csql "SELECT count(*) FROM vm_runtimes WHERE vm_state = 'running'") of $pre VMs started" >&2
  t1=$(b_now)
  R[$lab,prestart]="$(csql "SELECT count(*) FROM vm_runtimes WHERE vm_state = 'running'") in $(awk -v u=$((t1 - t0)) 'BEGIN { printf "%.1f", u / 1e6 }') s"

  # the idle cluster: heartbeats, polls
  b_sleep 3
  c0=$(db_counters); s0=$(b_now)
  b_sleep 10
  c1=$(db_counters); s1=$(b_now)
  set -- $c0; local ic0=$1 it0=$2; set -- $c1
  R[$lab,idle]="$(rate $(($1 - ic0)) "$(((s1 - s0) / 1000000))") / $(rate $(($2 - it0)) "$(((s1 - s0) / 1000000))")"

  # the storm
  local all_hkd all_l7r
  all_hkd=$(kids "${PIDS_HKD[@]}") all_l7r=$(kids "${PIDS_L7R[@]}")
  csql "SELECT 1" >/dev/null
  psql_su "$DBNAME" "SELECT pg_stat_statements_reset()" >/dev/null
  c0=$(db_counters)
  cpu0="$(cpu_s $all_hkd) $(cpu_s $all_l7r) $(cpu_s $(pg_pids))"
  local perfp=
  [ -n "$PERF" ] && { perf record -a -F 199 -g -o "$RUN/perf.data" -- sleep "$w" >/dev/null 2>&1 & perfp=$!; }
  s0=$(b_now)
  ulimit -n "$(ulimit -Hn)"
  t_node_spawn LOADER_PID python3 "$QVD_TOP/bench/cluster_login.py" "$n" "$w" pw u "$ports" >"$RUN/logins" 2>"$RUN/loader.err"
  local lpid=$LOADER_PID
  while kill -0 "$lpid" 2>/dev/null; do
    R[$lab,loader]=$(cpu_s "$lpid")
    b_sleep 0.5
  done
  wait "$lpid"
  LOADER_PID=
  s1=$(b_now)
  cpu1="$(cpu_s $all_hkd) $(cpu_s $all_l7r) $(cpu_s $(pg_pids))"
  c1=$(db_counters)
  [ -n "$perfp" ] && wait "$perfp" 2>/dev/null
  local secs
  secs=$(awk -v u=$((s1 - s0)) 'BEGIN { printf "%.1f", u / 1e6 }')
  R[$lab,secs]=$secs
  set -- $c0; local q0=$1 x0=$2 r0=$3 w0=$4; set -- $c1
  R[$lab,qps]=$(awk -v a=$(($1 - q0)) -v s="$secs" 'BEGIN { printf "%.0f", a / s }')
  R[$lab,tps]=$(awk -v a=$(($2 - x0)) -v s="$secs" 'BEGIN { printf "%.0f", a / s }')
  R[$lab,rows]="$(awk -v a=$(($3 - r0)) -v s="$secs" 'BEGIN { printf "%.0f", a / s }') / $(awk -v a=$(($4 - w0)) -v s="$secs" 'BEGIN { printf "%.0f", a / s }')"
  R[$lab,stmts]=$(($1 - q0))
  set -- $cpu0; local ch=$1 cl=$2 cp=$3; set -- $cpu1
  R[$lab,cpu]=$(awk -v h=$1 -v h0=$ch -v l=$2 -v l0=$cl -v p=$3 -v p0=$cp -v c="${R[$lab,loader]:-0}" \
    'BEGIN { printf "%.1f / %.1f / %.1f / %.1f", l - l0, h - h0, p - p0, c }')

  # the logins: i port result t_start t_tls t_list t_req t_run
  local f=$RUN/logins ok
  ok=$(awk '$3 == "ok"' "$f" | wc -l)
  R[$lab,ok]="$ok of $n"
  R[$lab,fail]=$(awk '$3 != "ok" { print $3 }' "$f" | sort | uniq -c | sort -rn | head -3 | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')
  R[$lab,rate]=$(awk '$3 == "ok" { if (!s || $4 < s) s = $4; if ($8 > e) e = $8; n++ }
    END { printf "%.0f", (e > s ? n / (e - s) * 60000 : 0) }' "$f")
  R[$lab,last]=$(awk '$3 == "ok" && $8 > e { e = $8 } END { printf "%.1f", e / 1000 }' "$f")
  for k in "run:\$8 - \$7" "whole:\$8 - \$4" "tls:\$5 - \$4" "list:\$6 - \$5"; do
    local name=${k%%:*} expr=${k#*:}
    R[$lab,$name]="$(awk "\$3 == \"ok\" { print $expr }" "$f" | pct 50) / $(awk "\$3 == \"ok\" { print $expr }" "$f" | pct 99) / $(awk "\$3 == \"ok\" { print $expr }" "$f" | pct 100)"
  done
  R[$lab,top]=$(psql_su "$DBNAME" "SELECT calls, round(total_exec_time)::bigint, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT 8" | awk '{ c = $1; t = $2; $1 = $2 = ""; printf "|%s|%s|`%s`|\n", c, t, substr($0, 3) }')
  if [ -n "$PERF" ] && [ -f "$RUN/perf.data" ]; then
    R[$lab,perf]=$(perf report -i "$RUN/perf.data" --no-children -g none --sort comm --stdio 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -8)
    R[$lab,perfl7r]=$(perf report -i "$RUN/perf.data" --no-children -g none --sort comm,dso --stdio 2>/dev/null |
      grep -E '^ +[0-9.]+%' | grep -E ' (qvd-l7r|qvd-hkd|postgres|python3) ' | head -12)
  fi
  stop_cluster
  psql_su postgres "DROP DATABASE $DBNAME WITH (FORCE)" >/dev/null
}

[ -z "$L7RS" ] && L7RS=$HKDS
((L7RS > HKDS)) && L7RS=$HKDS
[ -z "$PRESTART" ] && PRESTART=$((VMS - LOGINS))
((PRESTART > VMS - LOGINS)) && PRESTART=$((VMS - LOGINS))
if ((SMALL > 1)); then
  sh=$(((HKDS + SMALL - 1) / SMALL)) sl=$(((L7RS + SMALL - 1) / SMALL))
  run_scale small "$sh" $((VMS / SMALL)) $((LOGINS / SMALL)) "$WINDOW" "$sl" $((PRESTART / SMALL)) || exit 1
fi
run_scale large "$HKDS" "$VMS" "$LOGINS" "$WINDOW" "$L7RS" "$PRESTART" || exit 1

echo
echo "Simulated cluster (hypervisor nothing), one PostgreSQL 15 ($(nproc) cores, $(date +%F)," \
  "load average at the start $LOAD0 and at the end $(cut -d' ' -f1-3 /proc/loadavg))"
hdr="| figure |" sep="|---|"
for r in "${RUNS[@]}"; do hdr+=" $r |"; sep+="---|"; done
echo "$hdr"
echo "$sep"
row() { local l="| $1 |" r; for r in "${RUNS[@]}"; do l+=" ${R[$r,$2]:--} |"; done; echo "$l"; }
row "cluster" shape
row "users and VMs inserted by SQL (s)" load
row "VMs started before the storm (running, time)" prestart
row "idle cluster: statements/s / transactions/s" idle
row "logins that reached running" ok
row "failures (most frequent)" fail
row "logins reaching running per minute" rate
row "last login running at (s)" last
row "**login-to-running** (connect_to_vm -> 102 Starting session), p50 / p99 / max ms" run
row "whole login (TCP connect -> running), p50 / p99 / max ms" whole
row "TLS handshake, p50 / p99 / max ms" tls
row "list_of_vm (password check), p50 / p99 / max ms" list
row "storm duration (s)" secs
row "**database statements/s** during the storm" qps
row "database transactions/s" tps
row "database rows read/s / written/s" rows
row "statements during the storm" stmts
row "CPU s during the storm: L7Rs / HKDs / PostgreSQL / client" cpu
for r in "${RUNS[@]}"; do
  echo
  echo "$r run, the statements that took the database's time (pg_stat_statements, the storm):"
  echo "| calls | total ms | statement |"
  echo "|---|---|---|"
  echo "${R[$r,top]}"
  if [ -n "${R[$r,perf]:-}" ]; then
    echo
    echo "$r run, perf record -a during the storm: share of the machine's samples by program (other"
    echo "sessions' work included), then the bench's programs by library (share of all samples):"
    echo '```'
    echo "${R[$r,perf]}"
    echo "---"
    echo "${R[$r,perfl7r]}"
    echo '```'
  fi
done
