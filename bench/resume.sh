#!/usr/bin/env bash
# bench/resume.sh: how many resumes keep the user's session, out of many. Runs the
# integration test tests/integration/resume.sh with BENCH_RESUME_N cycles (default 100) and
# without stopping at the first loss: each cycle cuts a client (qvd-client through qvd-l7r)
# off while nxagent is resuming, then resumes fully and checks that the same nxagent, the
# same X session and its windows (an xterm with a marker, a moved window: pixels on an Xvfb
# screen) are there. Prints the count, the time per cycle and the DI's nx-libs.
#   bash bench/resume.sh        (as root; build first). Knobs: BENCH_RESUME_N (100),
#   BENCH_KEEP=1 (keep the scratch folder).
. "$(dirname "$0")/lib.sh"
N=${1:-${BENCH_RESUME_N:-100}}
[ "$(id -u)" = 0 ] || { echo "bench/resume.sh runs containers: run it as root" >&2; exit 1; }
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
t0=$(b_now)
RESUME_CYCLES=$N RESUME_KEEP_GOING=1 bash "$QVD_TOP/tests/integration/resume.sh" >"$out" 2>&1
t1=$(b_now)
line=$(grep -o 'resumes that kept their session: [0-9]* of [0-9]*.*' "$out")
[ -n "$line" ] || { echo "the test did not get to its cycles:" >&2; cat "$out" >&2; exit 1; }
read -r kept total <<<"$(sed 's/.*session: \([0-9]*\) of \([0-9]*\).*/\1 \2/' <<<"$line")"
nx=$(tar -xOf "$TEST_DI" ./etc/qvd-di-packages 2>/dev/null | grep -E '^(nxagent|libnx-x11)' | tr '\n' ' ')
[ -n "$nx" ] || nx="nxagent $(dpkg-query -W -f '${Version}' nxagent 2>/dev/null) (this machine's, in the test DI)"
echo
echo "Resumes of one session with windows open, through qvd-l7r ($(nproc) cores, $(date +%F))"
printf '| %-58s | %-24s | %-8s |\n' figure value target
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..10})"
printf '| %-58s | %-24s | %-8s |\n' "resumes that kept their session" "$kept of $total" "all"
printf '| %-58s | %-24s | %-8s |\n' "clients cut off while nxagent was resuming" \
  "$(sed -n 's/.*(\([0-9]*\) clients cut off.*/\1/p' <<<"$line")" ""
printf '| %-58s | %-24s | %-8s |\n' "time per cycle (cut-off resume + full resume + checks)" \
  "$(awk -v us=$((t1 - t0)) -v n="$total" 'BEGIN { printf "%.1f s", us / 1e6 / (n > 0 ? n : 1) }')" ""
echo "(nx-libs: $nx; lost cycles, if any:)"
grep '^# cycle' "$out" || echo "(none)"
echo "resumes that kept their session: $kept of $total"
