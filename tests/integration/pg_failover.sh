#!/usr/bin/env bash
# A PostgreSQL that fails over (issue 13, item 5): a primary and a standby kept by
# pg_auto_failover (Debian's postgresql-15-auto-failover and pg-auto-failover-cli), on
# 127.0.0.1 only. qvd-admin and a running qvd-api use both servers through libpq's
# multi-host form (database.host = a,b; database.port = p,q; target_session_attrs =
# read-write). The primary is killed with -9: the failover tool promotes the standby, the
# running qvd-api carries on without a restart (its workers' connections find the new
# primary), qvd-admin changes data, and nothing written before the failover is lost.
. "$(dirname "$0")/../lib.sh"
t_init

API=$QVD_BUILD/src/api/qvd-api
ADMIN=$QVD_BUILD/src/admin/qvd-admin
PG_BIN=/usr/lib/postgresql/15/bin
command -v pg_autoctl >/dev/null || { t_fail "pg_autoctl is installed (scripts/install-deps.sh)"; exit 1; }

D=$T_DIR/paf
mkdir -p "$D" && chown postgres: "$D" && chmod 755 "$D"
base=$((20000 + RANDOM % 20000))
MON=$base P1=$((base + 1)) P2=$((base + 2))
paf() {
  runuser -u postgres -- env PATH="$PG_BIN:$PATH" XDG_CONFIG_HOME="$D/cfg" \
    XDG_DATA_HOME="$D/data" pg_autoctl "$@"
}
# each keeper in a session of its own, so that one kill takes the keeper and its postgres
keeper() { # keeper NAME: runs pg_autoctl for $D/NAME
  runuser -u postgres -- env PATH="$PG_BIN:$PATH" XDG_CONFIG_HOME="$D/cfg" \
    XDG_DATA_HOME="$D/data" setsid pg_autoctl run --pgdata "$D/$1" >"$D/$1-run.log" 2>&1 &
}
keeper_pid() { pgrep -f "^pg_autoctl run --pgdata $D/$1\$"; } # the session leader
stop_all() {
  local p
  for n in n1 n2 mon; do
    p=$(keeper_pid "$n") && kill -TERM -- "-$p" 2>/dev/null
  done
  sleep 2
  for n in n1 n2 mon; do
    [ -f "$D/$n/postmaster.pid" ] &&
      runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$D/$n" -m immediate stop >/dev/null 2>&1
  done
  return 0
}
t_cleanup_add stop_all
state_of() { # state_of NAME: its reported state, as the monitor says
  paf show state --pgdata "$D/mon" 2>/dev/null | awk -F'|' -v n="$1" \
    'NF > 3 {gsub(/ /, "", $1); gsub(/ /, "", $(NF-1)); if ($1 == n) print $(NF-1)}'
}

paf create monitor --pgdata "$D/mon" --pgport "$MON" --hostname 127.0.0.1 \
  --listen 127.0.0.1 --auth trust --no-ssl >"$D/mon.log" 2>&1 ||
  { t_fail "create the monitor"; cat "$D/mon.log"; exit 1; }
keeper mon
t_wait 30 runuser -u postgres -- "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$MON" ||
  { t_fail "the monitor runs"; exit 1; }
for i in 1 2; do
  port=$((base + i))
  paf create postgres --pgdata "$D/n$i" --pgport "$port" --hostname 127.0.0.1 \
    --listen 127.0.0.1 --name "n$i" --auth trust --no-ssl --dbname qvddb \
    --monitor "postgres://autoctl_node@127.0.0.1:$MON/pg_auto_failover?sslmode=disable" \
    >"$D/n$i.log" 2>&1 || { t_fail "create node n$i"; cat "$D/n$i.log"; exit 1; }
  keeper "n$i"
  # alone, n1 is "single"; with a standby, "primary"
  t_wait 60 eval 'case "$(state_of n1)" in single|primary) true;; *) false;; esac' ||
    { t_fail "n1 runs as the primary"; exit 1; }
done
t_check "pg_auto_failover: n1 is the primary and n2 its standby" \
  t_wait 90 eval '[ "$(state_of n2)" = secondary ] && [ "$(state_of n1)" = primary ]'
