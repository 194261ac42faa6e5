#!/usr/bin/env bash
# bench/api.sh: qvd-api over 100,000 VMs (10 tenants, 1,000 users), on SQLite and on
# PostgreSQL (a throwaway server, tests/pg.sh): the time of one page of a VM list,
# filtered, ordered and counted, as curl sees it over one keep-alive TLS connection
# (median and 95th percentile of N requests), and the requests per second qvd-api answers
# for a simple list (wrk, 4 connections, over TLS).
#   bash bench/api.sh [VMS]      (default 100000; as root; build first)
# Knobs: BENCH_API_N (50 requests per case), BENCH_API_SECONDS (5), BENCH_KEEP=1.
. "$(dirname "$0")/../tests/lib.sh"
. "$QVD_TOP/tests/pg.sh"
VMS=${1:-${BENCH_API_VMS:-100000}}
N=${BENCH_API_N:-50}
SECS=${BENCH_API_SECONDS:-5}
API=$QVD_BUILD/src/api/qvd-api
ADMIN=$QVD_BUILD/src/admin/qvd-admin
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
[ -x "$API" ] || { echo "build first: ninja -C $QVD_BUILD" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: bash scripts/install-deps.sh" >&2; exit 1; }
t_init
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" \
  -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
chmod 600 "$T_DIR/key.pem"

# The data, in one SQL text that both back-ends run: tenants, users (one password hash
# shared), an OSF per tenant, a DI, and VMS VMs with their runtimes, 1 in 10 running.
populate() {
  local users=$((VMS / 100 > 0 ? VMS / 100 : 1)) hash
  hash=$(t_sql "SELECT password FROM administrators WHERE name = 'root'")
  t_sql "INSERT INTO tenants (name) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10)
           SELECT 'tenant' || i FROM c;
         INSERT INTO osfs (tenant_id, name) SELECT id, 'desktop' FROM tenants WHERE id > 1;
         INSERT INTO users (tenant_id, login, password) WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $users - 1)
           SELECT 2 + i % 10, 'user' || i, '$hash' FROM c;
         INSERT INTO vms (name, user_id, osf_id, ip, mac) WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $VMS - 1)
           SELECT 'vm-' || i, u.id, o.id, 'ip' || i, 'mac' || i FROM c
           JOIN users u ON u.login = 'user' || (i % $users) JOIN osfs o ON o.tenant_id = u.tenant_id;
         INSERT INTO vm_runtimes (vm_id, vm_state, user_state)
           SELECT id, CASE WHEN id % 10 = 0 THEN 'running' ELSE 'stopped' END,
                  CASE WHEN id % 20 = 0 THEN 'connected' ELSE 'disconnected' END FROM vms;
         INSERT INTO vm_counters (vm_id) SELECT id FROM vms;" >/dev/null
}

# stats FILE: "median p95" in ms of the seconds in FILE, one per line
stats() {
  sort -n "$1" | awk '{v[NR] = $1 * 1000} END {
    m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.95 + 0.999)]; printf "%.1f %.1f", m, p }'
}

