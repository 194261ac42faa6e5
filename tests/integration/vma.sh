#!/usr/bin/env bash
# tests/integration/vma.sh: the real qvd-vma as PID 1 of private mount/net/pid namespaces
# (its own /etc overlay, so useradd never touches this machine): secret checks, x_start,
# nxagent on loopback only, a real nxproxy through vma-tunnel onto an Xvfb screen checked
# by its pixels, suspend on disconnect, resume of the same session, x_stop, poweroff.
source "$(dirname "$0")/../lib.sh"
t_init
chmod 755 "$T_DIR" # the session user reads its options file and runs the session script

VMA=$QVD_BUILD/src/vma/qvd-vma
TUNNEL=$QVD_BUILD/tests/helpers/vma-tunnel
XCOLOUR=$QVD_BUILD/tests/helpers/x-colour
DISP=173   # nxagent display: proxy port 4173 inside the namespace
XDISP=71   # the Xvfb that stands for the user's screen
for tool in nxagent nxproxy Xvfb xsetroot xwininfo curl unshare nsenter ss; do
  if ! command -v $tool >/dev/null; then
    t_skip "vma integration" "missing $tool"; exit 0
  fi
done
[ -x "$XCOLOUR" ] || { t_fail "tests/helpers/x-colour is built"; exit 1; }

SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$SECRET" >"$T_DIR/secret"
mkdir -p "$T_DIR"/{home,run,hooks,upper,work,proxyhome}
cat >"$T_DIR/session.sh" <<'EOF'
#!/bin/sh
# the test's X session: a known colour on the root window, then stay alive
echo $$ >"$HOME/session.pid"
xsetroot -solid '#2e8b57'
exec sleep 100000
EOF
cat >"$T_DIR/hooks/10-record" <<EOF
#!/bin/sh
echo "\$@" >$T_DIR/hook.out
EOF
chmod 755 "$T_DIR/session.sh" "$T_DIR/hooks/10-record"
cat >"$T_DIR/vma.conf" <<EOF
log.level=debug
vma.secret.file=$T_DIR/secret
vma.address=127.0.0.1
internal.nxagent.display=$DISP
vma.user.home.path=$T_DIR/home
vma.x_session=$T_DIR/session.sh
vma.hooks.dir=$T_DIR/hooks
vma.run.path=$T_DIR/run
vma.relay.splice=${QVD_TEST_VMA_SPLICE:-1}
EOF
cat >"$T_DIR/inner.sh" <<EOF
set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir=$T_DIR/upper,workdir=$T_DIR/work /etc
mkdir -p /tmp/.X11-unix
mount -t tmpfs -o mode=1777 tmpfs /tmp/.X11-unix
exec $VMA --init -c $T_DIR/vma.conf
EOF

setsid unshare --mount --net --pid --fork --mount-proc bash "$T_DIR/inner.sh" >"$T_DIR/vma.log" 2>&1 &
UPID=$!
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  kill "$NSPID" 2>/dev/null; sleep 0.5; kill -9 "$UPID" 2>/dev/null
  rm -f /tmp/.X$DISP-lock /tmp/.X$XDISP-lock
}
t_cleanup_add cleanup
NSPID=
t_wait 5 bash -c "pgrep -P $UPID >/dev/null" && NSPID=$(pgrep -P $UPID)
in_ns() { nsenter -t "$NSPID" -n -m -- "$@"; }
call() { in_ns curl -s -m 10 -H "Authorization: Bearer $SECRET" "http://127.0.0.1:3030/vma/$1"; }
state() { call x_state | tr -d '"\r\n'; }
state_is() { [ "$(state)" = "$1" ]; }

if [ -z "$NSPID" ] || ! t_wait 5 bash -c "nsenter -t $NSPID -n -- curl -s -o /dev/null http://127.0.0.1:3030/"; then
  t_fail "qvd-vma starts as PID 1 of its namespaces"; exit 1
fi
t_ok "qvd-vma starts as PID 1 of its namespaces"

code=$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3030/vma/ping)
t_check "a call without the secret is refused with 401" [ "$code" = 401 ]
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong$SECRET" \
  http://127.0.0.1:3030/vma/ping)
t_check "a call with a wrong secret is refused with 401" [ "$code" = 401 ]
t_check "the refusals are logged without the secret" \
  bash -c "grep -q 'refused: wrong secret' '$T_DIR/vma.log' && ! grep -q '$SECRET' '$T_DIR/vma.log'"