t_check "every server listens on 127.0.0.1 only" eval \
  '! ss -ltnH | awk '"'"'{print $4}'"'"' | grep -E ":($MON|$P1|$P2)\$" | t_has -v "^127.0.0.1:"'

psql_n1() { runuser -u postgres -- psql -X -q -At -h 127.0.0.1 -p "$P1" -d qvddb "$@"; }
psql_n1 -c "CREATE ROLE qvd LOGIN" -c "ALTER DATABASE qvddb OWNER TO qvd" \
  -c "ALTER SCHEMA public OWNER TO qvd" >/dev/null || { t_fail "create the qvd role"; exit 1; }

cat >"$T_DIR/node.conf" <<CONF
database.type = pg
database.host = 127.0.0.1,127.0.0.1
database.port = $P1,$P2
database.name = qvddb
database.user = qvd
path.storage.root = $T_DIR/storage
path.run = $T_DIR/run
api.address =
api.socket = $T_DIR/run/api.sock
password.argon2.t_cost = 1
password.argon2.m_cost = 64
CONF
qa() { "$ADMIN" -c "$T_DIR/node.conf" "$@"; }
has_tenant() { qa tenant list --name "$1" 2>/dev/null | t_has -w "$1"; }
t_check "qvd-admin creates the schema through the multi-host string" eval "qa db init >/dev/null"
echo rootpw | qa admin add --name root --tenant '*' --role master --password-stdin >/dev/null
qa tenant add --name acme >/dev/null
t_check "data written on the primary" has_tenant acme

"$API" -c "$T_DIR/node.conf" >"$T_DIR/api.log" 2>&1 &
API_PID=$!
t_cleanup_add "kill $API_PID"
t_wait 20 test -S "$T_DIR/run/api.sock" || { t_fail "qvd-api starts"; cat "$T_DIR/api.log"; exit 1; }
api() { # api METHOD PATH [JSON] -> status in S, body in B
  local a=()
  [ -n "${3:-}" ] && a=(-H 'Content-Type: application/json' --data-binary "$3")
  [ -n "${TOKEN:-}" ] && a+=(-H "Authorization: Bearer $TOKEN")
  S=$(curl -s -m 30 -o "$T_DIR/body" -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" \
    -X "$1" "${a[@]}" "http://localhost$2")
  B=$(cat "$T_DIR/body")
}
api POST /api/v1/login '{"login":"root","tenant":"*","password":"rootpw"}'
TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$B" 2>/dev/null)
t_check "qvd-api logs in through the primary" [ -n "$TOKEN" ]
api GET /api/v1/tenants
t_check "qvd-api lists tenants before the failover" eval '[ "$S" = 200 ] && grep -q acme <<<"$B"'

# the primary dies: its keeper and its postgres, at once
kill -KILL -- "-$(keeper_pid n1)" 2>/dev/null
kill -KILL "$(head -1 "$D/n1/postmaster.pid")" 2>/dev/null
t_check "the failover tool promotes the standby" \
  t_wait 120 eval 'case "$(state_of n2)" in wait_primary|primary) true;; *) false;; esac'

# the running qvd-api: a request may meet its worker's broken connection once (that
# statement is run again on a new one); no restart
ok_after() { api GET /api/v1/tenants; [ "$S" = 200 ] && grep -q acme <<<"$B"; }
t_check "the running qvd-api answers from the new primary, without a restart" t_wait 60 ok_after
t_check "qvd-api is the same process" kill -0 "$API_PID"
api POST /api/v1/tenants '{"name":"globex"}'
t_check "qvd-api writes to the new primary" eval '[ "$S" = 200 ] || [ "$S" = 201 ]'
t_check "qvd-admin (a new connection) finds the new primary and reads what was written" \
  has_tenant globex
t_check "qvd-admin writes after the failover" eval "qa tenant add --name initech >/dev/null"
t_check "nothing written before the failover is lost" has_tenant acme
grep -q "connected again" "$T_DIR/api.log" &&
  t_ok "qvd-api's log says it connected again" || t_fail "qvd-api's log says it connected again"
