#!/usr/bin/env bash
# tests/integration/hardening.sh: every program the build installs is a hardened ELF: PIE,
# full RELRO (GNU_RELRO + BIND_NOW), a stack that is not executable, the stack protector
# and fortified libc calls. Reads the binaries with readelf; runs nothing.
. "$(dirname "$0")/../lib.sh"
t_init

programs=(hkd/qvd-hkd l7r/qvd-l7r vma/qvd-vma api/qvd-api admin/qvd-admin client/qvd-client)

if ! command -v readelf >/dev/null; then
  t_fail "readelf is installed (binutils)"
  exit 1
fi
# any other program a later change adds under src/ is checked too
for f in "$QVD_BUILD"/src/*/qvd-*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  rel=${f#"$QVD_BUILD"/src/}
  [[ " ${programs[*]} " == *" $rel "* ]] || programs+=("$rel")
done

# check_elf NAME: prints what NAME lacks, one word a line (nothing when hardened)
check_elf() {
  local f=$QVD_BUILD/src/$1 hdr dyn seg syms
  if [ ! -f "$f" ]; then echo missing; return; fi
  hdr=$(readelf -hW "$f") dyn=$(readelf -dW "$f") seg=$(readelf -lW "$f")
  syms=$(readelf --dyn-syms -W "$f")
  grep -qE 'Type:[[:space:]]+DYN' <<<"$hdr" || echo "ET_DYN"
  grep -qE '\(FLAGS_1\).*\bPIE\b' <<<"$dyn" || echo "DT_FLAGS_1-PIE"
  grep -qE '\((FLAGS|FLAGS_1)\).*\b(BIND_NOW|NOW)\b' <<<"$dyn" || echo "BIND_NOW"
  grep -qE '^[[:space:]]*GNU_RELRO' <<<"$seg" || echo "GNU_RELRO"
  # the GNU_STACK line ends with its flags: RW, never RWE
  grep -qE '^[[:space:]]*GNU_STACK([[:space:]]+0x[0-9a-f]+)+[[:space:]]+RW[[:space:]]' <<<"$seg" ||
    echo "non-executable-stack"
  grep -qE '[[:space:]]__stack_chk_fail(@|$)' <<<"$syms" || echo "__stack_chk_fail"
  grep -qE '[[:space:]]__[a-z0-9_]+_chk(@|$)' <<<"$syms" || echo "fortified-*_chk"
}

for p in "${programs[@]}"; do
  lacks=$(check_elf "$p" | tr '\n' ' ')
  if [ -z "$lacks" ]; then
    t_ok "$p is PIE, full RELRO, no exec stack, stack protector, fortified"
  else
    t_fail "$p is hardened (lacks: $lacks)"
  fi
done
