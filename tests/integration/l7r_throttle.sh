#!/usr/bin/env bash
# qvd-l7r's failed-login throttle, attacked from where an attacker sits: a real qvd-l7r on
# loopback inside a test node's network namespace (qvd-hkd with the `nothing` hypervisor
# registers the node), a real database. Every spelling of one login shares its counter; a
# flood of one-shot failures from thousands of addresses does not clear a real lock; IPv6
# clients are throttled per /64, so one host cannot rotate through its addresses; guesses
# sent at once count before their checks end.
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
L7R=$QVD_BUILD/src/l7r/qvd-l7r
VMA=$QVD_BUILD/src/vma/qvd-vma
PORT=18543
FLOOD=${QVD_TEST_THROTTLE_FLOOD:-3000} # x2 keys (address, login): more than the table's 4096
conf=$T_DIR/node.conf

t_node_ns l7rthr || { t_fail "create the test node's namespaces"; exit 1; }
t_self_cert "$T_DIR" localhost
t_db_init || { t_fail "create the test database"; exit 1; }
cat >"$conf" <<CONF
nodename = thr1
$T_DB_CONF
path.run = $T_DIR/run
path.log = $T_DIR/log
path.storage.root = $T_DIR/storage
path.vma.binary = $VMA
vm.hypervisor = nothing
l7r.address = 127.0.0.1
l7r.port = $PORT
path.l7r.ssl.cert = $T_DIR/cert.pem
path.l7r.ssl.key = $T_DIR/key.pem
l7r.timeout.request = 5
l7r.max_connections = 20000
# locks that outlast the flood (a minute or two on a loaded machine)
l7r.auth.throttle.window = 900
# the flood below is thousands of password checks: cheap argon2id costs keep it short (the
# timing of real costs is bench/login_timing.sh's business)
password.argon2.t_cost = 1
password.argon2.m_cost = 256
log.level = info
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
HKD_PID= L7R_PID=
t_cleanup_add 'kill $HKD_PID $L7R_PID; sleep 0.3'

admin user add --login demo --password right >/dev/null
admin user add --login victim --password right >/dev/null
admin user add --login carol --password pw3 >/dev/null
admin user add --login dave --password pw4 >/dev/null
admin user add --login erin --password pw5 >/dev/null
# frank's hash is a slow one (~0.1-0.3 s to check): the window in which guesses sent at once
# would all be let through before the first one's check ends
sed 's/^password.argon2.t_cost = .*/password.argon2.t_cost = 4/; s/^password.argon2.m_cost = .*/password.argon2.m_cost = 65536/' \
  "$conf" >"$T_DIR/slow.conf"
"$ADMIN" -c "$T_DIR/slow.conf" user add --login frank --password pw6 >/dev/null
t_node_spawn HKD_PID "$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1
host_up() { [ "$(t_sql "SELECT state FROM host_runtimes")" = running ]; }
t_wait 30 host_up ||
  { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }

# start_l7r: starts the L7R and waits until it answers on $URL
l7r_up() { [ "$(t_in_node curl -sgk -m 2 -o /dev/null -w '%{http_code}' "$URL/qvd/ping")" = 200 ]; }
start_l7r() {
  t_node_spawn L7R_PID "$L7R" -c "$conf" >>"$T_DIR/l7r.log" 2>&1
  t_wait 30 l7r_up
}
# st FROM USER:PASSWORD: the status of list_of_vm from the source address FROM
URL=https://127.0.0.1:$PORT
st() { t_in_node curl -sgk -m 10 -o /dev/null -w '%{http_code}' --interface "$1" -u "$2" "$URL/qvd/list_of_vm"; }
start_l7r || { t_fail "the L7R starts"; cat "$T_DIR/l7r.log"; exit 1; }

# --- one counter per user, however the login is spelled ---
t_check "the right password spelled DEMO@default logs in before any failure" \
  [ "$(st 127.0.0.2 DEMO@default:right)" = 200 ]
# five failures, each from an address of its own (no address reaches its own limit)
for i in 1 2 3 4 5; do st 127.0.1.$i demo:wrong >/dev/null; done
for spelling in DEMO@default demo@default Demo DEMO dEmO@default; do
  t_check "after 5 failures spelled 'demo', the right password spelled '$spelling' gets 429" \
    [ "$(st 127.0.2.1 "$spelling:right")" = 429 ]
