#!/usr/bin/env bash
# client_tls.sh: qvd-client against real TLS peers on loopback: certificate trust (unknown,
# accepted once/always, changed, signed by a CA in ~/.qvd/certs) and a scripted L7R (socat
# with OpenSSL playing 401, 102 progress, 101 + stream bytes) that a real nxproxy on an Xvfb
# screen connects through.
. "$(dirname "$0")/../lib.sh"
t_init
CLIENT=$QVD_BUILD/src/client/qvd-client
for tool in socat openssl; do
  command -v $tool >/dev/null || { echo "1..0 # SKIP $tool is not installed (apt-get install $tool)"; exit 0; }
done
[ -x "$CLIENT" ] || { echo "not ok 1 - $CLIENT is built"; exit 1; }

PORT=$((20000 + $$ % 20000))
D=$T_DIR
export HOME=$D/home QVDPASSWORD=secret
unset QVDHOST QVDPORT QVDLOGIN QVDBEARERTOKEN QVDCLIENTCONFIG
mkdir -p "$HOME"

# --- certificates: two self-signed for the same name, a test CA and one it signed ---
san="subjectAltName=DNS:localhost,IP:127.0.0.1"
gen_self() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/$1.key" -out "$D/$1.pem" \
  -days 2 -subj /CN=localhost -addext "$san" 2>/dev/null; }
gen_self a && gen_self b || { echo "not ok 1 - test certificates"; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.pem" -days 2 \
  -subj "/CN=QVD test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$D/c.key" -out "$D/c.csr" -subj /CN=localhost 2>/dev/null
printf '%s\n' "$san" >"$D/c.ext"
openssl x509 -req -in "$D/c.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
  -out "$D/c.pem" -days 2 -extfile "$D/c.ext" 2>/dev/null
fp_of() { openssl x509 -in "$D/$1.pem" -noout -fingerprint -sha256 | sed 's/.*=//'; }
FP_A=$(fp_of a) FP_B=$(fp_of b)

# --- the scripted L7R: answers each request of a connection by its path and $D/mode ---
cat >"$D/peer.sh" <<'PEER'
#!/bin/bash
D=$1
while :; do
  first=
  while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%s\n' "$line" >>"$D/requests"
    [ -z "$line" ] && break
    first=${first:-$line}
  done
  [ -z "$first" ] && exit 0
  mode=$(cat "$D/mode")
  case "$mode:$first" in
  401:*) printf 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="QVD"\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad login\r\n'
     exit 0;;
  *list_of_vm*) body='[{"id":7,"state":"stopped","name":"desk","blocked":0,"is_application":0}]'
     printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' ${#body} "$body";;
  *connect_to_vm*)
     printf 'HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting virtual machine\r\n\r\n'; sleep 0.3
     printf 'HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting the session\r\n\r\n'; sleep 0.3
     printf 'HTTP/1.1 101 Switching Protocols\r\nX-QVD-Slave-Key: k3yOFtheSLAVEchannel\r\n\r\nSERVERBYTES'
     head -c 20 >"$D/nxhello"; sleep 0.5; exit 0;;
  *) printf 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n';;
  esac