run_backend() { # run_backend sqlite|pg
  local kind=$1 port=$((20000 + RANDOM % 20000)) pid tok url i c t0 t1 rows
  T_PG_DB= T_DB=
  if [ "$kind" = pg ]; then QVD_TEST_DB=pg t_db_init; else QVD_TEST_DB=sqlite t_db_init; fi
  cat >"$T_DIR/$kind.conf" <<CONF
$T_DB_CONF
path.run = $T_DIR/run-$kind
api.port = $port
api.socket =
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
log.level = ${BENCH_API_LOG:-warn}
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
  "$ADMIN" -c "$T_DIR/$kind.conf" db init >/dev/null &&
    echo pw | "$ADMIN" -c "$T_DIR/$kind.conf" admin add --name root --tenant '*' --role master --password-stdin >/dev/null ||
    { echo "$kind: cannot set up the database" >&2; return 1; }
  t0=$(date +%s.%N)
  populate || { echo "$kind: cannot populate" >&2; return 1; }
  [ "$kind" = pg ] && t_sql "ANALYZE vms; ANALYZE vm_runtimes; ANALYZE users; ANALYZE tenants; ANALYZE osfs" >/dev/null
  [ "$kind" = sqlite ] && t_sql "ANALYZE" >/dev/null
  t1=$(date +%s.%N)
  rows=$(t_sql "SELECT count(*) FROM vms")
  printf '# %s: %s VMs loaded in %.1f s\n' "$kind" "$rows" "$(echo "$t1 - $t0" | bc)" >&2
  "$API" -c "$T_DIR/$kind.conf" >"$T_DIR/api-$kind.log" 2>&1 &
  pid=$!
  t_wait 10 curl -s -o /dev/null --cacert "$T_DIR/cert.pem" "https://127.0.0.1:$port/api/v1/info" ||
    { echo "$kind: qvd-api does not answer" >&2; cat "$T_DIR/api-$kind.log" >&2; kill $pid; return 1; }
  tok=$(curl -s --cacert "$T_DIR/cert.pem" -H 'Content-Type: application/json' \
    -d '{"login":"root","tenant":"*","password":"pw"}' "https://127.0.0.1:$port/api/v1/login" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
  local -a cases=(
    "first page, by id|/api/v1/vms?limit=100"
    "filter state=running, by name|/api/v1/vms?filter=state%3Drunning&order=name&limit=100"
    "filter tenant and user state|/api/v1/vms?filter=tenant_id%3D3,user_state%3Dconnected&limit=100"
    "filter name~vm-4242*|/api/v1/vms?filter=name~vm-4242*&limit=100"
    "page 400 of 1000, by -id|/api/v1/vms?order=-id&offset=40000&limit=100"
    "one VM by id|/api/v1/vms/4242"
  )
  for c in "${cases[@]}"; do
    url=${c#*|}
    args=()
    for ((i = 0; i < N; i++)); do args+=(-o /dev/null "https://127.0.0.1:$port$url"); done
    curl -s --cacert "$T_DIR/cert.pem" -H "Authorization: Bearer $tok" -w '%{time_total}\n' \
      "${args[@]}" >"$T_DIR/times" 2>/dev/null
    # the first request opens the TLS connection: left out
    tail -n +2 "$T_DIR/times" >"$T_DIR/times2"
    read -r med p95 <<<"$(stats "$T_DIR/times2")"
    printf '| %-10s | %-38s | %8s | %8s |\n' "$kind" "${c%%|*}" "$med" "$p95"
  done
  curl -s --cacert "$T_DIR/cert.pem" -H "Authorization: Bearer $tok" \
    "https://127.0.0.1:$port/api/v1/vms?filter=state%3Drunning&limit=100" |
    python3 -c 'import sys,json; d=json.load(sys.stdin); print("# check: %d running VMs counted, %d rows on the page" % (d["total"], len(d["rows"])))' >&2
  wrk -t 2 -c 4 -d "${SECS}s" -H "Authorization: Bearer $tok" \
    "https://127.0.0.1:$port/api/v1/tenants?limit=10" >"$T_DIR/wrk-$kind" 2>&1
  REQS[$kind]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$T_DIR/wrk-$kind")
  LAT[$kind]=$(awk '/Latency/ {print $2}' "$T_DIR/wrk-$kind")
  ERRS[$kind]=$(awk '/Non-2xx/ {print $NF}' "$T_DIR/wrk-$kind")
  kill $pid; wait $pid 2>/dev/null
}

declare -A REQS LAT ERRS
echo "| back-end   | list of $VMS VMs (100 per page)$(printf '%*s' $((9 - ${#VMS})) '') | median ms | p95 ms |"
echo "|------------|----------------------------------------|----------|----------|"
run_backend sqlite
if pg_start >/dev/null 2>&1; then
  t_cleanup_add pg_stop
  run_backend pg
else
  echo "# PostgreSQL could not be started: its rows are missing" >&2
fi
echo
echo "| back-end | simple list (GET /api/v1/tenants), wrk 4 connections over TLS | requests/s | mean latency | non-2xx |"
echo "|----------|------|-----------|------|------|"
for k in sqlite pg; do
  [ -n "${REQS[$k]:-}" ] && echo "| $k | ${SECS} s | ${REQS[$k]} | ${LAT[$k]} | ${ERRS[$k]:-0} |"
done
