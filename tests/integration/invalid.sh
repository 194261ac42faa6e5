#!/usr/bin/env bash
# invalid.sh: every value of tests/integration/invalid-cases.txt (a bad value for each
# writable member of each object of the description) is refused alike by qvd-api (curl,
# 4xx), qvd-admin local and qvd-admin --url (non-zero exit), on create and on update, each
# with a message naming the member, and the database is left as it was (a dump before and
# after; SQLite, or PostgreSQL with QVD_TEST_DB=pg). The table must cover every writable
# member the description (tests/helpers/describe) has.
. "$(dirname "$0")/../lib.sh"
t_init
API=$QVD_BUILD/src/api/qvd-api
ADMIN=$QVD_BUILD/src/admin/qvd-admin
DESCRIBE=$QVD_BUILD/tests/helpers/describe
CASES=$QVD_TOP/tests/integration/invalid-cases.txt
for b in "$API" "$ADMIN" "$DESCRIBE"; do [ -x "$b" ] || { t_fail "$b is built"; exit 1; }; done
t_db_init || { t_fail "create the test database"; exit 1; }
t_self_cert "$T_DIR" qvd-api IP:127.0.0.1
mkdir -p "$T_DIR/storage/staging/img/etc" "$T_DIR/home"
echo qvd >"$T_DIR/storage/staging/img/etc/hostname"
cat >"$T_DIR/node.conf" <<CONF
$T_DB_CONF
path.storage.root = $T_DIR/storage
path.run = $T_DIR/run
api.port = $((20000 + RANDOM % 20000))
api.socket = $T_DIR/run/api.sock
path.api.ssl.cert = $T_DIR/cert.pem
path.api.ssl.key = $T_DIR/key.pem
api.auth.throttle.failures = 100000
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
export HOME=$T_DIR/home
unset QVD_API_URL QVD_ADMIN_PASSWORD QVD_CONFIG
SOCK=unix:$T_DIR/run/api.sock
qa() { "$ADMIN" -c "$T_DIR/node.conf" "$@"; }
rq() { "$ADMIN" --url "$SOCK" "$@"; }
TOKEN=
call() { # call METHOD PATH JSON: status in $S, body in $B
  S=$(curl -s -o "$T_DIR/body" -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" -X "$1" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" --data-binary "$3" \
    "http://localhost$2")
  B=$(cat "$T_DIR/body")
}
j() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)" <<<"$B"; }

# ---- the objects every update case changes, made while the dump is not yet taken ----
qa db init >/dev/null || { t_fail "db init"; exit 1; }
echo rootpw | qa admin add --name root --tenant '*' --role master --password-stdin >/dev/null ||
  { t_fail "bootstrap a superadministrator"; exit 1; }
"$API" -c "$T_DIR/node.conf" >"$T_DIR/api.log" 2>&1 &
t_cleanup_add "kill $!"
t_wait 10 test -S "$T_DIR/run/api.sock" || { t_fail "qvd-api starts"; cat "$T_DIR/api.log"; exit 1; }
call POST /api/v1/login '{"login":"root","tenant":"*","password":"rootpw"}'
TOKEN=$(j "d['token']") || { t_fail "login"; exit 1; }
echo rootpw | rq --login root --tenant '*' --password-stdin login >/dev/null ||
  { t_fail "qvd-admin --url login"; exit 1; }
declare -A ID
make() { # make OBJECT RESOURCE JSON
  call POST "/api/v1/$2" "$3"
  if [ "$S" = 201 ]; then ID[$1]=$(j "d['id']"); else t_fail "create a $1 to update: $S $B"; exit 1; fi
}
make tenant tenants '{"name":"acme"}'
T=${ID[tenant]}
make user users "{\"name\":\"bob\",\"password\":\"pw\",\"tenant_id\":$T}"
make osf osfs "{\"name\":\"desktop\",\"tenant_id\":$T}"
make di dis "{\"osf_id\":${ID[osf]},\"file\":\"img\"}"
make vm vms "{\"name\":\"vm1\",\"user_id\":${ID[user]},\"osf_id\":${ID[osf]}}"
make host hosts '{"name":"node1","address":"10.0.0.1"}'
make administrator administrators "{\"name\":\"ann\",\"password\":\"pw\",\"tenant_id\":$T}"
make role roles "{\"name\":\"viewer\",\"tenant_id\":$T}"
t_ok "one object of each kind to update"

