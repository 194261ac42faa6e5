#!/usr/bin/env bash
# admin_remote.sh: qvd-admin --url against a real qvd-api (SQLite, or PostgreSQL with
# QVD_TEST_DB=pg), on its Unix socket and over TLS with a generated certificate: login once
# (token file 0600), every object and verb of the qa4 grammar, filters, order, paging,
# table/CSV/JSON, names resolved to ids, confirmation of mass deletes, API errors as one
# "qvd-admin: " line with status 1, usage errors with status 2, an ended session, logout,
# qa.conf and QVD_API_URL, the bash completion, and local mode untouched by all of it.
. "$(dirname "$0")/../lib.sh"
t_init
API=$QVD_BUILD/src/api/qvd-api
ADMIN=$QVD_BUILD/src/admin/qvd-admin
[ -x "$API" ] || { t_fail "qvd-api is built"; exit 1; }
[ -x "$ADMIN" ] || { t_fail "qvd-admin is built"; exit 1; }
t_db_init || { t_fail "create the test database"; exit 1; }
PORT=$((20000 + RANDOM % 20000))
# the certificate names 127.0.0.1 only: "localhost" is a host name mismatch
t_self_cert "$T_DIR" qvd-api IP:127.0.0.1
mkdir -p "$T_DIR/storage/staging/img/etc" "$T_DIR/home"
echo qvd >"$T_DIR/storage/staging/img/etc/hostname"
cat >"$T_DIR/node.conf" <<CONF
$T_DB_CONF
path.storage.root = $T_DIR/storage
path.run = $T_DIR/run
api.port = $PORT
api.socket = $T_DIR/run/api.sock
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
api.auth.throttle.failures = 100
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
SOCK=unix:$T_DIR/run/api.sock
TLS=https://127.0.0.1:$PORT
export HOME=$T_DIR/home
unset QVD_API_URL QVD_ADMIN_PASSWORD QVD_CONFIG
qa() { "$ADMIN" -c "$T_DIR/node.conf" "$@"; }
# rq ARGS: remote on the socket; rt ARGS: remote over TLS, trusting the test CA
rq() { "$ADMIN" --url "$SOCK" "$@"; }
rt() { "$ADMIN" --url "$TLS" --ca "$T_DIR/cert.pem" "$@"; }

# ok NAME CMD...: succeeds (stdout in $T_DIR/out)
ok() {
  local n=$1; shift
  if "$@" >"$T_DIR/out" 2>"$T_DIR/err"; then t_ok "$n"; else t_fail "$n"; t_diag "$(cat "$T_DIR/err")"; fi
}
# refused NAME STATUS PATTERN CMD...: exits STATUS with one "qvd-admin: " line on stderr
# matching PATTERN (grep -E)
refused() {
  local n=$1 want=$2 pat=$3 rc; shift 3
  "$@" >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
  if [ "$rc" = "$want" ] && [ "$(wc -l <"$T_DIR/err")" = 1 ] && grep -q '^qvd-admin: ' "$T_DIR/err" &&
     grep -Eq "$pat" "$T_DIR/err"; then
    t_ok "$n ($(cat "$T_DIR/err"))"
  else
    t_fail "$n: status $rc (want $want)"; t_diag "stderr: $(cat "$T_DIR/err")"
  fi
}
# has NAME PATTERN: the last output matches PATTERN (grep -E)
has() { if grep -Eq -- "$2" "$T_DIR/out"; then t_ok "$1"; else t_fail "$1"; t_diag "$(head -5 "$T_DIR/out")"; fi; }
# field OBJECT FILTER FIELD: one field of the one matching object, as the table shows it
field() { rq --csv "$1" "$2" get "$3" | tail -n +2 | tr -d '\r'; }

qa db init >/dev/null || { t_fail "db init"; exit 1; }
echo rootpw | qa admin add --name root --tenant '*' --role master --password-stdin >/dev/null ||
  { t_fail "bootstrap a superadministrator with local mode"; exit 1; }
t_ok "bootstrap a superadministrator with local mode"
"$API" -c "$T_DIR/node.conf" >"$T_DIR/api.log" 2>&1 &
API_PID=$!
t_cleanup_add "kill $API_PID"
t_wait 10 test -S "$T_DIR/run/api.sock" || { t_fail "qvd-api starts"; cat "$T_DIR/api.log"; exit 1; }

