#!/usr/bin/env bash
# admin.sh: qvd-admin end to end on a real database (SQLite, or PostgreSQL with
# QVD_TEST_DB=pg and tests/pg.sh's server): objects are created and listed
# (table and JSON), and every bad input is refused with one "qvd-admin: " line on stderr, a
# non-zero exit and the database unchanged.
. "$(dirname "$0")/../lib.sh"
t_init
ADMIN=$QVD_BUILD/src/admin/qvd-admin
t_db_init || { t_fail "create the test database"; exit 1; }
cat >"$T_DIR/node.conf" <<CONF
$T_DB_CONF
path.storage.root = $T_DIR/storage
path.run = $T_DIR/run
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
qa() { "$ADMIN" -c "$T_DIR/node.conf" "$@"; }

# ok_run NAME CMD...: the command succeeds
ok_run() { local n=$1; shift; if "$@" >"$T_DIR/out" 2>"$T_DIR/err"; then t_ok "$n"; else t_fail "$n"; t_diag "$(cat "$T_DIR/err")"; fi; }
# refused NAME STATUS CMD...: exits STATUS with one "qvd-admin: " line and no DB change
# (but the audit log's record of the refused attempt)
refused() {
  local n=$1 want=$2 rc; shift 2
  t_db_dump audit_log >"$T_DIR/before"
  "$@" >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
  t_db_dump audit_log >"$T_DIR/after"
  if [ "$rc" = "$want" ] && [ "$(wc -l <"$T_DIR/err")" = 1 ] && grep -q '^qvd-admin: ' "$T_DIR/err" &&
     cmp -s "$T_DIR/before" "$T_DIR/after"; then
    t_ok "$n ($(cat "$T_DIR/err"))"
  else
    t_fail "$n: status $rc (want $want)"; t_diag "stderr: $(cat "$T_DIR/err")"
    cmp -s "$T_DIR/before" "$T_DIR/after" || t_diag "database changed"
  fi
}

[ -x "$ADMIN" ] || { t_fail "qvd-admin is built"; exit 1; }
ok_run "db init creates the schema" qa db init
t_check "db version is 1 or more" test "$(qa db version)" -ge 1
ok_run "help" qa --help
qa config defaults --markdown | cmp -s - "$QVD_TOP/docs/config.md" &&
  t_ok "docs/config.md is what config defaults --markdown prints" ||
  t_fail "docs/config.md is stale: qvd-admin config defaults --markdown >docs/config.md"
ok_run "object help" qa vm --help
grep -q "vm start" "$T_DIR/out" && t_ok "vm help lists start" || t_fail "vm help lists start"

# a small DI tarball and a DI directory
mkdir -p "$T_DIR/img/etc"; echo qvd >"$T_DIR/img/etc/hostname"
tar czf "$T_DIR/small.tar.gz" -C "$T_DIR/img" .
ok_run "tenant add" qa tenant add --name acme --description "Acme Inc"
ok_run "second tenant" qa tenant add --name globex
ok_run "user add with @tenant" qa user add --login bob@acme --password secret
echo s3cret | qa user add --login ann --tenant acme --password-stdin >/dev/null 2>&1 && t_ok "user add --password-stdin" || t_fail "user add --password-stdin"
ok_run "user in other tenant" qa user add --login eve@globex --password x
ok_run "osf add" qa osf add --name desktop --tenant acme --memory 512
ok_run "osf in common tenant" qa osf add --name shared --tenant -
ok_run "osf of other tenant" qa osf add --name theirs --tenant globex
ok_run "di add tarball" qa di add --osf desktop --tenant acme --path "$T_DIR/small.tar.gz"
test -f "$T_DIR/storage/images/1-small.tar.gz" && t_ok "tarball copied to images/1-small.tar.gz" || t_fail "tarball copied"
ok_run "di add directory" qa di add --osf-id 1 --path "$T_DIR/img/" --version v2
test -f "$T_DIR/storage/images/2-img/etc/hostname" && t_ok "directory copied to images/2-img" || t_fail "directory copied"
ok_run "di for common osf" qa di add --osf shared --path "$T_DIR/small.tar.gz"
ok_run "di for other tenant's osf" qa di add --osf theirs --tenant globex --path "$T_DIR/small.tar.gz"
ok_run "vm add" qa vm add --name desk1 --user bob@acme --osf desktop
ok_run "vm add on common osf" qa vm add --name desk2 --user bob@acme --osf shared --di-tag head
ok_run "host add" qa host add --name node1 --address 10.0.0.1
ok_run "di tag" qa di tag --id 1 --tag beta
ok_run "config set" qa config set vm.network.bridge qvdbr1
t_check "config get" test "$(qa config get vm.network.bridge)" = qvdbr1
ok_run "tenant config set" qa config set vm.network.bridge acmebr --tenant acme
t_check "tenant config get wins" test "$(qa config get vm.network.bridge --tenant acme)" = acmebr
ok_run "propset" qa vm propset --id 1 --key owner --value ops

