#!/usr/bin/env bash
# bench/l7r_stall.sh: the L7R's relay latency while its database stalls, against no stall.
# One node (qvd-hkd + qvd-l7r in a test node's namespaces, SQLite), one LXC VM of the test
# DI. The VMA's connection to nxagent (127.0.0.1:4100 in the VM) is redirected by nftables
# to an echo (socat PIPE) in the VM's network namespace, so that what goes in through the
# L7R comes back the same way: l7r-connect (TLS, connect_to_vm, 101) listens on the node,
# and a small Python client sends 64 bytes and waits for their echo, N times in a row:
#   client -> l7r-connect -> TLS -> qvd-l7r -> VMA (x_connect) -> echo, and back.
# First without a stall, then while another process holds the database's write lock
# (tests/stall.sh: BEGIN EXCLUSIVE), with a login (create_auth_token) waiting on it and
# /qvd/ping requests going on, as a busy node would see. Target: within 50 ms of no stall.
#   bash bench/l7r_stall.sh     (as root; build first). Knobs: BENCH_STALL_N (500 round trips)
. "$(dirname "$0")/lib.sh"
N=${BENCH_STALL_N:-500}
b_init
L7R=$QVD_BUILD/src/l7r/qvd-l7r
CONNECT=$QVD_BUILD/tests/helpers/l7r-connect
for p in "$L7R" "$CONNECT"; do [ -x "$p" ] || { echo "build first: $p" >&2; exit 1; }; done
for t in socat nft curl python3; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
PORT=$((18600 + RANDOM % 300)) LPORT=$((4600 + RANDOM % 200)) ECHO=$((19000 + RANDOM % 300))
chmod 755 "$T_DIR"
t_self_cert "$T_DIR" localhost
b_node "$T_DIR/node" lxc "hkd.vm_command.poll = 1" "hkd.vma.ping.interval = 1" \
  "vma.x_session = /usr/local/bin/qvd-test-session" "database.busy_timeout = 120000" \
  "l7r.address = 127.0.0.1" "l7r.port = $PORT" "l7r.user = nobody" \
  "path.l7r.ssl.cert = $T_DIR/cert.pem" "path.l7r.ssl.key = $T_DIR/key.pem" "log.level = info"
L7R_PID= C_PID= ECHO_PID= PING_PID= VMNET=
t_cleanup_add 'kill $C_PID $ECHO_PID $PING_PID $L7R_PID; sleep 0.3'
t_cleanup_add '[ -n "$VMNET" ] && nsenter --net="$VMNET" nft delete table ip qvdstall'
admin user add --login alice --password pw >/dev/null
admin osf add --name desk --memory 512 >/dev/null
admin di add --osf desk --path "$TEST_DI" >/dev/null
admin vm add --name desk1 --user alice --osf desk >/dev/null
b_start_hkd || exit 1
b_sq_open
t_node_spawn L7R_PID "$L7R" -c "$CONF" >>"$T_DIR/node/l7r.log" 2>&1
l7r_up() { t_in_node curl -sk -m 2 -o /dev/null "https://127.0.0.1:$PORT/qvd/ping"; }
t_wait 10 l7r_up || { echo "the L7R did not start" >&2; exit 1; }
admin vm start --id 1 >/dev/null
b_wait_vm 1 running 180 || { echo "the VM did not start" >&2; exit 1; }
VMNET=/proc/$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 1")/ns/net
nsenter --net="$VMNET" nft -f - <<NFT || { echo "cannot add the redirect in the VM" >&2; exit 1; }
table ip qvdstall {
  chain out { type nat hook output priority -100; ip daddr 127.0.0.1 tcp dport 4100 redirect to :$ECHO; }
}
NFT
nsenter --net="$VMNET" socat TCP-LISTEN:$ECHO,bind=127.0.0.1,reuseaddr PIPE & ECHO_PID=$!
t_node_spawn C_PID "$CONNECT" --l7r 127.0.0.1:$PORT --user alice --password pw --vm 1 --listen $LPORT 2>"$T_DIR/connect.log"
t_wait 120 grep -q "listening on" "$T_DIR/connect.log" || { echo "no 101: $(cat "$T_DIR/connect.log")" >&2; exit 1; }

# one connection through the L7R for both runs (l7r-connect relays one), as a session is
mkfifo "$T_DIR/rtt.in"
t_node_spawn PY_PID python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', $LPORT)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b'x' * 64
for line in open('$T_DIR/rtt.in'):
    out = open(line.strip(), 'w')
    for i in range($N):
        t0 = time.perf_counter(); s.sendall(msg); got = 0
        while got < len(msg):
            b = s.recv(len(msg) - got)
            if not b: sys.exit('the echo closed')
            got += len(b)
        out.write('%.3f\n' % ((time.perf_counter() - t0) * 1000))
    out.close(); open(line.strip() + '.done', 'w').close()
" 2>"$T_DIR/rtt.err"
exec 7>"$T_DIR/rtt.in"
run() { echo "$1" >&7; t_wait 300 test -e "$1.done" || { echo "no echo: $(cat "$T_DIR/rtt.err")" >&2; exit 1; }; }
run "$T_DIR/calm"

# the stall: the write lock held, a login waiting on it, pings going on
T_DB=$DB
. "$QVD_TOP/tests/stall.sh"
stall_start 120 || { echo "cannot take the lock" >&2; exit 1; }
t_in_node curl -sk -m 200 -o "$T_DIR/login.out" -w '%{http_code}' -u alice:pw \
  "https://127.0.0.1:$PORT/qvd/create_auth_token" >"$T_DIR/login.code" 2>/dev/null &
LOGIN=$!
( while :; do t_in_node curl -sk -m 5 -o /dev/null "https://127.0.0.1:$PORT/qvd/ping"; sleep 0.2; done ) & PING_PID=$!
run "$T_DIR/stalled"
held=yes; { stalled && [ ! -e "$T_DIR/stall.released" ] && [ ! -s "$T_DIR/login.code" ]; } || held=no
kill $PING_PID; wait $PING_PID 2>/dev/null; PING_PID=
stall_end
wait $LOGIN
exec 7>&-

row() { printf '%-46s %8s %8s %8s %8s\n' "$@"; }
p99() { sort -n "$1" | awk '{v[NR] = $1} END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }'; }
row "relay echo round trip (64 B), ms" min median max p99
read -r a b c < <(b_stats <"$T_DIR/calm"); row "no stall ($N)" "$a" "$b" "$c" "$(p99 "$T_DIR/calm")"
read -r a b c < <(b_stats <"$T_DIR/stalled"); row "database stalled ($N)" "$a" "$b" "$c" "$(p99 "$T_DIR/stalled")"
echo "(the lock was held through the whole stalled run: $held; the waiting login then got $(cat "$T_DIR/login.code"))"