# ---- sessions ----
refused "a command before login says to log in" 1 "not logged in.*--url $SOCK.* login" rq vm get
refused "a wrong password is the API's sentence" 1 "wrong administrator" \
  sh -c "echo nope | '$ADMIN' --url '$SOCK' --login 'root@*' --password-stdin login"
ok "login on the socket with --password-stdin" \
  sh -c "echo rootpw | '$ADMIN' --url '$SOCK' --login root --tenant '*' --password-stdin login"
has "login says who" "logged in to $SOCK as root@\*"
t_check "the token file is mode 0600" [ "$(stat -c %a "$HOME/.qvd/admin-tokens")" = 600 ]
t_check "its folder is mode 0700" [ "$(stat -c %a "$HOME/.qvd")" = 700 ]
t_check "one line per URL and login" [ "$(grep -c "^$SOCK root@\* " "$HOME/.qvd/admin-tokens")" = 1 ]
refused "TLS without the CA is refused: the certificate is not trusted" 1 "not trusted" \
  env QVD_ADMIN_PASSWORD=rootpw "$ADMIN" --url "$TLS" --login 'root@*' login
refused "TLS to a name the certificate does not hold is refused" 1 "not trusted" \
  env QVD_ADMIN_PASSWORD=rootpw "$ADMIN" --url "https://localhost:$PORT" --ca "$T_DIR/cert.pem" \
  --login 'root@*' login
ok "login over TLS with --ca and QVD_ADMIN_PASSWORD" \
  env QVD_ADMIN_PASSWORD=rootpw "$ADMIN" --url "$TLS" --ca "$T_DIR/cert.pem" --login 'root@*' login
t_check "a second line for the second URL" [ "$(wc -l <"$HOME/.qvd/admin-tokens")" = 2 ]
ok "--insecure skips verification" "$ADMIN" --url "$TLS" --insecure tenant get
t_check "--insecure warns once on stderr" [ "$(grep -c 'warning: --insecure' "$T_DIR/err")" = 1 ]
ok "a command over TLS uses the stored token" rt tenant get
has "tenants listed over TLS" '^-1 +-'
t_check "every call carries X-QVD-Source: cli (the audit log says so)" \
  [ "$(t_sql "SELECT count(*) FROM audit_log WHERE action = 'login' AND source <> 'cli'")" = 0 ]

# ---- tenants, users ----
ok "tenant new" rq tenant new name=acme "description=Acme Inc"
has "new prints the object" '^tenant [0-9]+ \(acme\) created'
ok "tenant new over TLS" rt tenant new name=globex
ok "tenant set" rq tenant acme set "description=Acme, Inc."
ok "tenant get in CSV quotes a comma" rq --csv tenant acme get name,description
t_check "CSV: header line, quoted field, CRLF" \
  [ "$(cat "$T_DIR/out")" = $'name,description\r\nacme,"Acme, Inc."\r' ]
ok "tenant block" rq tenant globex block
has "one line per object" '^tenant [0-9]+ \(globex\) blocked'
t_check "tenant blocked in the database" [ "$(t_sql "SELECT blocked FROM tenants WHERE name = 'globex'")" = 1 ]
ok "tenant unblock" rq tenant globex unblock
ok "user new NAME@TENANT, password on stdin" \
  sh -c "echo bobpw | '$ADMIN' --url '$SOCK' --password-stdin user new name=bob@acme"
ok "user new with tenant= and password=" rq user new name=ann tenant=acme password=annpw
ok "user in globex" rq user new name=eve@globex password=x
ok "user get as JSON" rq --json user bob@acme get
t_check "JSON: an array of the API's rows" \
  [ "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0]["name"], d[0]["tenant"], d[0]["blocked"])' <"$T_DIR/out")" = "bob acme False" ]
ok "user set language" rq user bob@acme set language=es
t_check "language changed" [ "$(field user bob@acme language)" = es ]
ok "user block" rq user bob@acme block
ok "user unblock" rq user bob@acme unblock
before=$(t_sql "SELECT password FROM users WHERE login = 'bob'")
ok "user password from stdin" sh -c "echo newpw | '$ADMIN' --url '$SOCK' --password-stdin user bob@acme password"
t_check "the password hash changed" [ "$(t_sql "SELECT password FROM users WHERE login = 'bob'")" != "$before" ]
refused "a password for several users at once is refused" 1 "one at a time" \
  sh -c "echo pw | '$ADMIN' --url '$SOCK' --password-stdin user tenant=acme password"

