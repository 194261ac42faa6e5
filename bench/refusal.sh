#!/usr/bin/env bash
# bench/refusal.sh: how long a connect_to_vm that waiting cannot mend takes to be refused,
# through the whole path (TLS, login, a running VM's VMA): an invalid qvd.client.geometry
# (the VMA refuses the value) and a forged `root` users row (the VMA refuses the account).
# Each includes the TLS handshake and the password check (argon2id, about 0.5 s here).
# Before the VMA said "refused for good", the invalid geometry was retried for ~20 s and
# answered 503, the root row ~20 s later as "server busy".
#   bash bench/refusal.sh [N]       (as root; build first). N requests of each kind (10).
. "$(dirname "$0")/lib.sh"
N=${1:-10}
b_init
b_test_di || { echo "cannot build the test DI" >&2; exit 1; }
. "$QVD_TOP/tests/session_node.sh"
session_node_init bref >/dev/null 2>&1 || { echo "the test node did not start" >&2; exit 1; }
admin user add --login rooty --password pw3 >/dev/null &&
  admin vm add --name rootvm --user rooty --osf desk >/dev/null # VM 2
t_sql "UPDATE users SET login = 'root' WHERE login = 'rooty'"
admin vm start --id 1 >/dev/null && admin vm start --id 2 >/dev/null
t_wait 120 eval 'is_vm 1 running && is_vm 2 running' || { echo "the VMs did not start" >&2; exit 1; }

# one KIND: milliseconds of one raw connect_to_vm until its final answer, and that status
one() {
  local t0 t1 code
  t0=$(b_now)
  code=$(t_in_node curl -sk -m 60 -o /dev/null -w '%{http_code}' -u "$2" \
    -H 'Connection: Upgrade' -H 'Upgrade: QVD/1.0' \
    "https://127.0.0.1:$PORT/qvd/connect_to_vm?$3" 2>/dev/null)
  t1=$(b_now)
  echo "$(((t1 - t0) / 1000)) $code"
}
stats() { sort -n | awk '{a[NR]=$1; c=$2} END {printf "%8d %8d %8d   %s\n", a[1], a[int((NR+1)/2)], a[NR], c}'; }

printf '%-34s %8s %8s %8s   %s\n' "request ($N each)" "min ms" "median" "max" "status"
for i in $(seq "$N"); do one geometry alice:pw 'id=1&qvd.client.geometry=abc'; done |
  stats | sed 's/^/invalid qvd.client.geometry       /'
for i in $(seq "$N"); do one root root:pw3 'id=2'; done | stats | sed 's/^/forged root user                  /'
