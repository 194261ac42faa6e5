#!/usr/bin/env bash
# api.sh: qvd-api end to end on a real database (SQLite, or PostgreSQL with QVD_TEST_DB=pg):
# sessions, every resource and action, filters and paging, the DI tag rules (also under
# concurrent requests), tenant isolation tried on every resource, roles with inheritance and
# negation, field visibility, no escalation, bad bodies that change nothing, expired
# sessions, the audit log and the live feed. Over TLS on loopback and the local socket.
. "$(dirname "$0")/../lib.sh"
t_init
API=$QVD_BUILD/src/api/qvd-api
ADMIN=$QVD_BUILD/src/admin/qvd-admin
[ -x "$API" ] || { t_fail "qvd-api is built"; exit 1; }
t_db_init || { t_fail "create the test database"; exit 1; }
PORT=$((20000 + RANDOM % 20000))
t_self_cert "$T_DIR" localhost IP:127.0.0.1
mkdir -p "$T_DIR/storage/staging/img/etc"
echo qvd >"$T_DIR/storage/staging/img/etc/hostname"
tar czf "$T_DIR/storage/staging/small.tar.gz" -C "$T_DIR/storage/staging/img" .
cat >"$T_DIR/node.conf" <<CONF
$T_DB_CONF
path.storage.root = $T_DIR/storage
path.run = $T_DIR/run
api.port = $PORT
api.socket = $T_DIR/run/api.sock
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
api.events.interval = 100
api.auth.throttle.failures = 100
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
qa() { "$ADMIN" -c "$T_DIR/node.conf" "$@"; }
qa db init >/dev/null || { t_fail "db init"; exit 1; }
echo rootpw | qa admin add --name root --tenant '*' --role master --password-stdin >/dev/null ||
  { t_fail "bootstrap a superadministrator with local mode"; exit 1; }
t_ok "bootstrap a superadministrator with local mode (qvd-admin admin add)"

"$API" -c "$T_DIR/node.conf" >"$T_DIR/api.log" 2>&1 &
API_PID=$!
t_cleanup_add "kill $API_PID"
t_wait 10 test -S "$T_DIR/run/api.sock" || { t_fail "qvd-api starts"; cat "$T_DIR/api.log"; exit 1; }
# (the socket is there before the filter: wait for it)
t_check "qvd-api runs under its seccomp filter, without new privileges" \
  t_wait 5 grep -Pzq 'NoNewPrivs:\t1\nSeccomp:\t2\n' "/proc/$API_PID/status"

# call METHOD PATH [JSON] [TOKEN]: over the Unix socket; body in $B, status in $S
TOKEN=
call() {
  local m=$1 p=$2 d=${3:-} tok=${4:-$TOKEN} args=()
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
  S=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" \
    -X "$m" "${args[@]}" "http://localhost$p")
  B=$(cat "$T_DIR/body")
}
# tls METHOD PATH [JSON]: the same over TLS on loopback (also saves the headers)
tls() {
  local m=$1 p=$2 d=${3:-} args=()
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  [ -n "$TOKEN" ] && args+=(-H "Authorization: Bearer $TOKEN")
  S=$(curl -s --cacert "$T_DIR/cert.pem" -D "$T_DIR/headers" -o "$T_DIR/body" \
    -w '%{http_code}' -X "$m" "${args[@]}" "https://127.0.0.1:$PORT$p")
  B=$(cat "$T_DIR/body")
}
j() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)" <<<"$B"; }
# expect NAME STATUS [CODE]: the last call answered STATUS (and error CODE)
expect() {
  local n=$1 want=$2 code=${3:-}
  if [ "$S" = "$want" ] && { [ -z "$code" ] || [ "$(j "d['error']['code']" 2>/dev/null)" = "$code" ]; }; then
    t_ok "$n"
  else
    t_fail "$n: status $S (want $want${code:+ $code})"; t_diag "$B"
  fi
}
login() { # login NAME TENANT PASSWORD -> token on stdout
  local t
  call POST /api/v1/login "{\"login\":\"$1\",\"tenant\":\"$2\",\"password\":\"$3\"}" ""
  t=$(j "d['token']" 2>/dev/null) && echo "$t"
}
# the data, without the audit log and sessions, which a refused call writes to
dump() { t_db_dump audit_log admin_sessions; }
# unchanged NAME METHOD PATH JSON STATUS CODE: refused with CODE and nothing changed
unchanged() {
  local n=$1; dump >"$T_DIR/before"
  call "$2" "$3" "$4"
  dump >"$T_DIR/after"
  if cmp -s "$T_DIR/before" "$T_DIR/after"; then expect "$n" "$5" "$6"
  else t_fail "$n: the database changed"; diff "$T_DIR/before" "$T_DIR/after" | head -5 | sed 's/^/# /'; fi
}