# ---- OSFs, DIs, tags, hosts ----
ok "osf new with a tenant name and typed values" \
  rq osf new name=desktop tenant=acme memory=512 use_overlay=0 is_application=no
ok "an OSF of the same name in the common tenant" rq osf new name=desktop tenant=-
t_check "memory and use_overlay as sent" [ "$(field osf desktop@acme memory,use_overlay)" = "512,0" ]
ok "osf set" rq osf desktop@acme set memory=1024
t_check "memory changed" [ "$(field osf desktop@acme memory)" = 1024 ]
refused "an ambiguous name is refused with a hint" 1 "2 osfs are named desktop: give osf=NAME@TENANT or osf=ID" \
  rq di new osf=desktop file=img
ok "di new, the OSF named NAME@TENANT" rq di new osf=desktop@acme file=img version=v1
ok "a second DI" rq di new osf=desktop@acme file=img version=v2
ok "di tag a list of tags" rq di v1 tag beta,gamma
t_check "both tags on v1 (with its own and default; CSV quotes the list)" \
  [ "$(field di v1 tags)" = '"v1,beta,default,gamma"' ]
ok "di untag" rq di v1 untag gamma
ok "di block" rq di v1 block
ok "di unblock" rq di v1 unblock
ok "di publish" rq di v1 publish
ok "di set" rq di v2 set description=newest
ok "a DI for the common OSF" rq di new osf=desktop@- file=img version=c1
ok "tag get lists tags" rq tag head get
has "head is on v2" '^[0-9]+ +head'
ok "host new" rq host new name=node1 address=10.0.0.1 backend=1
ok "host set" rq host node1 set address=10.0.0.2
t_check "address changed" [ "$(field host node1 address)" = 10.0.0.2 ]
ok "host block" rq host node1 block
ok "host unblock" rq host node1 unblock

# ---- VMs ----
ok "vm new with user and osf by name" rq vm new name=web1 user=bob@acme osf=desktop@acme
ok "vm new with tag= (di_tag)" rq vm new name=web2 user=bob@acme osf=desktop@acme tag=beta
ok "vm new with user id" rq vm new name=web3 user=$(field user bob@acme id) osf=desktop@acme
ok "vm new for another tenant" rq vm new name=other user=eve@globex osf=desktop@-
ok "vm get with a pattern, fields and order" rq vm 'web*' get name,di_tag order desc name
t_check "sorted descending, fields in order" \
  [ "$(tr -s ' ' <"$T_DIR/out")" = "$(printf 'name di_tag\nweb3 default\nweb2 beta\nweb1 default')" ]
ok "a filter expression with or, not and a list" rq vm '(name=web1;name=web2),!name=[web2]' get name
t_check "only web1 matched" [ "$(tail -n +2 "$T_DIR/out" | tr -d ' ')" = web1 ]
ok "vm set with an alias" rq vm web3 set tag=head description=third
t_check "di_tag changed" [ "$(field vm web3 di_tag)" = head ]
ok "vm block on several VMs" rq vm name~web* block
has "a summary line" '^3 vms blocked'
ok "vm unblock" rq vm blocked=1 unblock
# no HKD runs: make the host look alive so that the load balancer picks it
t_sql "UPDATE host_runtimes SET state = 'running', ok_ts = $(date +%s), usable_ram = 100000, usable_cpu = 1000" >/dev/null
ok "vm start" rq vm web1 start
t_check "start pending on node1" [ "$(field vm web1 cmd,host)" = start,node1 ]
t_sql "UPDATE vm_runtimes SET user_state = 'connected' WHERE vm_id = $(field vm web1 id)" >/dev/null
ok "vm disconnect" rq vm web1 disconnect
ok "vm stop (cancels the start)" rq vm web1 stop
t_check "no command pending" [ "$(field vm web1 cmd)" = "" ]
refused "an API refusal names the object and the API's reason" 1 "vm [0-9]+ \(web1\): .*stopped" rq vm web1 stop