# ---- valid bodies, but for the member under test ----
declare -A RES=([tenant]=tenants [user]=users [vm]=vms [host]=hosts [osf]=osfs [di]=dis
  [administrator]=administrators [role]=roles)
declare -A BODY=(
  [tenant]='{"name":"t-new"}'
  [user]="{\"name\":\"u-new\",\"password\":\"pw\",\"tenant_id\":$T}"
  [vm]="{\"name\":\"vm-new\",\"user_id\":${ID[user]},\"osf_id\":${ID[osf]}}"
  [host]='{"name":"h-new","address":"10.0.0.9"}'
  [osf]="{\"name\":\"o-new\",\"tenant_id\":$T}"
  [di]="{\"osf_id\":${ID[osf]},\"file\":\"img\"}"
  [administrator]="{\"name\":\"a-new\",\"password\":\"pw\",\"tenant_id\":$T}"
  [role]="{\"name\":\"r-new\",\"tenant_id\":$T}")
# local mode: its object names, options and valid arguments (roles: no local create)
declare -A LOBJ=([tenant]=tenant [user]=user [vm]=vm [host]=host [osf]=osf [di]=di
  [administrator]=admin)
declare -A LADD=(
  [tenant]='--name t-new'
  [user]='--login u-new --tenant acme --password pw'
  [vm]="--name vm-new --user-id ${ID[user]} --osf-id ${ID[osf]}"
  [host]='--name h-new --address 10.0.0.9'
  [osf]='--name o-new --tenant acme'
  [di]="--osf-id ${ID[osf]} --path $T_DIR/storage/staging/img"
  [administrator]='--name a-new --tenant acme --password pw')
