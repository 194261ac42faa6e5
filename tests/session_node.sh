# tests/session_node.sh: a test node with the whole session path of a user: qvd-hkd running
# LXC VMs of the test DI, qvd-l7r on 127.0.0.1 over TLS, X screens (Xvfb) for clients, and
# qvd-client; helpers to check what the user sees by its pixels.
# Source after tests/lib.sh and t_init; then `session_node_init NAME [EXTRA CONFIG LINES]`.
. "$(dirname "${BASH_SOURCE[0]}")/lxc_node.sh"
L7R=$QVD_BUILD/src/l7r/qvd-l7r
CLIENT=$QVD_BUILD/src/client/qvd-client
XCOLOUR=$QVD_BUILD/tests/helpers/x-colour
COLOUR=2e8b57 # what the test DI's session paints (images/build-test-di.sh)
PORT=8443
L7R_PID= DISP=

# session_node_init NAME [CONFIG]: the node (lxc_node_init) with an L7R's config, its
# certificate, the user alice (password pw) with VM 1, the HKD and the L7R running.
session_node_init() {
  local b
  for b in "$L7R" "$CLIENT" "$XCOLOUR" "$ADMIN" "$HKD"; do
    [ -x "$b" ] || { echo "session_node_init: $b is not built" >&2; return 1; }
  done
  mkdir -p "$T_DIR/certs" "$T_DIR/home"
  t_self_cert "$T_DIR/certs" localhost DNS:localhost,IP:127.0.0.1 || return 1
  lxc_node_init "$1" "path.l7r.ssl.cert = $T_DIR/certs/cert.pem
path.l7r.ssl.key = $T_DIR/certs/key.pem
l7r.address = 127.0.0.1
l7r.port = $PORT
l7r.user = nobody
${2:-}" || return 1
  t_cleanup_add 'kill $L7R_PID; sleep 0.3'
  admin user add --login alice --password pw >/dev/null &&
    admin osf add --name desk --memory 300 >/dev/null &&
    admin di add --osf desk --path "$DI" >/dev/null &&
    admin vm add --name desk1 --user alice --osf desk >/dev/null || return 1
  start_hkd
  t_wait 10 is_host running || { echo "the HKD did not start:" >&2; tail -20 "$T_DIR/hkd.log" >&2; return 1; }
  start_l7r
  t_wait 10 l7r_up || { echo "the L7R did not start:" >&2; tail -20 "$T_DIR/l7r.log" >&2; return 1; }
}
start_l7r() { t_node_spawn L7R_PID "$L7R" -c "$conf" >>"$T_DIR/l7r.log" 2>&1; }
l7r_up() { t_in_node bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }

# xvfb PIDVAR DISPVAR [SIZE]: starts an X screen (1024x768 by default) in the node (X's
# abstract sockets belong to a network namespace), stopped at exit; its PID in PIDVAR, its
# display name in DISPVAR. -ac: the clients run as root with no Xauthority of their own.
xvfb() {
  local size=${3:-1024x768} __d __p
  __d=:$((100 + RANDOM % 400))
  while [ -e "/tmp/.X${__d#:}-lock" ]; do __d=:$((100 + RANDOM % 400)); done
  t_node_spawn __p Xvfb "$__d" -screen 0 "${size}x24" -nolisten tcp -ac >>"$T_DIR/xvfb.log" 2>&1
  t_cleanup_add "kill $__p"
  printf -v "$1" '%s' "$__p"
  printf -v "$2" '%s' "$__d"
  t_wait 10 t_in_node env DISPLAY="$__d" xdpyinfo >/dev/null 2>&1 </dev/null ||
    { echo "Xvfb $__d did not start" >&2; return 1; }
}

# client VAR [options]: starts qvd-client as alice in the node (HOME $T_DIR/home), its PID
# in VAR, showing the desktop on $DISP
client() {
  local __v=$1; shift
  QVDPASSWORD=${PW:-pw} HOME=$T_DIR/home DISPLAY=$DISP t_node_spawn "$__v" "$CLIENT" \
    --host 127.0.0.1 --port $PORT --user "${LOGIN:-alice}" --accept-cert once --link "${LINK:-lan}" "$@"
}
# client_run [options]: runs qvd-client to completion, prints its stderr, returns its status
client_run() {
  QVDPASSWORD=${PW:-pw} HOME=$T_DIR/home DISPLAY=$DISP t_in_node "$CLIENT" --host 127.0.0.1 \
    --port $PORT --user "${LOGIN:-alice}" --accept-cert once "$@" 2>&1 >/dev/null
}
# desktop_shown [SECONDS] [COLOUR]: the centre of nxagent's window (named QVD) on $DISP has
# the session's colour; polled over one X connection (tests/helpers/x-colour.c: a new X
# client per poll would break the session's own connection to the X server)
desktop_shown() { DISPLAY=$DISP t_in_node "$XCOLOUR" -t "${1:-60}" "${2:-$COLOUR}"; }
# in_vm_x VM CMD...: runs CMD in VM as alice on the session's display
in_vm_x() { local id=$1; shift; in_vm "$id" runuser -u alice -- env DISPLAY=:100 HOME=/home/alice "$@"; }
slot() { sql "SELECT user_state || ':' || COALESCE(CAST(l7r_pid AS TEXT), '-') FROM vm_runtimes WHERE vm_id = $1"; }
slot_free() { [ "$(slot "$1")" = "disconnected:-" ]; }
slot_connected() { [ "$(slot "$1")" = "connected:$L7R_PID" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
# x_state VM: the VMA's session state (stopped, listening, connected, suspended, ...)
x_state() { vma_get "$1" x_state "$(secret "$1")" | sed -n 's/^"\([a-z]*\)".*/\1/p'; }