# ---- hosts of a cluster: VM subnet, views, evacuate ----
ok "host new with a VM subnet" rq host new name=node2 address=192.168.77.2 vm_subnet=10.2.0.0/16
refused "a subnet another host has" 1 "host [0-9]+ \(node1\): vm_subnet 10.2.0.0/16 overlaps host [0-9]+ \(node2\)" \
  rq host node1 set vm_subnet=10.2.0.0/16
ok "host set vm_subnet" rq host node1 set vm_subnet=10.1.0.0/16
W1=$(field vm web1 id)
t_sql "UPDATE vm_runtimes SET vm_state = 'running', vm_cmd = NULL, host_id = (SELECT id FROM hosts WHERE name = 'node1'), user_state = 'connected', user_cmd = NULL, user_cmd_by = NULL, l7r_host_id = (SELECT id FROM hosts WHERE name = 'node1') WHERE vm_id = $W1" >/dev/null
t_sql "UPDATE host_runtimes SET ok_ts = $(date +%s) WHERE state = 'running'" >/dev/null
ok "host get: the node's views" rq --csv host node1 get state,heartbeat_age,vms,vm_ids,memory_committed,vm_subnet
t_check "running, a heartbeat, one VM (its id), its OSF's memory, the subnet" \
  eval '[ "$(tail -n 1 "$T_DIR/out" | tr -d "\r" | sed "s/,[0-9]*,/,AGE,/")" = "running,AGE,1,$W1,$(t_sql "SELECT o.memory FROM vms v JOIN osfs o ON o.id = v.osf_id WHERE v.id = $W1"),10.1.0.0/16" ]'
[ "$(tail -n 1 "$T_DIR/out" | tr -d '\r' | sed "s/,[0-9]*,/,AGE,/")" = "running,AGE,1,$W1,$(t_sql "SELECT o.memory FROM vms v JOIN osfs o ON o.id = v.osf_id WHERE v.id = $W1"),10.1.0.0/16" ] || t_diag "$(cat "$T_DIR/out")"
ok "the VMs on a host: vm host=NAME get" rq vm host=node1 get id
t_check "... is web1" [ "$(tail -n +2 "$T_DIR/out" | tr -d ' ')" = "$W1" ]
vmrow() { t_sql "SELECT vm_state || ':' || coalesce(vm_cmd, '-') || ':' || coalesce(user_cmd, '-') || ':' || coalesce(user_cmd_by, '-') FROM vm_runtimes WHERE vm_id = $W1"; }
refused "evacuating the only node that can take VMs" 1 "host [0-9]+ \(node1\): .*nowhere to go" rq host node1 evacuate
t_check "... changes nothing" [ "$(vmrow):$(t_sql "SELECT blocked FROM host_runtimes r JOIN hosts h ON h.id = r.host_id WHERE h.name = 'node1'")" = "running:-:-:-:0" ]
refused "evacuate takes force or nothing" 2 "evacuate \[force\]" rq host node1 evacuate now
t_sql "UPDATE host_runtimes SET state = 'running', ok_ts = $(date +%s), usable_ram = 100000, usable_cpu = 1000" >/dev/null
ok "host evacuate" rq host node1 evacuate
has "evacuated, with the VMs it moved" '^host [0-9]+ \(node1\) evacuated$'
has "... 1 VM" '^1 VMs stopped'
t_check "the VM is asked to stop and its session to end, by admin" [ "$(vmrow)" = "running:stop:abort:admin" ]
t_check "node1 shows blocked" [ "$(field host node1 state)" = blocked ]
ok "evacuate force on a host without VMs" rq host node2 evacuate force
has "... 0 VMs" '^0 VMs stopped'
t_sql "UPDATE vm_runtimes SET vm_state = 'stopped', vm_cmd = NULL, host_id = NULL, user_state = 'disconnected', user_cmd = NULL, user_cmd_by = NULL, l7r_host_id = NULL WHERE vm_id = $W1" >/dev/null
ok "host unblock after an evacuation" rq host name~node* unblock

# ---- properties, configuration ----
ok "property set on matching objects" rq property vm 'web*' set owner=ops "note=a, b"
ok "property get" rq --csv property vm web1 get
t_check "properties listed with id and name" \
  [ "$(tr -d '\r' <"$T_DIR/out" | sort)" = "$(printf 'id,name,key,value\n%s,web1,note,"a, b"\n%s,web1,owner,ops' "$(field vm web1 id)" "$(field vm web1 id)" | sort)" ]