# local_option OBJECT FIELD: the option of local mode for a member
local_option() {
  case $1/$2 in
    user/name) echo login ;;
    di/file) echo path ;;
    *) echo "${2//_/-}" ;;
  esac
}
# ---- the table covers the description ----
"$DESCRIBE" >"$T_DIR/description.json" || { t_fail "describe"; exit 1; }
missing=$(python3 - "$T_DIR/description.json" "$CASES" <<'PY'
import json, sys
cases = {tuple(l.split()[:2]) for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")}
for r in json.load(open(sys.argv[1])):
    for f in r["fields"]:
        if (f["create"] or f["update"]) and (r["object"], f["name"]) not in cases:
            print("%s.%s" % (r["object"], f["name"]))
PY
)
t_check "every writable member of the description has cases${missing:+ (missing: $missing)}" [ -z "$missing" ]

# refused NAME FIELD OUTPUT-FILE STATUS-OK: a refusal that names the field
refused() {
  local n=$1 f=$2 out=$3 ok=$4
  if [ "$ok" = 1 ] && grep -q -e "$f" -e "${f//_/-}" "$out"; then
    PASS=$((PASS + 1))
  else
    FAILED+=("$n: $(head -c 300 "$out")")
  fi
}

# the plan, one line per case (python once: the loop below runs no interpreter):
# OBJECT FIELD WHY CREATE UPDATE CLI VALUE TEXT BODY ARGS, separated by \x1e (an empty TEXT
# stays a column); VALUE the JSON value,
# TEXT as a command line spells it, BODY the create body with it, ARGS that body as the
# remote KEY=VALUE arguments (separated by \x1f)
bodies=$(for o in "${!BODY[@]}"; do printf '%s\t%s\n' "$o" "${BODY[$o]}"; done)
python3 - "$T_DIR/description.json" "$CASES" "$bodies" >"$T_DIR/plan" <<'PY'
import json, sys
desc = {(r["object"], f["name"]): f for r in json.load(open(sys.argv[1])) for f in r["fields"]}
bodies = dict(l.split("\t", 1) for l in sys.argv[3].splitlines())
spell = lambda v: v if isinstance(v, str) else json.dumps(v)
for line in open(sys.argv[2]):
    if not line.strip() or line.startswith("#"):
        continue
    obj, field, value, why = line.split(None, 3)
    value = json.dumps("x" * int(value[5:])) if value.startswith("long:") else value
    v = json.loads(value)
    f = desc[(obj, field)]
    cli = int(f["type"] != "string" or isinstance(v, str))  # the command line spells strings
    body = json.loads(bodies[obj])
    body[field] = v
    args = "\x1f".join("%s=%s" % (k, spell(x)) for k, x in body.items())
    print("\x1e".join([obj, field, why.strip(), str(int(f["create"])), str(int(f["update"])),
                     str(cli), json.dumps(v), spell(v), json.dumps(body), args]))
PY
[ -s "$T_DIR/plan" ] || { t_fail "the plan of the cases"; exit 1; }
# local commands and the options they take (from their --help)
declare -A HELP
for o in "${LOBJ[@]}"; do
  HELP[$o add]=$(qa "$o" add --help 2>&1)
  HELP[$o set]=$(qa "$o" set --help 2>&1)
done

BEFORE=$T_DIR/before.sql
t_db_dump audit_log admin_sessions >"$BEFORE"
PASS=0 FAILED=()
while IFS=$'\x1e' read -r obj field why can_create can_update cli value text body args; do
  res=${RES[$obj]}
  robj=${obj/administrator/admin}
  lobj=${LOBJ[$obj]:-}
  opt=$(local_option "$obj" "$field")
  if [ "$can_create" = 1 ]; then
    call POST "/api/v1/$res" "$body"
    echo "$B" >"$T_DIR/o"
    refused "api create $obj $field=$value ($why)" "$field" "$T_DIR/o" "$([[ $S == 4?? ]] && echo 1)"
    if [ "$cli" = 1 ]; then
      IFS=$'\x1f' read -r -a a <<<"$args"
      rq "$robj" new "${a[@]}" >"$T_DIR/o" 2>&1
      refused "remote new $obj $field ($why)" "$field" "$T_DIR/o" "$([ $? -ne 0 ] && echo 1)"
      if [ -n "$lobj" ] && grep -q -- "--$opt " <<<"${HELP[$lobj add]}"; then
        # shellcheck disable=SC2086 # the options are words
        set -- ${LADD[$obj]}
        a=()
        while [ $# -gt 0 ]; do [ "$1" = "--$opt" ] || a+=("$1" "$2"); shift 2; done
        qa "$lobj" add "${a[@]}" "--$opt" "$text" >"$T_DIR/o" 2>&1
        refused "local add $obj $field ($why)" "$field" "$T_DIR/o" "$([ $? -ne 0 ] && echo 1)"
      fi
    fi
  fi
  if [ "$can_update" = 1 ]; then
    id=${ID[$obj]}
    call PATCH "/api/v1/$res/$id" "{\"$field\":$value}"
    echo "$B" >"$T_DIR/o"
    refused "api update $obj $field=$value ($why)" "$field" "$T_DIR/o" "$([[ $S == 4?? ]] && echo 1)"
    if [ "$cli" = 1 ]; then
      rq "$robj" "id=$id" set "$field=$text" >"$T_DIR/o" 2>&1
      refused "remote set $obj $field ($why)" "$field" "$T_DIR/o" "$([ $? -ne 0 ] && echo 1)"
      if [ -n "$lobj" ] && grep -q -- "--$opt " <<<"${HELP[$lobj set]}"; then
        qa "$lobj" set --id "$id" "--$opt" "$text" >"$T_DIR/o" 2>&1
        refused "local set $obj $field ($why)" "$field" "$T_DIR/o" "$([ $? -ne 0 ] && echo 1)"
      fi
    fi
  fi
done <"$T_DIR/plan"
t_check "every invalid value is refused, naming its member ($PASS refusals, ${#FAILED[@]} not)" \
  test "${#FAILED[@]}" -eq 0 -a "$PASS" -gt 300
for f in "${FAILED[@]:0:40}"; do t_diag "${f:0:200}"; done
t_db_dump audit_log admin_sessions >"$T_DIR/after.sql"
if diff -u "$BEFORE" "$T_DIR/after.sql" >"$T_DIR/diff"; then
  t_ok "the database is unchanged"
else
  t_fail "the database is unchanged"; head -40 "$T_DIR/diff" | cut -c1-200 | sed 's/^/# /'
fi
