# tests/lib.sh: helpers for integration tests, which print TAP ("ok N - name").
# Source it; call t_init, then t_ok/t_fail/t_skip per scenario; cleanup with t_cleanup_add.
set -uo pipefail
QVD_TOP=${QVD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
QVD_BUILD=${QVD_BUILD:-$QVD_TOP/build}
T_N=0
T_CLEANUP=()

t_ok()   { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
t_fail() { T_N=$((T_N + 1)); echo "not ok $T_N - $*"; }
t_skip() { T_N=$((T_N + 1)); echo "ok $T_N - $1 # SKIP ${2:-}"; }
# t_check NAME CMD...: ok if CMD succeeds
t_check() { local n=$1; shift; if "$@"; then t_ok "$n"; else t_fail "$n"; fi; }
t_diag() { echo "# $*"; }

t_cleanup_add() { T_CLEANUP+=("$*"); }
t_run_cleanup() {
  local i
  for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUP[$i]}" >/dev/null 2>&1 || true; done
  T_CLEANUP=()
}
# A private scratch folder removed at exit, with the cleanups.
t_init() {
  T_DIR=$(mktemp -d "/tmp/qvdtest.$(basename "$0" .sh).XXXXXX")
  # daemons that drop root (qvd-hkd's engine, qvd-l7r) reach what is theirs, and VMs, as
  # unprivileged host ids, pass through to their mount points
  chmod 755 "$T_DIR"
  T_MAIN_PID=$BASHPID
  # only the test's own shell cleans up: a forked child killed before its exec runs the
  # EXIT trap too, and must not tear the test down under it
  trap '[ "$BASHPID" = "$T_MAIN_PID" ] || exit; t_run_cleanup; [ -n "${QVD_KEEP_TEST_DIR:-}" ] || rm -rf "$T_DIR"' EXIT
}
# t_has GREP-ARGS: grep -q on its standard input, read to its end first. (Under pipefail a
# grep -q at the end of a pipe exits at the first match, its writer dies of SIGPIPE if it
# writes more, and the pipeline fails although the line was there: cluster_net.sh's check of
# a route failed so on a loaded machine.) Use it for `CMD | t_has PATTERN` in the tests.
t_has() { local in; in=$(cat); [ -n "$in" ] && grep -q "$@" <<<"$in"; }
# Waits up to $1 seconds for CMD to succeed (polling every 0.1 s).
t_wait() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}

# A test node: a network namespace (no default route: nothing can leave the machine) and a
# persistent mount namespace whose /sys shows that network, both pinned under $T_DIR so that
# a daemon restarted in them finds the mounts and devices its previous run left. Called again
# with another name, it makes another node (tests/cluster_node.sh); T_NS_NET and T_NS_MNT
# name the last one made.
t_node_ns() {
  local name=$1
  T_NS_NET=qvdt-$name-$$
  T_NS_MNT=$T_DIR/mntns-$name
  ip netns add "$T_NS_NET" || return 1
  t_cleanup_add "ip netns del $T_NS_NET"
  touch "$T_NS_MNT"
  # $T_DIR on itself, private (where a mount namespace may be pinned), once per test
  if [ -z "${T_DIR_PRIVATE:-}" ]; then
    mount --bind "$T_DIR" "$T_DIR" 2>/dev/null && mount --make-private "$T_DIR"
    t_cleanup_add "umount -l $T_DIR"
    T_DIR_PRIVATE=1
  fi
  unshare --mount="$T_NS_MNT" --propagation slave true || return 1
  t_cleanup_add "umount $T_NS_MNT"
  nsenter --mount="$T_NS_MNT" --net="/run/netns/$T_NS_NET" \
    sh -c "mkdir -p $T_DIR/.cg && mount --rbind /sys/fs/cgroup $T_DIR/.cg &&
           umount -l /sys && mount -t sysfs sysfs /sys &&
           mount --move $T_DIR/.cg /sys/fs/cgroup && ip link set lo up" || return 1
}
# Runs a command inside the test node's namespaces.
t_in_node() {
  nsenter --mount="$T_NS_MNT" --net="/run/netns/$T_NS_NET" "$@"
}
# t_node_spawn VAR CMD...: starts CMD in the background inside the test node and stores its
# PID in VAR (nsenter execs CMD, so the PID is CMD's own, ready for kill).
t_node_spawn() {
  local __var=$1; shift
  nsenter --mount="$T_NS_MNT" --net="/run/netns/$T_NS_NET" "$@" &
  printf -v "$__var" '%s' "$!"
}
# t_test_di VMA: the small test DI at $QVD_BUILD/test-di.tar, rebuilt when its recipe changed
# (any file under images/ newer than it: the scripts, the nx-libs patches), checked to hold
# every library the VMA binary VMA needs. With nx-libs patches, the first build also builds
# QVD's nxagent (images/build-nxagent.sh, cached; tests/run.sh does that before the tests).
# Returns non-zero (with the build log on stderr) when it cannot be built.
t_test_di() {
  local di=$QVD_BUILD/test-di.tar
  if [ ! -f "$di" ] || [ -n "$(find "$QVD_TOP/images" -newer "$di" -print -quit)" ]; then
    bash "$QVD_TOP/images/build-test-di.sh" --check-elf "$1" "$di" >"$T_DIR/di-build.log" 2>&1 ||
      { cat "$T_DIR/di-build.log" >&2; return 1; }
  fi
}

