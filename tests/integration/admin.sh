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
head -1 "$T_DIR/vms" | t_has -E '^id +name +user +tenant +osf +di_tag +ip +mac' && t_ok "vm list has a header" || t_fail "vm list has a header"
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

# --- hosts of a cluster: VM subnets, views, removal refusals, drain (block), evacuate
# (the cluster's VM network is vm.network.ip.start 10.0.0.100 / 255.255.0.0: 10.0.0.0/16)
ok_run "host add --vm-subnet" qa host add --name node2 --address 192.168.77.2 --vm-subnet 10.2.0.0/16
ok_run "host set --vm-subnet" qa host set --id 1 --vm-subnet 10.1.0.0/16
t_check "vm_subnet stored" test "$(t_sql "SELECT vm_subnet FROM hosts ORDER BY id" | tr '\n' ' ')" = "10.1.0.0/16 10.2.0.0/16 "
refused "subnet of another host" 1 qa host add --name node3 --address 192.168.77.3 --vm-subnet 10.2.0.0/16
t_check "... naming the host that has it" grep -q "overlaps host 2 (node2)'s 10.2.0.0/16" "$T_DIR/err"
refused "subnet with host bits" 1 qa host set --id 2 --vm-subnet 10.3.0.1/16
t_check "... giving its network" grep -q "its network is 10.3.0.0/16" "$T_DIR/err"
refused "subnet of another prefix length" 1 qa host set --id 2 --vm-subnet 10.3.0.0/24
t_check "... naming vm.network.netmask" grep -q "prefix length of vm.network.netmask (255.255.0.0, /16)" "$T_DIR/err"
refused "subnet in the cluster's VM network" 1 qa host set --id 2 --vm-subnet 10.0.0.0/16
refused "subnet that is no CIDR" 1 qa host set --id 2 --vm-subnet 10.3.0.0
refused "a new host whose subnet is refused is not added" 1 qa host add --name node3 --address 192.168.77.3 --vm-subnet 10.9.9.0/24
t_check "... (no host node3)" test "$(t_sql "SELECT count(*) FROM hosts WHERE name = 'node3'")" = 0
ok_run "host set --vm-subnet '' (none)" qa host set --id 2 --vm-subnet ''
ok_run "... and back" qa host set --id 2 --vm-subnet 10.2.0.0/16
ok_run "host rename" qa host set --id 2 --name node2b
ok_run "... and back" qa host set --id 2 --name node2
# two running nodes; node1 (blocked above) is unblocked for the drain below. beat: the
# HKDs' heartbeats, renewed before each step that needs a fresh one (hkd.cluster.node.timeout
# is 10 s, and this machine may be slow)
beat() { t_sql "UPDATE host_runtimes SET ok_ts = $(date +%s) WHERE state = 'running'"; }
now=$(date +%s)
t_sql "UPDATE host_runtimes SET state = 'running', ok_ts = $now - 2, usable_ram = 4000, usable_cpu = 400, blocked = 0"
ok_run "vm add (3 VMs for the hosts)" qa vm add --name h1 --user bob@acme --osf desktop
qa vm add --name h2 --user ann@acme --osf desktop >/dev/null && qa vm add --name h3 --user eve@globex --osf theirs >/dev/null
vmid() { t_sql "SELECT id FROM vms WHERE name = '$1'"; }
H1=$(vmid h1) H2=$(vmid h2) H3=$(vmid h3)
# each VM is placed on node1: node2 blocked meanwhile (a blocked host gets no new VM)
ok_run "host block node2" qa host block --name node2
beat
for v in $H1 $H2 $H3; do qa vm start --id $v >/dev/null 2>&1 || t_diag "vm start $v: $(qa vm start --id $v 2>&1)"; done
t_check "placement skips the blocked host: the 3 VMs go to node1" test "$(t_sql "SELECT count(*) FROM vm_runtimes WHERE host_id = 1")" = 3
t_sql "UPDATE vm_runtimes SET vm_cmd = NULL, vm_state = 'running' WHERE vm_id IN ($H1, $H2)"
t_sql "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = 1 WHERE vm_id = $H1"
t_sql "UPDATE host_runtimes SET ok_ts = $(date +%s) - 30 WHERE host_id = 1"
qa --json host list >"$T_DIR/hosts.json"
python3 - "$T_DIR/hosts.json" "$H1,$H2,$H3" <<'PY' && t_ok "host list: state, heartbeat age, VM count, memory, subnet, the VMs on it" || { t_fail "host list views"; t_diag "$(cat "$T_DIR/hosts.json")"; }
import json, sys
h = {x["name"]: x for x in json.load(open(sys.argv[1]))}
n1, n2 = h["node1"], h["node2"]
assert n1["state"] == "running" and n2["state"] == "blocked", (n1["state"], n2["state"])
assert 30 <= n1["heartbeat_age"] <= 600, n1["heartbeat_age"]
assert n1["vms"] == 3 and n2["vms"] == 0, (n1["vms"], n2["vms"])
# desktop 512 MiB twice (running), theirs (default memory) once (a start it was given)
assert n1["memory_committed"] > 1024 and n2["memory_committed"] == 0, n1
assert n1["usable_ram"] == 4000 and n1["usable_cpu"] == 400, n1
assert n1["vm_ids"] == sys.argv[2] and n2["vm_ids"] is None, n1["vm_ids"]
assert n1["vm_subnet"] == "10.1.0.0/16" and n1["address"] == "10.0.0.1", n1
PY
t_check "host list (table) has the columns" eval 'qa host list | head -1 | t_has -E "state +blocked +heartbeat_age +usable_ram +memory_committed +usable_cpu +vms +vm_ids"'
t_check "vm list --host lists the VMs on it" test "$(qa --json vm list --host node1 | python3 -c 'import json,sys; print(",".join(str(v["id"]) for v in json.load(sys.stdin)))')" = "$H1,$H2,$H3"
t_check "vm list --host of an empty host lists none" test "$(qa --json vm list --host node2)" = "[]"
refused "vm list --host of an unknown host" 1 qa vm list --host nowhere
refused "host del with VMs assigned" 1 qa host del --name node1
t_check "... saying what to do" grep -q "has VMs assigned (VM $H1): stop them first" "$T_DIR/err"
beat
refused "host del while its qvd-hkd runs" 1 qa host del --name node2
t_check "... saying what to do" grep -q "runs qvd-hkd: stop it there first" "$T_DIR/err"
# drain: blocking node1 stops nothing (its VMs run on)
ok_run "host block node1" qa host block --name node1
t_check "a blocked host's VMs keep running (no vm_cmd)" test "$(t_sql "SELECT count(*) FROM vm_runtimes WHERE host_id = 1 AND vm_cmd IS NULL")" = 2
t_check "... and it shows blocked" test "$(qa --json host list --name node1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])')" = blocked
# evacuate with no other node to go to: refused, nothing changed
refused "host evacuate of the only node that can take VMs" 1 qa host evacuate --name node1
t_check "... saying so" grep -q "only node that can take VMs.*nowhere to go.*--force" "$T_DIR/err"
ok_run "host unblock node2" qa host unblock --name node2
beat
rows() { t_sql "SELECT vm_id || ':' || vm_state || ':' || coalesce(vm_cmd, '-') || ':' || coalesce(CAST(host_id AS TEXT), '-') || ':' || coalesce(user_cmd, '-') || ':' || coalesce(user_cmd_by, '-') FROM vm_runtimes WHERE vm_id IN ($H1, $H2, $H3) ORDER BY vm_id" | tr '\n' ' '; }
ok_run "host evacuate node1" qa host evacuate --name node1
t_check "... says how many VMs it moved" grep -q "host 1 evacuated: 3 VMs stopped" "$T_DIR/out"
want="$H1:running:stop:1:abort:admin $H2:running:stop:1:-:- $H3:stopped:-:-:-:- "
t_check "its VMs: running ones asked to stop, the connected user's session aborted by admin, the start no HKD took cancelled" test "$(rows)" = "$want"
[ "$(rows)" = "$want" ] || t_diag "rows: $(rows)"
t_check "the evacuated host is blocked" test "$(t_sql "SELECT blocked FROM host_runtimes WHERE host_id = 1")" = 1
t_check "the evacuation is audited" test "$(t_sql "SELECT action || '|' || status FROM audit_log ORDER BY id DESC LIMIT 1")" = "host.evacuate|200"
# the HKD stops them; the next start of each goes to node2
t_sql "UPDATE vm_runtimes SET vm_cmd = NULL, vm_state = 'stopped', host_id = NULL, user_cmd = NULL, user_cmd_by = NULL, user_state = 'disconnected', l7r_host_id = NULL WHERE vm_id IN ($H1, $H2)"
beat
for v in $H1 $H2 $H3; do qa vm start --id $v >/dev/null 2>&1 || t_diag "vm start $v: $(qa vm start --id $v 2>&1)"; done
t_check "after the evacuation each VM starts on the other node" test "$(t_sql "SELECT count(*) FROM vm_runtimes WHERE host_id = 2 AND vm_cmd = 'start'")" = 3
ok_run "host evacuate --force with nothing on it" qa host evacuate --id 1 --force
t_check "... moved none" grep -q "0 VMs stopped" "$T_DIR/out"
refused "host evacuate of an unknown host" 1 qa host evacuate --id 99
refused "host evacuate without a host" 2 qa host evacuate
t_sql "UPDATE vm_runtimes SET vm_cmd = NULL, host_id = NULL WHERE vm_id IN ($H1, $H2, $H3)"
t_sql "UPDATE host_runtimes SET state = 'stopped'"
ok_run "host del once stopped" qa host del --name node2
t_check "... gone with its runtime" test "$(t_sql "SELECT count(*) FROM host_runtimes WHERE host_id = 2")" = 0

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