ok "property del" rq property vm web1 del owner
t_check "one property left on web1" [ "$(rq property vm web1 get | wc -l)" = 2 ]
ok "config KEY set VALUE" rq config vm.network.bridge set qvdbr9
ok "config set KEY=VALUE for a tenant" rq config set vm.network.netmask=16 tenant=acme
t_check "the tenant row" [ "$(t_sql "SELECT value FROM configs WHERE key = 'vm.network.netmask' AND tenant_id = (SELECT id FROM tenants WHERE name = 'acme')")" = 16 ]
ok "config get" rq config vm.network.bridge get
has "the value" 'vm.network.bridge +qvdbr9'
ok "config del" rq config vm.network.bridge del
ok "config del for a tenant" rq config del vm.network.netmask tenant=acme
t_check "no config rows left" [ "$(t_sql "SELECT count(*) FROM configs")" = 0 ]

# ---- roles, administrators, ACLs, log ----
ok "role new" rq role new name=ops tenant=acme
ok "role grant a list" rq role ops@acme grant acl=vm.*,user.see
ok "role grant a negation" rq role ops grant acl=vm.delete positive=0
t_check "the negation is stored" [ "$(t_sql "SELECT positive FROM role_acls WHERE acl = 'vm.delete'")" = 0 ]
ok "role inherit by name" rq role ops inherit role=reader
ok "role get" rq role ops get name,inherits,acls
has "inherits reader, three grants" 'ops +reader +3'
ok "admin new NAME@TENANT" sh -c "echo alicepw | '$ADMIN' --url '$SOCK' --password-stdin admin new name=alice@acme"
ok "admin assign" rq admin alice@acme assign role=ops
has "assigned" 'admin [0-9]+ \(alice\) assigned'
mkdir -p "$T_DIR/alice"
ok "alice logs in" sh -c "echo alicepw | HOME='$T_DIR/alice' '$ADMIN' --url '$SOCK' --login alice@acme --password-stdin login"
ok "alice lists her tenant's VMs" env HOME="$T_DIR/alice" "$ADMIN" --url "$SOCK" vm get name
t_check "and only those" [ "$(tail -n +2 "$T_DIR/out" | tr -d ' ' | sort | tr '\n' ' ')" = "web1 web2 web3 " ]
refused "a denied ACL is the API's forbidden sentence" 1 "lacks the ACL vm.delete" \
  env HOME="$T_DIR/alice" "$ADMIN" --url "$SOCK" vm web3 del
ok "role revoke" rq role ops revoke acl=vm.delete
ok "role disinherit" rq role ops disinherit role=reader
ok "admin unassign" rq admin alice unassign role=ops
ok "admin block" rq admin alice block
ok "admin unblock" rq admin alice unblock
ok "admin password" sh -c "echo alice2 | '$ADMIN' --url '$SOCK' --password-stdin admin alice password"
ok "admin set" rq admin alice set description=helpdesk
ok "acl get" rq acl get
has "the ACL catalogue" '^vm\.start +'
ok "log get, newest first, limited" rq --limit 5 log get action,source
t_check "five rows from the CLI" [ "$(tail -n +2 "$T_DIR/out" | grep -c ' cli$')" = 5 ]

# ---- deleting, paging ----
refused "del of several objects without a terminal needs --yes" 1 "give --yes" rq vm 'web*' del
t_check "nothing was deleted" [ "$(t_sql "SELECT count(*) FROM vms")" = 4 ]
ok "del --yes" rq --yes vm 'web*' del
has "summary" '^3 vms deleted'
refused "zero matching objects is refused" 1 "no vm matches name~web\*" rq vm 'web*' del
ok "del one VM needs no confirmation" rq vm other del
ok "user del" rq user ann@acme del
ok "di del" rq di c1 del
ok "osf del" rq osf desktop@- del
ok "admin del" rq admin alice del
ok "role del" rq role ops del
t_sql "UPDATE host_runtimes SET state = 'stopped'" >/dev/null
ok "host del" rq host node1 del
ok "host del (node2)" rq host node2 del
t_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100)
       INSERT INTO tenants (name) SELECT 'bulk' || i FROM n" >/dev/null