# listings
qa vm list >"$T_DIR/vms"
head -1 "$T_DIR/vms" | grep -qE '^id +name +user +tenant +osf +di_tag +ip +mac' && t_ok "vm list has a header" || t_fail "vm list has a header"
grep -qE '^1 +desk1 +bob +acme +desktop +default +10\.0\.255\.254 +54:52:00:00:ff:fe' "$T_DIR/vms" && t_ok "vm list row: highest IP, MAC from it" || { t_fail "vm list row"; t_diag "$(cat "$T_DIR/vms")"; }
qa --json vm list >"$T_DIR/vms.json"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert len(v)==2 and v[0]["id"]==1 and v[1]["ip"]=="10.0.255.253" and v[0]["state"]=="stopped"' "$T_DIR/vms.json" && t_ok "vm list --json" || t_fail "vm list --json"
qa di list --osf desktop --tenant acme --json >"$T_DIR/dis.json"
python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [x["id"] for x in d]==[1,2], d
assert set(d[0]["tags"].split(","))=={d[0]["version"],"default","beta"}, d[0]
assert set(d[1]["tags"].split(","))=={"v2","head"}, d[1]
assert d[0]["path"]=="1-small.tar.gz" and d[0]["state"]=="published"' "$T_DIR/dis.json" && t_ok "di list: fixed version, head, default tags" || t_fail "di list tags"
for o in tenant user osf di host config admin role; do
  qa $o list >/dev/null 2>&1 && qa --json $o list | python3 -c 'import json,sys; json.load(sys.stdin)' && t_ok "$o list (table and JSON)" || t_fail "$o list"
done
qa --csv vm set --id 1 --description 'say "hi", then, go' >/dev/null 2>&1
qa --csv vm list >"$T_DIR/vms.csv"
python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0][:2] == ["id", "name"], rows[0]
assert len(rows) == 3 and rows[1][0] == "1", rows
d = rows[1][rows[0].index("description")]
assert d == "say \"hi\", then, go", d
' "$T_DIR/vms.csv" && t_ok "vm list --csv (RFC 4180: header, quoted commas and quotes)" || { t_fail "vm list --csv"; t_diag "$(cat "$T_DIR/vms.csv")"; }
refused "--json and --csv together" 2 qa --json --csv vm list
t_check "user list --tenant filters" test "$(qa --json user list --tenant globex | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1

# bad input: usage errors (2)
refused "unknown object" 2 qa frobnicate list
refused "unknown verb" 2 qa vm frobnicate
refused "unknown option" 2 qa vm list --colour
refused "missing required option" 2 qa tenant add
refused "option without value" 2 qa vm start --id
refused "non-numeric id" 2 qa vm start --id seven
refused "option twice" 2 qa tenant add --name a --name b
refused "stray argument" 2 qa tenant list extra
refused "config set without value" 2 qa config set vm.network.bridge
refused "user add without password on a pipe" 2 qa user add --login zed@acme </dev/null
# a value not of its member's type is the model's refusal (1), worded as qvd-api words it
# (the objects' description checks both; tests/integration/invalid.sh tries every member)
refused "bad boolean" 1 qa osf set --id 1 --use-overlay maybe
t_check "... naming the member as qvd-api does" grep -q "member 'use_overlay' must be a boolean" "$T_DIR/err"
# bad input: refused operations (1)
refused "duplicate tenant" 1 qa tenant add --name acme
refused "duplicate user" 1 qa user add --login bob@acme --password x
refused "duplicate user, case folded" 1 qa user add --login BOB@acme --password x
refused "user in unknown tenant" 1 qa user add --login x@nowhere --password x
# logins that name system accounts: a desktop session would run as that account
sysacct() { grep -q "names a system account of the desktops.*choose another login" "$T_DIR/err"; }
refused "user add --login root" 1 qa user add --login root --tenant acme --password x
t_check "... saying it names a system account" sysacct
refused "user add --login root@acme" 1 qa user add --login root@acme --password x
t_check "... saying it names a system account" sysacct
refused "user add --login Daemon@acme (any case)" 1 qa user add --login Daemon@acme --password x
refused "user add --login systemd-network@acme" 1 qa user add --login systemd-network@acme --password x
refused "user set --login root (rename)" 1 qa user set --id 1 --login root
t_check "... saying it names a system account" sysacct
refused "duplicate osf" 1 qa osf add --name desktop --tenant acme
refused "duplicate vm name" 1 qa vm add --name desk1 --user bob@acme --osf desktop
refused "vm with other tenant's osf" 1 qa vm add --name x --user bob@acme --osf-id 3
refused "vm of unknown user" 1 qa vm add --name x --user nobody@acme --osf desktop
refused "vm with unknown tag" 1 qa vm add --name x --user bob@acme --osf desktop --di-tag nope
refused "bad host ip" 1 qa host add --name node2 --address 10.0.0.300
refused "host address as name" 1 qa host add --name node2 --address node1
refused "duplicate host" 1 qa host add --name node1 --address 10.0.0.2
refused "di of unknown osf" 1 qa di add --osf nope --path "$T_DIR/small.tar.gz"
refused "di from a missing file" 1 qa di add --osf-id 1 --path "$T_DIR/missing.tar.gz"
echo x >"$T_DIR/image.iso"
refused "di of an unknown format" 1 qa di add --osf-id 1 --path "$T_DIR/image.iso"
refused "duplicate di version" 1 qa di add --osf-id 1 --path "$T_DIR/small.tar.gz" --version v2
ver=$(qa --json di list --id 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["version"])')
refused "moving a fixed tag" 1 qa di tag --id 2 --tag "$ver"
refused "removing a fixed tag" 1 qa di untag --id 1 --tag "$ver"
refused "removing head" 1 qa di untag --id 2 --tag head
refused "removing default" 1 qa di untag --id 1 --tag default
refused "deleting the last DI of an OSF with VMs" 1 qa di del --id 3
refused "unknown config key" 1 qa config set no.such.key 1
refused "config value of the wrong type" 1 qa config set hkd.max_heavy ten
refused "config boolean that is not one" 1 qa config set vm.network.isolated perhaps
refused "vm start without a running host" 1 qa vm start --id 1
refused "stopping a stopped vm" 1 qa vm stop --id 1
refused "deleting a user with VMs" 1 qa user del --login bob@acme
refused "deleting an osf with DIs" 1 qa osf del --name theirs --tenant globex
refused "deleting a tenant with users" 1 qa tenant del --name acme
refused "deleting an unknown vm" 1 qa vm del --id 99