t_check "ping with the secret answers ok" [ "$(call ping)" = $'"ok"\r' ]
t_check "x_state starts as stopped" state_is stopped

out=$(call 'x_start?qvd.client.geometry=800x600%3Brm%20-rf')
t_check "x_start with a bad parameter value fails" bash -c "[[ '$out' == '\"\",'* ]]"
t_check "... and starts nothing" state_is stopped
# Every value the client controls is checked, and a bad one refused at once (no retry can
# mend it), before anything starts.
for q in qvd.client.geometry=100000x768 qvd.client.geometry=10x10 qvd.client.geometry=800x600%2B0%2B0 \
  qvd.client.geometry=800 qvd.client.geometry=-800x600 qvd.client.fullscreen=2 qvd.client.fullscreen=yes \
  qvd.client.keyboard=pc105 qvd.client.keyboard=/us qvd.client.keyboard=pc105/us%2Bes \
  qvd.client.keyboard=pc105/us%2Cshadow%3D1 qvd.client.link=fast qvd.client.os=linux%2Bx \
  qvd.app.command=xterm qvd.app.command=%2Fbin%2Fsh%20-c%20id%3Bid qvd.app.command=%2Fbin%2Fecho%20%24HOME \
  qvd.app.command=%2Fbin%2Fecho%20%60id%60 qvd.app.command=%2Fbin%2Fecho%20%27a%20b%27; do
  out=$(call "x_start?qvd.vm.user.name=qvdtest&$q")
  t_check "x_start with $q is refused, naming the parameter" \
    eval '[[ "$out" == \"\",*"invalid value"*"${q%%=*}"* ]] && state_is stopped' || t_diag "$out"
done
t_check "each refusal is logged" eval '[ "$(grep -c "x_start: invalid.*refused for good" "$T_DIR/vma.log")" -ge 18 ]'

# --- system accounts: refused before anything is created (this machine's /etc, seen through
# the namespace's overlay, stands for the image's; desktop users get 10000..59999) ---
in_pid() { nsenter -t "$NSPID" -m -p -- "$@"; }
refused() { # refused QUERY WORDS: x_start answers an error with WORDS and the session stays stopped
  local out; out=$(call "x_start?$1")
  [[ "$out" == '"",'*"$2"* ]] && state_is stopped || { t_diag "x_start?$1: $out"; return 1; }
}
t_check "x_start as root is refused, saying why" refused 'qvd.vm.user.name=root' 'never runs as root'
t_check "x_start as daemon (an image user below the range) is refused" \
  refused 'qvd.vm.user.name=daemon' 'is a system account of this'
t_check "x_start as nobody (an image user above the range) is refused" \
  refused 'qvd.vm.user.name=nobody' 'is a system account of this'
t_check "x_start as ROOT (not a valid user name) is refused" refused 'qvd.vm.user.name=ROOT' 'not a valid'
if getent group audio >/dev/null && ! getent passwd audio >/dev/null; then
  t_check "x_start as audio (a system group of the image) is refused" \
    refused 'qvd.vm.user.name=audio' 'system group'
fi
t_check "x_start asking uid 0 is refused" refused 'qvd.vm.user.name=eve&qvd.vm.user.uid=0' "outside the desktop users' range"
t_check "x_start asking uid 999 is refused" refused 'qvd.vm.user.name=eve&qvd.vm.user.uid=999' "outside the desktop users' range"
t_check "x_start asking uid 65534 is refused" refused 'qvd.vm.user.name=eve&qvd.vm.user.uid=65534' "outside the desktop users' range"
t_check "x_start asking gid 0 is refused" refused 'qvd.vm.user.name=eve&qvd.vm.user.gid=0' "outside the desktop users' range"
t_check "... and nothing was created or run: no user, no group, no home, no hook, no nxagent" \
  eval '! in_pid grep -q "^eve:" /etc/passwd /etc/group && [ ! -e "$T_DIR/home/eve" ] &&
        [ ! -e "$T_DIR/hook.out" ] && ! in_pid pgrep -x nxagent >/dev/null'

out=$(call 'x_start?qvd.vm.user.name=qvdtest&qvd.client.geometry=800x600&qvd.client.link=lan&qvd.client.keyboard=pc105/us&qvd.client.os=linux&qvd.custom.flag=42')
t_check "x_start is accepted" [ "$out" = $'"ok"\r' ]
# media=1: a client that does not send qvd.client.audio.enable gets sound, as from QVD's VMA
t_check "nxagent's options: the client's keyboard, link and size, fullscreen, media, resize, clipboard" \
  grep -qx "nx/nx,keyboard=pc105/us,client=linux,link=lan,geometry=800x600,fullscreen=0,media=1,resize=1,clipboard=both,loopback=1:$DISP" \
  "$T_DIR/run/nxagent-$DISP.options"