# The test's database: SQLite in $T_DIR, or with QVD_TEST_DB=pg a fresh database on the
# throwaway server of tests/pg.sh (QVD_TEST_PG_*), dropped at exit. Sets T_DB_CONF, the
# database.* lines for the node's config. Then t_sql SQL runs SQL on it (rows as a|b|c,
# NULL as empty) and t_db_dump prints its content for before/after comparisons.
t_db_init() {
  if [ "${QVD_TEST_DB:-sqlite}" = pg ]; then
    [ -n "${QVD_TEST_PG_HOST:-}" ] || { echo "t_db_init: QVD_TEST_DB=pg needs tests/pg.sh's server" >&2; return 1; }
    T_PG_DB=qvd_t$$_$RANDOM
    t_pg_admin "CREATE DATABASE $T_PG_DB OWNER $QVD_TEST_PG_USER" || return 1
    t_cleanup_add "t_pg_admin 'DROP DATABASE IF EXISTS $T_PG_DB WITH (FORCE)'"
    T_DB_CONF="database.type = pg
database.host = $QVD_TEST_PG_HOST
database.port = $QVD_TEST_PG_PORT
database.user = $QVD_TEST_PG_USER
database.name = $T_PG_DB"
  else
    T_DB=$T_DIR/qvd.db
    T_DB_CONF="database.path = $T_DB"
  fi
}
t_pg_admin() {
  runuser -u postgres -- psql -X -q -h "$QVD_TEST_PG_HOST" -p "$QVD_TEST_PG_PORT" -U postgres \
    -d postgres -c "$1" >/dev/null
}
t_sql() {
  if [ -n "${T_PG_DB:-}" ]; then
    psql -X -q -At -F '|' -v ON_ERROR_STOP=1 -h "$QVD_TEST_PG_HOST" -p "$QVD_TEST_PG_PORT" \
      -U "$QVD_TEST_PG_USER" -d "$T_PG_DB" -c "$1"
  else
    sqlite3 -cmd '.timeout 5000' "$T_DB" "$1"
  fi
}
# (left out: sequence positions, which a refused insert may advance without changing data,
# and the random keys of pg_dump's \restrict lines)
# t_db_dump [TABLE...]: the tables named are left out (their rows, not their definition).
t_db_dump() {
  local t ex=() re='^$'
  for t in "$@"; do ex+=(--exclude-table-data="$t"); re="$re|^INSERT INTO $t VALUES"; done
  if [ -n "${T_PG_DB:-}" ]; then
    pg_dump "${ex[@]}" -h "$QVD_TEST_PG_HOST" -p "$QVD_TEST_PG_PORT" -U "$QVD_TEST_PG_USER" "$T_PG_DB" |
      grep -v -e 'setval' -e '^--' -e '^\\restrict' -e '^\\unrestrict'
  else
    sqlite3 "$T_DB" .dump | grep -Ev "$re"
  fi
}

# t_self_cert DIR CN [SAN]: a self-signed EC P-256 certificate DIR/cert.pem and its key
# DIR/key.pem (mode 600, as the daemons require), valid 2 days; SAN e.g. IP:127.0.0.1.
t_self_cert() {
  local dir=$1 cn=$2 san=${3:-}
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$cn" \
    ${san:+-addext "subjectAltName=$san"} -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 &&
    chmod 600 "$dir/key.pem"
}

# t_tls_raw PORT TEXT [SECONDS]: sends TEXT (printf format) over TLS to 127.0.0.1:PORT in
# the test node, waits up to 30 s for the answer to begin, keeps the connection SECONDS (1)
# more for the rest, prints what came back. (A fixed window from the request failed under
# load: a login's password check on a busy machine takes longer than a second.)
t_tls_raw() {
  local out
  out=$(mktemp "$T_DIR/raw.XXXXXX")
  { printf "$2"; t_wait 30 test -s "$out"; sleep "${3:-1}"; } |
    t_in_node timeout 45 openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:$1 >"$out" 2>/dev/null
  cat "$out"; rm -f "$out"
}
