#!/usr/bin/env bash
# The project's test command: installs what the tests need, builds, runs every unit and
# integration test (TAP), and ends with one line "N passed, N failed, N skipped".
# Usage: tests/run.sh [pattern]   (pattern filters test files by name)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pattern=${1:-}
export QVD_TOP=$top QVD_BUILD=${QVD_BUILD:-$top/build}
log_dir=$QVD_BUILD/test-logs

if [ "$(id -u)" != 0 ]; then
  echo "tests/run.sh: run as root (the integration tests create containers and namespaces)" >&2
  exit 2
fi
# Debian's programs first: the tests use what scripts/install-deps.sh installs from
# Debian's archive. (A python3 shim of pyenv ahead in PATH takes ten times as long to start,
# and api.sh alone starts python3 some 150 times.)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin
bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
# QVD's nxagent (Debian's nx-libs with images/nx-libs/patches) for the test DI: cached,
# but its first build is long (a serial build, docs/images.md). It runs in the background
# from here, beside our build, the unit tests and the integration tests that need no VM
# image, and is waited for before the first one that does (outside the tests' time
# limits). Nothing is built without patches.
nxagent_build=""
for t in tests/integration/*.sh; do
  b=$(basename "$t" .sh)
  if [[ -z "$pattern" || integration/$b == *$pattern* || integration-pg/$b == *$pattern* ||
        integration-copy/$b == *$pattern* ]]; then
    mkdir -p "$QVD_BUILD"
    rm -f "$QVD_BUILD/nxagent-build.rc"
    { bash images/build-nxagent.sh >"$QVD_BUILD/nxagent-build.log" 2>&1
      echo $? >"$QVD_BUILD/nxagent-build.rc"; } &
    nxagent_build=$!
    break
  fi
done
if [ ! -f "$QVD_BUILD/build.ninja" ]; then
  meson setup "$QVD_BUILD" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$QVD_BUILD" >"$QVD_BUILD/ninja.log" 2>&1; then
  cat "$QVD_BUILD/ninja.log"
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
rm -rf "$log_dir"; mkdir -p "$log_dir"

pass=0 fail=0 skip=0
failed_names=()
# Counts the TAP lines of one test program's output; a program that fails without
# reporting a failing case counts as one failure of its own.
account() {
  local name=$1 out=$2 rc=$3 p=0 f=0 s=0
  p=$(grep -cE '^ok [0-9]+' "$out" | head -1); p=${p:-0}
  s=$(grep -cE '^ok [0-9]+.*# *[Ss][Kk][Ii][Pp]' "$out" | head -1); s=${s:-0}
  f=$(grep -cE '^not ok [0-9]+' "$out" | head -1); f=${f:-0}
  p=$((p - s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited with status $rc" >>"$out"; fi
  if [ "$rc" -eq 0 ] && [ $((p + f + s)) -eq 0 ]; then p=1; fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  grep -E '^(not ok|ok [0-9]+.*# *[Ss][Kk][Ii][Pp])' "$out" | sed "s|^|  $name: |"
  [ "$f" -gt 0 ] && failed_names+=("$name (log: $out)")
  printf '%-40s %d passed, %d failed, %d skipped%s\n' "$name" "$p" "$f" "$s" "$(took "$out")"
}
# How long a test ran: from its log's creation to its last write (" (N s)"; nothing where
# the file system keeps no creation time).
took() {
  local t
  t=$(stat -c '%W %Y' "$1" 2>/dev/null) || return 0
  set -- $t
  [ "${1:-0}" -gt 0 ] && echo " ($(($2 - $1)) s)"
}

# The layout of every C file is the one .clang-format describes (make format applies it).
if [[ -z "$pattern" || format/clang-format == *$pattern* ]]; then
  out=$log_dir/clang-format.log
  { git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror >"$out" 2>&1 &&
      echo "ok 1 - every C file is clang-formatted"; } >>"$out" ||
    echo "not ok 1 - files differ from .clang-format (make format fixes them)" >>"$out"
  account format/clang-format "$out" 0
fi

# Every configuration key read by name is in the defaults table with its type, no call
# site carries a default (tests/config_keys.sh).
if [[ -z "$pattern" || config/keys == *$pattern* ]]; then
  out=$log_dir/config-keys.log
  bash tests/config_keys.sh >"$out" 2>&1
  account config/keys "$out" 0
fi

# The model owns the schema: no SQL in the programs outside src/lib (tests/sql_outside_lib.sh).
if [[ -z "$pattern" || check/no-sql == *$pattern* ]]; then
  out=$log_dir/no-sql.log
  bash tests/sql_outside_lib.sh >"$out" 2>&1
  account check/no-sql "$out" 0
fi

for t in "$QVD_BUILD"/tests/unit/test-*; do
  [ -f "$t" ] && [ -x "$t" ] || continue
  name=unit/$(basename "$t")
  [[ -n "$pattern" && "$name" != *$pattern* ]] && continue
  out=$log_dir/$(basename "$t").log
  CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$t" >"$out" 2>&1; rc=$?
  account "$name" "$out" "$rc"
done

# The tests that use a database run again on PostgreSQL: a throwaway server (tests/pg.sh)
# for the unit tests and the integration tests that take QVD_TEST_DB=pg.
PG_UNIT=(test-db test-model test-model_hkd test-model_cluster test-model_host test-resource) PG_INTEGRATION=(admin admin_remote api endings hkd_control hkd_fence hkd_loss hkd_lxc hkd_stall invalid l7r l7r_stall session)
# ...and those that run on PostgreSQL only (a cluster of tests/cluster_node.sh, with its own
# server): not in the SQLite pass, once in this one.
PG_ONLY=(cluster_net cluster_loss cluster_admin cluster_fence)
pg_only() { local t; for t in "${PG_ONLY[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
pg_wanted() { [[ -z "$pattern" || $1 == *$pattern* ]]; }
pg_any=0
for t in "${PG_UNIT[@]}"; do pg_wanted "unit-pg/$t" && pg_any=1; done
for t in "${PG_INTEGRATION[@]}" "${PG_ONLY[@]}"; do pg_wanted "integration-pg/$t" && pg_any=1; done
pg_up=0
if [ $pg_any = 1 ]; then
  . tests/pg.sh
  if pg_start >"$log_dir/pg-start.log" 2>&1; then
    pg_up=1
  else
    echo "not ok 1 - a throwaway PostgreSQL server starts (see $log_dir/pg-start.log)" >"$log_dir/pg.log"
    account "pg/server" "$log_dir/pg.log" 1
  fi
fi
# The tests below run in three lanes at once, as they mostly wait on daemons, VMs and
# sessions: the integration tests on SQLite (this shell), the PostgreSQL tests, and the
# sanitizer builds with their runs. A lane in the background cannot count: each of its runs
# leaves its output in OUT, its status in OUT.rc and a line "KIND NAME OUT" in the lane's
# list, and the lists are counted once every lane is done.
# lane_exec LIST NAME OUT CMD...: runs CMD (already under its time limit) for a lane.
lane_exec() {
  local list=$1 name=$2 out=$3
  shift 3
  "$@" >"$out" 2>&1
  echo $? >"$out.rc"
  echo "plain $name $out" >>"$list"
}
# nxagent_ready: waits for QVD's nxagent build (started above); true once it is there.
nxagent_ready() {
  [ -n "$nxagent_build" ] || return 0
  while [ ! -f "$QVD_BUILD/nxagent-build.rc" ]; do sleep 2; done
  [ "$(cat "$QVD_BUILD/nxagent-build.rc")" = 0 ]
}
# The integration tests that need a VM image with QVD's nxagent (its first build takes
# about 20 minutes) run once it is there; the others run while it may still be building.
needs_nxagent() { grep -qE 't_test_di|session_node_init|cluster_init|build-(test|debian)-di|nxagent' "$1"; }
# The SQLite integration tests are one queue: the foreground lane takes them in order, and
# each other lane, once its own runs are done, takes the ones nobody has taken yet. A test
# is taken by making its claim folder (mkdir is atomic). The longest ones come first, so
# that the lanes end together.
SLOW_FIRST=(images resume pg_failover api firewall reconnect)
sqlite_tests() {
  local t b
  for b in "${SLOW_FIRST[@]}"; do [ -f "tests/integration/$b.sh" ] && echo "tests/integration/$b.sh"; done
  for t in tests/integration/*.sh; do
    b=$(basename "$t" .sh)
    [[ " ${SLOW_FIRST[*]} " == *" $b "* ]] || echo "$t"
  done
}
# sqlite_queue no|yes [LIST]: the tests of the queue that need no VM image with QVD's
# nxagent (no) or that do (yes), not yet taken; counted here, or for a background lane
# left in its LIST.
sqlite_queue() {
  local t b name out rc
  for t in $(sqlite_tests); do
    b=$(basename "$t" .sh) name=integration/$(basename "$t" .sh)
    [[ -n "$pattern" && "$name" != *$pattern* ]] && continue
    pg_only "$b" && continue
    if needs_nxagent "$t"; then [ "$1" = yes ] || continue; else [ "$1" = no ] || continue; fi
    mkdir "$log_dir/claim-$b" 2>/dev/null || continue
    out=$log_dir/$b.log
    if [ -n "${2:-}" ]; then
      lane_exec "$2" "$name" "$out" timeout 900 bash "$t"
    else
      timeout 900 bash "$t" >"$out" 2>&1; rc=$?
      account "$name" "$out" "$rc"
    fi
  done
}

# --- lane 2: PostgreSQL (unit tests, then the integration tests with QVD_TEST_DB=pg) ---
pg_lane_list=$log_dir/pg-lane.list
: >"$pg_lane_list"
pg_lane() {
  local t pass_nx
  for t in "${PG_UNIT[@]}"; do
    pg_wanted "unit-pg/$t" || continue
    CMOCKA_MESSAGE_OUTPUT=TAP lane_exec "$pg_lane_list" "unit-pg/$t" "$log_dir/pg-$t.log" \
      timeout 300 "$QVD_BUILD/tests/unit/$t"
  done
  for pass_nx in no yes; do
    [ $pass_nx = yes ] && { nxagent_ready || return 0; }
    for t in "${PG_INTEGRATION[@]}" "${PG_ONLY[@]}"; do
      pg_wanted "integration-pg/$t" || continue
      if needs_nxagent "tests/integration/$t.sh"; then [ $pass_nx = yes ] || continue
      else [ $pass_nx = no ] || continue; fi
      QVD_TEST_DB=pg lane_exec "$pg_lane_list" "integration-pg/$t" "$log_dir/pg-$t.log" \
        timeout 900 bash "tests/integration/$t.sh"
    done
  done
  sqlite_queue no "$pg_lane_list"
  nxagent_ready && sqlite_queue yes "$pg_lane_list"
}
pg_lane_pid=
if [ $pg_up = 1 ]; then
  pg_lane &
  pg_lane_pid=$!
fi

# The sanitizer builds, made once and kept: $QVD_BUILD-san (clang, AddressSanitizer and
# UBSan, with the libFuzzer targets) and $QVD_BUILD-tsan (clang, ThreadSanitizer, only the
# programs its runs need). Their programs carry src/lib/sanitizer_options.c's defaults.
SAN_BUILD=${QVD_SAN_BUILD:-$QVD_BUILD-san} TSAN_BUILD=${QVD_TSAN_BUILD:-$QVD_BUILD-tsan}
# What runs under them: the daemons' integration suites on ASan+UBSan (asan/NAME: qvd-api,
# qvd-admin local and remote, qvd-hkd, qvd-l7r, and in l7r.sh sessions through the ASan VMA
# in an LXC container of the test DI, built from this build's VMA), the threaded code on
# TSan (tsan/NAME: libqvd's workq, qvd-api's request workers, the L7R's password workers).
ASAN_SUITES=(api admin admin_remote hkd_control l7r)
TSAN_UNIT=(test-workq) TSAN_SUITES=(api_throttle l7r_throttle)
TSAN_TARGETS=(tests/unit/test-workq src/api/qvd-api src/admin/qvd-admin src/hkd/qvd-hkd
  src/l7r/qvd-l7r src/vma/qvd-vma)
san_wanted() { [[ -z "$pattern" || $1 == *$pattern* ]]; }
# san_setup DIR NAME MESON_OPTIONS... [-- NINJA_TARGETS...]: builds DIR; on failure leaves
# $log_dir/NAME.log for san_count (as NAME/build) and returns 1.
san_setup() {
  local dir=$1 name=$2 opts=() ok=1
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" "${opts[@]}" >"$log_dir/$name-setup.log" 2>&1 || ok=0
  fi
  if [ $ok = 1 ] && ! ninja -C "$dir" "$@" >"$log_dir/$name-build.log" 2>&1; then ok=0; fi
  [ $ok = 1 ] && return 0
  echo "not ok 1 - $name build (see $log_dir/$name-setup.log, $log_dir/$name-build.log)" >"$log_dir/$name.log"
  echo 1 >"$log_dir/$name.log.rc"
  return 1
}
# A sanitizer run sends every report to a folder of its own, then san_reports makes each
# report a failure of the run, whichever process wrote it (a daemon in the background too).
# The folder is in /tmp with mode 1777: the daemons write it after dropping root. Reports
# are written unsymbolized (llvm-symbolizer would be a new process, which the seccomp
# filter of qvd-l7r and qvd-api kills) and symbolized here.
san_dir() { rm -rf "$1"; mkdir -p "$1" && chmod 1777 "$1"; }
san_symbolizer=$(command -v llvm-symbolizer || ls /usr/bin/llvm-symbolizer-* 2>/dev/null | tail -1)
san_symbolize() { # BUILD: the build whose programs wrote the report
  local build=$1 line mod
  while IFS= read -r line; do
    echo "$line"
    [[ -n "$san_symbolizer" && $line =~ \(([^\ +\)]+)\+(0x[0-9a-f]+)\) ]] || continue
    mod=${BASH_REMATCH[1]}
    # TSan names a program or library without its folder
    [[ $mod == /* ]] || mod=$(find "$build" /usr/lib/x86_64-linux-gnu -name "$mod" \
      \( -type f -o -type l \) 2>/dev/null | head -1)
    [ -n "$mod" ] && "$san_symbolizer" --obj="$mod" "${BASH_REMATCH[2]}" 2>/dev/null |
      sed -n '/./s/^/        /p'
  done
}
san_reports() { # DIR OUT BUILD
  local dir=$1 out=$2 build=$3 f n
  n=$(grep -cE '^(ok|not ok) [0-9]+' "$out")
  for f in "$dir"/*; do
    [ -s "$f" ] || continue
    n=$((n + 1))
    echo "not ok $n - a sanitizer report: $f" >>"$out"
    san_symbolize "$build" <"$f" | sed 's/^/# /' >>"$out"
  done
}
# san_exec KIND NAME OUT CMD...: runs CMD (already under its time limit) with KIND's options
# (asan: ASan+UBSan; tsan), its output in OUT, its status in OUT.rc, its reports in
# $log_dir/reports-NAME. san_count KIND NAME OUT counts it.
san_exec() {
  local kind=$1 name=$2 out=$3 tmp rc
  shift 3
  tmp=$(mktemp -d /tmp/qvd-san.XXXXXX) && chmod 1777 "$tmp"
  if [ "$kind" = asan ]; then
    ASAN_OPTIONS=halt_on_error=1:detect_leaks=0:symbolize=0:log_path=$tmp/asan \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:symbolize=0:log_path=$tmp/ubsan \
      "$@" >"$out" 2>&1
  else
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:symbolize=0:log_path=$tmp/tsan:suppressions=$top/tests/tsan.supp" \
      "$@" >"$out" 2>&1
  fi
  rc=$?
  echo "$rc" >"$out.rc"
  san_dir "$log_dir/reports-${name//\//-}"
  cp -a "$tmp"/. "$log_dir/reports-${name//\//-}"/ 2>/dev/null
  rm -rf "$tmp"
}
san_count() {
  local kind=$1 name=$2 out=$3 build=$TSAN_BUILD
  [ "$kind" = asan ] && build=$SAN_BUILD
  san_reports "$log_dir/reports-${name//\//-}" "$out" "$build"
  account "$name" "$out" "$(cat "$out.rc" 2>/dev/null || echo 1)"
}

# --- lane 3: the ASan+UBSan build and its daemon suites, the TSan build and its runs, then
# the unit tests on ASan+UBSan (with leak checks) and the libFuzzer targets run from their
# seed corpus for a bounded time each (15 s: the eight or so targets take about two minutes
# together; bench/fuzz.sh runs them far longer) ---
asan_any=0
san_wanted sanitize/fuzz && asan_any=1
for t in "${ASAN_SUITES[@]}"; do san_wanted "asan/$t" && asan_any=1; done
tsan_any=0
for t in "${TSAN_UNIT[@]}" "${TSAN_SUITES[@]}"; do san_wanted "tsan/$t" && tsan_any=1; done
san_lane_list=$log_dir/san-lane.list
: >"$san_lane_list"
san_lane() {
  local t n f corpus san_built=0
  if [ $asan_any = 1 ]; then
    if san_setup "$SAN_BUILD" sanitize -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false; then
      san_built=1
    else
      echo "asan sanitize/build $log_dir/sanitize.log" >>"$san_lane_list"
    fi
  fi
  if [ $san_built = 1 ]; then
    # the daemons' suites on SQLite, with this build's programs and its own test DI;
    # twice the usual time limit (the suites' own waits are generous enough)
    for t in "${ASAN_SUITES[@]}"; do
      san_wanted "asan/$t" || continue
      needs_nxagent "tests/integration/$t.sh" && { nxagent_ready || continue; }
      QVD_BUILD=$SAN_BUILD san_exec asan "asan/$t" "$log_dir/asan-$t.log" \
        timeout 1800 bash "tests/integration/$t.sh"
      echo "asan asan/$t $log_dir/asan-$t.log" >>"$san_lane_list"
    done
  fi
  if [ $tsan_any = 1 ]; then
    if ! san_setup "$TSAN_BUILD" tsan -Db_sanitize=thread -Db_lundef=false -- "${TSAN_TARGETS[@]}"; then
      echo "tsan tsan/build $log_dir/tsan.log" >>"$san_lane_list"
    else
      for t in "${TSAN_UNIT[@]}"; do
        san_wanted "tsan/$t" || continue
        CMOCKA_MESSAGE_OUTPUT=TAP san_exec tsan "tsan/$t" "$log_dir/tsan-$t.log" \
          timeout 300 "$TSAN_BUILD/tests/unit/$t"
        echo "tsan tsan/$t $log_dir/tsan-$t.log" >>"$san_lane_list"
      done
      for t in "${TSAN_SUITES[@]}"; do
        san_wanted "tsan/$t" || continue
        QVD_BUILD=$TSAN_BUILD san_exec tsan "tsan/$t" "$log_dir/tsan-$t.log" \
          timeout 1800 bash "tests/integration/$t.sh"
        echo "tsan tsan/$t $log_dir/tsan-$t.log" >>"$san_lane_list"
      done
    fi
  fi
  if [ $san_built = 1 ] && san_wanted sanitize/fuzz; then
    for t in "$SAN_BUILD"/tests/unit/test-*; do
      [ -f "$t" ] && [ -x "$t" ] || continue
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        CMOCKA_MESSAGE_OUTPUT=TAP lane_exec "$san_lane_list" "sanitize/$(basename "$t")" \
        "$log_dir/san-$(basename "$t").log" timeout 300 "$t"
    done
    for f in "$SAN_BUILD"/tests/fuzz/fuzz-*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      n=${f##*/fuzz-}
      corpus=$log_dir/corpus-$n; rm -rf "$corpus"; mkdir -p "$corpus"
      cp "$top/tests/fuzz/corpus/$n"/* "$corpus"/ 2>/dev/null
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        lane_exec "$san_lane_list" "fuzz/$n" "$log_dir/fuzz-$n.log" \
        timeout 300 "$f" -max_total_time="${QVD_FUZZ_SECONDS:-15}" -timeout=10 -seed=1 "$corpus"
    done
  fi
  sqlite_queue no "$san_lane_list"
  nxagent_ready && sqlite_queue yes "$san_lane_list"
}
san_lane &
san_lane_pid=$!

# --- lane 1 (this shell): the integration tests on SQLite (the queue above) ---
sqlite_queue no
if ! nxagent_ready; then
  cat "$QVD_BUILD/nxagent-build.log"
  echo "not ok 1 - QVD's nxagent builds (images/build-nxagent.sh)" >"$log_dir/nxagent.log"
  account "images/nxagent-build" "$log_dir/nxagent.log" 1
fi
grep -h 'built in' "$QVD_BUILD/nxagent-build.log" 2>/dev/null || true
sqlite_queue yes

# The VMA's copying relay (vma.relay.splice = 0: what runs when splice cannot) once more.
if [[ -z "$pattern" || "integration-copy/vma" == *$pattern* ]]; then
  out=$log_dir/copy-vma.log
  QVD_TEST_VMA_SPLICE=0 timeout 900 bash tests/integration/vma.sh >"$out" 2>&1; rc=$?
  account "integration-copy/vma" "$out" "$rc"
fi

# --- the other lanes' results ---
lane_count() { # LIST
  local kind name out
  while read -r kind name out; do
    if [ "$kind" = plain ]; then account "$name" "$out" "$(cat "$out.rc" 2>/dev/null || echo 1)"
    else san_count "$kind" "$name" "$out"; fi
  done <"$1"
}
if [ -n "$pg_lane_pid" ]; then
  wait "$pg_lane_pid"
  pg_stop
fi
lane_count "$pg_lane_list"
wait "$san_lane_pid"
lane_count "$san_lane_list"

if [ ${#failed_names[@]} -gt 0 ]; then
  echo "failed:"; printf '  %s\n' "${failed_names[@]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