# VM start/stop through vm_cmd with a host whose HKD looks alive
t_sql "UPDATE host_runtimes SET state='running', ok_ts=$(date +%s), usable_ram=2048 WHERE host_id=1"
ok_run "vm start" qa vm start --id 1
t_check "vm_cmd=start on host 1" test "$(t_sql 'SELECT vm_cmd||host_id FROM vm_runtimes WHERE vm_id=1')" = start1
t_sql "UPDATE vm_runtimes SET vm_cmd=NULL, vm_state='running' WHERE vm_id=1"
refused "deleting a running vm" 1 qa vm del --id 1
refused "starting a running vm" 1 qa vm start --id 1
ok_run "vm stop" qa vm stop --id 1
t_check "vm_cmd=stop" test "$(t_sql 'SELECT vm_cmd FROM vm_runtimes WHERE vm_id=1')" = stop
t_sql "UPDATE vm_runtimes SET vm_cmd=NULL, vm_state='stopped', host_id=NULL WHERE vm_id=1"
ok_run "host block" qa host block --name node1
refused "vm start on a blocked host" 1 qa vm start --id 1
ok_run "vm block" qa vm block --id 1
ok_run "vm del when stopped" qa vm del --id 1
t_check "vm gone with its runtime" test "$(t_sql 'SELECT count(*) FROM vm_runtimes WHERE vm_id=1')" = 0
ok_run "di del of the head DI" qa di del --id 2
t_check "head moved to DI 1" test "$(t_sql "SELECT di_id FROM di_tags WHERE osf_id=1 AND tag='head'")" = 1
test ! -e "$T_DIR/storage/images/2-img" && t_ok "DI directory removed" || t_fail "DI directory removed"
ok_run "user passwd" qa user passwd --login bob@acme --password other
ok_run "config defaults --markdown" qa config defaults --markdown
grep -q '^| `vm.network.ip.start` | text | `10.0.0.100` |' "$T_DIR/out" && t_ok "markdown table row" || t_fail "markdown table row"

# --- every change made in local mode is in the audit log, with source cli and the system
# user; listings are not; passwords never are
audit() { t_sql "SELECT administrator || '|' || action || '|' || status || '|' || source FROM audit_log WHERE $1 ORDER BY id"; }
me=$(id -un)
n0=$(t_sql "SELECT COUNT(*) FROM audit_log")
qa user add --login audited --password s3cret-pw >/dev/null
qa user add --login audited --password s3cret-pw >/dev/null 2>&1
qa user list >/dev/null
t_check "a local change is audited: source cli, the system user, the action" \
  eval '[ "$(audit "arguments LIKE '"'"'%audited%'"'"'" | head -1)" = "$me|user.add|200|cli" ]'
t_check "a refused local change is audited with its refusal" \
  eval '[ "$(audit "arguments LIKE '"'"'%audited%'"'"'" | sed -n 2p)" = "$me|user.add|422|cli" ] &&
        [ -n "$(t_sql "SELECT message FROM audit_log WHERE status = 422 AND arguments LIKE '"'"'%audited%'"'"'")" ]'
t_check "a listing is not audited (2 rows for 3 commands)" \
  [ "$(t_sql "SELECT COUNT(*) FROM audit_log")" = $((n0 + 2)) ]
t_check "the password is not in the audit log" \
  [ "$(t_sql "SELECT COUNT(*) FROM audit_log WHERE arguments LIKE '%s3cret%'")" = 0 ]
echo "1..$T_N"