ok "a list longer than a page" rq tenant 'bulk*' get id
t_check "every page is fetched" [ "$(($(wc -l <"$T_DIR/out") - 1))" = 1100 ]
ok "--limit and --offset pass through" rq --limit 3 --offset 1000 tenant 'bulk*' get name order id
t_check "rows 1001 to 1003" [ "$(tail -n +2 "$T_DIR/out" | tr -d ' ' | tr '\n' ' ')" = "bulk1001 bulk1002 bulk1003 " ]
ok "mass delete over many pages" rq --yes tenant 'bulk*' del
t_check "1100 tenants deleted" [ "$(t_sql "SELECT count(*) FROM tenants WHERE name LIKE 'bulk%'")" = 0 ]

# ---- usage errors ----
refused "unknown object" 2 "unknown object" rq frob get
refused "no verb" 2 "no verb" rq vm web1
refused "a verb of another object" 2 "no verb" rq osf desktop start
refused "bad --format" 2 "format" rq --format xml vm get
refused "a bad value for an integer field is qvd-api's refusal" 1 "member 'memory' must be an integer" \
  rq osf new name=x memory=lots
refused "a URL that is not https or unix" 2 "TLS" "$ADMIN" --url http://127.0.0.1:1 vm get

# ---- configuration sources ----
mkdir -p "$T_DIR/home/.qvd"
printf 'qa.url = %s\nqa.format = csv\n' "$SOCK" >"$HOME/.qvd/qa.conf"
ok "qa.url and qa.format from ~/.qvd/qa.conf" "$ADMIN" tenant acme get name
t_check "CSV by qa.format" [ "$(cat "$T_DIR/out")" = $'name\r\nacme\r' ]
ok "the command line wins over qa.conf" "$ADMIN" --format table tenant acme get name
t_check "a table" [ "$(tail -n 1 "$T_DIR/out")" = acme ]
ok "-c CONFIG keeps local mode with qa.conf set" qa tenant list --name acme
rm "$HOME/.qvd/qa.conf"
ok "QVD_API_URL chooses remote mode" env QVD_API_URL="$SOCK" "$ADMIN" tenant acme get name

# ---- end of a session, logout ----
t_sql "DELETE FROM admin_sessions WHERE token_hash IN (SELECT token_hash FROM admin_sessions ORDER BY created_ts LIMIT 1)" >/dev/null
t_sql "UPDATE admin_sessions SET expires_ts = 1" >/dev/null
refused "an expired session says to log in again" 1 "session has expired: run qvd-admin --url .* login" rt vm get
t_check "and forgets the token" [ "$(grep -c "^$TLS " "$HOME/.qvd/admin-tokens")" = 0 ]
ok "login again" sh -c "echo rootpw | '$ADMIN' --url '$SOCK' --login 'root@*' --password-stdin login"
ok "logout" rq logout
t_check "the token is gone from the file" [ "$(grep -c "^$SOCK " "$HOME/.qvd/admin-tokens")" = 0 ]
t_check "and the session from the server" [ "$(t_sql "SELECT count(*) FROM admin_sessions WHERE expires_ts > 1")" = 0 ]
refused "after logout, log in again" 1 "not logged in" rq vm get

# ---- completion, local mode ----
ok "completion bash prints the script" "$ADMIN" completion bash
t_check "the installed script, embedded" cmp -s "$T_DIR/out" "$QVD_TOP/contrib/bash-completion/qvd-admin"
complete_words() {
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _qvd_admin; echo "${COMPREPLY[*]}"' _ \
    "$QVD_TOP/contrib/bash-completion/qvd-admin" "$@"
}
t_check "completes objects" [ "$(complete_words qvd-admin v)" = vm ]
t_check "completes a VM's verbs after a filter" [ "$(complete_words qvd-admin vm web1 st)" = "start stop" ]
t_check "completes keys of new" [ "$(complete_words qvd-admin di new o)" = "osf=" ]
t_check "completes options" [ "$(complete_words qvd-admin --ins)" = "--insecure" ]
t_check "completes local verbs with -c" [ "$(complete_words qvd-admin -c x db "")" = "init version" ]
ok "local mode still works" qa tenant list --name acme
has "the tenant" acme
