#!/usr/bin/env bash
# qvd-api's administrator login throttle, attacked from where an attacker sits: a real
# qvd-api over TLS on loopback inside a test network namespace, a real database. One
# counter per administrator however name and tenant are spelled; guesses sent at once count
# before their checks end; IPv6 clients throttled per /64.
. "$(dirname "$0")/../lib.sh"
t_init
API=$QVD_BUILD/src/api/qvd-api
ADMIN=$QVD_BUILD/src/admin/qvd-admin
PORT=18643
conf=$T_DIR/node.conf
t_node_ns apithr || { t_fail "create the test namespaces"; exit 1; }
t_db_init || { t_fail "create the test database"; exit 1; }
t_self_cert "$T_DIR" localhost
cat >"$conf" <<CONF
$T_DB_CONF
path.run = $T_DIR/run
path.storage.root = $T_DIR/storage
api.address = 127.0.0.1
api.port = $PORT
api.socket =
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
password.argon2.t_cost = 1
password.argon2.m_cost = 256
CONF
qa() { "$ADMIN" -c "$conf" "$@"; }
qa db init >/dev/null || { t_fail "db init"; exit 1; }
qa tenant add --name acme >/dev/null
echo annpw | qa admin add --name ann --tenant acme --password-stdin >/dev/null
echo bobpw | qa admin add --name bob --tenant acme --password-stdin >/dev/null
# gus's hash is a slow one (~0.1-0.3 s to check): the window in which guesses sent at once
# would all be let through before the first one's check ends
sed 's/^password.argon2.t_cost = .*/password.argon2.t_cost = 4/; s/^password.argon2.m_cost = .*/password.argon2.m_cost = 65536/' \
  "$conf" >"$T_DIR/slow.conf"
echo guspw | "$ADMIN" -c "$T_DIR/slow.conf" admin add --name gus --tenant acme --password-stdin >/dev/null
API_PID=
t_cleanup_add 'kill $API_PID; sleep 0.2'
URL=https://127.0.0.1:$PORT
api_up() { [ "$(t_in_node curl -sgk -m 2 -o /dev/null -w '%{http_code}' "$URL/api/v1/login")" != 000 ]; }
start_api() {
  t_node_spawn API_PID "$API" -c "$conf" >>"$T_DIR/api.log" 2>&1
  t_wait 30 api_up
}
# st FROM JSON: the status of a login from the source address FROM
st() {
  t_in_node curl -sgk -m 20 -o /dev/null -w '%{http_code}' --interface "$1" \
    -H 'Content-Type: application/json' --data-binary "$2" "$URL/api/v1/login"
}
start_api || { t_fail "qvd-api starts"; cat "$T_DIR/api.log"; exit 1; }

# --- one counter per administrator, however name and tenant are spelled ---
t_check "ann logs in before any failure" \
  [ "$(st 127.0.0.2 '{"login":"ann","tenant":"acme","password":"annpw"}')" = 200 ]
for i in 1 2 3 4 5; do
  st 127.0.1.$i '{"login":"ann@acme","tenant":"","password":"wrong"}' >/dev/null
done
t_check "after 5 failures spelled ann@acme with tenant \"\", ann + tenant acme gets 429" \
  [ "$(st 127.0.2.1 '{"login":"ann","tenant":"acme","password":"annpw"}')" = 429 ]
t_check "and ann@acme without a tenant gets 429" \
  [ "$(st 127.0.2.1 '{"login":"ann@acme","password":"annpw"}')" = 429 ]
t_check "bob from the same address logs in" \
  [ "$(st 127.0.2.1 '{"login":"bob","tenant":"acme","password":"bobpw"}')" = 200 ]

# --- guesses sent at once ---
args=()
for i in $(seq 20); do args+=(-o /dev/null "$URL/api/v1/login"); done
out=$(t_in_node curl -sgk -m 60 -Z --parallel-max 20 --parallel-immediate --interface 127.0.3.1 \
  -H 'Content-Type: application/json' --data-binary '{"login":"gus@acme","password":"wrong"}' \
  -w '%{http_code}\n' "${args[@]}" 2>/dev/null)
n401=$(grep -c '^401$' <<<"$out") n429=$(grep -c '^429$' <<<"$out")
t_diag "20 guesses at once: $n401 checked (401), $n429 throttled (429)"
t_check "of 20 guesses sent at once, 5 are checked and 15 throttled" [ "$n401/$n429" = 5/15 ]

# --- IPv6: the /64 of the client is the key ---
kill "$API_PID"; wait "$API_PID" 2>/dev/null
for a in fd00:0:0:1::a fd00:0:0:1::b fd00:0:0:1::c fd00:0:0:1::d fd00:0:0:1::e fd00:0:0:1:ffff::f fd00:0:0:2::1; do
  t_in_node ip -6 addr add "$a/64" dev lo nodad
done
sed -i 's/^api.address = .*/api.address = ::1/' "$conf"
URL="https://[::1]:$PORT"
start_api || { t_fail "qvd-api starts on [::1]"; cat "$T_DIR/api.log"; exit 1; }
for h in a b c d e; do
  st fd00:0:0:1::$h "{\"login\":\"nobody$h@acme\",\"password\":\"x\"}" >/dev/null
done
t_check "after 5 failures from 5 addresses of one /64, a 6th address of it gets 429" \
  [ "$(st fd00:0:0:1:ffff::f '{"login":"bob@acme","password":"bobpw"}')" = 429 ]
t_check "an address of another /64 logs in" \
  [ "$(st fd00:0:0:2::1 '{"login":"bob@acme","password":"bobpw"}')" = 200 ]