done
PEER
PEER_PID=
peer_stop() { [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null; wait "$PEER_PID" 2>/dev/null; PEER_PID=; }
peer_start() { # CERT-NAME
  peer_stop
  socat OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork,cert="$D/$1.pem",key="$D/$1.key",verify=0 \
    SYSTEM:"bash $D/peer.sh $D" 2>>"$D/socat.log" &
  PEER_PID=$!
  t_wait 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null
}
t_cleanup_add 'peer_stop'
echo list >"$D/mode"

# runs the client without a terminal (setsid: no controlling tty); output in $D/out, $D/err
run() { : >"$D/requests"; timeout 30 setsid "$CLIENT" --port $PORT --user alice "$@" </dev/null >"$D/out" 2>"$D/err"; RC=$?; }
has_err() { grep -qF -- "$1" "$D/err"; }

# --- certificate trust ---
peer_start a
run --host 127.0.0.1 --list-vms
if [ $RC = 3 ] && has_err "$FP_A" && has_err "--accept-cert" && [ ! -s "$D/out" ] && [ ! -s "$D/requests" ]; then
  t_ok "an unknown certificate without a terminal is refused, naming its fingerprint"
else t_fail "an unknown certificate without a terminal is refused, naming its fingerprint (rc=$RC: $(cat "$D/err"))"; fi

run --host 127.0.0.1 --list-vms --accept-cert once
if [ $RC = 0 ] && grep -qP '^7\tdesk\tstopped$' "$D/out" && [ ! -e "$HOME/.qvd/accepted_certs" ]; then
  t_ok "--accept-cert once goes on, lists the VM and stores nothing"
else t_fail "--accept-cert once goes on, lists the VM and stores nothing (rc=$RC: $(cat "$D/err"))"; fi

if grep -qx 'Authorization: Basic YWxpY2U6c2VjcmV0' "$D/requests" && grep -qx 'GET /qvd/list_of_vm HTTP/1.1' "$D/requests"; then
  t_ok "list_of_vm carries Basic auth with QVD's header case"
else t_fail "list_of_vm carries Basic auth with QVD's header case"; cat "$D/requests"; fi

run --host 127.0.0.1 --list-vms --accept-cert always
fp_hex=$(echo "$FP_A" | tr -d : | tr A-F a-f)
if [ $RC = 0 ] && grep -qx "127.0.0.1:$PORT $fp_hex" "$HOME/.qvd/accepted_certs" &&
   [ "$(stat -c %a "$HOME/.qvd/accepted_certs")" = 600 ] && [ "$(stat -c %a "$HOME/.qvd")" = 700 ]; then
  t_ok "--accept-cert always stores host:port and fingerprint (file 0600, folder 0700)"
else t_fail "--accept-cert always stores host:port and fingerprint (rc=$RC: $(cat "$D/err"))"; fi

run --host 127.0.0.1 --list-vms
t_check "a stored certificate needs no flag later" [ $RC = 0 -a -s "$D/out" ]

peer_start b
run --host 127.0.0.1 --list-vms --accept-cert once
if [ $RC = 3 ] && has_err "changed" && has_err "$FP_B" && [ ! -s "$D/requests" ]; then
  t_ok "a changed certificate for the same host:port is refused loudly, even with --accept-cert"
else t_fail "a changed certificate for the same host:port is refused loudly (rc=$RC: $(cat "$D/err"))"; fi

run --host 127.0.0.1 --list-vms --fingerprint "$FP_A"
t_check "--fingerprint of another certificate is refused" [ $RC = 3 ]

peer_start c
run --host localhost --list-vms
t_check "a CA-signed certificate is refused while its CA is unknown" [ $RC = 3 ]
mkdir -p "$HOME/.qvd/certs" && cp "$D/ca.pem" "$HOME/.qvd/certs/test-ca.pem"
run --host localhost --list-vms
t_check "a certificate signed by a CA in ~/.qvd/certs is accepted without prompt" [ $RC = 0 -a -s "$D/out" ]
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/w.key" -out /dev/null -subj /CN=x 2>/dev/null
openssl req -new -key "$D/c.key" -out "$D/w.csr" -subj /CN=other.example 2>/dev/null
openssl x509 -req -in "$D/w.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -out "$D/w.pem" \
  -days 2 2>/dev/null && cp "$D/c.key" "$D/w.key"
peer_start w
run --host localhost --list-vms
if [ $RC = 3 ] && has_err "hostname mismatch"; then t_ok "a trusted certificate for another name is refused (host name checked)"
else t_fail "a trusted certificate for another name is refused (rc=$RC: $(cat "$D/err"))"; fi

# --- protocol against the scripted L7R (trusted through the test CA from here on) ---
peer_start c
echo 401 >"$D/mode"
run --host localhost --vm-id 7
if [ $RC = 4 ] && [ "$(cat "$D/err")" = "qvd-client: Login failed: wrong user name or password." ]; then
  t_ok "401 gives the login sentence and exit status 4"
else t_fail "401 gives the login sentence and exit status 4 (rc=$RC: $(cat "$D/err"))"; fi

echo list >"$D/mode"
run --host localhost --vm-id 7 --config /nonexistent/client.conf
t_check "a missing --config file is an error" [ $RC = 1 ]
run --host localhost --geometry 800-600
if [ $RC = 1 ] && has_err 'The geometry "800-600" is not valid'; then t_ok "a bad geometry is refused with a sentence"
else t_fail "a bad geometry is refused with a sentence (rc=$RC: $(cat "$D/err"))"; fi

printf 'client.nxproxy.command = %s\n' "$D/no-such-nxproxy" >"$D/nonx.conf"
run --host localhost --config "$D/nonx.conf"
if [ $RC = 10 ] && has_err "nxproxy is not installed: apt-get install nxproxy."; then t_ok "a missing nxproxy is named with its package"
else t_fail "a missing nxproxy is named with its package (rc=$RC: $(cat "$D/err"))"; fi

# the whole session start: list (one VM: chosen), 102, 102, 101 + bytes, real nxproxy on Xvfb
if command -v nxproxy >/dev/null && command -v Xvfb >/dev/null; then
  DISP=:$((100 + $$ % 100))
  Xvfb $DISP -screen 0 800x600x24 -nolisten tcp >"$D/xvfb.log" 2>&1 & XVFB_PID=$!
  t_cleanup_add "kill $XVFB_PID"
  t_wait 10 xdpyinfo -display $DISP >/dev/null 2>&1 || t_wait 5 test -e /tmp/.X11-unix/X${DISP#:}
  rm -f "$D/nxhello"
  DISPLAY=$DISP run --host localhost --link lan --geometry 800x600 -v
  grep -q '^qvd-client: Starting virtual machine$' "$D/err" && grep -q '^qvd-client: Starting the session$' "$D/err"
  t_check "the X-QVD-VM-Info of each 102 is shown as progress" [ $? = 0 ]
  q='GET /qvd/connect_to_vm?id=7&qvd.client.os=linux&qvd.client.geometry=800x600&qvd.client.link=lan&qvd.client.keyboard=pc105%2Fus&qvd.client.fullscreen=0&qvd.client.printing.enabled=0&qvd.client.audio.enable=0&qvd.client.audio.compression.enable=1&qvd.client.microphone.enable=0 HTTP/1.1'
  if grep -qxF "$q" "$D/requests" && grep -qx 'Connection: Upgrade' "$D/requests" && grep -qx 'Upgrade: QVD/1.0' "$D/requests"; then
    t_ok "the only VM is chosen and connect_to_vm carries the QVD parameters and upgrade headers"
  else t_fail "connect_to_vm carries the QVD parameters and upgrade headers"; cat "$D/requests"; fi
  if [ "$(cat "$D/nxhello" 2>/dev/null)" = "NXPROXY-3.5.0-3.5.99" ]; then
    t_ok "nxproxy is spawned and its bytes reach the server through the TLS relay"
  else t_fail "nxproxy is spawned and its bytes reach the server (got: $(cat "$D/nxhello" 2>/dev/null))"; sed 's/^/# /' "$D/err"; fi
  nxport=$(sed -n "s/.*Connecting to remote host .localhost:\([0-9]*\).*/\1/p" "$D/err" | head -1)
  if [ -n "$nxport" ] && [ "$nxport" -gt 4000 ] && [ "$nxport" -lt 5000 ] &&
    has_err "listening on 127.0.0.1:$nxport for nxproxy"; then
    t_ok "nxproxy is pointed at the free local port the client listens on"
  else t_fail "nxproxy is pointed at a free local port (got '$nxport')"; sed 's/^/# /' "$D/err"; fi
  t_check "the session ends with status 0 when the server closes" [ $RC = 0 ]
  if [ "$(cat "$HOME/.qvd/slave-key" 2>/dev/null)" = k3yOFtheSLAVEchannel ] && [ "$(stat -c %a "$HOME/.qvd/slave-key")" = 600 ]; then
    t_ok "the slave key is kept in ~/.qvd/slave-key (0600)"
  else t_fail "the slave key is kept in ~/.qvd/slave-key (0600)"; fi
else
  t_skip "session start through nxproxy" "nxproxy or Xvfb missing"
fi
echo "1..$T_N"