t_check "x_start reaches listening" t_wait 30 state_is listening
t_check "the user was provisioned in the namespace only" \
  bash -c "nsenter -t $NSPID -m -- grep -q '^qvdtest:' /etc/passwd && ! grep -q '^qvdtest:' /etc/passwd"
t_check "the home belongs to the user" \
  bash -c "[ \"\$(stat -c %U '$T_DIR/home/qvdtest' 2>/dev/null)\" != root ] && [ -d '$T_DIR/home/qvdtest' ]"
t_check "the connect hook got the qvd.* parameters" grep -q 'qvd.custom.flag 42' "$T_DIR/hook.out"
ids=$(in_pid getent passwd qvdtest | cut -d: -f3,4)
t_check "the user got a uid and gid of the desktop range ($ids)" \
  eval '[ "${ids%%:*}" -ge 10000 ] && [ "${ids%%:*}" -le 59999 ] && [ "${ids##*:}" -ge 10000 ] && [ "${ids##*:}" -le 59999 ]'
auid=$(in_pid ps -o uid= -C nxagent | tr -d ' ' | sort -u)
t_check "nxagent runs as that uid ($auid)" [ "$auid" = "${ids%%:*}" ]
listen=$(in_ns ss -ltnH "sport = :$((4000 + DISP))" | awk '{print $4}')
t_diag "nxagent listens on: $listen"
t_check "nxagent listens for the proxy on 127.0.0.1 only" [ "$listen" = "127.0.0.1:$((4000 + DISP))" ]

nsenter -t "$NSPID" -n -m -- Xvfb :$XDISP -screen 0 1024x768x24 -nolisten tcp >"$T_DIR/xvfb.log" 2>&1 &
PIDS+=($!)
nsenter -t "$NSPID" -n -m -- "$TUNNEL" --listen 127.0.0.1:4040 --vma 127.0.0.1:3030 --secret-file "$T_DIR/secret" \
  >"$T_DIR/tunnel.log" 2>&1 &
PIDS+=($!)
t_wait 10 bash -c "nsenter -t $NSPID -n -m -- xdpyinfo -display :$XDISP >/dev/null 2>&1 || \
  nsenter -t $NSPID -n -m -- xwininfo -root -display :$XDISP >/dev/null 2>&1"
start_proxy() {
  # started directly (not through a shell function) so that $! is nxproxy itself
  nsenter -t "$NSPID" -n -m -- env DISPLAY=:$XDISP HOME="$T_DIR/proxyhome" nxproxy -S localhost:40 >>"$T_DIR/nxproxy.log" 2>&1 &
  PROXY=$!
  PIDS+=($PROXY)
}
# The centre of nxproxy's "QVD" window on the Xvfb screen shows the colour (polled over
# one X connection, see tests/helpers/x-colour.c; the colour seen is printed on failure).
colour_is() { in_ns env DISPLAY=:$XDISP "$XCOLOUR" -t 20 "$1"; }

start_proxy
t_check "nxproxy through the VMA tunnel: state connected" t_wait 30 state_is connected
t_check "the session's root window shows on the Xvfb screen (#2E8B57)" colour_is 2e8b57
spid=$(cat "$T_DIR/home/qvdtest/session.pid" 2>/dev/null)
t_check "the X session runs (pid $spid)" [ -n "$spid" ]

kill "$PROXY"
t_check "killing nxproxy suspends the session" t_wait 30 state_is suspended
t_diag "state after the disconnect: $(state)"

out=$(call 'x_start?qvd.vm.user.name=qvdtest&qvd.client.geometry=800x600&qvd.client.link=lan')
t_check "x_start on a suspended session resumes it (listening)" \
  bash -c "[ '$out' = \$'\"ok\"\r' ] && for i in \$(seq 100); do [ \"\$(nsenter -t $NSPID -n -- curl -s -H 'Authorization: Bearer $SECRET' http://127.0.0.1:3030/vma/x_state | tr -d '\"\r\n')\" = listening ] && exit 0; sleep 0.2; done; exit 1"
