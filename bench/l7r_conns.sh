#!/usr/bin/env bash
# bench/l7r_conns.sh: how many client connections one qvd-l7r holds, and what each costs.
# A node (qvd-hkd with the `nothing` hypervisor, qvd-l7r on 127.0.0.1 inside the node's
# network namespace) takes CONNS TLS connections from one Python client, each of which has
# asked GET /qvd/ping and stays open (keep-alive, as a client between its requests). The
# L7R's resident memory is read before, while they are held and after they are closed;
# the time of a ping on a new connection (curl, median of 20) before and while they are
# held shows that the loop still serves at once.
#   bash bench/l7r_conns.sh [CONNS]   (default 5000; as root; build first)
. "$(dirname "$0")/lib.sh"
CONNS=${1:-${BENCH_CONNS:-5000}}
L7R=$QVD_BUILD/src/l7r/qvd-l7r
[ -x "$L7R" ] || { echo "build first: $L7R" >&2; exit 1; }
for t in python3 curl; do command -v $t >/dev/null || { echo "bench/l7r_conns.sh needs $t" >&2; exit 1; }; done
b_init
PORT=$((18900 + RANDOM % 300))
chmod 755 "$T_DIR" # the L7R runs as nobody: it must reach the database folder
t_self_cert "$T_DIR" localhost
b_node "$T_DIR/node" nothing "l7r.address = 127.0.0.1" "l7r.port = $PORT" "l7r.user = nobody" \
  "path.l7r.ssl.cert = $T_DIR/cert.pem" "path.l7r.ssl.key = $T_DIR/key.pem" \
  "l7r.timeout.idle = 600" "l7r.max_connections = $((CONNS + 100))" "log.level = warn"
L7R_PID= HOLD_PID=
t_cleanup_add 'kill $HOLD_PID $L7R_PID 2>/dev/null; sleep 0.2'
b_start_hkd || exit 1
t_node_spawn L7R_PID "$L7R" -c "$CONF" >>"$T_DIR/node/l7r.log" 2>&1
l7r_up() { t_in_node curl -sk -m 2 -o /dev/null "https://127.0.0.1:$PORT/qvd/ping"; }
t_wait 10 l7r_up || { echo "the L7R did not start:" >&2; tail -20 "$T_DIR/node/l7r.log" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$L7R_PID/status"; }
fds() { ls "/proc/$L7R_PID/fd" | wc -l; }
ping_ms() { # median time of a ping over a new TLS connection, 20 tries
  local k
  for ((k = 0; k < 20; k++)); do
    t_in_node curl -sk -o /dev/null -w '%{time_total}\n' "https://127.0.0.1:$PORT/qvd/ping"
  done | awk '{ printf "%.1f\n", $1 * 1000 }' | b_stats | awk '{ print $2 }'
}

# the holder: opens CONNS connections, pings on each, says "held N SECONDS", then waits
# for its stdin to close
cat >"$T_DIR/hold.py" <<'EOF'
import socket, ssl, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
req = b"GET /qvd/ping HTTP/1.1\r\nHost: localhost\r\n\r\n"
held, t0 = [], time.monotonic()
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    s.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection %d closed by the L7R" % i)
        got += chunk
    if not got.startswith(b"HTTP/1.1 200"):
        sys.exit("connection %d: %r" % (i, got[:40]))
    held.append(s)
print("held %d %.2f" % (len(held), time.monotonic() - t0), flush=True)
sys.stdin.read()
for s in held:
    s.close()
EOF
RSS0=$(rss_kib) FD0=$(fds) PING0=$(ping_ms)
ulimit -n $((CONNS + 1024))
exec {TO_HOLD}> >(t_in_node python3 "$T_DIR/hold.py" $PORT "$CONNS" >"$T_DIR/hold.out" 2>&1)
HOLD_PID=$!
for ((k = 0; k < 600; k++)); do grep -q . "$T_DIR/hold.out" 2>/dev/null && break; sleep 0.5; done
read -r word HELD SECS <"$T_DIR/hold.out"
[ "$word" = held ] || { echo "the holder failed: $(cat "$T_DIR/hold.out")" >&2; exit 1; }
sleep 1
RSS1=$(rss_kib) FD1=$(fds) PING1=$(ping_ms)
exec {TO_HOLD}>&-
for ((k = 0; k < 100; k++)); do [ "$(fds)" -le $((FD0 + 2)) ] && break; sleep 0.1; done
sleep 0.5
RSS2=$(rss_kib) FD2=$(fds)

row() { printf '| %-52s | %-24s |\n' "$1" "$2"; }
echo
echo "Connections held by one qvd-l7r ($(nproc) cores, $(date +%F)); $CONNS TLS connections"
row "figure" "value"
printf '|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..26})"
row "connections held (each after one GET /qvd/ping)" "$HELD"
row "time to open them, one client, one after another" "$SECS s ($(awk -v n="$HELD" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }') /s)"
row "L7R descriptors: before / held / after" "$FD0 / $FD1 / $FD2"
row "L7R resident memory: before / held / after" "$((RSS0 / 1024)) / $((RSS1 / 1024)) / $((RSS2 / 1024)) MiB"
row "memory per held connection" "$(awk -v a="$RSS0" -v b="$RSS1" -v n="$HELD" 'BEGIN { printf "%.1f KiB", (b - a) / n }')"
row "ping on a new connection: before / while held" "$PING0 / $PING1 ms (median of 20)"
echo "(resident memory from /proc/PID/status VmRSS; the L7R frees the TLS buffers of idle connections" \
  "(SSL_MODE_RELEASE_BUFFERS); after the close the C library keeps the freed heap for reuse)"
