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
  trap 't_run_cleanup; rm -rf "$T_DIR"' EXIT
}
# Waits up to $1 seconds for CMD to succeed (polling every 0.1 s).
t_wait() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
