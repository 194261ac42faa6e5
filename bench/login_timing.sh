#!/usr/bin/env bash
# bench/login_timing.sh: does the time of a refused login tell an attacker who exists? A node
# (qvd-hkd with the `nothing` hypervisor, qvd-l7r on 127.0.0.1 inside the node's network
# namespace, the default argon2id costs) answers N logins of each kind: an unknown user, a
# blocked user, a known user with a wrong password, the right password. Each is timed by
# curl from the end of the TLS handshake to the end of the answer (time_total -
# time_appconnect: what the L7R spends on the request, without curl's own start-up). The
# throttle is raised out of the way. Equal medians for the three refusals are the aim.
#   bash bench/login_timing.sh [N]   (default 30; as root; build first)
. "$(dirname "$0")/lib.sh"
N=${1:-${BENCH_LOGIN_N:-30}}
L7R=$QVD_BUILD/src/l7r/qvd-l7r
[ -x "$L7R" ] || { echo "build first: $L7R" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/login_timing.sh needs curl" >&2; exit 1; }
b_init
PORT=$((19200 + RANDOM % 300))
chmod 755 "$T_DIR" # the L7R runs as nobody: it must reach the database folder
t_self_cert "$T_DIR" localhost
b_node "$T_DIR/node" nothing "l7r.address = 127.0.0.1" "l7r.port = $PORT" "l7r.user = nobody" \
  "path.l7r.ssl.cert = $T_DIR/cert.pem" "path.l7r.ssl.key = $T_DIR/key.pem" \
  "l7r.auth.throttle.failures = 1000000" "log.level = warn"
L7R_PID=
t_cleanup_add 'kill $L7R_PID 2>/dev/null; sleep 0.2'
admin user add --login known --password right >/dev/null
admin user add --login blocked --password right >/dev/null
admin user block --login blocked >/dev/null
b_start_hkd || exit 1
t_node_spawn L7R_PID "$L7R" -c "$CONF" >>"$T_DIR/node/l7r.log" 2>&1
l7r_up() { t_in_node curl -sk -m 2 -o /dev/null "https://127.0.0.1:$PORT/qvd/ping"; }
t_wait 10 l7r_up || { echo "the L7R did not start:" >&2; tail -20 "$T_DIR/node/l7r.log" >&2; exit 1; }

# login_ms USER:PASSWORD WANT: one login (list_of_vm) on a new connection; prints its ms;
# fails if the answer is not WANT
login_ms() {
  local code t_tls t_end
  read -r code t_tls t_end < <(t_in_node curl -sk -o /dev/null \
    -w '%{http_code} %{time_appconnect} %{time_total}\n' -u "$1" "https://127.0.0.1:$PORT/qvd/list_of_vm")
  [ "$code" = "$2" ] || { echo "login ${1%%:*} answered $code, not $2" >&2; return 1; }
  awk -v a="$t_tls" -v t="$t_end" 'BEGIN { printf "%.2f\n", (t - a) * 1000 }'
}
KINDS=("unknown user|nobody-here:wrong|401" "blocked user|blocked:right|401"
  "known user, wrong password|known:wrong|401" "known user, right password|known:right|200")
# the kinds take turns, so that the load of the machine weighs on each alike
for ((k = 0; k < N; k++)); do
  for i in "${!KINDS[@]}"; do
    IFS='|' read -r _ cred want <<<"${KINDS[$i]}"
    login_ms "$cred" "$want" >>"$T_DIR/kind$i" || exit 1
  done
done
row() { printf '| %-38s | %8s | %8s | %8s |\n' "$@"; }
echo
echo "Time of one login through qvd-l7r ($(nproc) cores, $(date +%F)); $N logins of each kind," \
  "argon2id t_cost $(admin config get password.argon2.t_cost)" \
  "m_cost $(admin config get password.argon2.m_cost) KiB"
row "login (ms after the TLS handshake)" min median max
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" ---------- ---------- ----------
for i in "${!KINDS[@]}"; do
  # shellcheck disable=SC2046
  row "${KINDS[$i]%%|*}" $(b_stats <"$T_DIR/kind$i")
done
echo "(each login on a new TLS connection from curl inside the node, the four kinds in turn;" \
  "the password checks run on the L7R's worker threads)"
