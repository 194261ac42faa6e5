#!/usr/bin/env bash
# bench/login_timing.sh: does the time of a refused login tell an attacker who exists? A node
# (qvd-hkd with the `nothing` hypervisor; qvd-l7r and qvd-api on 127.0.0.1 inside the
# node's network namespace; the default argon2id costs) answers N logins of each kind: an
# unknown user, a blocked user, a known user with a wrong password, the right password; the
# same for qvd-api's administrators. Each is timed by curl from the end of the TLS handshake
# to the end of the answer (time_total - time_appconnect: what the server spends on the
# request, without curl's own start-up). The throttles are raised out of the way. Equal
# medians for the three refusals are the aim.
#   bash bench/login_timing.sh [N]   (default 30; as root; build first)
. "$(dirname "$0")/lib.sh"
N=${1:-${BENCH_LOGIN_N:-30}}
L7R=$QVD_BUILD/src/l7r/qvd-l7r
API=$QVD_BUILD/src/api/qvd-api
[ -x "$L7R" ] && [ -x "$API" ] || { echo "build first: $L7R, $API" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/login_timing.sh needs curl" >&2; exit 1; }
b_init
PORT=$((19200 + RANDOM % 300)) APORT=$((19600 + RANDOM % 300))
chmod 755 "$T_DIR" # the L7R runs as nobody: it must reach the database folder
t_self_cert "$T_DIR" localhost
b_node "$T_DIR/node" nothing "l7r.address = 127.0.0.1" "l7r.port = $PORT" "l7r.user = nobody" \
  "path.l7r.ssl.cert = $T_DIR/cert.pem" "path.l7r.ssl.key = $T_DIR/key.pem" \
  "l7r.auth.throttle.failures = 1000000" "api.address = 127.0.0.1" "api.port = $APORT" \
  "api.socket =" "path.api.ssl.cert = $T_DIR/cert.pem" "path.api.ssl.key = $T_DIR/key.pem" \
  "api.auth.throttle.failures = 1000000" "log.level = warn"
L7R_PID= API_PID=
t_cleanup_add 'kill $L7R_PID $API_PID 2>/dev/null; sleep 0.2'
admin user add --login known --password right >/dev/null
admin user add --login blocked --password right >/dev/null
admin user block --login blocked >/dev/null
admin admin add --name known --tenant '*' --password right >/dev/null
admin admin add --name blocked --tenant '*' --password right >/dev/null
sql "UPDATE administrators SET blocked = 1 WHERE name = 'blocked'"
b_start_hkd || exit 1
t_node_spawn L7R_PID "$L7R" -c "$CONF" >>"$T_DIR/node/l7r.log" 2>&1
t_node_spawn API_PID "$API" -c "$CONF" >>"$T_DIR/node/api.log" 2>&1
up() { t_in_node curl -sk -m 2 -o /dev/null "$1"; }
t_wait 10 up "https://127.0.0.1:$PORT/qvd/ping" ||
  { echo "the L7R did not start:" >&2; tail -20 "$T_DIR/node/l7r.log" >&2; exit 1; }
t_wait 10 up "https://127.0.0.1:$APORT/api/v1/login" ||
  { echo "qvd-api did not start:" >&2; tail -20 "$T_DIR/node/api.log" >&2; exit 1; }

# login_ms WANT CURL-ARGS...: one login on a new connection; prints its ms; fails if the
# answer is not WANT
login_ms() {
  local want=$1 code t_tls t_end
  shift
  read -r code t_tls t_end < <(t_in_node curl -sk -o /dev/null \
    -w '%{http_code} %{time_appconnect} %{time_total}\n' "$@")
  [ "$code" = "$want" ] || { echo "a login answered $code, not $want: $*" >&2; return 1; }
  awk -v a="$t_tls" -v t="$t_end" 'BEGIN { printf "%.2f\n", (t - a) * 1000 }'
}
l7r() { login_ms "$2" -u "$1" "https://127.0.0.1:$PORT/qvd/list_of_vm"; }
api() {
  login_ms "$3" -H 'Content-Type: application/json' \
    --data-binary "{\"login\":\"$1\",\"tenant\":\"*\",\"password\":\"$2\"}" "https://127.0.0.1:$APORT/api/v1/login"
}
NAMES=("unknown user" "blocked user" "known user, wrong password" "known user, right password")
RUNS=("l7r nobody-here:wrong 401" "l7r blocked:right 401" "l7r known:wrong 401" "l7r known:right 200"
  "api nobody-here wrong 401" "api blocked right 401" "api known wrong 401" "api known right 200")
# the kinds take turns, so that the load of the machine weighs on each alike
for ((k = 0; k < N; k++)); do
  for i in "${!RUNS[@]}"; do
    # shellcheck disable=SC2086
    ${RUNS[$i]} >>"$T_DIR/run$i" || exit 1
  done
done
row() { printf '| %-38s | %8s | %8s | %8s |\n' "$@"; }
table() { # table TITLE FIRST-RUN
  echo
  echo "$1 ($(nproc) cores, $(date +%F)); $N logins of each kind, argon2id t_cost" \
    "$(admin config get password.argon2.t_cost) m_cost $(admin config get password.argon2.m_cost) KiB"
  row "login (ms after the TLS handshake)" min median max
  printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" ---------- ---------- ----------
  for i in 0 1 2 3; do
    # shellcheck disable=SC2046
    row "${NAMES[$i]}" $(b_stats <"$T_DIR/run$(($2 + i))")
  done
}
table "Time of one login through qvd-l7r (GET /qvd/list_of_vm)" 0
table "Time of one administrator login through qvd-api (POST /api/v1/login)" 4
echo "(each login on a new TLS connection from curl inside the node, all kinds in turn; the" \
  "L7R checks passwords on its worker threads, qvd-api on its request threads)"
