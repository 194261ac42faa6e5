#!/usr/bin/env bash
# Every program answers -h and --help on stdout with status 0, --version with its name and
# the project's version, and an unknown option with its usage status (2; qvd-client: 1) and
# a message on stderr; and every program has its man page.
. "$(dirname "$0")/../lib.sh"
t_init
version=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$QVD_TOP/meson.build" | head -1)
for p in hkd/qvd-hkd l7r/qvd-l7r api/qvd-api vma/qvd-vma client/qvd-client admin/qvd-admin; do
  bin=$QVD_BUILD/src/$p name=${p#*/}
  [ -x "$bin" ] || { t_fail "$name is built"; continue; }
  for o in -h --help; do
    out=$("$bin" $o 2>/dev/null); rc=$?
    t_check "$name $o: usage on stdout, status 0" eval '[ $rc = 0 ] && grep -qi "usage" <<<"$out"'
  done
  out=$("$bin" --version 2>/dev/null); rc=$?
  t_check "$name --version: '$name $version', status 0" eval '[ $rc = 0 ] && [ "$out" = "$name $version" ]'
  want=2; [ "$name" = qvd-client ] && want=1 # docs/client.md: 1 is its usage status
  err=$("$bin" --no-such-option 2>&1 >/dev/null); rc=$?
  t_check "$name --no-such-option: status $want and a message" eval '[ $rc = $want ] && [ -n "$err" ]'
done

# a misspelt or unknown key in a program's own configuration file stops it at start-up,
# naming the file and line (and the key meant, for a near miss); nothing is started
printf 'log.level = info\nl7r.prot = 9\n' >"$T_DIR/typo.conf"
printf '# a comment\nfrobnicate = 1\n' >"$T_DIR/unknown.conf"
printf 'log.level = info\n\nl7r.port = 84x3\n' >"$T_DIR/typed.conf"
for p in hkd/qvd-hkd l7r/qvd-l7r api/qvd-api admin/qvd-admin; do
  bin=$QVD_BUILD/src/$p name=${p#*/} args=()
  [ "$name" = qvd-admin ] && args=(user list)
  err=$("$bin" -c "$T_DIR/typo.conf" "${args[@]}" 2>&1 >/dev/null); rc=$?
  t_check "$name refuses a misspelt key: file, line and 'did you mean'" \
    eval '[ $rc -ne 0 ] && grep -qF "$T_DIR/typo.conf:2: unknown key '"'"'l7r.prot'"'"': did you mean '"'"'l7r.port'"'"'?" <<<"$err"'
  err=$("$bin" -c "$T_DIR/unknown.conf" "${args[@]}" 2>&1 >/dev/null); rc=$?
  t_check "$name refuses an unknown key, naming file and line" \
    eval '[ $rc -ne 0 ] && grep -qF "$T_DIR/unknown.conf:2: unknown key '"'"'frobnicate'"'"'" <<<"$err"'
  err=$("$bin" -c "$T_DIR/typed.conf" "${args[@]}" 2>&1 >/dev/null); rc=$?
  t_check "$name refuses a value of the wrong type, naming file, line and key" \
    eval '[ $rc -ne 0 ] && grep -qF "$T_DIR/typed.conf:3: the value '"'"'84x3'"'"' of l7r.port is not valid: give an integer" <<<"$err"'
done
err=$("$QVD_BUILD/src/vma/qvd-vma" -c "$T_DIR/typo.conf" 2>&1 >/dev/null); rc=$?
t_check "qvd-vma refuses a misspelt key in vma.conf" \
  eval '[ $rc -ne 0 ] && grep -qF "typo.conf:2: unknown key" <<<"$err"'

# the man pages: one per program and node.conf(5), installed by meson install, each read by
# groff without a warning; node.conf(5) names every key of the defaults table
dest=$T_DIR/install
if meson install -C "$QVD_BUILD" --destdir "$dest" >"$T_DIR/install.log" 2>&1; then
  for page in man8/qvd-hkd.8 man8/qvd-l7r.8 man8/qvd-api.8 man8/qvd-vma.8 man1/qvd-client.1 \
    man1/qvd-admin.1 man5/node.conf.5; do
    f=$(find "$dest" -path "*/man/$page" | head -1)
    t_check "meson install puts the man page $page, which groff reads without a warning" \
      eval '[ -n "$f" ] && [ -z "$(groff -man -ww -z "$f" 2>&1)" ]'
  done
  f=$(find "$dest" -path "*/man/man5/node.conf.5" | head -1)
  missing=$("$QVD_BUILD/src/admin/qvd-admin" config defaults | cut -d' ' -f1 |
    while read -r k; do grep -qxF ".B ${k//-/\\-}" "$f" || echo "$k"; done) # roff: - is \-
  t_check "node.conf(5) describes every configuration key" eval '[ -n "$f" ] && [ -z "$missing" ]'
else
  t_fail "meson install works (see $T_DIR/install.log)"
fi
exit 0
