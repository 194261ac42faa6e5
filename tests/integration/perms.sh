#!/usr/bin/env bash
# perms.sh: a node's secrets are closed to its other local users. A node on SQLite
# (qvd-admin makes the database, qvd-hkd runs a real container, qvd-l7r and qvd-api drop to
# the user `daemon`), every folder open to all; then the user `nobody` tries to read the
# database and its WAL files, the TLS key, the VM's secret, the administrator's session
# tokens, and to send wake-ups or requests on the run sockets: all refused, while `daemon`
# can. A key or a database file that others can open stops the daemons at start-up, with
# the file and the chmod to run; a link that a daemon of the group plants is not followed.
# (File modes: SQLite only.)
. "$(dirname "$0")/../lib.sh"
t_init

ADMIN=$QVD_BUILD/src/admin/qvd-admin
HKD=$QVD_BUILD/src/hkd/qvd-hkd
L7R=$QVD_BUILD/src/l7r/qvd-l7r
API=$QVD_BUILD/src/api/qvd-api
VMA=$QVD_BUILD/src/vma/qvd-vma
DI=$QVD_BUILD/test-di.tar
conf=$T_DIR/node.conf
PORT=$((20000 + RANDOM % 20000)) APORT=$((20000 + RANDOM % 20000))
DB=$T_DIR/lib/qvd.db
RUN=$T_DIR/run
export HOME=$T_DIR/home
unset QVD_API_URL QVD_CONFIG

t_test_di "$VMA" || { t_fail "build the test DI"; exit 1; }
t_node_ns perms || { t_fail "create the test node's namespaces"; exit 1; }
# every folder on the way is open: each secret must close itself
chmod 755 "$T_DIR"
t_self_cert "$T_DIR" localhost IP:127.0.0.1
cat >"$conf" <<CONF
nodename = perms1
database.path = $DB
path.run = $RUN
path.log = $T_DIR/log
path.storage.root = $T_DIR/storage
path.vma.binary = $VMA
vma.x_session = /usr/local/bin/qvd-test-session
hkd.vm_command.poll = 1
# the daemons that drop root share one primary group (the database is theirs)
hkd.user = daemon
l7r.address = 127.0.0.1
l7r.port = $PORT
l7r.user = daemon
path.l7r.ssl.cert = $T_DIR/cert.pem
path.l7r.ssl.key = $T_DIR/key.pem
api.address = 127.0.0.1
api.port = $APORT
api.socket = $RUN/api.sock
api.user = daemon
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
admin() { "$ADMIN" -c "$conf" "$@"; }
# as USER CMD...: CMD as a plain local user (its own group, no other)
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"; }
intruder() { as nobody "$@"; }
HKD_PID= L7R_PID= API_PID=
t_cleanup_add 'kill $HKD_PID $L7R_PID $API_PID; sleep 0.5'
t_cleanup_add 'for c in $(t_in_node lxc-ls -P $RUN/lxc 2>/dev/null); do t_in_node lxc-stop -k -P $RUN/lxc -n $c; done'
sql() { sqlite3 -cmd '.timeout 5000' "$DB" "$1"; }
mode() { stat -c %a "$1"; }

# --- made private from the first byte, whatever the umask ---
(umask 000; admin user add --login alice --password pw >/dev/null)
t_check "qvd-admin creates the database 0600 even under umask 000" [ "$(mode "$DB")" = 600 ]
echo rootpw | admin admin add --name root --tenant '*' --role master --password-stdin >/dev/null
admin osf add --name desk --memory 300 >/dev/null
admin di add --osf desk --path "$DI" >/dev/null
admin vm add --name desk1 --user alice --osf desk >/dev/null

t_node_spawn HKD_PID "$HKD" -c "$conf" >>"$T_DIR/hkd.log" 2>&1
is_host() { [ "$(sql "SELECT state FROM host_runtimes")" = running ]; }
t_wait 10 is_host || { t_fail "the HKD starts"; cat "$T_DIR/hkd.log"; exit 1; }
t_node_spawn L7R_PID "$L7R" -c "$conf" >>"$T_DIR/l7r.log" 2>&1
t_node_spawn API_PID "$API" -c "$conf" >>"$T_DIR/api.log" 2>&1
up() { t_in_node curl -sk -m 5 -o /dev/null "https://127.0.0.1:$PORT/qvd/ping" && test -S "$RUN/api.sock"; }
t_wait 10 up || { t_fail "the L7R and the API start"; cat "$T_DIR/l7r.log" "$T_DIR/api.log"; exit 1; }
t_check "the L7R and the API run as daemon" \
  [ "$(ps -o user= -p "$L7R_PID")" = daemon -a "$(ps -o user= -p "$API_PID")" = daemon ]