# ---- sessions ----
tls GET /api/v1/info
expect "info answers without a session, over TLS" 200
call GET /api/v1/vms "" ""
expect "a list without a session is refused" 401 login_required
call POST /api/v1/login '{"login":"root","tenant":"*","password":"wrong"}' ""
expect "a wrong password is refused" 401 wrong_credentials
tls POST /api/v1/login '{"login":"root","tenant":"*","password":"rootpw"}'
expect "login over TLS" 200
TOKEN=$(j "d['token']")
grep -i '^set-cookie: qvd_sid=' "$T_DIR/headers" | t_has 'HttpOnly; Secure; SameSite=Strict' &&
  t_ok "login sets the session cookie HttpOnly, Secure, SameSite=Strict" ||
  t_fail "session cookie attributes: $(grep -i set-cookie "$T_DIR/headers")"
COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: \(qvd_sid=[^;]*\).*/\1/p' "$T_DIR/headers" | tr -d '\r')
S=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" -H "Cookie: $COOKIE" http://localhost/api/v1/tenants)
[ "$S" = 200 ] && t_ok "the cookie authenticates too" || t_fail "cookie authentication: $S"

# ---- objects ----
call POST /api/v1/tenants '{"name":"acme","description":"Acme Inc"}'
expect "create tenant acme" 201; TA=$(j "d['id']")
call POST /api/v1/tenants '{"name":"globex"}'
expect "create tenant globex" 201; TB=$(j "d['id']")
call POST /api/v1/users "{\"name\":\"bob\",\"password\":\"pw\",\"tenant_id\":$TA}"
expect "create user bob in acme" 201; UA=$(j "d['id']")
call POST /api/v1/users "{\"name\":\"eve\",\"password\":\"pw\",\"tenant_id\":$TB}"
expect "create user eve in globex" 201; UB=$(j "d['id']")
# logins naming system accounts: a desktop session would run as that account
sysacct() { [[ "$(j "d['error']['message']")" == *"names a system account"*"choose another login" ]]; }
unchanged "a user named root is refused (400)" POST /api/v1/users "{\"name\":\"root\",\"password\":\"pw\",\"tenant_id\":$TA}" 400 invalid
t_check "... with a JSON error saying it names a system account" sysacct
unchanged "a user named ROOT is refused too" POST /api/v1/users "{\"name\":\"ROOT\",\"password\":\"pw\",\"tenant_id\":$TA}" 400 invalid
unchanged "a user named www-data is refused" POST /api/v1/users "{\"name\":\"www-data\",\"password\":\"pw\",\"tenant_id\":$TA}" 400 invalid
unchanged "a user named root@acme is refused" POST /api/v1/users "{\"name\":\"root@acme\",\"password\":\"pw\",\"tenant_id\":$TA}" 400 invalid
t_check "... saying it names a system account" sysacct
unchanged "renaming bob to systemd-network is refused" PATCH /api/v1/users/$UA '{"name":"systemd-network"}' 400 invalid
t_check "... saying it names a system account" sysacct
call POST /api/v1/osfs "{\"name\":\"desk\",\"tenant_id\":$TA,\"memory\":512}"
expect "create OSF in acme" 201; OA=$(j "d['id']")
call POST /api/v1/osfs "{\"name\":\"desk\",\"tenant_id\":$TB}"
expect "create OSF in globex" 201; OB=$(j "d['id']")
call POST /api/v1/osfs '{"name":"shared","tenant_id":-1}'
expect "create OSF in the common tenant" 201; OC=$(j "d['id']")
call POST /api/v1/dis "{\"osf_id\":$OA,\"file\":\"small.tar.gz\",\"version\":\"v1\"}"
expect "create DI from the staging folder" 201; D1=$(j "d['id']")
call POST /api/v1/dis "{\"osf_id\":$OA,\"file\":\"../etc/passwd\"}"
expect "a DI file outside staging is refused" 400 invalid
call POST /api/v1/dis "{\"osf_id\":$OB,\"file\":\"img\",\"version\":\"g1\"}"
expect "create DI for globex" 201; DB1=$(j "d['id']")
call POST /api/v1/vms "{\"name\":\"vm1\",\"user_id\":$UA,\"osf_id\":$OA}"
expect "create VM for bob" 201; VA=$(j "d['id']")
[ "$(j "d['state']")" = stopped ] && t_ok "a new VM is stopped" || t_fail "new VM state: $B"
call POST /api/v1/vms "{\"name\":\"vm1\",\"user_id\":$UB,\"osf_id\":$OB}"
expect "create VM for eve" 201; VB=$(j "d['id']")
call POST /api/v1/hosts '{"name":"node1","address":"10.0.0.2"}'
expect "create host" 201; H1=$(j "d['id']")
call POST /api/v1/roles "{\"name\":\"helpdesk\",\"tenant_id\":$TA}"
expect "create role" 201; RA=$(j "d['id']")
call POST /api/v1/administrators "{\"name\":\"alice\",\"password\":\"alicepw\",\"tenant_id\":$TA}"
expect "create administrator of acme" 201; AA=$(j "d['id']")
call POST /api/v1/administrators "{\"name\":\"gus\",\"password\":\"guspw\",\"tenant_id\":$TB}"
expect "create administrator of globex" 201; AB=$(j "d['id']")
call PUT /api/v1/configs/vm.network.bridge '{"value":"br9"}'
expect "set a global config key" 200
call PUT /api/v1/configs/no.such.key '{"value":"1"}'
expect "an unknown config key is refused" 400 invalid
call PUT "/api/v1/vms/$VA/properties/color" '{"value":"blue"}'
expect "set a VM property" 200
call GET "/api/v1/vms/$VA/properties"
[ "$(j "d['color']")" = blue ] && t_ok "read the VM property back" || t_fail "property: $B"
for r in tenants users vms hosts osfs dis tags configs administrators roles log; do
  call GET "/api/v1/$r"
  if [ "$S" = 200 ] && [ "$(j "d['total'] == len(d['rows']) and d['total'] > 0")" = True ]; then
    t_ok "list $r"
  else t_fail "list $r: $S"; t_diag "$B"; fi