start_proxy
t_check "reconnecting: state connected again" t_wait 30 state_is connected
t_check "the same X session process is still alive" \
  bash -c "[ \"\$(cat '$T_DIR/home/qvdtest/session.pid')\" = '$spid' ] && nsenter -t $NSPID -p -m -- kill -0 $spid"
t_check "the screen shows the session again" colour_is 2e8b57
out=$(call 'x_start?qvd.vm.user.name=qvdtest&qvd.client.geometry=99999x1')
t_check "a bad geometry while connected is refused at once and leaves the session alone" \
  eval '[[ "$out" == *"invalid value"*geometry* ]] && state_is connected'

out=$(call x_start)
t_check "x_start while connected fails with 'retry'" bash -c "[[ '$out' == *retry* ]]"
t_check "... and suspends the old connection" t_wait 30 state_is suspended

code=$(in_ns curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SECRET" \
  -H 'Connection: Upgrade' -H 'Upgrade: QVD/1.0' http://127.0.0.1:3030/vma/x_connect)
t_check "x_connect without a listening nxagent is refused (409)" [ "$code" = 409 ]

# A client that made its x_connect but is still in its NX handshake when a new client's
# x_start comes: it is cut off like a connected one (the retry then resumes for the new one).
out=$(call 'x_start?qvd.vm.user.name=qvdtest')
t_check "x_start resumes again (listening)" t_wait 30 state_is listening
relays() { grep -c 'relaying to nxagent' "$T_DIR/vma.log"; }
before=$(relays)
in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/4040; sleep 60' & HALF=$!
PIDS+=($HALF)
t_check "a client connects through the tunnel and sends nothing" t_wait 10 eval '[ "$(relays)" -gt "$before" ]'
if [ "${QVD_TEST_VMA_SPLICE:-1}" = 1 ]; then
  t_check "the relay moves bytes with splice(2)" grep -q 'relay: with splice' "$T_DIR/vma.log"
else
  t_check "the relay copies (vma.relay.splice = 0)" grep -q 'relay: by copy' "$T_DIR/vma.log"
fi
out=$(call 'x_start?qvd.vm.user.name=qvdtest')
t_check "x_start while an earlier client is mid-handshake answers 'retry'" bash -c "[[ '$out' == *retry* ]]"
t_check "... and cuts that client off" grep -q 'a client was connecting: cut off' "$T_DIR/vma.log"
t_check "the session falls back to suspended" t_wait 30 state_is suspended
out=$(call 'x_start?qvd.vm.user.name=qvdtest')
t_check "the retry resumes it (listening)" t_wait 30 state_is listening
kill "$HALF" 2>/dev/null

t_check "x_stop is accepted" [ "$(call x_stop)" = $'"ok"\r' ]
t_check "x_stop reaches stopped" t_wait 30 state_is stopped
t_check "the X session is gone" \
  bash -c "! nsenter -t $NSPID -p -m -- kill -0 $spid 2>/dev/null"

# The uid of a new user follows the QVD user id the L7R passes (the same in every VM).
out=$(call 'x_start?qvd.vm.user.name=qvdtwo&qvd.vm.user.id=42')
t_check "a user with QVD id 42 gets uid and gid 10042" \
  eval '[ "$out" = $'"'"'"ok"\r'"'"' ] && [ "$(in_pid getent passwd qvdtwo | cut -d: -f3,4)" = 10042:10042 ]'
# (the stopped session's nxagent may still be on its way out: the new one is what counts,
# and none runs as root)
live_agent_uids() { in_pid ps -o uid=,stat= -C nxagent | awk '$2 !~ /Z/ {print $1}' | sort -u; }
if t_wait 30 eval 'grep -qx 10042 <<<"$(live_agent_uids)"' && ! grep -qx 0 <<<"$(live_agent_uids)"; then
  t_ok "its session starts as uid 10042"
else
  t_fail "its session starts as uid 10042"
  t_diag "nxagents now: $(in_pid ps -o pid=,uid=,stat=,args= -C nxagent | tr '\n' ';')"
fi
call x_stop >/dev/null
t_wait 30 state_is stopped

t_check "poweroff is answered" [ "$(call poweroff)" = $'"ok"\r' ]
t_check "poweroff ends PID 1 and the namespace" t_wait 15 bash -c "! kill -0 $UPID 2>/dev/null"

t_diag "--- end of the VMA log ---"
tail -n 40 "$T_DIR/vma.log" | grep -v 'viewport\|Ctrl+' | sed 's/^/# /'
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
PIDS=()