admin vm start --id 1 >/dev/null
is_running() { [ "$(sql "SELECT vm_state FROM vm_runtimes WHERE vm_id = 1")" = running ]; }
t_wait 60 is_running || { t_fail "the VM starts"; tail -20 "$T_DIR/hkd.log"; exit 1; }
SECRET=$RUN/vm/1/etc/vma.secret
echo rootpw | "$ADMIN" --url "unix:$RUN/api.sock" --login root --tenant '*' --password-stdin login >/dev/null
TOKENS=$HOME/.qvd/admin-tokens
t_check "every secret is there to try: database, WAL, SHM, key, VM secret, tokens" \
  test -s "$DB" -a -e "$DB-wal" -a -e "$DB-shm" -a -s "$T_DIR/key.pem" -a -s "$SECRET" -a -s "$TOKENS"

# --- the modes ---
t_check "the database and its WAL files are 0660, group daemon" \
  [ "$(stat -c '%a %G' "$DB" "$DB-wal" "$DB-shm" | sort -u)" = "660 daemon" ]
t_check "the wake-up folder is 2770, group daemon" [ "$(stat -c '%a %G' "$RUN/wake")" = "2770 daemon" ]
socks=$(find "$RUN/wake" -type s | wc -l)
t_check "its sockets (HKD, L7R) are 0660, group daemon" \
  [ "$socks" -ge 2 -a "$(find "$RUN/wake" -type s -printf '%m %g\n' | sort -u)" = "660 daemon" ]

# --- what the intruder tries ---
t_check "the intruder reaches the node's folders (a public file reads)" \
  eval 'intruder cat "$T_DIR/cert.pem" >/dev/null'
for f in "$DB" "$DB-wal" "$DB-shm" "$T_DIR/key.pem" "$SECRET" "$TOKENS"; do
  t_check "nobody cannot read ${f#$T_DIR/}" eval '! intruder cat "$f" >/dev/null 2>&1'
done
t_check "nobody cannot open the database with sqlite3" \
  eval '! intruder sqlite3 "$DB" "SELECT login FROM users" >/dev/null 2>&1'
for s in "$RUN"/wake/*; do
  t_check "nobody cannot send a wake-up to ${s#$RUN/}" \
    eval '! echo ! | intruder socat -u - "UNIX-SENDTO:$s" 2>/dev/null'
  t_check "daemon can send one to ${s#$RUN/}" eval 'echo ! | as daemon socat -u - "UNIX-SENDTO:$s"'
done
t_check "nobody cannot list the wake-up folder" eval '! intruder ls "$RUN/wake" >/dev/null 2>&1'
t_check "nobody cannot talk to the API's local socket" \
  eval '! intruder curl -s -m 5 --unix-socket "$RUN/api.sock" http://localhost/api/v1/info >/dev/null 2>&1'
t_check "daemon reads the database (the daemons' group)" eval 'as daemon cat "$DB" >/dev/null'

# --- start-up refusals ---
# a second L7R and API beside the running ones: ports and socket of their own
sed -e "s/^l7r.port = .*/l7r.port = $((PORT + 1))/" -e "s/^api.port = .*/api.port = $((APORT + 1))/" \
  -e "s|^api.socket = .*|api.socket = $RUN/api2.sock|" "$conf" >"$T_DIR/node2.conf"
# refused NAME PROG FILE: PROG stops at start-up with a message naming FILE and the chmod
# that fixes it
refused() {
  local out
  out=$(t_in_node timeout 10 "$2" -c "$T_DIR/node2.conf" 2>&1)
  if [ $? != 0 ] && grep -qF "$3" <<<"$out" && grep -qF "chmod 600 $3" <<<"$out"; then
    t_ok "$1"
  else
    t_fail "$1"; t_diag "$out"
  fi
}
chmod 644 "$T_DIR/key.pem"
refused "the L7R refuses a key others can read, naming it" "$L7R" "$T_DIR/key.pem"
refused "the API refuses a key others can read, naming it" "$API" "$T_DIR/key.pem"
chmod 600 "$T_DIR/key.pem"
chmod 664 "$DB"
refused "the L7R refuses a database others can read, naming it" "$L7R" "$DB"
refused "the API refuses a database others can read, naming it" "$API" "$DB"
out=$(admin user list 2>&1)
t_check "so does qvd-admin" grep -qF "chmod 600 $DB" <<<"$out"
chmod 660 "$DB"
chmod 666 "$DB-wal"
refused "the L7R refuses a WAL others can write, naming it" "$L7R" "$DB-wal"
chmod 660 "$DB-wal"
t_check "the running daemons still answer" up

# --- a daemon of the group plants a link where root will change modes ---
# (the wake-up folder is the group's: a compromised L7R could; the next start, as root, must
# not give the group a root file through it)
echo secret >"$T_DIR/victim" && chmod 600 "$T_DIR/victim"
as daemon ln -s "$T_DIR/victim" "$RUN/wake/qvd_cmd_planted"
t_in_node timeout 5 "$L7R" -c "$T_DIR/node2.conf" >"$T_DIR/l7r2.log" 2>&1
t_check "a link planted in the wake-up folder is not followed by the next start" \
  [ "$(stat -c '%a %G' "$T_DIR/victim")" = "600 root" ]