done
call GET /api/v1/acls
[ "$S" = 200 ] && [ "$(j "d['total'] > 100")" = True ] && t_ok "the ACL catalogue lists $(j "d['total']") ACLs" || t_fail "acls: $B"
call GET '/api/v1/acls?pattern=vm.s*'
[ "$(j "all(r['name'].startswith('vm.s') for r in d['rows']) and d['total'] > 10")" = True ] && t_ok "the catalogue narrowed by a pattern" || t_fail "acl pattern: $B"
call GET "/api/v1/vms/$VA"
[ "$(j "d['name']")" = vm1 ] && [ "$(j "d['user']")" = bob ] && t_ok "get one VM" || t_fail "get VM: $B"
call PATCH "/api/v1/vms/$VA" '{"description":"first"}'
[ "$S" = 200 ] && [ "$(j "d['description']")" = first ] && t_ok "update a VM" || t_fail "update VM: $S $B"
call GET /api/v1/stats
[ "$S" = 200 ] && [ "$(j "d['vms']")" = 2 ] && [ "$(j "d['users']")" = 2 ] && t_ok "statistics count users and VMs" || t_fail "stats: $B"

# ---- filters, order, paging ----
for i in 2 3 4 5 6; do call POST /api/v1/vms "{\"name\":\"web$i\",\"user_id\":$UA,\"osf_id\":$OA}"; done
call GET '/api/v1/vms?filter=name~web*&order=-name&limit=2&offset=1'
[ "$(j "d['total'], [r['name'] for r in d['rows']]")" = "5 ['web5', 'web4']" ] &&
  t_ok "filter ~, order descending, offset and limit" || t_fail "paging: $B"
call GET "/api/v1/vms?filter=user=bob,(name=web2;name=web3)&fields=id,name"
[ "$(j "sorted(r['name'] for r in d['rows']), sorted(d['rows'][0].keys())")" = "['web2', 'web3'] ['id', 'name']" ] &&
  t_ok "and/or/parentheses and fields" || t_fail "filter logic: $B"
call GET "/api/v1/vms?filter=$(python3 -c 'import urllib.parse;print(urllib.parse.quote("!name~web*"))')"
[ "$(j "d['total']")" = 2 ] && t_ok "not (!)" || t_fail "not: $B"
call GET "/api/v1/vms?filter=id=%5B$VA,$VB%5D"
[ "$(j "d['total']")" = 2 ] && t_ok "lists [a,b]" || t_fail "list filter: $B"
call GET '/api/v1/vms?filter=name=%22x'
expect "an unterminated quote is a bad filter" 400 bad_filter
call GET '/api/v1/vms?filter=nosuch=1'
expect "an unknown field is a bad filter" 400 bad_filter
call GET "/api/v1/vms?filter=name=%22%27;DROP%20TABLE%20vms;--%22"
[ "$S" = 200 ] && [ "$(j "d['total']")" = 0 ] && t_ok "an injection attempt in a value is only a value" || t_fail "injection: $S $B"
call GET "/api/v1/vms?order=id;DROP%20TABLE%20vms"
expect "an injection attempt in the order is refused" 400 bad_filter
call GET "/api/v1/vms?fields=id,name%20FROM%20users--"
expect "an injection attempt in the fields is refused" 400 bad_filter
call GET '/api/v1/vms?limit=5000'
expect "a limit over 1000 is refused" 400 invalid
call POST /api/v1/tags '{"tag":"x"}'
expect "tags are read-only (405, even for the master role)" 405 method_not_allowed
call GET /api/v1/configs/vm.network.bridge
expect "a config key is not an object id (405 with what to do)" 405 method_not_allowed
call GET /api/v1/logout
expect "GET on logout is not allowed" 405 method_not_allowed
call GET "/api/v1/administrators/-1/acls"
expect "no administrator -1" 404 not_found
call GET "/api/v1/vms/$VA?fields=nosuch"
expect "an unknown field on one object is a bad filter too" 400 bad_filter