done
t_check "another user from the same address is not throttled" [ "$(st 127.0.2.1 carol:pw3)" = 200 ]
for s in Ghost ghost@default GHOST gHoSt@default GhOsT; do st 127.0.3.1 "$s:x" >/dev/null; done
t_check "an unknown user's spellings share a counter too (5 spellings, then 429)" \
  [ "$(st 127.0.3.2 ghost:x)" = 429 ]
t_check "the tenant is part of the key: demo of another (unknown) tenant is not demo@default" \
  [ "$(st 127.0.3.3 demo@elsewhere:x)" = 401 ]

# --- a flood of one-shot failures from thousands of addresses does not clear a lock ---
for i in 1 2 3 4 5; do st 127.0.4.$i victim:wrong >/dev/null; done
t_check "victim is locked before the flood" [ "$(st 127.0.4.9 victim:right)" = 429 ]
# one TLS connection per failure, each from its own 127.20.x.y with a made-up login: more
# keys (address + login) than the table holds
cat >"$T_DIR/flood.py" <<'EOF'
import base64, collections, socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
seen = collections.Counter()
for i in range(n):
    src = "127.20.%d.%d" % (i // 250 % 250 + 1, i % 250 + 1)
    auth = base64.b64encode(b"flood%d:wrong" % i).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    s = ctx.wrap_socket(s)
    s.sendall(("GET /qvd/list_of_vm HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
               "Connection: close\r\n\r\n" % auth).encode())
    head = b""
    while b"\r\n" not in head:
        chunk = s.recv(256)
        if not chunk:
            break
        head += chunk
    seen[head.split(b" ")[1].decode() if b" " in head else "none"] += 1
    s.close()
print(" ".join("%s=%d" % kv for kv in sorted(seen.items())))
EOF
out=$(t_in_node python3 "$T_DIR/flood.py" $PORT "$FLOOD")
t_diag "flood of $FLOOD: $out"
t_check "every one of the $FLOOD flood logins was checked and refused (401)" [ "$out" = "401=$FLOOD" ]
t_check "after the flood, victim's right password still gets 429" [ "$(st 127.0.4.10 victim:right)" = 429 ]
t_check "after the flood, demo is still locked too" [ "$(st 127.0.4.11 demo:right)" = 429 ]
t_check "after the flood, an honest user from a new address logs in" [ "$(st 127.0.4.12 dave:pw4)" = 200 ]

# --- guesses sent at once: each counts from when it is let through, not when its check ends ---
args=()
for i in $(seq 30); do args+=(-o /dev/null "$URL/qvd/list_of_vm"); done
out=$(t_in_node curl -sgk -m 30 -Z --parallel-max 30 --parallel-immediate --interface 127.0.5.1 \
  -u frank:wrong -w '%{http_code}\n' "${args[@]}" 2>/dev/null)
n401=$(grep -c '^401$' <<<"$out") n429=$(grep -c '^429$' <<<"$out")
t_diag "30 guesses at once: $n401 checked (401), $n429 throttled (429)"
t_check "of 30 guesses sent at once, 5 are checked and 25 throttled" [ "$n401/$n429" = 5/25 ]
t_check "then the right password gets 429" [ "$(st 127.0.5.2 frank:pw6)" = 429 ]

# --- IPv6: the /64 of the client is the key ---
kill "$L7R_PID"; wait "$L7R_PID" 2>/dev/null
for a in fd00:0:0:1::a fd00:0:0:1::b fd00:0:0:1::c fd00:0:0:1::d fd00:0:0:1::e fd00:0:0:1:ffff::f fd00:0:0:2::1; do
  t_in_node ip -6 addr add "$a/64" dev lo nodad
done
sed -i 's/^l7r.address = .*/l7r.address = ::1/' "$conf"
URL="https://[::1]:$PORT"
start_l7r || { t_fail "the L7R starts on [::1]"; cat "$T_DIR/l7r.log"; exit 1; }
t_check "the L7R listens on [::1]" [ "$(st ::1 erin:pw5)" = 200 ]
# five failures of five made-up logins, each from another address of one /64
for h in a b c d e; do st fd00:0:0:1::$h "nobody$h:x" >/dev/null; done
t_check "after 5 failures from 5 addresses of one /64, a 6th address of it gets 429" \
  [ "$(st fd00:0:0:1:ffff::f erin:pw5)" = 429 ]
t_check "an address of another /64 is not throttled" [ "$(st fd00:0:0:2::1 erin:pw5)" = 200 ]
grep -q 'fd00:0:0:1::a' "$T_DIR/l7r.log" &&
  t_ok "the log still names the client's own address" || t_fail "the log still names the client's own address"
