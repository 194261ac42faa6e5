#!/usr/bin/env bash
# qvd-l7r on a real node: qvd-hkd and qvd-l7r in a test node's namespaces, the L7R on
# 127.0.0.1 inside it, unprivileged (nobody). The client protocol (status codes, limits,
# timeouts, throttling, tokens, QVD's own clients' wire formats) with curl and raw
# openssl s_client; then whole sessions with the l7r-connect helper and nxproxy on an Xvfb
# screen: start by the L7R, takeover, client killed, VM killed, L7R stopped.
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
L7R=$QVD_BUILD/src/l7r/qvd-l7r
VMA=$QVD_BUILD/src/vma/qvd-vma
CONNECT=$QVD_BUILD/tests/helpers/l7r-connect
DI=$QVD_BUILD/test-di.tar
conf=$T_DIR/node.conf
PORT=18443
URL=https://127.0.0.1:$PORT
COLOUR=2e8b57

t_test_di "$VMA" || { t_fail "build the test DI"; exit 1; }
t_node_ns l7r || { t_fail "create the test node's namespaces"; exit 1; }
t_self_cert "$T_DIR" localhost
t_db_init || { t_fail "create the test database"; exit 1; }
cat >"$conf" <<CONF
nodename = l7r1
$T_DB_CONF
path.run = $T_DIR/run
path.log = $T_DIR/log
path.storage.root = $T_DIR/storage
path.vma.binary = $VMA
vma.x_session = /usr/local/bin/qvd-test-session
hkd.vm_command.poll = 1
hkd.vma.ping.interval = 1
hkd.vm.stop.timeout = 5
l7r.address = 127.0.0.1
l7r.port = $PORT
l7r.user = nobody
path.l7r.ssl.cert = $T_DIR/cert.pem
path.l7r.ssl.key = $T_DIR/key.pem
l7r.timeout.request = 3
l7r.timeout.takeover = 5
# no poll while a VM starts: only the HKD's wake-up (datagram on SQLite, NOTIFY on
# PostgreSQL) tells the L7R that the VM runs
l7r.vm_start.poll = 600000
log.level = debug
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
sql() { t_sql "$1"; }
HKD_PID= L7R_PID= XVFB_PID= NXP_PID= H1= H2= H3= H4= H5=
t_cleanup_add 'kill $HKD_PID $L7R_PID $XVFB_PID $NXP_PID $H1 $H2 $H3 $H4 $H5; sleep 0.5'
t_cleanup_add 'for c in $(t_in_node lxc-ls -P $T_DIR/run/lxc 2>/dev/null); do t_in_node lxc-stop -k -P $T_DIR/run/lxc -n $c; done'
is_host() { [ "$(sql "SELECT state FROM host_runtimes")" = "$1" ]; }
vm_state() { sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = $1"; }
is_vm() { [ "$(vm_state "$1")" = "$2" ]; }
slot() { sql "SELECT user_state || '/' || COALESCE(CAST(l7r_pid AS TEXT), '-') FROM vm_runtimes WHERE vm_id = $1"; }
slot_is() { [ "$(slot "$1")" = "$2" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# curl from inside the node: prints the status code last
lc() { t_in_node curl -sk -m 10 -w '\n%{http_code}' "$@"; }
code() { tail -n1 <<<"$1"; }
# a raw request through TLS; $2: seconds to wait for the answer
raw() { t_tls_raw $PORT "$@"; }

admin user add --login alice --password pw >/dev/null
admin user add --login bob --password pw2 >/dev/null
admin user add --login carol --password pw3 >/dev/null
admin osf add --name desk --memory 300 >/dev/null
admin di add --osf desk --path "$DI" >/dev/null
admin vm add --name desk1 --user alice --osf desk >/dev/null  # 1
admin vm add --name desk2 --user bob --osf desk >/dev/null    # 2
admin vm add --name desk3 --user alice --osf desk >/dev/null  # 3
admin vm block --id 3 >/dev/null

t_node_spawn HKD_PID "$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1
t_wait 10 is_host running || { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }

# --- start-up ---
chmod 644 "$T_DIR/key.pem"
out=$(t_in_node timeout 5 "$L7R" -c "$conf" 2>&1)
t_check "a private key readable by others is refused" grep -q 'accessible by others' <<<"$out"
chmod 600 "$T_DIR/key.pem"
t_node_spawn L7R_PID "$L7R" -c "$conf" >>"$T_DIR/l7r.log" 2>&1
up() { [ "$(code "$(lc $URL/qvd/ping)")" = 200 ]; }
t_wait 10 up || { t_fail "the L7R starts"; cat "$T_DIR/l7r.log"; exit 1; }
t_check "the L7R runs as nobody after start-up" [ "$(ps -o user= -p "$L7R_PID")" = nobody ]
t_check "the L7R runs under its seccomp filter, without new privileges" \
  grep -Pzq 'NoNewPrivs:\t1\nSeccomp:\t2\n' "/proc/$L7R_PID/status"
if [ -n "${T_PG_DB:-}" ]; then
  t_skip "the HKD's wake-up socket is still writable for it" "PostgreSQL: wake-ups are LISTEN/NOTIFY"
else
  t_check "the HKD's wake-up socket is still writable for it" \
    su -s /bin/sh nobody -c "test -w $T_DIR/run/wake/qvd_cmd_for_vm_on_host1"
fi

# --- endpoints ---
out=$(lc $URL/qvd/ping)
t_check "ping answers 200 'I am alive!'" [ "$out" = $'I am alive!\r\n\n200' ]
out=$(lc -u alice:pw $URL/qvd/list_of_vm)
want='[{"id":1,"state":"stopped","name":"desk1","blocked":0,"is_application":0},{"id":3,"state":"stopped","name":"desk3","blocked":1,"is_application":0}]'
t_check "list_of_vm gives the user's VMs in QVD's JSON shape" \
  [ "$(code "$out")" = 200 -a "$(head -n -1 <<<"$out" | jq -c .)" = "$want" ]
out=$(lc -u alice:pw $URL/qvd/list_of_applications)
t_check "list_of_applications is empty without application OSFs" [ "$(head -n -1 <<<"$out" | jq -c .)" = "[]" ]
out=$(lc -D - -u alice:wrong $URL/qvd/list_of_vm)
t_check "a wrong password gives 401 with WWW-Authenticate" \
  eval '[ "$(code "$out")" = 401 ] && grep -qi "^WWW-Authenticate: Basic realm=\"QVD\"" <<<"$out"'
out=$(lc -u alice:pw $URL/qvd/authenticate_user)
t_check "authenticate_user answers {}" [ "$(head -n -1 <<<"$out" | jq -c .)/$(code "$out")" = "{}/200" ]

for i in 1 2 3 4 5; do lc --interface 127.0.0.5 -u carol:bad $URL/qvd/list_of_vm >/dev/null; done
out=$(lc -D - --interface 127.0.0.5 -u carol:pw3 $URL/qvd/list_of_vm)
t_check "after 5 failures of a login even the right password gets 429 with Retry-After" \
  eval '[ "$(code "$out")" = 429 ] && grep -qi "^Retry-After: [1-9]" <<<"$out"'
out=$(lc --interface 127.0.0.7 -u carol:pw3 $URL/qvd/list_of_vm)
t_check "the throttled login waits from other addresses too" [ "$(code "$out")" = 429 ]
for u in u1 u2 u3 u4 u5; do lc --interface 127.0.0.6 -u $u:bad $URL/qvd/list_of_vm >/dev/null; done
out=$(lc --interface 127.0.0.6 -u bob:pw2 $URL/qvd/list_of_vm)
t_check "after 5 failures from one address its requests get 429" [ "$(code "$out")" = 429 ]
out=$(lc -u bob:pw2 $URL/qvd/list_of_vm)
t_check "other users from other addresses are not throttled" [ "$(code "$out")" = 200 ]

UPG=(-H 'Connection: Upgrade' -H 'Upgrade: QVD/1.0')
out=$(lc "${UPG[@]}" -u alice:pw "$URL/qvd/connect_to_vm?id=2")
t_check "connect_to_vm to another user's VM gives 403" \
  eval '[ "$(code "$out")" = 403 ] && grep -q "not allowed" <<<"$out"'
out=$(lc "${UPG[@]}" -u alice:pw "$URL/qvd/connect_to_vm?id=99")
t_check "connect_to_vm to an unknown VM gives 404" [ "$(code "$out")" = 404 ]
out=$(lc "${UPG[@]}" -u alice:pw "$URL/qvd/connect_to_vm?id=3")
t_check "connect_to_vm to a blocked VM gives 403 maintenance" \
  eval '[ "$(code "$out")" = 403 ] && grep -q "offline for maintenance" <<<"$out"'
out=$(lc -u alice:pw "$URL/qvd/connect_to_vm?id=1")
t_check "connect_to_vm without the upgrade headers gives 426" [ "$(code "$out")" = 426 ]
out=$(lc "${UPG[@]}" -u alice:pw "$URL/qvd/connect_to_vm?id=1&evil=1")
t_check "connect_to_vm with a parameter outside qvd.client.*/custom.* gives 403" [ "$(code "$out")" = 403 ]
out=$(lc "${UPG[@]}" -u alice:pw "$URL/qvd/connect_to_vm?qvd.client.os=linux")
t_check "connect_to_vm without id gives 422" [ "$(code "$out")" = 422 ]
t_check "nothing of the refused requests touched the VMs' user slots" \
  [ "$(sql "SELECT count(*) FROM vm_runtimes WHERE user_state <> 'disconnected' OR real_user_id IS NOT NULL")" = 0 ]
out=$(lc -D - -u alice:pw $URL/qvd/stop_vm)
t_check "stop_vm without id gives 422 with Content-Length and a text/plain message" \
  eval '[ "$(code "$out")" = 422 ] && grep -qi "^Content-Type: text/plain" <<<"$out" && grep -qi "^Content-Length: [0-9]" <<<"$out"'

out=$(raw 'GARBAGE\r\n\r\n')
t_check "a malformed request line gives 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'GET /qvd/ping HTTP/1.0\r\n\r\n')
t_check "HTTP/1.0 gives 505" grep -q '^HTTP/1.1 505 ' <<<"$out"
big=$(head -c 20000 /dev/zero | tr '\0' a)
out=$(raw "GET /qvd/ping HTTP/1.1\r\nX-Big: $big\r\n\r\n")
t_check "an oversized header gives 431" grep -q '^HTTP/1.1 431 ' <<<"$out"

# a slow client: half a head, then nothing
{ printf 'GET /qvd/ping HTTP/1.1\r\nX-Slow: '; sleep 8; } |
  t_in_node openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:$PORT >"$T_DIR/slow.out" 2>&1 &
SLOW=$!
sleep 0.5
t0=$(date +%s%N)
out=$(lc $URL/qvd/ping)
t1=$(date +%s%N)
t_check "while a slow client hangs, another request is answered at once" \
  [ "$(code "$out")" = 200 -a $(((t1 - t0) / 1000000)) -lt 1000 ]
t_check "the slow client is dropped after l7r.timeout.request (3 s)" t_wait 6 gone $SLOW
grep -q 'request not complete in time' "$T_DIR/l7r.log" || t_diag "no timeout line in the L7R log"

# a slow password check (a hash made with 100 argon2id passes over 32 MiB, a second or two to
# check) runs on a worker thread: meanwhile the event loop answers others
cp "$conf" "$T_DIR/slowhash.conf"; printf "password.argon2.t_cost = 100\npassword.argon2.m_cost = 32768\n" >>"$T_DIR/slowhash.conf"
"$ADMIN" -c "$T_DIR/slowhash.conf" user add --login slowpoke --password pw >/dev/null
S=$(printf slowpoke:pw | base64)
t_in_node curl -sk -m 60 -o /dev/null -w '%{http_code}' -H "Authorization: Basic $S" \
  "$URL/qvd/list_of_vm" >"$T_DIR/slow-login.code" 2>/dev/null &
SLOWLOGIN=$!
sleep 0.3 # its TLS handshake and request are in, the check is running
out=$(lc $URL/qvd/ping)
t_check "while a slow password check runs, another request is answered" \
  eval '[ "$(code "$out")" = 200 ] && [ ! -s "$T_DIR/slow-login.code" ]'
wait $SLOWLOGIN
t_check "and the slow login then succeeds" [ "$(cat "$T_DIR/slow-login.code")" = 200 ]

A=$(printf alice:pw | base64)
out=$(raw "GET /qvd/list_of_vm HTTP/1.1\nAuthorization: Basic $A\n\n")
t_check "a request with bare LF line ends and no Host header is answered" \
  grep -q '^HTTP/1.1 200 ' <<<"$out"

tok=$(lc -u alice:pw $URL/qvd/create_auth_token | head -n -1 | jq -r .auth_token)
out=$(lc -H "Authorization: Bearer $tok" $URL/qvd/list_of_vm)
t_check "create_auth_token gives a token that Bearer authentication accepts" [ "$(code "$out")" = 200 ]
out=$(lc -H "Authorization: Bearer $tok" $URL/qvd/list_of_vm)
t_check "the token (multi_use) works again" [ "$(code "$out")" = 200 ]
out=$(lc -H "Authorization: Bearer $(printf nonsense | base64)" $URL/qvd/list_of_vm)
t_check "an unknown token gives 401" [ "$(code "$out")" = 401 ]

# --- the wire formats of QVD's own clients (reference 2.6) ---
out=$(raw "GET /qvd/list_of_vm HTTP/1.1\r\nHost: 127.0.0.1:$PORT\r\nAuthorization: Basic $A\r\nUser-Agent: QVD/3.1 libcurl/7.88.1\r\nAccept: */*\r\n\r\n")
t_check "QVD's C client's list_of_vm gets 200 JSON with blocked as an integer" \
  eval 'grep -q "^HTTP/1.1 200 " <<<"$out" && grep -q "\"blocked\": 1" <<<"$out"'
out=$(raw "GET /qvd/connect_to_vm?id=3&qvd.client.os=linux&qvd.client.geometry=800x600&qvd.client.link=adsl&qvd.client.keyboard=pc105/en&qvd.client.fullscreen=0 HTTP/1.1\nAuthorization: Basic $A\nConnection: Upgrade\nUpgrade: QVD/1.0\n\n")
t_check "QVD's C client's bare-LF connect_to_vm is parsed (reaches the maintenance check)" \
  eval 'grep -q "^HTTP/1.1 403 " <<<"$out" && grep -q "offline for maintenance" <<<"$out"'
out=$(raw "GET /qvd/list_of_vm? HTTP/1.1\r\nAuthorization: Basic $A\r\nAccept: application/json\r\nUser-Agent: QVD::HTTPC/0.01 (linux)\r\n\r\nGET /qvd/connect_to_vm?qvd.client.nxagent.extra_args=&qvd.client.fullscreen=&qvd.client.usb.implementation=USBIP&qvd.client.printing.enabled=1&qvd.client.os=linux&qvd.client.geometry=1024x768&qvd.client.audio.redirect.port=&qvd.client.audio.compression.enable=1&qvd.client.audio.redirect.server=&qvd.client.keyboard=pc105%%2Fes&qvd.client.link=adsl&qvd.client.audio.redirect.enable=0&id=3&qvd.client.usb.enabled=0 HTTP/1.1\r\nAuthorization: Basic $A\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\nUser-Agent: QVD::HTTPC/0.01 (linux)\r\n\r\n")
t_check "QVD's Perl client's list_of_vm? then connect_to_vm on one connection are both answered" \
  eval '[ "$(grep -c "^HTTP/1.1 " <<<"$out")" = 2 ] && grep -q "^HTTP/1.1 200 " <<<"$out" && grep -q "offline for maintenance" <<<"$out"'
out=$(raw "GET /qvd/list_of_vm HTTP/1.1\r\nauthorization: Basic $A\r\n\r\n")
t_check "header names match case-insensitively" grep -q '^HTTP/1.1 200 ' <<<"$out"

# --- whole sessions ---
DISP=:$((60 + RANDOM % 30))
Xvfb $DISP -screen 0 1024x768x24 -nolisten tcp >"$T_DIR/xvfb.log" 2>&1 & XVFB_PID=$!
# the colour of nxproxy's window, polled over one X connection (see tests/helpers/x-colour.c:
# a new X client per poll would break the session's own connection to the X server)
desktop_shown() { DISPLAY=$DISP "$QVD_BUILD/tests/helpers/x-colour" -t 40 "$COLOUR"; }
connect() { # connect VAR LOG LISTEN_PORT
  t_node_spawn "$1" "$CONNECT" --l7r 127.0.0.1:$PORT --user alice --password pw --vm 1 --listen "$3" 2>"$2"
}
upgraded() { grep -q 'listening on' "$1"; }
nxproxy_on() { # nxproxy_on PORT
  [ -n "$NXP_PID" ] && { kill $NXP_PID 2>/dev/null; wait $NXP_PID 2>/dev/null; }
  DISPLAY=$DISP HOME=$T_DIR t_node_spawn NXP_PID nxproxy -S localhost:$(($1 - 4000)) >>"$T_DIR/nxproxy.log" 2>&1
}
L7R_P=$L7R_PID

t_check "VM 1 is stopped before the first connect" is_vm 1 stopped
connect H1 "$T_DIR/h1.log" 4041
if t_wait 90 upgraded "$T_DIR/h1.log"; then t_ok "connect_to_vm starts the stopped VM and answers 101 (woken by the HKD, no poll)"
else t_fail "connect_to_vm starts the stopped VM and answers 101 (woken by the HKD, no poll)"; cat "$T_DIR/h1.log"; tail -30 "$T_DIR/l7r.log"; fi
t_check "the client saw 102 progress messages while the VM started" grep -q '^102 .' "$T_DIR/h1.log"
t_check "the 101 carries a 64-character slave key" grep -q '^101 slave key of 64 chars' "$T_DIR/h1.log"
t_check "the 101 says which desktop features the server has on (X-QVD-Features)" \
  grep -qx '101 features audio,printing,slave' "$T_DIR/h1.log"
# a tenant's row turns one off for that tenant's sessions (read at each connection)
admin config set vma.audio.enable 0 --tenant default >/dev/null
nxproxy_on 4041
t_check "the session's desktop shows on the client's screen" desktop_shown
t_check "the slot is connected and held by the L7R" slot_is 1 "connected/$L7R_P"

connect H2 "$T_DIR/h2.log" 4042
t_check "a second connection takes the session over: the first client is disconnected" t_wait 30 gone $H1
if t_wait 40 upgraded "$T_DIR/h2.log"; then t_ok "the second connection gets its 101"
else t_fail "the second connection gets its 101"; cat "$T_DIR/h2.log"; fi
t_check "a feature the tenant's configuration turns off is left out of X-QVD-Features" \
  grep -qx '101 features printing,slave' "$T_DIR/h2.log"
admin config del vma.audio.enable --tenant default >/dev/null
grep -q 'taken over' "$T_DIR/l7r.log" || t_diag "no takeover line in the L7R log"
nxproxy_on 4042
t_check "the taken-over session shows the desktop" desktop_shown
t_check "the slot is held again" slot_is 1 "connected/$L7R_P"

kill $H2; wait $H2 2>/dev/null
t_check "killing the client frees the slot (disconnected, no l7r_pid)" t_wait 10 slot_is 1 "disconnected/-"

connect H3 "$T_DIR/h3.log" 4043
t_wait 40 upgraded "$T_DIR/h3.log"
if slot_is 1 "connected/$L7R_P"; then t_ok "a new connection is relayed again"
else t_fail "a new connection is relayed again"; t_diag "slot $(slot 1), h3: $(cat $T_DIR/h3.log)"; fi
sql "UPDATE vm_runtimes SET user_cmd = 'abort' WHERE vm_id = 1"
t_check "an administrator's abort (user_cmd) ends the session" t_wait 10 gone $H3
t_check "and frees the slot" t_wait 5 slot_is 1 "disconnected/-"

connect H4 "$T_DIR/h4.log" 4044
t_wait 40 upgraded "$T_DIR/h4.log"
t_check "connected before the VM is killed" slot_is 1 "connected/$L7R_P"
t_in_node lxc-stop -k -P "$T_DIR/run/lxc" -n qvd-1 >/dev/null 2>&1
t_check "killing the VM's container ends the session" t_wait 20 gone $H4
t_check "and frees the slot" t_wait 10 slot_is 1 "disconnected/-"

t_wait 30 is_vm 1 stopped
connect H5 "$T_DIR/h5.log" 4045
t_wait 90 upgraded "$T_DIR/h5.log"
t_check "connected before the L7R is stopped" slot_is 1 "connected/$L7R_P"
kill -TERM $L7R_PID; wait $L7R_PID; rc=$?; L7R_PID=
t_check "SIGTERM stops the L7R with status 0" [ $rc = 0 ]
t_check "and its sessions' slots are free" slot_is 1 "disconnected/-"
t_check "and its client is disconnected" t_wait 5 gone $H5
t_check "the counters were kept" \
  [ "$(sql "SELECT CASE WHEN http_requests > 20 AND auth_ok > 5 AND nx_attempts >= 5 AND nx_ok >= 4 THEN 'kept' ELSE http_requests || '/' || auth_ok || '/' || nx_attempts || '/' || nx_ok END FROM host_counters")" = kept ]

# --- file descriptors: a relayed session holds two; the usual soft limit of 1024 would cap
# the node at ~500 sessions, so the L7R raises it for l7r.max_connections; out of
# descriptors it pauses accepting instead of spinning on the full backlog
PORT2=$((PORT + 1)) PORT3=$((PORT + 2))
sed -e "s/^l7r.port = .*/l7r.port = $PORT2/" "$conf" >"$T_DIR/node2.conf"
sed -e "s/^l7r.port = .*/l7r.port = $PORT3/" "$conf" >"$T_DIR/node3.conf"
echo "l7r.max_connections = 3000" | tee -a "$T_DIR/node2.conf" >>"$T_DIR/node3.conf"
up_on() { t_in_node curl -sk -m 2 -o /dev/null "https://127.0.0.1:$1/qvd/ping"; }
# as systemd starts services: soft limit 1024, hard limit high
t_node_spawn L7R_PID prlimit --nofile=1024:8192 "$L7R" -c "$T_DIR/node2.conf" >>"$T_DIR/l7r2.log" 2>&1
t_wait 10 up_on $PORT2
t_check "started with a soft limit of 1024 descriptors, the L7R raises it for 3000 connections" \
  eval '[ "$(awk "/Max open files/ {print \$4}" /proc/$L7R_PID/limits)" -ge 6064 ]'
kill $L7R_PID; wait $L7R_PID 2>/dev/null
# a hard limit of 40 it cannot raise (no CAP_SYS_RESOURCE), and 60 clients
t_node_spawn L7R_PID capsh --drop=cap_sys_resource -- -c "exec prlimit --nofile=40:40 $L7R -c $T_DIR/node3.conf" \
  >>"$T_DIR/l7r3.log" 2>&1
t_wait 10 up_on $PORT3
t_check "a limit it cannot raise is reported with the sessions it allows" \
  grep -q 'file descriptors limited to 40' "$T_DIR/l7r3.log"
t_in_node bash -c "for i in \$(seq 60); do exec {f}<>/dev/tcp/127.0.0.1/$PORT3 || break; done; sleep 4" 2>/dev/null &
HOLD=$!
sleep 2
t_check "out of descriptors the L7R pauses accepting (and says so) instead of spinning" \
  eval '[ "$(grep -c "not accepting for 1 s" "$T_DIR/l7r3.log")" -ge 1 ] && [ "$(grep -c "accept:" "$T_DIR/l7r3.log")" -le 5 ]'
wait $HOLD
t_check "once descriptors are free again it answers" t_wait 15 up_on $PORT3
exit 0