# ---- actions ----
call POST "/api/v1/vms/$VA/block"
call GET "/api/v1/vms/$VA"
[ "$(j "d['blocked']")" = True ] && t_ok "block a VM" || t_fail "block: $B"
call POST "/api/v1/vms/$VA/unblock"
expect "unblock a VM" 200
call POST "/api/v1/vms/$VA/start"
expect "start without a running host is busy" 503 busy
call POST "/api/v1/vms/$VA/stop"
expect "stop a stopped VM is a conflict" 409 conflict
call POST "/api/v1/vms/$VA/disconnect"
expect "disconnect without a user is a conflict" 409 conflict
call POST "/api/v1/users/$UA/password" '{"password":"newpw"}'
expect "set a user's password" 200
call POST "/api/v1/users/$UA/block"
call GET "/api/v1/users/$UA"
[ "$(j "d['blocked']")" = True ] && t_ok "block a user" || t_fail "block user: $B"
call POST "/api/v1/hosts/$H1/block"
expect "block a host" 200
call POST "/api/v1/tenants/$TB/block"
expect "block a tenant" 200
call POST "/api/v1/tenants/$TB/unblock"
call POST "/api/v1/vms/$VA/explode"
expect "an unknown action" 404 not_found

# ---- DI tags ----
call GET "/api/v1/dis/$D1"
[ "$(j "d['tags']")" = "v1,default,head" ] && t_ok "a first DI gets its version (fixed), head and default" || t_fail "first DI tags: $B"
call POST /api/v1/dis "{\"osf_id\":$OA,\"file\":\"small.tar.gz\",\"version\":\"v2\"}"
D2=$(j "d['id']")
[ "$(j "d['tags']")" = "v2,head" ] && t_ok "a new DI becomes head; default stays" || t_fail "second DI tags: $B"
call POST "/api/v1/dis/$D2/tag" '{"tag":"v1"}'
expect "a fixed tag cannot move" 409 conflict
call POST "/api/v1/dis/$D1/untag" '{"tag":"head"}'
[ "$S" -ge 400 ] && t_ok "head cannot be removed ($S)" || t_fail "untag head: $S"
call POST "/api/v1/dis/$D1/untag" '{"tag":"default"}'
[ "$S" -ge 400 ] && t_ok "default cannot be removed ($S)" || t_fail "untag default: $S"
call POST "/api/v1/dis/$D2/tag" '{"tag":"default"}'
expect "default moves when asked" 200
call POST "/api/v1/dis/$D2/publish"
expect "publishing a published DI is a no-op" 200
for i in 3 4 5; do call POST /api/v1/dis "{\"osf_id\":$OA,\"file\":\"small.tar.gz\",\"version\":\"v$i\"}"; done
call GET "/api/v1/dis?filter=osf_id=$OA&fields=id"
ids=$(j "' '.join(str(r['id']) for r in d['rows'])")
for round in 1 2 3; do
  for d in $ids; do
    curl -s -o /dev/null --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' -d '{"tag":"prod"}' "http://localhost/api/v1/dis/$d/tag" &
  done
done
wait_curls() { local p; for p in $(jobs -p); do [ "$p" = "$API_PID" ] || wait "$p"; done; }
wait_curls
n=$(t_sql "SELECT count(*) FROM di_tags WHERE tag = 'prod' AND osf_id = $OA")
[ "$n" = 1 ] && t_ok "15 concurrent tag requests on 5 DIs: one DI holds the tag" || t_fail "tag 'prod' held by $n DIs"
call DELETE "/api/v1/dis/$D1"
[ "$S" = 409 ] || [ "$S" = 204 ]; t_check "deleting a DI VMs depend on is refused or moves default ($S)" test "$S" = 409 -o "$S" = 204

# ---- bad bodies change nothing ----
unchanged "bad JSON" POST /api/v1/users '{"name":' 400 bad_json
unchanged "an unknown member" POST /api/v1/users "{\"name\":\"x\",\"password\":\"p\",\"tenant_id\":$TA,\"admin\":true}" 400 unknown_field
unchanged "a wrong type" POST /api/v1/users "{\"name\":\"x\",\"password\":\"p\",\"tenant_id\":\"$TA\"}" 400 wrong_type
unchanged "a missing member" POST /api/v1/users "{\"name\":\"x\",\"tenant_id\":$TA}" 400 missing_field
unchanged "a body that is not an object" POST /api/v1/users '[1,2]' 400 bad_json
unchanged "a duplicate VM name" POST /api/v1/vms "{\"name\":\"vm1\",\"user_id\":$UA,\"osf_id\":$OA}" 409 conflict
python3 -c "print('{\"name\":\"' + 'a'*70000 + '\"}')" >"$T_DIR/big.json"
dump >"$T_DIR/before"
# (no "Expect: 100-continue": curl sends the body after 1 s without an answer, and a loaded
# server that answered 413 and closed in between made curl's send fail before its read)
S=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOKEN" \
  -H 'Expect:' -H 'Content-Type: application/json' --data-binary @"$T_DIR/big.json" http://localhost/api/v1/tenants)
dump >"$T_DIR/after"; B=$(cat "$T_DIR/body")
[ "$S" = 413 ] && cmp -s "$T_DIR/before" "$T_DIR/after" && t_ok "an oversized body is refused (413) and changes nothing" || t_fail "big body: $S"

# ---- roles: none, inheritance, negation, field visibility, escalation ----
TOK_A=$(login alice acme alicepw)
[ -n "$TOK_A" ] && t_ok "tenant administrator logs in" || t_fail "alice login: $B"
call GET /api/v1/vms "" "$TOK_A"
expect "an administrator without a role is refused" 403 forbidden
call POST "/api/v1/roles/$RA/inherit" '{"role_id":2}'
expect "a role inherits 'reader'" 200
call POST "/api/v1/roles/$RA/grant" '{"acl":"vm.see.ip","positive":false}'
expect "a negated ACL on the role" 200
call POST "/api/v1/roles/$RA/grant" '{"acl":"no.such.*"}'
expect "a pattern that names no ACL is refused" 400 invalid
call POST "/api/v1/administrators/$AA/assign" "{\"role_id\":$RA}"
expect "assign the role" 200
call GET /api/v1/vms "" "$TOK_A"
if [ "$S" = 200 ] && [ "$(j "all('ip' not in r and 'mac' in r for r in d['rows'])")" = True ]; then
  t_ok "the negation masks the inherited vm.see.ip: no ip field, mac still there"
else t_fail "field visibility: $B"; fi
call GET '/api/v1/vms?filter=ip=10.0.0.1' "" "$TOK_A"
expect "filtering on an invisible field is forbidden" 403 forbidden_field
call GET '/api/v1/vms?order=ip' "" "$TOK_A"
expect "ordering on an invisible field is forbidden" 403 forbidden_field
call POST "/api/v1/vms/$VA/block" "" "$TOK_A"
expect "a reader cannot block" 403 forbidden
call GET "/api/v1/administrators/$AA/acls"
[ "$(j "'vm.see.mac' in [r['name'] for r in d['rows']] and 'vm.see.ip' not in [r['name'] for r in d['rows']]")" = True ] &&
  t_ok "operative ACLs of an administrator" || t_fail "operative acls: $B"
call POST /api/v1/roles "{\"name\":\"ops\",\"tenant_id\":$TA}"; R2=$(j "d['id']")
call POST "/api/v1/roles/$R2/grant" '{"acl":"role.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"administrator.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"user.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"vm.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"osf.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"config.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"host.block"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"tenant.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"log.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"stats.*"}'
call POST "/api/v1/roles/$R2/grant" '{"acl":"di.*"}'
call POST "/api/v1/administrators/$AA/assign" "{\"role_id\":$R2}"
call POST "/api/v1/roles/$RA/grant" '{"acl":"*"}' "$TOK_A"
expect "no escalation: a tenant administrator cannot grant what it lacks" 403 forbidden
call POST "/api/v1/roles/$RA/grant" '{"acl":"vm.block"}' "$TOK_A"
expect "a tenant administrator grants what it holds" 200
call POST "/api/v1/administrators/$AA/assign" '{"role_id":1}' "$TOK_A"
expect "no escalation: it cannot take the master role" 403 forbidden
call POST "/api/v1/roles/1/grant" '{"acl":"vm.block"}'
expect "a built-in role cannot be changed" 409 conflict
call POST "/api/v1/administrators/$AA/password" '{"password":"alicepw2"}' "$TOK_A"
expect "an administrator changes its own password without the ACL" 200
call POST "/api/v1/administrators/$AB/password" '{"password":"x"}' "$TOK_A"
expect "nor another tenant's administrator's" 404 not_found
call POST /api/v1/roles "{\"name\":\"theirs\",\"tenant_id\":$TB}"; RB=$(j "d['id']")

# ---- tenant isolation: acme's administrator and globex's objects ----
call PUT "/api/v1/vms/$VB/properties/color" '{"value":"red"}'
for r in users vms osfs dis administrators roles log configs tags; do
  call GET "/api/v1/$r" "" "$TOK_A"
  if [ "$S" = 200 ] && [ "$(j "any(r.get('tenant_id') == $TB or r.get('tenant') == 'globex' for r in d['rows'])")" = False ]; then
    t_ok "acme's administrator lists no globex $r"
  else t_fail "isolation list $r: $S"; t_diag "$B"; fi
done
call GET /api/v1/tenants "" "$TOK_A"
[ "$(j "sorted(r['name'] for r in d['rows'])")" = "['-', 'acme']" ] && t_ok "it sees only its tenant and the common one" || t_fail "tenants: $B"
for p in "users/$UB" "vms/$VB" "osfs/$OB" "dis/$DB1" "administrators/$AB" "roles/$RB" "tenants/$TB"; do
  call GET "/api/v1/$p" "" "$TOK_A"; expect "get globex's $p: not found" 404 not_found
done
TOKEN_SAVE=$TOKEN; TOKEN=$TOK_A
for p in "users/$UB" "vms/$VB" "osfs/$OB" "dis/$DB1" "administrators/$AB" "roles/$RB"; do
  unchanged "update globex's $p: not found" PATCH "/api/v1/$p" '{"description":"x"}' 404 not_found
done
for p in "users/$UB" "vms/$VB" "osfs/$OB" "dis/$DB1" "administrators/$AB" "roles/$RB" "tenants/$TB"; do
  unchanged "delete globex's $p: refused" DELETE "/api/v1/$p" "" 404 not_found
done
unchanged "block globex's VM" POST "/api/v1/vms/$VB/block" "" 404 not_found
unchanged "block globex's user" POST "/api/v1/users/$UB/block" "" 404 not_found
unchanged "set globex's user's password" POST "/api/v1/users/$UB/password" '{"password":"x"}' 404 not_found
unchanged "tag globex's DI" POST "/api/v1/dis/$DB1/tag" '{"tag":"x"}' 404 not_found
unchanged "read globex's VM properties" GET "/api/v1/vms/$VB/properties" "" 404 not_found
unchanged "set globex's VM property" PUT "/api/v1/vms/$VB/properties/color" '{"value":"x"}' 404 not_found
unchanged "create a user in globex" POST /api/v1/users "{\"name\":\"x\",\"password\":\"p\",\"tenant_id\":$TB}" 404 not_found
unchanged "create a VM for globex's user" POST /api/v1/vms "{\"name\":\"x\",\"user_id\":$UB,\"osf_id\":$OA}" 404 not_found
unchanged "create a VM on globex's OSF" POST /api/v1/vms "{\"name\":\"x\",\"user_id\":$UA,\"osf_id\":$OB}" 404 not_found
unchanged "set a config key of globex" PUT /api/v1/configs/vm.network.bridge "{\"value\":\"x\",\"tenant_id\":$TB}" 404 not_found
unchanged "set a global config key" PUT /api/v1/configs/vm.network.bridge '{"value":"x","tenant_id":-1}' 403 forbidden
call PUT /api/v1/configs/vm.network.bridge '{"value":"x"}'
[ "$S" = 200 ] && [ "$(j "d['tenant_id']")" = "$TA" ] && t_ok "a tenant administrator sets its tenant's config key" || t_fail "tenant config: $S $B"
call DELETE "/api/v1/configs/vm.network.bridge?tenant_id=$TA"
expect "and removes it" 204
unchanged "change a common OSF" PATCH "/api/v1/osfs/$OC" '{"description":"x"}' 403 forbidden
unchanged "block a host" POST "/api/v1/hosts/$H1/unblock" "" 403 forbidden
unchanged "set its own tenant's property" PUT "/api/v1/tenants/$TA/properties/x" '{"value":"1"}' 403 forbidden
unchanged "create a tenant" POST /api/v1/tenants '{"name":"x"}' 403 forbidden
unchanged "assign globex's role" POST "/api/v1/administrators/$AA/assign" "{\"role_id\":$RB}" 404 not_found
unchanged "grant on globex's role" POST "/api/v1/roles/$RB/grant" '{"acl":"vm.see"}' 404 not_found
unchanged "inherit globex's role" POST "/api/v1/roles/$RA/inherit" "{\"role_id\":$RB}" 404 not_found
unchanged "assign a role to globex's administrator" POST "/api/v1/administrators/$AB/assign" "{\"role_id\":$RA}" 404 not_found
call GET "/api/v1/administrators/$AB/acls"
expect "read globex's administrator's ACLs" 404 not_found
unchanged "make an administrator in tenant *" POST /api/v1/administrators '{"name":"x","password":"p","tenant_id":0}' 404 not_found
call GET /api/v1/stats
[ "$(j "d['vms']")" = 6 ] && t_ok "statistics count only acme's VMs" || t_fail "tenant stats: $B"
call POST /api/v1/users '{"name":"carol","password":"pw"}'
[ "$S" = 201 ] && [ "$(j "d['tenant']")" = acme ] && t_ok "a tenant administrator creates users in its own tenant" || t_fail "create own user: $S $B"
TOKEN=$TOKEN_SAVE
t_check "the config key of acme was not written for globex" test -z "$(t_sql "SELECT value FROM configs WHERE tenant_id = $TB")"

# ---- audit log ----
call GET '/api/v1/log?filter=action=vm.block&order=id'
[ "$(j "[(r['status'], r['administrator']) for r in d['rows']][:2]")" = "[(200, 'root'), (403, 'alice')]" ] &&
  t_ok "the audit log holds changes and refusals with who and the status" || t_fail "audit: $B"
[ "$(j "'lacks the ACL vm.block' in d['rows'][1]['message']")" = True ] &&
  t_ok "a refusal is logged with the message it was answered with" || t_fail "audit message: $B"
call GET '/api/v1/log?filter=action=user.password'
[ "$(j "all('password' not in r['arguments'] for r in d['rows'])")" = True ] && t_ok "no password in the audit log" || t_fail "password logged: $B"
S=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOKEN" \
  -H 'X-QVD-Source: cli' -X POST "http://localhost/api/v1/vms/$VA/block")
call GET '/api/v1/log?filter=source=cli'
[ "$(j "d['total']")" -ge 1 ] && t_ok "the source (cli) is recorded" || t_fail "source: $B"
call GET '/api/v1/log?filter=action=login,status=401'
[ "$(j "d['total']")" -ge 1 ] && t_ok "failed logins are logged" || t_fail "failed login log: $B"

# ---- live feed ----
TOK_B=$(login gus globex guspw)
call POST "/api/v1/administrators/$AB/assign" '{"role_id":2}'
curl -s -N --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOK_A" http://localhost/api/v1/events >"$T_DIR/feed_a" &
FEED_A=$!
curl -s -N --unix-socket "$T_DIR/run/api.sock" -H "Authorization: Bearer $TOK_B" http://localhost/api/v1/events >"$T_DIR/feed_b" &
FEED_B=$!
t_cleanup_add "kill $FEED_A $FEED_B"
t_wait 5 grep -q connected "$T_DIR/feed_a"
t_wait 5 grep -q connected "$T_DIR/feed_b"
sleep 0.3
now=$(date +%s)
t_sql "UPDATE vm_runtimes SET vm_state = 'running', vm_state_ts = $now, user_state = 'connected', user_state_ts = $now WHERE vm_id = $VA" >/dev/null
if t_wait 5 grep -q "\"id\":$VA,.*\"state\":\"running\"" "$T_DIR/feed_a"; then
  t_ok "the live feed streams a VM state change"
else t_fail "live feed: $(cat "$T_DIR/feed_a")"; fi
grep -q '"user_state":"connected"' "$T_DIR/feed_a" && t_ok "with the user state" || t_fail "user state in the feed"
sleep 0.5
grep -q "\"id\":$VA," "$T_DIR/feed_b" && t_fail "globex's administrator saw acme's VM" || t_ok "the feed of another tenant's administrator does not show it"
t_sql "UPDATE host_runtimes SET state = 'running' WHERE host_id = $H1" >/dev/null
t_check "the live feed streams a host state change" t_wait 5 grep -q "event: host" "$T_DIR/feed_a"
grep -q "\"id\":$H1,.*\"state\":\"running\"" "$T_DIR/feed_b" && t_ok "hosts are shown to every tenant's reader" || t_fail "host event for globex: $(cat "$T_DIR/feed_b")"
kill $FEED_A $FEED_B 2>/dev/null; wait $FEED_A $FEED_B 2>/dev/null

# ---- hosts of a cluster: VM subnet, views, evacuate (operator's ACL host.evacuate) ----
TOKEN=$(login root '*' rootpw)
call POST /api/v1/hosts '{"name":"node2","address":"192.168.77.2","vm_subnet":"10.2.0.0/16"}'
expect "create a host with a VM subnet" 201; H2=$(j "d['id']")
unchanged "a subnet another host has is refused" PATCH "/api/v1/hosts/$H1" '{"vm_subnet":"10.2.0.0/16"}' 409 conflict
unchanged "a subnet with host bits is refused" PATCH "/api/v1/hosts/$H1" '{"vm_subnet":"10.1.0.9/16"}' 400 invalid
unchanged "a subnet in the cluster's VM network is refused" POST /api/v1/hosts '{"name":"node3","address":"192.168.77.3","vm_subnet":"10.0.0.0/16"}' 400 invalid
call PATCH "/api/v1/hosts/$H1" '{"vm_subnet":"10.1.0.0/16"}'
expect "set a host's VM subnet" 200
echo operpw | qa admin add --name oper --tenant '*' --role operator --password-stdin >/dev/null
echo readpw | qa admin add --name rdr --tenant '*' --role reader --password-stdin >/dev/null
TOK_O=$(login oper '*' operpw) TOK_R=$(login rdr '*' readpw)
# node1 holds VM $VA (running, its user connected through node1's L7R); node2 is stopped
now=$(date +%s)
t_sql "UPDATE host_runtimes SET state = 'running', ok_ts = $now, usable_ram = 3000, usable_cpu = 300, blocked = 0 WHERE host_id = $H1" >/dev/null
t_sql "UPDATE vm_runtimes SET vm_state = 'running', vm_cmd = NULL, host_id = $H1, user_state = 'connected', l7r_host_id = $H1 WHERE vm_id = $VA" >/dev/null
call GET "/api/v1/hosts/$H1" "" "$TOK_R"
python3 - "$B" "$VA" <<'PY' && t_ok "GET /hosts/ID: state, heartbeat age, VM count, memory, CPU, address, subnet, its VMs" || { t_fail "host view: $B"; }
import json, sys
h = json.loads(sys.argv[1])
assert h["state"] == "running" and h["blocked"] is False, h
assert 0 <= h["heartbeat_age"] <= 600, h
assert h["vms"] == 1 and h["vm_ids"] == sys.argv[2] and h["memory_committed"] == 512, h
assert h["usable_ram"] == 3000 and h["usable_cpu"] == 300, h
assert h["address"] == "10.0.0.2" and h["vm_subnet"] == "10.1.0.0/16", h
PY
call GET "/api/v1/vms?filter=host_id=$H1&fields=id" "" "$TOK_R"
[ "$(j "[r['id'] for r in d['rows']]")" = "[$VA]" ] && t_ok "the VMs of a host: GET /vms?filter=host_id=ID" || t_fail "vms of host: $B"
call GET "/api/v1/hosts?filter=state=running&fields=name" "" "$TOK_R"
[ "$(j "[r['name'] for r in d['rows']]")" = "['node1']" ] && t_ok "hosts filter on their state" || t_fail "host state filter: $B"
unchanged "a host with VMs is not deleted" DELETE "/api/v1/hosts/$H1" "" 409 conflict
grep -q "stop them first" "$T_DIR/body" && t_ok "... saying what to do" || t_fail "host delete refusal: $B"
TOKEN=$TOK_R
unchanged "a reader may not evacuate a host" POST "/api/v1/hosts/$H1/evacuate" "" 403 forbidden
TOKEN=$TOK_O
unchanged "evacuating the only node that can take VMs is refused" POST "/api/v1/hosts/$H1/evacuate" "" 409 conflict
grep -q "nowhere to go" "$T_DIR/body" && t_ok "... saying the VMs would have nowhere to go" || t_fail "evacuate refusal: $B"
unchanged "an evacuate body with a wrong member" POST "/api/v1/hosts/$H1/evacuate" '{"force":"yes"}' 400 wrong_type
t_sql "UPDATE host_runtimes SET state = 'running', ok_ts = $(date +%s) WHERE host_id IN ($H1, $H2)" >/dev/null
call POST "/api/v1/hosts/$H1/evacuate"
expect "an operator evacuates a host" 200
[ "$(j "d['moved']")" = 1 ] && t_ok "... and is told how many VMs it moved" || t_fail "evacuate answer: $B"
rows=$(t_sql "SELECT vm_state || ':' || vm_cmd || ':' || host_id || ':' || user_cmd || ':' || user_cmd_by FROM vm_runtimes WHERE vm_id = $VA")
[ "$rows" = "running:stop:$H1:abort:admin" ] && t_ok "its VM is asked to stop, its user's session to end (by admin)" || t_fail "VM row after evacuate: $rows"
[ "$(t_sql "SELECT blocked FROM host_runtimes WHERE host_id = $H1")" = 1 ] && t_ok "the evacuated host is blocked" || t_fail "host not blocked"
call GET "/api/v1/hosts/$H1?fields=state"
[ "$(j "d['state']")" = blocked ] && t_ok "... and shows blocked" || t_fail "state after evacuate: $B"
[ "$(t_sql "SELECT administrator || '|' || action || '|' || object_id || '|' || status || '|' || source FROM audit_log ORDER BY id DESC LIMIT 1")" = "oper|host.evacuate|$H1|200|api" ] &&
  t_ok "the evacuation is in the audit log" || t_fail "audit of evacuate: $(t_sql "SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")"
call POST "/api/v1/hosts/$H2/evacuate" '{"force":true}'
[ "$S" = 200 ] && [ "$(j "d['moved']")" = 0 ] && t_ok "evacuate with force on a host without VMs" || t_fail "forced evacuate: $S $B"
call POST "/api/v1/hosts/99999/evacuate"
expect "evacuating an unknown host" 404 not_found
TOKEN=$(login root '*' rootpw)

# ---- expiry and logout ----
t_sql "UPDATE admin_sessions SET expires_ts = 1" >/dev/null
call GET /api/v1/vms "" "$TOK_A"
expect "an expired session is refused" 401 session_expired
TOKEN=$(login root '*' rootpw)
call POST /api/v1/logout
expect "logout" 204
call GET /api/v1/vms
expect "the token is gone after logout" 401 login_required
call GET /api/v1/vms "" "not-a-token"
expect "a made-up token is refused" 401 login_required

kill -0 $API_PID 2>/dev/null && t_ok "qvd-api still runs" || t_fail "qvd-api died: $(tail -5 "$T_DIR/api.log")"
kill $API_PID; wait $API_PID 2>/dev/null
t_check "qvd-api removes its socket on exit" test ! -e "$T_DIR/run/api.sock"
